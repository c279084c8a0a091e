"""Validate and grade a submission directory for one challenge.

The challenge's code is a :class:`rexmle.challenge_api.Grader` (its contract is written there):
``FORMAT``, ``check_case``, and ``score_case`` (+ ``aggregate`` for pooled metrics) or
``score_pooled``. The test cases a submission must cover are those the manifest recorded when
the data was prepared (the ``FORMAT.id_column`` values of the public ``test.csv``).

The harness, not the grader, turns per-case values into the submission's metrics, as
challenge.yaml defines each one (:func:`aggregate`): ``mean`` / ``median`` over the cases, or
``pooled`` (the grader's value over all cases at once).

The submission table (``submission.csv``, the id set, path safety) is read by
``rexmle.submission``; here every failure becomes ``valid: false`` with a one-line reason. No byte
of a submitted file is decoded in the caller's process: each case is checked and scored in
a disposable worker (``rexmle.grade_worker``) with an address-space cap and a wall limit
(``challenge.yaml``'s ``grading:``), one case per worker in flight, so memory is bounded by
one case per worker and a worker that dies or hangs makes the submission invalid. A pooled
grader's ``score_pooled`` gets every case's ``check_case`` result (small and picklable) in one
worker after every case passed.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as connection_wait
from pathlib import Path
from typing import IO, Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from rexmle import data, grade_worker
from rexmle.challenge import Challenge, Metric
from rexmle.challenge_api import grader_of
from rexmle.errors import ConfigError, InvalidSubmission
from rexmle.grade_worker import POOLED_KEY, VALIDATE_CASE_TIME_S, Verdict, one_line
from rexmle.submission import (
    EXTRA_ROWS_READ,
    MAX_CSV_BYTES,
    SUBMISSION_CSV,
    SubmissionFormat,
    check_repeated_values,
    read_submission,
    resolve_member,
)

__all__ = [  # the submission table's names stay importable from here for challenge folders written
    # before rexmle.challenge_api (on $REXMLE_CHALLENGES_PATH); new code imports the API
    "EXTRA_ROWS_READ",
    "MAX_CSV_BYTES",
    "SUBMISSION_CSV",
    "GradeReport",
    "InvalidSubmission",
    "SubmissionFormat",
    "aggregate",
    "check_repeated_values",
    "expected_ids",
    "grade",
    "read_submission",
    "resolve_member",
    "validate",
]


class GradeReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    valid: bool
    reason: str | None = None
    n_cases: int = 0
    metrics: dict[str, float] = {}
    per_case: list[dict[str, Any]] = []


ProgressFn = Callable[[int, int], None]


#: Variables a grading worker keeps from the harness's environment: no provider keys, no
#: ``REXMLE_*`` settings (a worker is told everything it needs in its requests).
_WORKER_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH")
#: Also kept: ``COVERAGE_*``, set only when the tests run under coverage.py (``make COVERAGE=1``),
#: so the workers' grading code is measured too; no secret travels in them.
_WORKER_ENV_PREFIX = "COVERAGE_"


class WorkerDied(Exception):
    """A grading worker ended without answering (killed, crashed, or out of time); ``job`` is
    the job it was given, the message the one-line reason."""

    def __init__(self, job: str, reason: str) -> None:
        super().__init__(reason)
        self.job = job


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    requests: Connection
    answers: Connection
    stderr: IO[bytes]
    job: str | None = None
    deadline: float = 0.0
    limit: float = 0.0

    def last_words(self) -> str:
        """The last line the worker wrote to stderr (why a library aborted), if any."""
        try:
            self.stderr.seek(0, os.SEEK_END)
            self.stderr.seek(max(0, self.stderr.tell() - 4096))
            tail = self.stderr.read().decode("utf-8", "replace").strip().splitlines()
        except OSError:
            return ""
        return one_line(tail[-1], 160) if tail else ""

    def stop(self, grace_s: float = 5.0) -> None:
        """Ask an idle worker to exit (it ends its loop on ``None``), killing it if it does not."""
        with contextlib.suppress(OSError, ValueError):
            self.requests.send(None)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=grace_s)
        self.kill()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        for c in (self.requests, self.answers):
            with contextlib.suppress(OSError):
                c.close()
        self.stderr.close()


class WorkerPool:
    """Grading workers (``rexmle.grade_worker``) with a memory cap each and a wall limit per job.

    Started lazily, killed on exit whatever happened. A worker that dies, runs past its job's
    limit or answers garbage raises :class:`WorkerDied` with a one-line reason; the pool does
    not retry (a submission that kills its grader is invalid, not unlucky).
    """

    def __init__(self, size: int, memory_gb: float) -> None:
        self.size = max(1, size)
        self.memory_bytes = int(memory_gb * 2**30)
        self.memory_gb = memory_gb
        self._idle: list[_Worker] = []
        self._busy: list[_Worker] = []

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        for w in self._idle:  # an idle worker is told to stop and exits normally (its atexit runs)
            w.stop()
        for w in self._busy:  # a busy one may be stuck in a hostile case: killed
            w.kill()
        self._idle.clear()
        self._busy.clear()

    def _spawn(self) -> _Worker:
        env = {
            k: v for k, v in os.environ.items() if k in _WORKER_ENV_KEEP or k.startswith(_WORKER_ENV_PREFIX)
        }
        env.update(grade_worker.SINGLE_THREADED)
        req_r, req_w = os.pipe()
        ans_r, ans_w = os.pipe()
        stderr = tempfile.TemporaryFile()  # noqa: SIM115  (the worker owns it; closed by kill)
        proc = subprocess.Popen(
            [sys.executable, "-m", "rexmle.grade_worker", str(self.memory_bytes), str(os.getpid())],
            stdin=req_r,
            stdout=ans_w,
            stderr=stderr,
            env=env,
            close_fds=True,  # never the run's lock, nor any other file of the harness
        )
        os.close(req_r)
        os.close(ans_w)
        return _Worker(
            proc=proc,
            requests=Connection(req_w, readable=False, writable=True),
            answers=Connection(ans_r, readable=True, writable=False),
            stderr=stderr,
        )

    @property
    def free(self) -> int:
        return self.size - len(self._busy)

    def submit(self, job: str, request: tuple[str, tuple[Any, ...]], time_limit: float) -> None:
        worker = self._idle.pop() if self._idle else self._spawn()
        worker.job, worker.limit = job, time_limit
        worker.deadline = time.monotonic() + time_limit
        try:
            worker.requests.send(request)
        except OSError:
            worker.kill()
            raise WorkerDied(job, f"{job}: the grading worker could not start") from None
        self._busy.append(worker)

    def next_answer(self, describe: Callable[[str], str]) -> tuple[str, Any]:
        """Block until a busy worker answers; returns ``(job, answer)``. ``describe(job)``
        names the job in a failure's reason ("case X")."""
        while True:
            now = time.monotonic()
            late = [w for w in self._busy if w.deadline <= now]
            if late:
                w = late[0]
                w.kill()
                self._busy.remove(w)
                raise WorkerDied(
                    w.job or "", f"{describe(w.job or '')}: grading took longer than its {w.limit:g} s limit"
                )
            timeout = min(w.deadline for w in self._busy) - now
            ready = connection_wait([w.answers for w in self._busy], timeout=max(0.0, timeout))
            for conn in ready:
                w = next(x for x in self._busy if x.answers is conn)
                try:
                    answer = w.answers.recv()
                except (EOFError, OSError, pickle.UnpicklingError):
                    w.proc.wait()
                    reason = self._death(w)
                    w.kill()
                    self._busy.remove(w)
                    raise WorkerDied(w.job or "", f"{describe(w.job or '')}: {reason}") from None
                self._busy.remove(w)
                self._idle.append(w)
                return w.job or "", answer

    def _death(self, w: _Worker) -> str:
        code = w.proc.returncode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            how = f"the grading worker was killed by {name}"
        else:
            how = f"the grading worker exited with code {code}"
        words = w.last_words()
        return f"{how} while reading it (memory limit {self.memory_gb:g} GiB){': ' + words if words else ''}"


