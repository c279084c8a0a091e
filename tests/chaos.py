"""Chaos: SIGKILL the harness at random moments of random runs, then resume (shared by the local
test in tests/adversarial/test_chaos.py and the Docker one in tests/runtime/test_docker.py).

Each round starts ``rexmle run`` (the real CLI, in its own session) for one of a few specs, some
with ``--force``, some on a data folder that must first be prepared, and kills it after a random
delay: sometimes the harness alone (a crashed process), sometimes its whole session (a node
failure). The phase each kill landed in is read from run.json. Afterwards, every spec is run
once more without ``--force`` and must finish. Checked: no finished result is ever lost (each
one seen before a kill is still there afterwards, as result.json or as a kept attempt), no run
is duplicated, no lock is left held, and no grading worker outlives its harness."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from helpers import processes_with

from rexmle import run as runs
from rexmle.store import Result, RunDir, RunInProgress, RunSpec

#: seed -> (agent, time limit): the sleeper keeps its run in the running phase for its limit
AGENTS = {0: ("dummy", None), 1: ("dummy", None), 2: ("sleeper", 3)}


def _cli(seed: int, force: bool, runtime: str) -> list[str]:
    agent, limit = AGENTS[seed]
    cmd = [sys.executable, "-m", "rexmle.cli", "run", "--agent", agent, "--challenge", "isles22"]
    cmd += ["--synthetic", "--seed", str(seed), "--runtime", runtime, "--json"]
    return cmd + (["--force"] if force else []) + (["--time-limit", str(limit)] if limit else [])


def _results(rd: RunDir) -> dict[str, str]:
    """Every finished result of a run folder, current and kept: file name -> its content."""
    return {
        p.name: Result.model_validate_json(p.read_text()).model_dump_json()
        for p in sorted(rd.path.glob("result*.json"))
    }


def run_chaos(home: Path, runtime: str, kills: int, max_delay_s: float, seed: int) -> Counter[str]:
    """``kills`` rounds of start-and-SIGKILL under ``home`` (``$REXMLE_HOME`` must name it),
    then one clean run of every spec; asserts what the module docstring says. Returns the
    number of kills per phase."""
    rng = random.Random(seed)
    specs = {
        s: runs.make_spec("isles22", a, runtime=runtime, synthetic=True, seed=s, time_limit_s=t)
        for s, (a, t) in AGENTS.items()
    }
    dirs = {s: RunDir(runs.run_dir(spec, home)) for s, spec in specs.items()}
    seen: dict[str, str] = {}  # every finished result ever observed: "<seed>/<file>" -> content
    phases: Counter[str] = Counter()
    for k in range(kills):
        s = rng.choice(list(AGENTS))
        if k % 8 == 0:  # from time to time the data itself must be prepared again
            (home / "data" / "isles22@synthetic" / "manifest.json").unlink(missing_ok=True)
        rd = dirs[s]
        seen.update({f"{s}/{name}": content for name, content in _results(rd).items()})
        proc = subprocess.Popen(
            _cli(s, rng.random() < 0.5, runtime),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(rng.uniform(0.1, max_delay_s))
        record = rd.read_record()
        phase = "finished" if proc.poll() is not None else (record.state.value if record else "starting")
        if rng.random() < 0.5:
            proc.send_signal(signal.SIGKILL)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        phases[phase] += 1
        # nothing of this harness may outlive it: grading workers name their parent's pid
        leftover = [
            p for p in processes_with("rexmle.grade_worker", settle_s=5) if _parent_arg(p) == proc.pid
        ]
        assert leftover == [], f"grading workers {leftover} outlived their harness (kill {k}, {phase})"
        if rd.run_json.exists():
            json.loads(rd.run_json.read_text())  # never a torn record
    assert sum(phases.values()) >= 20
    assert len([p for p in phases if p != "finished"]) >= 2, f"kills landed in too few phases: {phases}"

    for s, spec in specs.items():
        result = _execute_when_unlocked(spec, home)
        assert result.valid and result.state.value in ("done", "timed_out"), result.reason
        rd = dirs[s]
        assert rd.read_result() == result
        kept = _results(rd).values()
        for key, content in seen.items():
            if int(key.split("/", 1)[0]) == s:
                assert content in kept, f"finished result {key} was lost"
    assert sorted(p.name for p in (home / "runs").iterdir()) == sorted(x.run_id for x in specs.values())
    return phases


def _parent_arg(pid: int) -> int | None:
    """The harness pid a grading worker was started with (its last argument)."""
    try:
        args = [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\x00") if a]
    except OSError:
        return None
    return int(args[-1]) if args and args[-1].isdigit() else None


def _execute_when_unlocked(spec: RunSpec, home: Path) -> Result:
    """A lock still held a few seconds after its harness died is stuck: fail then."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return runs.execute(spec, home=home)
        except RunInProgress:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
