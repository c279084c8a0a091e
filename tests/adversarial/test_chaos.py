"""Chaos: SIGKILL the harness at random moments of random runs, then resume.

Each round starts ``rexmle run`` (the real CLI, in its own session) for one of a few specs, some
with ``--force``, some on a data folder that must first be prepared, and kills it after a random
delay: sometimes the harness alone (a crashed process), sometimes its whole session (a node
failure). The phase each kill landed in is read from run.json. Afterwards, every spec is run
once more without ``--force`` and must finish. Checked: no finished result is ever lost (each
one seen before a kill is still there afterwards, as result.json or as a kept attempt), no run
is duplicated, no lock is left held, and no grading worker or agent outlives its harness."""

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

import pytest
from helpers import processes_with

from rexmle import run as runs
from rexmle.run import RunInProgress
from rexmle.store import Result, RunDir

pytestmark = pytest.mark.adversarial

KILLS = 24
SEEDS = (0, 1, 2)


#: seed -> (agent, time limit): the sleeper keeps its run in the running phase for its 3 s limit
AGENTS = {0: ("dummy", None), 1: ("dummy", None), 2: ("sleeper", 3)}


def _cli(seed: int, force: bool) -> list[str]:
    agent, limit = AGENTS[seed]
    cmd = [sys.executable, "-m", "rexmle.cli", "run", "--agent", agent, "--challenge", "isles22"]
    cmd += ["--synthetic", "--seed", str(seed), "--json", *(["--force"] if force else [])]
    return cmd + (["--time-limit", str(limit)] if limit else [])


def _results(rd: RunDir) -> dict[str, str]:
    """Every finished result of a run folder, current and kept, by file name -> its bytes' hash."""
    out = {}
    for p in sorted(rd.path.glob("result*.json")):
        out[p.name] = Result.model_validate_json(p.read_text()).model_dump_json()
    return out


def test_random_kills_lose_nothing_and_resume(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(int(os.environ.get("REXMLE_CHAOS_SEED", "20261207")))
    monkeypatch.setenv("REXMLE_HOME", str(tmp_path / "home"))
    specs = {
        s: runs.make_spec("isles22", AGENTS[s][0], synthetic=True, seed=s, time_limit_s=AGENTS[s][1])
        for s in SEEDS
    }
    dirs = {s: RunDir(runs.run_dir(spec)) for s, spec in specs.items()}
    seen: dict[str, str] = {}  # every finished result ever observed: "<seed>/<file>" -> content
    phases: Counter[str] = Counter()
    for k in range(KILLS):
        seed = rng.choice(SEEDS)
        if k % 8 == 0:  # from time to time the data itself must be prepared again
            data_root = tmp_path / "home" / "data" / "isles22@synthetic"
            (data_root / "manifest.json").unlink(missing_ok=True)
        rd = dirs[seed]
        for name, content in _results(rd).items():
            seen[f"{seed}/{name}"] = content
        proc = subprocess.Popen(
            _cli(seed, force=rng.random() < 0.5),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(rng.uniform(0.1, 3.0))
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
    print(f"kills by phase: {dict(phases)}")
    assert sum(phases.values()) >= 20
    assert len([p for p in phases if p != "finished"]) >= 2, f"kills landed in too few phases: {phases}"

    for seed, spec in specs.items():
        result = _execute_when_unlocked(spec)
        assert result.valid and result.state.value in ("done", "timed_out"), result.reason
        rd = dirs[seed]
        assert rd.read_result() == result
        kept = _results(rd)
        for key, content in seen.items():
            s, name = key.split("/", 1)
            if int(s) == seed:
                assert content in kept.values(), f"finished result {key} was lost"
    runs_root = tmp_path / "home" / "runs"
    assert sorted(p.name for p in runs_root.iterdir()) == sorted(spec.run_id for spec in specs.values())


def _parent_arg(pid: int) -> int | None:
    """The harness pid a grading worker was started with (its last argument)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\x00")
    except OSError:
        return None
    args = [a for a in argv if a]
    return int(args[-1]) if args and args[-1].isdigit() else None


def _execute_when_unlocked(spec: object) -> Result:
    """A lock still held a few seconds after its harness died is stuck: fail then."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return runs.execute(spec)  # type: ignore[arg-type]
        except RunInProgress:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