def _run_cases(
    challenge: Challenge,
    cases: dict[str, dict[str, Any]],
    public_dir: Path,
    private_dir: Path | None,
    pool: WorkerPool,
    time_limit: float,
    progress: ProgressFn | None,
) -> Iterator[Verdict]:
    """Check/score every case in ``pool``, at most one case per worker in flight (memory stays
    bounded by one case per worker); stops at the first case that fails."""
    queue = iter(sorted(cases))
    total = len(cases)
    done = 0

    def request(c: str) -> tuple[str, tuple[Any, ...]]:
        args = (str(challenge.folder), challenge.id, c, cases[c], str(public_dir))
        return "case", (*args, None if private_dir is None else str(private_dir))

    def feed() -> None:
        while pool.free > 0:
            c = next(queue, None)
            if c is None:
                return
            pool.submit(c, request(c), time_limit)

    feed()
    while done < total:
        try:
            _job, verdict = pool.next_answer(lambda c: f"case {c}")
        except WorkerDied as exc:
            yield exc.job, False, one_line(str(exc)), {}
            return
        done += 1
        if progress:
            progress(done, total)
        yield verdict
        if not verdict[1]:
            return
        feed()


def default_workers() -> int:
    env = os.environ.get("REXMLE_GRADE_WORKERS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ConfigError(
                f"REXMLE_GRADE_WORKERS must be a whole number of workers, not {env!r}"
            ) from None
    return max(1, min(os.cpu_count() or 1, 8))


