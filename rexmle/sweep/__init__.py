"""Sweeps: agents x challenges x models x seeds, on one machine or on SLURM, resumable.

A sweep is a folder (``output`` in sweep.yaml)::

    sweep.json                 the spec and the expanded matrix (run id -> RunSpec)
    runs/<run_id>/             one run directory each (store.py): run.json, result.json, ...
    jobs/<run_id>.json         SLURM only: the job that runs it (id, when submitted)
    slurm/<job_id>/            submitit's logs and pickles
    index.csv                  the results index, rebuilt from runs/ (never edited by hand)

Why it is safe to re-run at any time: a run's id is the hash of its spec, so the same matrix
maps to the same folders; ``result.json`` is written last and atomically, so its presence
is the one definition of "finished"; a run is executed only under a file lock on its folder,
so two orchestrators (or a killed one and its successor) never execute it twice; and on
SLURM a run whose job is still queued or running is not submitted again. Everything else
(a folder with run.json and no result: a killed worker, a cancelled or preempted job) is run
again from a clean sandbox. SLURM is the distributed engine here (through submitit): we
write no scheduler of our own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from rexmle import agent as agents
from rexmle import challenge as challenge_registry
from rexmle import paths
from rexmle.store import RunSpec
from rexmle.sweep.folder import (
    PHASES,
    WORKER_BUSY,
    Manifest,
    Notify,
    Phase,
    RunStatus,
    counts,
    lock_held,
    read_manifest,
    runs_root,
    slurm_active_jobs,
    status,
    write_manifest,
)
from rexmle.sweep.local import Slot, Tally, local_slots, run_local, visible_gpus, wait_for_others
from rexmle.sweep.slurm import SlurmRun, slurm_parameters, submit_slurm, wait_slurm
from rexmle.sweep.spec import BudgetOverrides, LocalOptions, SlurmOptions, SweepSpec, estimate, expand, load

__all__ = [
    "PHASES",
    "WORKER_BUSY",
    "BudgetOverrides",
    "LocalOptions",
    "Manifest",
    "Phase",
    "RunStatus",
    "Slot",
    "SlurmOptions",
    "SlurmRun",
    "SweepOutcome",
    "SweepSpec",
    "Tally",
    "counts",
    "estimate",
    "expand",
    "load",
    "local_slots",
    "lock_held",
    "provision",
    "read_manifest",
    "run_local",
    "run_sweep",
    "runs_root",
    "slurm_active_jobs",
    "slurm_parameters",
    "status",
    "submit_slurm",
    "visible_gpus",
    "wait_for_others",
    "wait_slurm",
    "write_manifest",
]


def provision(runs: list[RunSpec], home: Path, notify: Notify) -> None:
    """Prepare each dataset and install each agent (or build its image) once, before any run
    starts, as a run's own provision phase does: parallel runs then never race to build the same
    thing, and a broken install fails the sweep up front with one line instead of failing every run."""
    from rexmle.run import provision_agent, provision_data
    from rexmle.runtime import get_runtime

    for cid, synthetic in sorted({(r.challenge, r.synthetic) for r in runs}):
        provision_data(challenge_registry.get(cid), synthetic, home, notify)
    for name, runtime_name, gpus in sorted({(r.agent, r.runtime, r.budgets.gpus > 0) for r in runs}):
        log = home / "logs" / f"provision-{name}-{runtime_name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        notify(f"provisioning {name} for the {runtime_name} runtime (log {log})")
        provision_agent(agents.get(name), get_runtime(runtime_name), int(gpus), home, log, notify)


class SweepOutcome(BaseModel):
    output: Path
    counts: dict[str, int]
    started: list[str]
    skipped_finished: int
    submitted_jobs: list[str] = []


def run_sweep(
    spec: SweepSpec,
    home: Path | None = None,
    notify: Notify | None = None,
    retry_failed: bool = False,
    wait: bool = True,
    on_tally: Callable[[Tally], None] | None = None,
) -> SweepOutcome:
    """Bring the sweep folder up to date with ``spec``: run what is missing or broken
    (``on_tally``: the local executor's counts each time a run starts or ends, for a bar)."""
    from rexmle import store

    say = notify or (lambda _m: None)
    home = home or paths.home()
    runs = expand(spec)
    manifest = write_manifest(spec, runs)
    rows = {r.run_id: r for r in status(spec.output)}
    finished = [rid for rid, r in rows.items() if r.phase in ("done", "failed")]
    force = {rid for rid, r in rows.items() if retry_failed and r.phase == "failed"}
    busy = [rid for rid, r in rows.items() if r.phase in ("queued", "running")]
    todo = [rid for rid in manifest.runs if rid not in busy and (rid not in finished or rid in force)]
    say(
        f"sweep {spec.name}: {len(runs)} runs; {len(finished) - len(force)} finished, "
        f"{len(busy)} running elsewhere, {len(todo)} to run"
    )
    submitted: list[str] = []
    if todo:
        provision([manifest.runs[r] for r in todo], home, say)
    if spec.executor == "local":
        if todo:
            run_local(manifest, todo, home, say, force, spec.local.workers, on_tally)
        wait_for_others(spec.output, busy, say)
        final = status(spec.output)
    else:
        if todo:
            submitted = submit_slurm(manifest, todo, home, force, say)
        final = wait_slurm(spec.output, say, spec.slurm.poll_s) if wait else status(spec.output)
    store.write_index(spec.output)
    return SweepOutcome(
        output=spec.output,
        counts=counts(final),
        started=todo,
        skipped_finished=len(finished) - len(force),
        submitted_jobs=submitted,
    )
