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

import contextlib
import fcntl
import getpass
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rexmle import agent as agents
from rexmle import challenge as challenges
from rexmle import paths
from rexmle.config import format_validation, load_yaml_model
from rexmle.data import write_json_atomic
from rexmle.errors import ConfigError, RexmleError
from rexmle.store import RunDir, RunSpec

Notify = Callable[[str], None]
WORKER_BUSY = 3  # a worker's exit code: another process holds the run's lock
#: What ``sweep status`` calls a run. ``interrupted``: started and never finished (a killed
#: worker, a cancelled job); the next ``rexmle sweep`` runs it again.
Phase = Literal["pending", "queued", "running", "done", "failed", "interrupted"]
PHASES: tuple[Phase, ...] = ("pending", "queued", "running", "interrupted", "done", "failed")
QUEUED_SLURM = {"PENDING", "REQUEUED", "CONFIGURING", "SUSPENDED"}
ACTIVE_SLURM = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"}


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BudgetOverrides(Frozen):
    """Per-run limits that replace the challenge's own (synthetic or real) budget."""

    wall_time_s: Annotated[int, Field(gt=0)] | None = None
    gpus: Annotated[int, Field(ge=0)] | None = None
    #: <= 0 removes the limit, as on the command line.
    llm_usd: float | None = None
    llm_tokens: int | None = None


class LocalOptions(Frozen):
    #: Concurrent runs. Default: one per GPU when the runs use GPUs and GPUs exist, otherwise
    #: as many as there are whole CPU slots of the runs' ``cpus`` budget.
    workers: Annotated[int, Field(gt=0)] | None = None


class SlurmOptions(Frozen):
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    #: One job array per resource shape instead of one job per run.
    array: bool = False
    array_parallelism: Annotated[int, Field(gt=0)] = 64
    #: Added to the run's wall-time budget for the job's time limit: data staging, grading.
    time_margin_s: Annotated[int, Field(ge=0)] = 900
    #: Added to the run's memory budget for the job: the harness and the grader.
    mem_margin_gb: Annotated[float, Field(ge=0)] = 4.0
    #: How often a job may be requeued after preemption or a SLURM timeout.
    max_requeues: Annotated[int, Field(ge=0)] = 3
    #: Lines run in the batch script before the job (``module load ...``).
    setup: list[str] = []
    #: Any other sbatch option, verbatim (``{"mail-type": "END"}``).
    additional: dict[str, str | int] = {}
    poll_s: Annotated[float, Field(gt=0)] = 10.0