def expected_ids(challenge: Challenge, public_dir: Path) -> list[str]:
    """The case ids a submission must cover.

    From the manifest written when the data was prepared (``test_ids``), which no agent can
    reach; for a preparation older than that field, the ``FORMAT.id_column`` of the public
    ``test.csv`` (the run checks the public folder
    against the manifest's hashes before grading, see ``rexmle.data.check_public``)."""
    manifest = data.read_manifest(public_dir.parent)
    if manifest is not None and manifest.test_ids is not None:
        return list(manifest.test_ids)
    return data.public_expected_ids(challenge, public_dir)


def aggregate(
    metrics: Sequence[Metric], rows: Sequence[Mapping[str, Any]], pooled: Mapping[str, float]
) -> dict[str, float]:
    """Each metric's value, as challenge.yaml defines it, in the yaml's order.

    ``mean``:   (1/n) sum_i v_i     ``median``: numpy's median of the v_i (the mean of the two
    middle values for an even n), over the per-case values ``v_i = rows[i][metric.case_key]``;
    a NaN case value makes the metric NaN, which makes the submission invalid (the organisers'
    ``np.mean`` would give NaN too). ``pooled``: the grader's own value over all cases.

    A grader that misses a value the yaml needs, or computes a pooled metric the yaml does not
    name, is a bug in the challenge, not in the submission: :class:`ConfigError`."""
    names = {m.name for m in metrics if m.aggregation == "pooled"}
    extra = sorted(set(pooled) - names)
    if extra:
        raise ConfigError(
            f"the grader computes {', '.join(extra)}, which challenge.yaml does not name as pooled"
        )
    out: dict[str, float] = {}
    for m in metrics:
        if m.aggregation == "pooled":
            if m.name not in pooled:
                raise ConfigError(f"the grader does not compute the pooled metric {m.name}")
            out[m.name] = float(pooled[m.name])
            continue
        try:
            values = np.asarray([float(r[m.case_key]) for r in rows], dtype=np.float64)
        except KeyError:
            raise ConfigError(
                f"the grader's score_case gives no {m.case_key!r} for metric {m.name}"
            ) from None
        out[m.name] = float(np.mean(values) if m.aggregation == "mean" else np.median(values))
    return out


def _score_cases(
    challenge: Challenge,
    cases: dict[str, dict[str, Any]],
    public_dir: Path,
    private_dir: Path | None,
    pool: WorkerPool,
    time_limit: float,
    progress: ProgressFn | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]] | GradeReport:
    """Every case checked (and scored) in the pool: the per-case rows sorted by id and the pooled
    graders' loaded predictions, or the report of the first case that failed."""
    rows: list[dict[str, Any]] = []
    pooled: dict[str, Any] = {}
    for case_id, ok, reason, scores in _run_cases(
        challenge, cases, public_dir, private_dir, pool, time_limit, progress
    ):
        if not ok:
            return GradeReport(valid=False, reason=reason, n_cases=len(cases))
        if POOLED_KEY in scores:
            pooled[case_id] = scores.pop(POOLED_KEY)
        rows.append({"case_id": case_id, **scores})
    rows.sort(key=lambda r: r["case_id"])
    return rows, pooled


