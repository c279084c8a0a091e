"""Runs end to end: prepare(synthetic) -> run -> grade -> rank, resume, timeouts, crashes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import processes_with

from rexmle import run as runs
from rexmle.store import Result, RunDir, RunRecord, RunState


def test_dummy_end_to_end(home: Path) -> None:
    spec = runs.make_spec("isles22", "dummy", synthetic=True)
    result = runs.execute(spec)
    rd = RunDir(runs.run_dir(spec))
    assert result.state is RunState.done and result.valid and result.synthetic
    assert set(result.metrics) == {"dice", "lesion_f1", "lesion_count_diff", "abs_volume_diff"}
    assert result.score is not None and 1 <= result.score <= 11
    assert result.percentile == pytest.approx(1 - (result.score - 1) / 10)
    assert result.n_leaderboard == 10 and result.isolation == "namespace"
    assert result.cost_usd == 0 and result.llm_calls == 0
    record = rd.read_record()
    assert record is not None and record.state is RunState.done and record.spec == spec
    assert (rd.submission / "submission.csv").is_file()
    assert (rd.path / "per_case.csv").is_file() and rd.agent_log.is_file()
    assert not (rd.sandbox / "data").exists()  # the links to public data are removed after the run


def test_run_id_is_stable_and_rerun_does_not_duplicate(home: Path) -> None:
    a = runs.make_spec("isles22", "dummy", synthetic=True, seed=7)
    b = runs.make_spec("isles22", "dummy", synthetic=True, seed=7)
    assert a.run_id == b.run_id != runs.make_spec("isles22", "dummy", synthetic=True, seed=8).run_id
    first = runs.execute(a)
    log_size = RunDir(runs.run_dir(a)).agent_log.stat().st_size
    second = runs.execute(b)
    assert first == second
    assert RunDir(runs.run_dir(a)).agent_log.stat().st_size == log_size  # the agent did not run again
    assert len(list((home / "runs").glob(f"*{a.run_id.rsplit('.', 1)[1]}"))) == 1


def test_timeout_kills_the_process_group_and_grades_what_was_written(home: Path) -> None:
    spec = runs.make_spec("isles22", "sleeper", synthetic=True, time_limit_s=3)
    t0 = time.monotonic()
    result = runs.execute(spec)
    assert time.monotonic() - t0 < 30
    assert result.state is RunState.timed_out
    assert result.valid  # it had written the sample submission before sleeping
    token = (RunDir(runs.run_dir(spec)).sandbox / "logs" / "grandchild.token").read_text()
    assert processes_with(token) == []  # the grandchild died with the group


def test_failing_agent_is_recorded_as_failed_with_invalid_result(home: Path) -> None:
    spec = runs.make_spec("isles22", "crasher", synthetic=True)
    result = runs.execute(spec)
    assert result.state is RunState.failed and result.agent_exit_code == 3
    assert not result.valid and result.reason == "submission.csv has no rows"
    record = RunDir(runs.run_dir(spec)).read_record()
    assert record is not None and record.error == "agent exited with code 3"


def test_crashed_run_is_resumed(home: Path) -> None:
    """A run left in 'running' with no live owner (the harness was killed) is restarted."""
    spec = runs.make_spec("isles22", "dummy", synthetic=True, seed=3)
    rd = RunDir(runs.run_dir(spec))
    rd.path.mkdir(parents=True)
    now = time.time()
    rd.write_record(
        RunRecord(
            run_id=spec.run_id, spec=spec, state=RunState.running, created_at=now, updated_at=now, attempts=1
        )
    )
    (rd.path / "submission").mkdir()
    (rd.path / "submission" / "junk").write_text("left over")
    result = runs.execute(spec)
    assert result.state is RunState.done
    record = rd.read_record()
    assert record is not None and record.attempts == 2 and not (rd.submission / "junk").exists()


def test_killed_harness_leaves_a_consistent_record(home: Path) -> None:
    """SIGKILL harness and agent mid-run: run.json still parses and says 'running'; a re-run finishes."""
    spec = runs.make_spec("isles22", "sleeper", synthetic=True, seed=11, time_limit_s=6)
    cmd = [sys.executable, "-m", "rexmle.cli", "run", "--agent", "sleeper", "--challenge", "isles22"]
    cmd += ["--synthetic", "--seed", "11", "--time-limit", "6", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    rd = RunDir(runs.run_dir(spec))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (rd.sandbox / "logs" / "grandchild.token").exists():
            break
        time.sleep(0.1)
    # Kill the harness, and the agent's own session too, as a node failure would.
    os.killpg(proc.pid, signal.SIGKILL)
    rec = rd.read_record()
    assert rec is not None and "pid" in rec.runtime_info
    with contextlib.suppress(ProcessLookupError):  # already gone: it dies with its harness
        os.killpg(rec.runtime_info["pid"], signal.SIGKILL)
    proc.wait()
    assert processes_with((rd.sandbox / "logs" / "grandchild.token").read_text()) == []
    rec = rd.read_record()
    assert rec is not None and rec.state is RunState.running and not rd.result_json.exists()
    json.loads(rd.run_json.read_text())
    result = runs.execute(spec)
    assert result.state is RunState.timed_out and result.valid
    rec = rd.read_record()
    assert rec is not None and rec.attempts == 2 and rec.state is RunState.timed_out


def test_real_data_requires_prepare(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rexmle.errors import DataError

    monkeypatch.setenv("REXMLE_HOME", str(tmp_path))
    spec = runs.make_spec("isles22", "dummy", synthetic=False)
    with pytest.raises(DataError, match="rexmle prepare isles22"):
        runs.execute(spec)
    assert not runs.run_dir(spec, home=tmp_path).exists()  # refused before it started: no orphan folder


def test_force_keeps_the_previous_attempt(home: Path, prepared: Path) -> None:
    """--force used to delete the finished result.json before the new attempt started: a kill
    then lost it. Each attempt's result, per-case scores, agent log and ledger are kept."""
    spec = runs.make_spec("isles22", "dummy", synthetic=True, seed=7)
    first = runs.execute(spec)
    rd = RunDir(runs.run_dir(spec))
    first_log = rd.agent_log.read_bytes()
    second = runs.execute(spec, force=True)
    assert second.valid and first.valid
    kept = Result.model_validate_json((rd.path / "result.attempt-1.json").read_text())
    assert kept == first
    assert (rd.path / "per_case.attempt-1.csv").is_file() and (rd.path / "per_case.csv").is_file()
    assert (rd.path / "agent.attempt-1.log").read_bytes() == first_log
    record = rd.read_record()
    assert record is not None and record.attempts == 2
    # a third attempt keeps both earlier results under their own names
    runs.execute(spec, force=True)
    assert {p.name for p in rd.path.glob("result.attempt-*.json")} == {
        "result.attempt-1.json",
        "result.attempt-2.json",
    }
