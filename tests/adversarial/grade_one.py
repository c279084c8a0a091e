"""Grade submissions in this fresh process; print one JSON line per submission.

Usage: ``python grade_one.py CHALLENGE DATA_ROOT SUBMISSION [SUBMISSION ...]``. The test that
starts this process measures its peak memory (its grading workers included: they are reaped
before it exits) with ``os.wait4``, so a bomb is graded alone in its own process."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rexmle import challenge, grading


def main() -> None:
    ch = challenge.get(sys.argv[1])
    root = Path(sys.argv[2])
    for sub in sys.argv[3:]:
        t = time.monotonic()
        report = grading.grade(ch, Path(sub), root / "public", root / "private", workers=1)
        line = {"submission": sub, "valid": report.valid, "reason": report.reason}
        print(json.dumps({**line, "grade_s": round(time.monotonic() - t, 3)}), flush=True)


if __name__ == "__main__":
    main()