def _pooled_metrics(
    challenge: Challenge,
    rows: list[dict[str, Any]],
    loaded: dict[str, Any],
    private_dir: Path,
    pool: WorkerPool,
    time_limit: float,
) -> dict[str, float] | GradeReport:
    """The grader's pooled metrics: ``score_pooled`` in a worker, or ``aggregate`` over the rows."""
    grader = grader_of(challenge)
    if grader.score_pooled is not None:
        request = (
            "pooled",
            (str(challenge.folder), challenge.id, dict(sorted(loaded.items())), str(private_dir)),
        )
        try:
            pool.submit("all cases", request, time_limit)
            _job, (ok, reason, metrics) = pool.next_answer(lambda job: job)
        except WorkerDied as exc:
            return GradeReport(valid=False, reason=one_line(f"scoring failed: {exc}"), n_cases=len(rows))
        return dict(metrics) if ok else GradeReport(valid=False, reason=reason, n_cases=len(rows))
    if grader.aggregate is None:
        return {}
    try:
        return {k: float(v) for k, v in grader.aggregate(rows).items()}
    except InvalidSubmission as exc:
        return GradeReport(valid=False, reason=one_line(str(exc)), n_cases=len(rows))
    except Exception as exc:
        reason = one_line(f"aggregation failed: {type(exc).__name__}: {exc}")
        return GradeReport(valid=False, reason=reason, n_cases=len(rows))


def _evaluate(
    challenge: Challenge,
    submission_dir: Path,
    public_dir: Path,
    private_dir: Path | None,
    workers: int | None,
    progress: ProgressFn | None,
) -> GradeReport:
    fmt = grader_of(challenge).format
    try:
        ids = expected_ids(challenge, public_dir)
        cases = read_submission(submission_dir, fmt, ids)
        check_repeated_values(cases, fmt, public_dir / "test.csv")
    except InvalidSubmission as exc:
        return GradeReport(valid=False, reason=one_line(str(exc)))
    limits = challenge.spec.grading
    time_limit = (
        limits.case_time_s if private_dir is not None else min(limits.case_time_s, VALIDATE_CASE_TIME_S)
    )
    size = min(workers or default_workers(), len(cases))
    with WorkerPool(size, limits.memory_gb) as pool:
        scored = _score_cases(challenge, cases, public_dir, private_dir, pool, time_limit, progress)
        if isinstance(scored, GradeReport):
            return scored
        rows, loaded = scored
        if private_dir is None:
            return GradeReport(valid=True, n_cases=len(rows))
        pooled = _pooled_metrics(challenge, rows, loaded, private_dir, pool, time_limit)
    if isinstance(pooled, GradeReport):
        return pooled
    metrics = aggregate(challenge.spec.metrics, rows, pooled)
    bad = [k for k, v in metrics.items() if math.isnan(v)]
    if bad:
        return GradeReport(valid=False, reason=f"metric(s) {', '.join(bad)} are NaN", n_cases=len(rows))
    return GradeReport(valid=True, n_cases=len(rows), metrics=metrics, per_case=rows)


def validate(
    challenge: Challenge,
    submission_dir: Path,
    public_dir: Path,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> GradeReport:
    """Format check only (public files only): never reads private data, never scores. Each
    case is checked in a bounded worker with a short wall limit (``VALIDATE_CASE_TIME_S``)."""
    return _evaluate(challenge, submission_dir, public_dir, None, workers, progress)


def grade(
    challenge: Challenge,
    submission_dir: Path,
    public_dir: Path,
    private_dir: Path,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> GradeReport:
    """Validate then score every case in bounded workers (``challenge.yaml``'s ``grading``
    limits); the metrics as challenge.yaml defines them (:func:`aggregate`)."""
    return _evaluate(challenge, submission_dir, public_dir, private_dir, workers, progress)
