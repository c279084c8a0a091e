"""How long the ``rexmle`` command takes to start: ``rexmle --help`` and ``rexmle list`` against a
bare ``python -c pass`` on the same interpreter, each the median of several runs measured in one
process, interleaved (the ``cli`` entry of ``bench/results.json``). Targets (issue 19): ``--help``
under 0.3 s and ``list`` under 0.5 s of wall time on the 2-core development machine.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from results_file import header, save_entry

RUNS = 7
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "rexmle --help": [sys.executable, "-m", "rexmle.cli", "--help"],
    "rexmle list": [sys.executable, "-m", "rexmle.cli", "list"],
    "rexmle info isles22": [sys.executable, "-m", "rexmle.cli", "info", "isles22"],
}
TARGETS_S = {"rexmle --help": 0.3, "rexmle list": 0.5}


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    for cmd in COMMANDS.values():  # warm the page cache and the bytecode
        wall(cmd)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(RUNS):
        for name, cmd in COMMANDS.items():
            times[name].append(wall(cmd))
    medians = {name: round(statistics.median(ts), 3) for name, ts in times.items()}
    entry = {
        **header(),
        "runs": RUNS,
        "median_wall_s": medians,
        "targets_s": TARGETS_S,
        "meets_targets": all(medians[k] < v for k, v in TARGETS_S.items()),
    }
    save_entry("cli", entry)
    for name, m in medians.items():
        target = f" (target < {TARGETS_S[name]} s)" if name in TARGETS_S else ""
        print(f"{name:22s} {m:.3f} s{target}")


if __name__ == "__main__":
    main()
