"""A small process that starts commands and reports each one's wall time and peak memory.

Linux counts a child's peak RSS (``ru_maxrss``) from the memory it had before ``exec``: a child
forked by pytest, which holds the corpus and numpy, starts at pytest's size. So the tests start
this small interpreter once and have it start each grading process: their peaks then count
only what grading used (the grading workers included, reaped before their parent exits).

Protocol: one JSON request per line on stdin, ``{"argv": [...], "stdout": path, "stderr": path,
"timeout": seconds}``; one JSON answer per line on stdout, ``{"rc", "wall_s", "peak_mib"}``.
"""

import json
import os
import signal
import subprocess
import sys
import time


def run(req: dict) -> dict:
    with open(req["stdout"], "wb") as out, open(req["stderr"], "wb") as err:
        start = time.monotonic()
        proc = subprocess.Popen(req["argv"], stdout=out, stderr=err, start_new_session=True)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > req["timeout"]:
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        return {
            "rc": proc.returncode,
            "wall_s": time.monotonic() - start,
            "peak_mib": usage.ru_maxrss / 1024,
        }


def main() -> None:
    for line in sys.stdin:
        print(json.dumps(run(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
