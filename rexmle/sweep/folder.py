"""The sweep folder: its manifest (the spec and the expanded matrix), the run folders, and what
each run's state is (``status``), read from the folders, the locks and SLURM."""

from __future__ import annotations

import contextlib
import getpass
import json
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from rexmle.config import format_validation
from rexmle.errors import ConfigError, RexmleError
from rexmle.manifest import write_json_atomic
from rexmle.store import RunDir, RunSpec
from rexmle.sweep.spec import SweepSpec

Notify = Callable[[str], None]


WORKER_BUSY = 3  # a worker's exit code: another process holds the run's lock


#: What ``sweep status`` calls a run. ``interrupted``: started and never finished (a killed
#: worker, a cancelled job); the next ``rexmle sweep`` runs it again.
Phase = Literal["pending", "queued", "running", "done", "failed", "interrupted"]


PHASES: tuple[Phase, ...] = ("pending", "queued", "running", "interrupted", "done", "failed")


QUEUED_SLURM = {"PENDING", "REQUEUED", "CONFIGURING", "SUSPENDED"}


ACTIVE_SLURM = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"}


class Manifest(BaseModel):
    """sweep.json: what the folder holds, so ``status`` and ``report`` need no sweep file."""

    spec: SweepSpec
    runs: dict[str, RunSpec]
    created_at: float
    updated_at: float


def runs_root(out: Path) -> Path:
    return out / "runs"


def write_manifest(spec: SweepSpec, runs: list[RunSpec]) -> Manifest:
    out = spec.output
    out.mkdir(parents=True, exist_ok=True)
    path = out / "sweep.json"
    created = time.time()
    if path.is_file():
        with contextlib.suppress(ValueError, ValidationError):
            created = Manifest.model_validate_json(path.read_text()).created_at
    manifest = Manifest(
        spec=spec, runs={r.run_id: r for r in runs}, created_at=created, updated_at=time.time()
    )
    write_json_atomic(path, manifest.model_dump(mode="json"))
    return manifest


def read_manifest(out: Path) -> Manifest:
    path = out / "sweep.json"
    if not path.is_file():
        raise ConfigError(f"{out} is not a sweep folder (no sweep.json); start one with `rexmle sweep FILE`")
    try:
        return Manifest.model_validate_json(path.read_text())
    except (ValueError, ValidationError) as exc:
        detail = format_validation(exc) if isinstance(exc, ValidationError) else str(exc)
        raise ConfigError(f"{path}: {detail}") from None


def lock_held(run_dir: Path) -> bool:
    """Whether some process is executing this run now (``RunDir.locked``)."""
    return RunDir(run_dir).locked()


class RunStatus(BaseModel):
    run_id: str
    phase: Phase
    challenge: str
    agent: str
    model: str | None
    seed: int
    state: str | None = None  # run.json's state
    valid: bool | None = None
    percentile: float | None = None
    attempts: int = 0
    job_id: str | None = None
    error: str | None = None
    updated_at: float | None = None


def _job_records(out: Path) -> dict[str, dict[str, Any]]:
    folder = out / "jobs"
    if not folder.is_dir():
        return {}
    found: dict[str, dict[str, Any]] = {}
    for p in folder.glob("*.json"):
        with contextlib.suppress(ValueError, OSError):
            found[p.stem] = json.loads(p.read_text())
    return found


def slurm_active_jobs() -> dict[str, str]:
    """Job id -> state of this user's queued or running jobs (array tasks one per line)."""
    exe = shutil.which("squeue")
    if exe is None:
        return {}
    proc = subprocess.run(
        [exe, "-h", "-r", "-u", getpass.getuser(), "-o", "%i|%T"], capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0:
        raise RexmleError(f"squeue failed: {proc.stderr.strip() or proc.returncode}")
    states: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        job, _, state = line.strip().partition("|")
        if job and state in ACTIVE_SLURM:
            states[job] = state
    return states


def status(out: Path, query_slurm: bool = True) -> list[RunStatus]:
    """Where every run of the sweep is, read from the run folders (and squeue for SLURM jobs)."""
    manifest = read_manifest(out)
    jobs = _job_records(out)
    active: dict[str, str] = {}
    root = runs_root(out)
    pending_jobs = [
        j for rid, j in jobs.items() if rid in manifest.runs and not (root / rid / "result.json").is_file()
    ]
    if query_slurm and pending_jobs:
        active = slurm_active_jobs()
    rows = []
    for rid, rs in manifest.runs.items():
        rd = RunDir(root / rid)
        row = RunStatus(
            run_id=rid, phase="pending", challenge=rs.challenge, agent=rs.agent, model=rs.model, seed=rs.seed
        )
        job = jobs.get(rid)
        row.job_id = str(job["job_id"]) if job else None
        result = rd.read_result() if rd.result_json.is_file() else None
        record = rd.read_record() if rd.run_json.is_file() else None
        if record is not None:
            row.state, row.attempts, row.error, row.updated_at = (
                record.state.value,
                record.attempts,
                record.error,
                record.updated_at,
            )
        if result is not None:
            row.phase = "done" if result.state.value == "done" else "failed"
            row.state, row.valid, row.percentile = result.state.value, result.valid, result.percentile
        elif row.job_id and row.job_id in active:
            # a requeued job (preempted) waits as PENDING again: queued, whatever run.json says
            row.phase = "queued" if active[row.job_id] in QUEUED_SLURM else "running"
        elif lock_held(rd.path):
            row.phase = "running"
        elif record is not None:
            row.phase = "interrupted"
        rows.append(row)
    return rows


def counts(rows: Iterable[RunStatus]) -> dict[str, int]:
    c = Counter(r.phase for r in rows)
    return {p: c.get(p, 0) for p in PHASES}
