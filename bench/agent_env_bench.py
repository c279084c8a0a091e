"""What a second torch-using agent costs to install once the first is in (issue 19's target: under
30 s and under 300 MB of new disk), in a fresh ``$REXMLE_HOME``: the shared imaging stack and the
baseline's venv first, then AIDE's venv, each timed and measured on disk (``du``, so files hard-
linked or shared count once). The ``agent_envs`` entry of ``bench/results.json``.

Usage: python bench/agent_env_bench.py [FIRST SECOND]   (default: baseline aide)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import header, save_entry

TARGET_S, TARGET_MB = 30.0, 300.0


def disk_mb(folder: Path) -> float:
    out = subprocess.run(["du", "-sk", str(folder)], check=True, capture_output=True, text=True).stdout
    return int(out.split()[0]) / 1024


def main(first: str = "baseline", second: str = "aide") -> int:
    from rexmle import agent as agents

    with tempfile.TemporaryDirectory(prefix="rexmle-envs-") as tmp:
        home = Path(tmp)
        os.environ["REXMLE_HOME"] = str(home)
        steps: dict[str, dict[str, float]] = {}
        before = 0.0
        for name in (first, second):
            t0 = time.perf_counter()
            agents.get(name).install(home, log=home / f"{name}-install.log")
            took = time.perf_counter() - t0
            total = disk_mb(home / "agents")
            steps[name] = {"seconds": round(took, 1), "new_disk_mb": round(total - before, 1)}
            before = total
            print(f"{name}: {took:.1f} s, {steps[name]['new_disk_mb']:.0f} MB new disk", flush=True)
        stack = agents.stack_venv("imaging", home)
        entry = {
            **header(),
            "first": first,
            "second": second,
            "steps": steps,
            "stack_mb": round(disk_mb(stack), 1),
            "second_under_target": steps[second]["seconds"] < TARGET_S
            and steps[second]["new_disk_mb"] < TARGET_MB,
            "targets": {"seconds": TARGET_S, "new_disk_mb": TARGET_MB},
        }
    save_entry("agent_envs", entry)
    print(f"second agent ({second}): under target: {entry['second_under_target']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
