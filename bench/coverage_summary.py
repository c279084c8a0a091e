"""Coverage per area, from the data ``COVERAGE=1 make test ...`` left (``make coverage``).

Areas and their targets (issue 21): the harness ``rexmle/`` 90 %, the metric library
``graders/`` 95 %, and the challenges' scoring code (every ``grade.py`` and the families'
``grading.py`` / ``scoring.py`` / ``formats.py``) 95 %. Files no test imported count as 0 %.
Prints one line per area and its least-covered files; exits 0 either way (a figure, not a gate).
"""

from __future__ import annotations

import os
from pathlib import Path

import coverage
from coverage.exceptions import NoSource

REPO = Path(__file__).resolve().parents[1]
AREAS: dict[str, tuple[list[str], float]] = {
    "rexmle/ (harness)": (["rexmle/**/*.py"], 90.0),
    "graders/ (metrics)": (["graders/*.py"], 95.0),
    "challenge scoring": (
        [
            "challenges/*/grade.py",
            "challenges/_*/grading.py",
            "challenges/_*/scoring.py",
            "challenges/_*/formats.py",
        ],
        95.0,
    ),
}


def main() -> None:
    cov = coverage.Coverage(data_file=os.environ.get("COVERAGE_FILE", str(REPO / ".coverage")))
    cov.load()
    measured = {Path(f).resolve() for f in cov.get_data().measured_files()}
    print(f"coverage (subprocesses included): {len(measured)} files measured")
    for area, (patterns, target) in AREAS.items():
        files = sorted({p for pat in patterns for p in REPO.glob(pat) if "__pycache__" not in p.parts})
        rows = []
        for f in files:
            try:
                _name, statements, _excluded, missing, _text = cov.analysis2(str(f))
            except NoSource:
                continue
            rows.append((f.relative_to(REPO), len(statements), len(missing)))
        total = sum(r[1] for r in rows)
        missed = sum(r[2] for r in rows)
        pct = 100.0 * (total - missed) / total if total else 100.0
        verdict = "meets" if pct >= target else "BELOW"
        print(
            f"{area:24s} {pct:5.1f} %  ({total - missed}/{total} statements; target {target:.0f} %: {verdict})"
        )
        worst = sorted(rows, key=lambda r: (r[1] - r[2]) / r[1] if r[1] else 1.0)[:6]
        for path, n, miss in worst:
            if miss:
                print(f"    {100.0 * (n - miss) / n:5.1f} %  {path}  ({miss} of {n} missed)")


if __name__ == "__main__":
    main()