class SweepSpec(Frozen):
    """The contents of sweep.yaml."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
    agents: Annotated[list[str], Field(min_length=1)]
    #: A group (``all``, ``2d``, ``3d``, ``lite``) or a list of challenge ids and groups.
    challenges: str | Annotated[list[str], Field(min_length=1)] = "all"
    #: litellm model strings, for the agents that use an LLM (others run once per seed).
    models: list[str] = []
    #: A count (``3`` -> seeds 0, 1, 2) or an explicit list.
    seeds: Annotated[int, Field(gt=0)] | Annotated[list[int], Field(min_length=1)] = 1
    synthetic: bool = False
    llm: Literal["provider", "scripted"] | None = None
    steps: Annotated[int, Field(gt=0)] | None = None
    runtime: str = "local"
    budgets: BudgetOverrides = BudgetOverrides()
    executor: Literal["local", "slurm"] = "local"
    local: LocalOptions = LocalOptions()
    slurm: SlurmOptions = SlurmOptions()
    #: The sweep folder; relative paths are relative to the sweep file.
    output: Path

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


class Manifest(BaseModel):
    """sweep.json: what the folder holds, so ``status`` and ``report`` need no sweep file."""

    spec: SweepSpec
    runs: dict[str, RunSpec]
    created_at: float
    updated_at: float


def load(path: Path) -> SweepSpec:
    if not path.is_file():
        raise ConfigError(f"sweep file {path} does not exist")
    spec = load_yaml_model(path, SweepSpec)
    out = spec.output if spec.output.is_absolute() else (path.parent / spec.output)
    return spec.model_copy(update={"output": out.resolve()})


def expand(spec: SweepSpec) -> list[RunSpec]:
    """The matrix, in a stable order (challenge, agent, model, seed); errors name the cell."""
    from rexmle.run import make_spec

    out: dict[str, RunSpec] = {}
    for cid in challenges.select(spec.challenges):
        for name in spec.agents:
            uses_llm = agents.get(name).spec.uses_llm
            models: list[str | None] = list(spec.models) if uses_llm and spec.models else [None]
            for model in models:
                for seed in spec.seed_list:
                    try:
                        rs = make_spec(
                            cid,
                            name,
                            model=model,
                            seed=seed,
                            runtime=spec.runtime,
                            synthetic=spec.synthetic,
                            time_limit_s=spec.budgets.wall_time_s,
                            gpus=spec.budgets.gpus,
                            llm=spec.llm if uses_llm else None,
                            max_usd=spec.budgets.llm_usd if uses_llm else None,
                            max_tokens=spec.budgets.llm_tokens if uses_llm else None,
                            steps=spec.steps if uses_llm else None,
                        )
                    except RexmleError as exc:
                        raise ConfigError(f"sweep {spec.name}: {cid} x {name}: {exc}") from None
                    out.setdefault(rs.run_id, rs)
    return list(out.values())


def estimate(runs: Iterable[RunSpec]) -> dict[str, float]:
    """Upper bounds from the budgets: every run is assumed to use its whole wall time."""
    runs = list(runs)
    hours = [r.budgets.wall_time_s / 3600.0 for r in runs]
    return {
        "runs": len(runs),
        "gpu_hours": sum(h * r.budgets.gpus for h, r in zip(hours, runs, strict=True)),
        "cpu_hours": sum(h * r.budgets.cpus for h, r in zip(hours, runs, strict=True)),
        "wall_hours": sum(hours),
        "llm_usd_max": sum(r.budgets.llm_usd or 0.0 for r in runs if r.llm == "provider"),
    }


# ---------------------------------------------------------------- the sweep folder


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
    """Whether some process is executing this run now (it holds the run's flock)."""
    lock = run_dir / ".lock"
    if not lock.exists():
        return False
    with lock.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


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


# ---------------------------------------------------------------- provisioning


def provision(runs: list[RunSpec], home: Path, notify: Notify) -> None:
    """Prepare each synthetic dataset and install each agent (or build its image) once, before
    any run starts: parallel runs then never race to build the same thing, and a broken
    install fails the sweep up front with one line instead of failing every run."""
    from rexmle import data
    from rexmle.runtime import get_runtime

    for cid, synthetic in sorted({(r.challenge, r.synthetic) for r in runs}):
        ch = challenges.get(cid)
        if synthetic:
            notify(f"preparing {cid}@synthetic")
            data.prepare(ch, synthetic=True, home=home)
        else:
            data.require_prepared(ch, synthetic=False, home=home)
    for name, runtime_name, gpus in sorted({(r.agent, r.runtime, r.budgets.gpus > 0) for r in runs}):
        ag = agents.get(name)
        runtime = get_runtime(runtime_name)
        log = home / "logs" / f"provision-{name}-{runtime_name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        notify(f"provisioning {name} for the {runtime_name} runtime (log {log})")
        if runtime.prepare_image(ag, int(gpus), home, log) is None and not ag.is_installed(home):
            ag.install(home, log=log)


# ---------------------------------------------------------------- local executor


def visible_gpus() -> list[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES if set, else what nvidia-smi lists."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    proc = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30)
    return [str(i) for i, line in enumerate(proc.stdout.splitlines()) if line.startswith("GPU ")]


class Slot(BaseModel):
    cpus: list[int]
    gpus: list[str] = []


def local_slots(runs: list[RunSpec], workers: int | None) -> list[Slot]:
    """One slot per concurrent run: disjoint CPU sets, and GPUs (one run's budget each) when
    the runs use GPUs and this machine has them."""
    cores = sorted(os.sched_getaffinity(0))
    per_run_cpus = max((r.budgets.cpus for r in runs), default=1)
    per_run_gpus = max((r.budgets.gpus for r in runs), default=0)
    gpus = visible_gpus() if per_run_gpus else []
    if gpus:
        n = workers or max(1, len(gpus) // per_run_gpus)
    else:
        n = workers or max(1, len(cores) // per_run_cpus)
    slots = []
    for i in range(n):
        # more workers than whole slots (asked for): the extra ones share all cores / round-robin GPUs
        c = (
            cores[i * per_run_cpus : (i + 1) * per_run_cpus]
            if (i + 1) * per_run_cpus <= len(cores)
            else cores
        )
        g = gpus[i * per_run_gpus : (i + 1) * per_run_gpus] if (i + 1) * per_run_gpus <= len(gpus) else []
        if gpus and not g:
            g = [gpus[i % len(gpus)]]
        slots.append(Slot(cpus=c, gpus=g))
    return slots


def _worker_command(out: Path, run_id: str, home: Path, force: bool) -> list[str]:
    cmd = [sys.executable, "-m", "rexmle.sweep", "worker", str(out), run_id, "--home", str(home)]
    return [*cmd, "--force"] if force else cmd


def run_local(
    manifest: Manifest, todo: list[str], home: Path, notify: Notify, force: set[str], workers: int | None
) -> None:
    """Execute ``todo`` with a pool of worker processes, one run each at a time.

    Each run is a child process (``python -m rexmle.sweep worker``) pinned to its slot's CPUs and
    GPUs, so one run's crash cannot take the others down. On Ctrl-C/SIGTERM every child gets
    SIGTERM and stops its sandbox; a SIGKILLed orchestrator takes its children with it
    (parent-death signal), and their runs are left "interrupted" for the next invocation.
    """
    out = manifest.spec.output
    specs = [manifest.runs[r] for r in todo]
    slots = local_slots(specs, workers)
    queue = list(reversed(todo))
    lock = threading.Lock()
    live: dict[int, subprocess.Popen[bytes]] = {}
    stopping = threading.Event()
    errors: list[str] = []
    elsewhere: list[str] = []

    def work(slot: Slot) -> None:
        while not stopping.is_set():
            with lock:
                if not queue:
                    return
                run_id = queue.pop()
            rd = runs_root(out) / run_id
            rd.mkdir(parents=True, exist_ok=True)
            env = dict(os.environ, REXMLE_HOME=str(home))
            env["CUDA_VISIBLE_DEVICES"] = ",".join(slot.gpus)
            cpus = set(slot.cpus)

            def preexec(cpus: set[int] = cpus) -> None:
                os.sched_setaffinity(0, cpus)
                from rexmle.runtime.process import die_with_parent

                die_with_parent()

            with (rd / "harness.log").open("ab") as log:
                proc = subprocess.Popen(
                    _worker_command(out, run_id, home, run_id in force),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=preexec,
                )
                with lock:
                    live[proc.pid] = proc
                code = proc.wait()
                with lock:
                    live.pop(proc.pid, None)
            where = f"GPU {','.join(slot.gpus)}" if slot.gpus else f"CPUs {slot.cpus}"
            if code == 0:
                notify(f"finished {run_id} ({where})")
            elif code == WORKER_BUSY:
                elsewhere.append(run_id)
            elif not stopping.is_set():
                errors.append(run_id)
                notify(f"run {run_id} ended with harness exit code {code}; see {rd / 'harness.log'}")

    threads = [threading.Thread(target=work, args=(s,), daemon=True) for s in slots]
    notify(f"running {len(todo)} runs on {len(slots)} local slot(s)")
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.2)
    except BaseException:
        stopping.set()
        with lock:
            procs = list(live.values())
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=60)
        raise
    wait_for_others(out, elsewhere, notify)


def wait_for_others(out: Path, run_ids: list[str], notify: Notify, poll_s: float = 1.0) -> None:
    """Runs that another process holds: wait until their locks are released."""
    waiting = [r for r in run_ids if lock_held(runs_root(out) / r)]
    if waiting:
        notify(f"waiting for {len(waiting)} run(s) executed by another process")
    while waiting:
        time.sleep(poll_s)
        waiting = [r for r in waiting if lock_held(runs_root(out) / r)]


def worker_main(argv: list[str]) -> int:
    """``python -m rexmle.sweep worker OUT RUN_ID --home H [--force]``: one run of a sweep."""
    from rexmle.run import RunInProgress, execute

    out, run_id = Path(argv[0]), argv[1]
    home = Path(argv[argv.index("--home") + 1]) if "--home" in argv else paths.home()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    spec = read_manifest(out).runs[run_id]
    try:
        result = execute(
            spec,
            home=home,
            runs_root=runs_root(out),
            force="--force" in argv,
            notify=lambda m: print(m, flush=True),
        )
    except RunInProgress as exc:
        print(exc, flush=True)
        return WORKER_BUSY
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        return 130
    print(f"{run_id}: {result.state.value}, valid={result.valid}", flush=True)
    return 0


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# ---------------------------------------------------------------- SLURM executor (submitit)


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
        signal.signal(signal.SIGTERM, _raise_interrupt)
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


# ---------------------------------------------------------------- the command


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
) -> SweepOutcome:
    """Bring the sweep folder up to date with ``spec``: run what is missing or broken."""
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
            run_local(manifest, todo, home, say, force, spec.local.workers)
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


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "worker":
        sys.exit(worker_main(sys.argv[2:]))
    sys.exit("usage: python -m rexmle.sweep worker OUT RUN_ID [--home H] [--force]")
