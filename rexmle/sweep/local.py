"""The local executor: a pool of worker processes, one run each at a time, pinned to disjoint
CPU (and GPU) slots."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from rexmle.store import RunDir, RunSpec
from rexmle.sweep import worker
from rexmle.sweep.folder import WORKER_BUSY, Manifest, Notify, lock_held, runs_root


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


def run_local(
    manifest: Manifest,
    todo: list[str],
    home: Path,
    notify: Notify,
    force: set[str],
    workers: int | None,
    on_tally: Callable[[Tally], None] | None = None,
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
            proc = _start_worker(out, run_id, home, run_id in force, slot)
            with lock:
                live[proc.pid] = proc
                now = tally_of(out, finished, len(todo), len(live), started)
            if on_tally:
                on_tally(now)
            code = proc.wait()
            with lock:
                live.pop(proc.pid, None)
            where = f"GPU {','.join(slot.gpus)}" if slot.gpus else f"CPUs {slot.cpus}"
            if code == 0:
                with lock:
                    finished.append(run_id)
                    now = tally_of(out, finished, len(todo), len(live), started)
                if on_tally:
                    on_tally(now)
                notify(f"{now.line()}: {ended_how(RunDir(rd))} ({where})")
            elif code == WORKER_BUSY:
                elsewhere.append(run_id)
            elif not stopping.is_set():
                errors.append(run_id)
                notify(f"run {run_id} ended with harness exit code {code}; see {rd / 'harness.log'}")

    finished: list[str] = []
    started = time.monotonic()
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


def _start_worker(out: Path, run_id: str, home: Path, force: bool, slot: Slot) -> subprocess.Popen[bytes]:
    """One run's worker process, pinned to ``slot``'s CPUs and GPUs, dying with this process,
    its output appended to the run's ``harness.log``."""
    rd = runs_root(out) / run_id
    rd.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, REXMLE_HOME=str(home))
    env["CUDA_VISIBLE_DEVICES"] = ",".join(slot.gpus)
    cpus = set(slot.cpus)

    def preexec() -> None:
        os.sched_setaffinity(0, cpus)
        from rexmle.runtime.process import die_with_parent

        die_with_parent()

    with (rd / "harness.log").open("ab") as log:
        return subprocess.Popen(
            worker.command(out, run_id, home, force),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec,
        )


def ended_how(rd: RunDir) -> str:
    """One run's ending in a few words: ``<id> done, valid, percentile 0.41`` or why not."""
    result = rd.read_result()
    if result is None:
        record = rd.read_record()
        return f"{rd.path.name} {record.state.value if record else 'no record'}" + (
            f" ({record.error})" if record and record.error else ""
        )
    how = "valid" + (f", percentile {result.percentile:.2f}" if result.percentile is not None else "")
    return f"{result.run_id} {result.state.value}, " + (how if result.valid else f"invalid: {result.reason}")


@dataclass(frozen=True)
class Tally:
    """How far the runs of this invocation are: finished (``done``, of which ``failed``),
    ``running``, the time left at the pace so far and the LLM dollars spent."""

    done: int
    total: int
    failed: int
    running: int
    eta_s: float
    cost_usd: float

    def line(self) -> str:
        """``[7/18, 1 failed, 2 running, ETA 4 min, $0.31]``"""
        return (
            f"[{self.done}/{self.total}, {self.failed} failed, {self.running} running, "
            f"ETA {self.eta_s / 60:.0f} min, ${self.cost_usd:.2f}]"
        )


def tally_of(out: Path, finished: list[str], total: int, running: int, started: float) -> Tally:
    results = [RunDir(runs_root(out) / r).read_result() for r in finished]
    failed = sum(1 for r in results if r is None or not r.valid or r.state.value != "done")
    cost = sum(r.cost_usd for r in results if r is not None)
    elapsed = time.monotonic() - started
    eta = elapsed / len(finished) * (total - len(finished)) if finished else 0.0
    return Tally(len(finished), total, failed, running, eta, cost)


def wait_for_others(out: Path, run_ids: list[str], notify: Notify, poll_s: float = 1.0) -> None:
    """Runs that another process holds: wait until their locks are released."""
    waiting = [r for r in run_ids if lock_held(runs_root(out) / r)]
    if waiting:
        notify(f"waiting for {len(waiting)} run(s) executed by another process")
    while waiting:
        time.sleep(poll_s)
        waiting = [r for r in waiting if lock_held(runs_root(out) / r)]
