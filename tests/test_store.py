"""result.json: the sectioned schema (version 2), the flat version-1 files written before it, and
a newer version refused with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rexmle.errors import ConfigError
from rexmle.store import RESULT_SCHEMA_VERSION, Result, RunDir

FLAT_V1 = {  # a result.json as rexmle wrote it before the sections (every field at the top)
    "run_id": "r1", "challenge": "isles22", "agent": "dummy", "model": None, "seed": 0,
    "synthetic": True, "state": "done", "valid": True, "reason": None, "metrics": {"dice": 0.25},
    "n_cases": 5, "score": 3.0, "positions": {"dice": 3}, "rank": 3, "n_leaderboard": 10,
    "percentile": 0.8, "beats_median": True, "beats_share": 0.7, "medal": "bronze", "llm": None,
    "stopped": None, "cost_usd": 0.5, "unpriced_llm_calls": 1, "tokens_in": 10, "tokens_out": 4,
    "llm_calls": 2, "wall_time_s": 12.5, "agent_time_s": 9.0, "gpu_hours": 0.0,
    "isolation": "bubblewrap", "agent_exit_code": 0,
}  # fmt: skip


def test_a_flat_version_1_file_reads_into_the_sections(tmp_path: Path) -> None:
    rd = RunDir(tmp_path / "r1")
    rd.path.mkdir()
    rd.result_json.write_text(json.dumps(FLAT_V1))
    r = rd.read_result()
    assert r is not None and r.schema_version == RESULT_SCHEMA_VERSION == 2
    assert (r.spec.challenge, r.grade.metrics, r.ranking.medal, r.usage.cost_usd, r.timing.wall_time_s) == (
        "isles22",
        {"dice": 0.25},
        "bronze",
        0.5,
        12.5,
    )
    assert r.flat() == {**FLAT_V1, "schema_version": 2, "provision_s": 0.0}  # nothing lost or renamed
    assert (r.valid, r.percentile, r.tokens_out, r.isolation) == (True, 0.8, 4, "bubblewrap")


def test_version_2_is_written_in_sections_and_reads_back_equal(tmp_path: Path) -> None:
    r = Result.model_validate(FLAT_V1)
    rd = RunDir(tmp_path / "r1")
    rd.path.mkdir()
    rd.write_result(r)
    written = json.loads(rd.result_json.read_text())
    assert set(written) == {
        "schema_version", "spec", "state", "stopped", "isolation", "agent_exit_code",
        "grade", "ranking", "usage", "timing",
    }  # fmt: skip
    assert written["grade"]["valid"] is True and written["ranking"]["rank"] == 3
    assert rd.read_result() == r


def test_a_newer_schema_is_refused_with_one_line(tmp_path: Path) -> None:
    rd = RunDir(tmp_path / "r1")
    rd.path.mkdir()
    rd.write_result(Result.model_validate(FLAT_V1))
    newer = json.loads(rd.result_json.read_text()) | {"schema_version": 3}
    rd.result_json.write_text(json.dumps(newer))
    with pytest.raises(ConfigError) as e:
        rd.read_result()
    assert (
        "\n" not in str(e.value) and "schema version 3" in str(e.value) and "upgrade rexmle" in str(e.value)
    )


def test_run_rows_call_a_dead_running_run_interrupted_and_a_held_one_running(tmp_path: Path) -> None:
    import time

    from rexmle.store import RunRecord, RunSpec, RunState, run_rows

    spec = RunSpec.model_validate(
        {"challenge": "isles22", "agent": "dummy", "synthetic": True,
         "budgets": {"wall_time_s": 60, "cpus": 1, "memory_gb": 1}}
    )  # fmt: skip
    rd = RunDir(tmp_path / spec.run_id)
    rd.path.mkdir()
    now = time.time()
    rd.write_record(
        RunRecord(run_id=spec.run_id, spec=spec, state=RunState.running, created_at=now, updated_at=now)
    )
    (row,) = run_rows([tmp_path])
    assert row.state == "interrupted" and row.valid is None  # its process died: nobody holds the lock
    with rd.lock():
        (row,) = run_rows([tmp_path])
        assert row.state == "running"
