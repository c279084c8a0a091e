"""The SLURM executor, through submitit: one job (or array) per resource shape, job ids recorded
in ``jobs/<run_id>.json`` as soon as SLURM returns them."""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from rexmle.errors import RexmleError
from rexmle.manifest import write_json_atomic
from rexmle.store import RunSpec
from rexmle.sweep.folder import Manifest, Notify, RunStatus, counts, read_manifest, runs_root, status
from rexmle.sweep.spec import SweepSpec
from rexmle.sweep.worker import raise_interrupt


class SlurmRun:
    """The callable a SLURM job runs: one sweep run. submitit requeues it on preemption or a
    SLURM time-out (``checkpoint``), up to ``max_requeues``; a requeued run restarts from a
    clean sandbox, as any interrupted run does."""

    def __init__(self, out: Path, run_id: str, home: Path, force: bool) -> None:
        self.out, self.run_id, self.home, self.force = out, run_id, home, force

    def __call__(self) -> dict[str, Any]:
        from rexmle.run import execute

        # submitit ignores SIGTERM (it waits for its own USR2); a scancel or a preemption's
        # SIGTERM must instead stop the sandbox and leave a consistent run.json.
        signal.signal(signal.SIGTERM, raise_interrupt)
        spec = read_manifest(self.out).runs[self.run_id]
        r = execute(spec, home=self.home, runs_root=runs_root(self.out), force=self.force, notify=print)
        return {"run_id": r.run_id, "state": r.state.value, "valid": r.valid}

    def checkpoint(self) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(SlurmRun(self.out, self.run_id, self.home, False))


def slurm_parameters(spec: SweepSpec, rs: RunSpec) -> dict[str, Any]:
    """submitit parameters for one run: the run's budget plus the sweep's margins."""
    b, o = rs.budgets, spec.slurm
    params: dict[str, Any] = {
        "timeout_min": math.ceil((b.wall_time_s + o.time_margin_s) / 60),
        "cpus_per_task": b.cpus,
        "mem_gb": math.ceil(b.memory_gb + o.mem_margin_gb),
        "nodes": 1,
        "tasks_per_node": 1,
        "name": f"rexmle-{spec.name}",
        "slurm_array_parallelism": o.array_parallelism,
    }
    if b.gpus:
        params["gpus_per_node"] = b.gpus
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(o, key):
            params[f"slurm_{key}"] = getattr(o, key)
    if o.setup:
        params["slurm_setup"] = list(o.setup)
    if o.additional:
        params["slurm_additional_parameters"] = dict(o.additional)
    return params


def submit_slurm(
    manifest: Manifest, todo: list[str], home: Path, force: set[str], notify: Notify
) -> list[str]:
    """Submit ``todo`` (one job per run, or one array per resource shape); record each job id
    in ``jobs/<run_id>.json`` as soon as SLURM returns it."""
    import submitit

    spec, out = manifest.spec, manifest.spec.output
    if shutil.which("sbatch") is None:
        raise RexmleError("executor slurm: sbatch is not on PATH (run from a SLURM login node)")
    (out / "jobs").mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[str]] = {}
    for rid in todo:
        key = json.dumps(slurm_parameters(spec, manifest.runs[rid]), sort_keys=True)
        groups.setdefault(key, []).append(rid)
    submitted: list[str] = []
    for key, rids in groups.items():
        ex = submitit.AutoExecutor(
            folder=out / "slurm" / "%j", cluster="slurm", slurm_max_num_timeout=spec.slurm.max_requeues
        )
        ex.update_parameters(**json.loads(key))
        calls = [SlurmRun(out, rid, home, rid in force) for rid in rids]
        try:
            if spec.slurm.array:
                with ex.batch():
                    pending = [ex.submit(c) for c in calls]
                jobs = pending
            else:
                jobs = [ex.submit(c) for c in calls]
        except (subprocess.CalledProcessError, OSError, RuntimeError) as exc:
            detail = getattr(exc, "output", None) or getattr(exc, "stderr", None) or exc
            text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
            raise RexmleError(f"sbatch refused the jobs: {' '.join(text.split())[:300]}") from None
        for rid, job in zip(rids, jobs, strict=True):
            write_json_atomic(
                out / "jobs" / f"{rid}.json", {"job_id": job.job_id, "submitted_at": time.time()}
            )
            submitted.append(job.job_id)
        notify(f"submitted {len(rids)} SLURM job(s): {', '.join(j.job_id for j in jobs)}")
    return submitted


def wait_slurm(out: Path, notify: Notify, poll_s: float) -> list[RunStatus]:
    """Poll until no run of the sweep is queued or running on SLURM. Ctrl-C stops watching,
    not the jobs: they belong to the cluster now."""
    last: dict[str, int] = {}
    try:
        while True:
            rows = status(out)
            c = counts(rows)
            if c != last:
                notify(" ".join(f"{k}={v}" for k, v in c.items() if v))
                last = c
            if c["queued"] == 0 and c["running"] == 0:
                return rows
            time.sleep(poll_s)
    except KeyboardInterrupt:
        notify(f"stopped watching; the jobs go on (follow them with `rexmle sweep status {out}`)")
        raise
