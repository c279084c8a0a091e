"""``rexmle doctor`` asks the real components and never fails on a missing one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rexmle import doctor
from rexmle.cli import app


def test_doctor_reports_every_component_with_a_fix_for_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # an engine socket that does not exist and a PATH without apptainer/sinfo/nvidia-smi
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no.sock")
    monkeypatch.setenv("REXMLE_PODMAN_SOCKET", f"{tmp_path}/no-podman.sock")
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["component"]: r for r in json.loads(result.stdout)}
    assert {"cpus", "docker engine", "podman", "GPUs", "apptainer", "slurm", "disk"} <= set(rows)
    for name in ("docker engine", "apptainer", "slurm", "GPUs"):
        assert rows[name]["status"] == "missing" and rows[name]["fix"], rows[name]
    assert "GiB free" in rows["disk"]["detail"]
    isolation = rows["local isolation"]
    assert isolation["status"] == "warning" and "NOT isolated" in isolation["detail"]
    assert "bubblewrap" in isolation["fix"]


def test_doctor_says_local_runs_are_isolated_where_bubblewrap_works() -> None:
    from rexmle.runtime.local import namespaces_available

    check = doctor.check_local_isolation()
    assert (check.status == "ok") == (namespaces_available() is None), check


def test_disk_check_walks_up_to_an_existing_folder(tmp_path: Path) -> None:
    check = doctor.check_disk(tmp_path / "not" / "yet" / "there")
    assert check.status in ("ok", "warning") and str(tmp_path) in check.detail
