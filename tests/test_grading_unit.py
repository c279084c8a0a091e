"""Fast unit tests of the grading harness, ``rexmle.grading`` (the mutation target's own tests).

Pinned here, with hand-computed expectations:

- ``aggregate``: ``mean`` / ``median`` (numpy's: the mean of the two middle values for an even n)
  of each metric's per-case key, ``pooled`` values taken from the grader, in challenge.yaml's order;
  a NaN case value makes the metric NaN; a grader bug (an extra or a missing pooled value, a
  missing per-case key) is a ``ConfigError`` naming it.
- ``expected_ids`` (the manifest's ``test_ids``, else the public ``test.csv`` in file order) and
  ``default_workers`` (``REXMLE_GRADE_WORKERS``, else the CPU count capped at 8, never below 1).
- ``grade`` / ``validate`` / ``_run_cases`` with an in-process stand-in pool (``InlinePool``, which
  runs ``grade_worker``'s own task functions): the time limit (the challenge's, or at most 30 s
  when validating), the pool size, at most one case per worker in flight, progress, the first
  failing case or dead worker as a one-line reason, the NaN-metric refusal, pooled metrics from
  ``aggregate`` (and its failures) or ``score_pooled`` (and its failures), and what a report holds.
- ``WorkerPool`` with workers that are plain pipes and a fake process, under a fake clock: the
  deadline (late at exactly the limit), the wait it passes, which late job is reported, a worker
  that dies (EOF, half a message, garbage), the reason's text (exit code, signal name or number,
  the last stderr line), stopping and killing, a request to a dead worker.
- Two real runs of ``rexmle.grade_worker`` processes: an honest grade (the worker's command, its
  filtered environment, the memory cap argument, worker reuse, workers stopped at the end) and a
  hanging case stopped at a 1 s limit.

The challenges are throw-away folders (challenge.yaml + a few lines of grade.py) written into a
temporary folder; no data preparation. Each grader code has its own id: the harness caches a
challenge's module by id.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as real_wait
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from helpers import fake_challenge
from pydantic import ValidationError

from rexmle import grade_worker, grading
from rexmle.challenge import Challenge, GradingLimits, Metric
from rexmle.errors import ConfigError

# --- throw-away challenges -----------------------------------------------------------------------

CASE_GRADER = """
from rexmle.challenge_api import InvalidSubmission, SubmissionFormat

FORMAT = SubmissionFormat(id_column="case_id", value_columns=("value",))


def check_case(case_id, files, public_dir):
    try:
        return float(files["value"])
    except ValueError:
        raise InvalidSubmission(f"case {case_id}: value {files['value']!r} is not a number") from None


def score_case(case_id, v, private_dir):
    scale = float((private_dir / "scale.txt").read_text())
    return {"v": v, "w": v * scale}


def aggregate(rows):
    vs = [r["v"] for r in rows]
    if 13.0 in vs:
        raise InvalidSubmission("13 is\\nunlucky")
    if 99.0 in vs:
        return {"total": 1 / 0}
    return {"total": sum(vs)}
"""
CASE_METRICS = [
    {"name": "v_mean", "direction": "higher_better", "aggregation": "mean", "per_case": "v"},
    {"name": "v_median", "direction": "higher_better", "aggregation": "median", "per_case": "v"},
    {"name": "total", "direction": "higher_better", "aggregation": "pooled"},
    {"name": "w", "direction": "lower_better", "aggregation": "mean"},
]

NO_HOOK_GRADER = """
from rexmle.challenge_api import SubmissionFormat

FORMAT = SubmissionFormat(id_column="case_id", value_columns=("value",))


def check_case(case_id, files, public_dir):
    return float(files["value"])


def score_case(case_id, v, private_dir):
    return {"v": v}
"""
NO_HOOK_METRICS = [{"name": "v", "direction": "higher_better", "aggregation": "mean"}]

POOLED_GRADER = """
from rexmle.challenge_api import InvalidSubmission, SubmissionFormat

FORMAT = SubmissionFormat(id_column="case_id", value_columns=("value",))


def check_case(case_id, files, public_dir):
    return float(files["value"])


def score_pooled(loaded, private_dir):
    if any(v < 0 for v in loaded.values()):
        raise InvalidSubmission("negative values cannot be pooled")
    offset = float((private_dir / "scale.txt").read_text())
    return {"sum": sum(loaded.values()) + offset, "order": float("".join(c[-1] for c in loaded))}
"""
POOLED_METRICS = [
    {"name": n, "direction": "higher_better", "aggregation": "pooled"} for n in ("sum", "order")
]

REAL_GRADER = """
import time
from rexmle.challenge_api import SubmissionFormat

FORMAT = SubmissionFormat(id_column="case_id", value_columns=("action",))


def check_case(case_id, files, public_dir):
    while files["action"] == "hang":
        time.sleep(0.05)
    return 1.0


def score_case(case_id, v, private_dir):
    return {"ok": v}
"""
REAL_METRICS = [{"name": "ok", "direction": "higher_better", "aggregation": "mean"}]


write_challenge = fake_challenge  # the least challenge.yaml that loads, and grade_py


def limited(ch: Challenge, **limits: float) -> Challenge:
    """``ch`` with these grading limits (what a ``grading:`` block in challenge.yaml gives)."""
    return Challenge(ch.spec.model_copy(update={"grading": GradingLimits(**limits)}), ch.folder)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The challenges, a public folder listing c1..c4 (no manifest) and a private one."""
    root = tmp_path_factory.mktemp("grading_unit")
    public, private = root / "data" / "public", root / "data" / "private"
    public.mkdir(parents=True)
    private.mkdir()
    (public / "test.csv").write_text("case_id\nc1\nc2\nc3\nc4\n")
    (private / "scale.txt").write_text("2")
    return SimpleNamespace(
        root=root,
        public=public,
        private=private,
        case=write_challenge(root / "ch" / "gu_case", CASE_GRADER, CASE_METRICS),
        no_hook=write_challenge(root / "ch" / "gu_no_hook", NO_HOOK_GRADER, NO_HOOK_METRICS),
        pooled=write_challenge(root / "ch" / "gu_pooled", POOLED_GRADER, POOLED_METRICS),
        real=write_challenge(root / "ch" / "gu_real", REAL_GRADER, REAL_METRICS),
    )


def submit(folder: Path, values: dict[str, str], column: str = "value") -> Path:
    """``folder/submission.csv`` with one row per case, in the order given."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{k},{v}\n" for k, v in values.items())
    (folder / "submission.csv").write_text(f"case_id,{column}\n" + rows)
    return folder


def public_of(tmp_path: Path, ids: list[str]) -> Path:
    """A public folder whose test.csv lists ``ids`` (and no manifest beside it)."""
    public = tmp_path / "data" / "public"
    public.mkdir(parents=True)
    (public / "test.csv").write_text("case_id\n" + "".join(f"{i}\n" for i in ids))
    return public


# --- aggregate -----------------------------------------------------------------------------------


def metric(name: str, aggregation: str, per_case: str | None = None) -> Metric:
    return Metric(name=name, direction="higher_better", aggregation=aggregation, per_case=per_case)  # type: ignore[arg-type]


def test_aggregate_mean_median_and_pooled_in_the_yaml_order() -> None:
    metrics = [
        metric("p", "pooled"),
        metric("m", "mean", per_case="x"),
        metric("med", "median", per_case="x"),
        metric("y", "mean"),
        metric("q", "pooled"),
    ]
    rows = [{"x": 1, "y": 0.5}, {"x": 2, "y": 0.5}, {"x": 3, "y": 1}, {"x": 10, "y": 2}]
    out = grading.aggregate(metrics, rows, {"q": 1, "p": 7})
    # mean x = (1+2+3+10)/4 = 4; median of an even n = (2+3)/2 = 2.5; mean y = 4/4 = 1;
    # pooled values are the grader's own, as floats
    assert out == {"p": 7.0, "m": 4.0, "med": 2.5, "y": 1.0, "q": 1.0}
    assert list(out) == ["p", "m", "med", "y", "q"]
    assert all(type(v) is float for v in out.values())


def test_aggregate_of_metrics_that_went_through_pickle() -> None:
    """A spec handed to another process arrives unpickled: its ``aggregation`` strings are equal
    to, but no longer the same objects as, the literals the harness compares them with."""
    metrics = pickle.loads(pickle.dumps([metric("p", "pooled"), metric("m", "mean"), metric("d", "median")]))
    rows = [{"m": 1.0, "d": 1.0}, {"m": 2.0, "d": 2.0}, {"m": 9.0, "d": 9.0}]
    # mean of 1, 2, 9 = 4; median = 2; the pooled value as the grader gives it
    assert grading.aggregate(metrics, rows, {"p": 0.5}) == {"p": 0.5, "m": 4.0, "d": 2.0}


def test_aggregate_median_of_an_odd_count_is_the_middle_value() -> None:
    rows = [{"x": 9.0}, {"x": 1.0}, {"x": 2.0}]
    # sorted 1, 2, 9: median 2 (the mean would be 4)
    assert grading.aggregate([metric("x", "median")], rows, {}) == {"x": 2.0}
    assert grading.aggregate([metric("x", "mean")], rows, {}) == {"x": 4.0}


def test_a_nan_case_value_makes_the_metric_nan() -> None:
    rows = [{"x": 1.0}, {"x": float("nan")}, {"x": 3.0}]
    out = grading.aggregate([metric("a", "mean", "x"), metric("b", "median", "x")], rows, {})
    assert math.isnan(out["a"]) and math.isnan(out["b"])


def test_a_pooled_value_the_yaml_does_not_name_is_a_grader_bug() -> None:
    with pytest.raises(ConfigError, match=r"^the grader computes b, c, which challenge.yaml does not name"):
        grading.aggregate([metric("p", "pooled")], [], {"c": 1.0, "p": 2.0, "b": 3.0})
    # a mean metric's name is not a pooled name either
    with pytest.raises(ConfigError, match="the grader computes m,"):
        grading.aggregate([metric("m", "mean")], [{"m": 1.0}], {"m": 1.0})


def test_a_pooled_metric_the_grader_does_not_compute_is_a_grader_bug() -> None:
    with pytest.raises(ConfigError, match=r"^the grader does not compute the pooled metric q$"):
        grading.aggregate([metric("p", "pooled"), metric("q", "pooled")], [], {"p": 1.0})


def test_a_per_case_value_score_case_does_not_give_is_a_grader_bug() -> None:
    with pytest.raises(ConfigError, match=r"^the grader's score_case gives no 'hd' for metric hd_50pc$"):
        grading.aggregate([metric("hd_50pc", "median", per_case="hd")], [{"hd": 1.0}, {"dice": 1.0}], {})


# --- expected_ids and default_workers ------------------------------------------------------------


def write_manifest(data_root: Path, test_ids: list[str] | None) -> None:
    body = {
        "challenge": "gu_case",
        "layout_version": 1,
        "synthetic": True,
        "rexmle_version": "0",
        "sources": {},
        "public": {},
        "private": {},
        "n_train": 0,
        "n_test": 2,
        "prepared_at": 0.0,
        "test_ids": test_ids,
    }
    (data_root / "manifest.json").write_text(json.dumps(body))


def test_expected_ids_come_from_the_manifest_then_from_test_csv(
    world: SimpleNamespace, tmp_path: Path
) -> None:
    public = public_of(tmp_path, ["c3", "c1", "c2"])
    # no manifest: the public test.csv's ids, in file order
    assert grading.expected_ids(world.case, public) == ["c3", "c1", "c2"]
    # a manifest from before test_ids existed: still test.csv
    write_manifest(public.parent, None)
    assert grading.expected_ids(world.case, public) == ["c3", "c1", "c2"]
    # the manifest's ids win over a public folder an agent could have edited
    write_manifest(public.parent, ["z9", "a1"])
    assert grading.expected_ids(world.case, public) == ["z9", "a1"]


@pytest.mark.parametrize(("env", "expected"), [("5", 5), ("1", 1), ("0", 1), ("-3", 1)])
def test_default_workers_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: str, expected: int
) -> None:
    monkeypatch.setenv("REXMLE_GRADE_WORKERS", env)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert grading.default_workers() == expected


@pytest.mark.parametrize("env", ["abc", "2.5", "four"])
def test_a_worker_count_that_is_no_number_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.setenv("REXMLE_GRADE_WORKERS", env)
    with pytest.raises(ConfigError) as err:
        grading.default_workers()
    assert str(err.value) == f"REXMLE_GRADE_WORKERS must be a whole number of workers, not {env!r}"


@pytest.mark.parametrize(("cpus", "expected"), [(4, 4), (1, 1), (None, 1), (8, 8), (9, 8), (32, 8)])
def test_default_workers_from_the_cpu_count(
    monkeypatch: pytest.MonkeyPatch, cpus: int | None, expected: int
) -> None:
    monkeypatch.setenv("REXMLE_GRADE_WORKERS", "")  # empty: unset
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert grading.default_workers() == expected


# --- grade / validate with an in-process pool ----------------------------------------------------


class InlinePool:
    """A stand-in for ``WorkerPool`` with its interface (size, ``free``, ``submit``,
    ``next_answer``) that runs each request with ``grade_worker``'s own task functions in this
    process, answers in submission order, and records what the harness asked of it. A job named
    in ``die`` raises ``WorkerDied`` as a dead worker does; ``answer`` replaces the tasks."""

    made: list[InlinePool]
    die: dict[str, str]
    answer: Callable[[str, tuple[str, tuple[Any, ...]]], Any] | None

    def __init__(self, size: int, memory_gb: float) -> None:
        self.size, self.memory_gb = size, memory_gb
        self.busy: list[tuple[str, tuple[str, tuple[Any, ...]]]] = []
        self.jobs: list[str] = []
        self.limits: list[float] = []
        self.requests: list[tuple[str, tuple[Any, ...]]] = []
        self.max_busy = 0
        self.exited = False
        self.made.append(self)

    def __enter__(self) -> InlinePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.exited = True

    @property
    def free(self) -> int:
        return self.size - len(self.busy)

    def submit(self, job: str, request: tuple[str, tuple[Any, ...]], time_limit: float) -> None:
        self.jobs.append(job)
        self.limits.append(time_limit)
        self.requests.append(request)
        self.busy.append((job, request))
        self.max_busy = max(self.max_busy, len(self.busy))

    def next_answer(self, describe: Callable[[str], str]) -> tuple[str, Any]:
        assert self.busy, "next_answer with nothing in flight"  # the real pool would fail too
        job, request = self.busy.pop(0)
        if job in self.die:
            raise grading.WorkerDied(job, f"{describe(job)}: {self.die[job]}")
        if self.answer is not None:
            return job, self.answer(job, request)
        kind, args = request
        return job, grade_worker.case_task(*args) if kind == "case" else grade_worker.pooled_task(*args)


def inline_pool(
    monkeypatch: pytest.MonkeyPatch,
    die: dict[str, str] | None = None,
    answer: Callable[[str, tuple[str, tuple[Any, ...]]], Any] | None = None,
) -> type[InlinePool]:
    """``grading.WorkerPool`` replaced by a fresh ``InlinePool`` class; its ``made`` lists the pools."""
    hook = None if answer is None else staticmethod(answer)
    cls = type("Pool", (InlinePool,), {"made": [], "die": die or {}, "answer": hook})
    monkeypatch.setattr(grading, "WorkerPool", cls)
    return cls


def test_grade_scores_every_case_in_bounded_workers(
    world: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools = inline_pool(monkeypatch).made
    ch = limited(world.case, case_time_s=100, memory_gb=1.5)
    sub = submit(tmp_path / "s", {"c3": "3", "c1": "1", "c4": "10", "c2": "2"})
    progress: list[tuple[int, int]] = []
    report = grading.grade(
        ch, sub, world.public, world.private, workers=2, progress=lambda d, t: progress.append((d, t))
    )
    assert report.valid and report.reason is None and report.n_cases == 4
    # v = 1, 2, 3, 10; w = 2 v (scale 2): mean v = 16/4 = 4, median v = (2+3)/2 = 2.5,
    # total (the grader's aggregate: a sum) = 16, mean w = 32/4 = 8
    assert report.metrics == {"v_mean": 4.0, "v_median": 2.5, "total": 16.0, "w": 8.0}
    assert list(report.metrics) == ["v_mean", "v_median", "total", "w"]
    assert report.per_case == [
        {"case_id": "c1", "v": 1.0, "w": 2.0},
        {"case_id": "c2", "v": 2.0, "w": 4.0},
        {"case_id": "c3", "v": 3.0, "w": 6.0},
        {"case_id": "c4", "v": 10.0, "w": 20.0},
    ]
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    (pool,) = pools
    assert (pool.size, pool.memory_gb, pool.exited) == (2, 1.5, True)
    # cases go out in id order, one per worker in flight, with the challenge's own time limit
    assert pool.jobs == ["c1", "c2", "c3", "c4"] and pool.max_busy == 2
    assert pool.limits == [100.0] * 4
    folder, cid = str(ch.folder), ch.id
    assert pool.requests[0] == (
        "case",
        (folder, cid, "c1", {"value": "1"}, str(world.public), str(world.private)),
    )


def test_validate_checks_every_case_without_private_data(
    world: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools = inline_pool(monkeypatch).made
    sub = submit(tmp_path / "s", {"c1": "1", "c2": "2", "c3": "3", "c4": "4"})
    report = grading.validate(limited(world.case, case_time_s=100), sub, world.public, workers=1)
    assert report.valid and report.reason is None and report.n_cases == 4
    assert report.metrics == {} and report.per_case == []
    (pool,) = pools
    # a format check answers quickly: at most VALIDATE_CASE_TIME_S = 30 s per case; one worker
    assert pool.limits == [30.0] * 4 and pool.size == 1 and pool.max_busy == 1
    assert all(r[1][-1] is None for r in pool.requests)  # no private folder reaches a worker
    # a limit under 30 s stays as it is
    report = grading.validate(limited(world.case, case_time_s=5), sub, world.public, workers=1)
    assert report.valid and pools[1].limits == [5.0] * 4


def test_validate_never_runs_the_pooled_hook(
    world: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools = inline_pool(monkeypatch).made
    sub = submit(tmp_path / "s", {"c1": "-1", "c2": "2", "c3": "3", "c4": "4"})
    report = grading.validate(world.pooled, sub, world.public, workers=2)
    assert report.valid and report.n_cases == 4 and report.metrics == {}
    assert pools[0].jobs == ["c1", "c2", "c3", "c4"]


@pytest.mark.parametrize(("workers", "env", "size"), [(None, "3", 3), (1, "3", 1), (None, "8", 4)])
def test_the_pool_has_the_workers_asked_for_at_most_one_per_case(
    world: SimpleNamespace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: int | None,
    env: str,
    size: int,
) -> None:
    monkeypatch.setenv("REXMLE_GRADE_WORKERS", env)
    pools = inline_pool(monkeypatch).made
    sub = submit(tmp_path / "s", {"c1": "1", "c2": "2", "c3": "3", "c4": "4"})
    assert grading.grade(world.case, sub, world.public, world.private, workers=workers).valid
    assert pools[0].size == size and pools[0].max_busy == size


def test_the_first_case_that_fails_is_the_reason(
    world: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools = inline_pool(monkeypatch).made
    sub = submit(tmp_path / "s", {"c1": "1", "c2": "x", "c3": "3", "c4": "y"})
    report = grading.grade(world.case, sub, world.public, world.private, workers=1)
    assert not report.valid and report.reason == "case c2: value 'x' is not a number"
    assert report.n_cases == 4 and report.metrics == {} and report.per_case == []
    assert pools[0].jobs == ["c1", "c2"]  # nothing more is sent after a failure


def test_run_cases_stops_at_the_first_failure(
    world: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = inline_pool(monkeypatch)(1, 1.0)
    cases = {"c1": {"value": "1"}, "c2": {"value": "x"}, "c3": {"value": "3"}}
    verdicts = list(grading._run_cases(world.case, cases, world.public, None, pool, 9.0, None))  # type: ignore[arg-type]
    assert verdicts == [("c1", True, None, {}), ("c2", False, "case c2: value 'x' is not a number", {})]
    assert pool.jobs == ["c1", "c2"] and pool.limits == [9.0, 9.0]


def test_run_cases_counts_past_the_small_int_cache(
    world: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """257 cases: the loop ends after exactly as many answers as cases, whatever the count."""
    pool = inline_pool(monkeypatch, answer=lambda job, _r: (job, True, None, {"x": 1.0}))(3, 1.0)
    cases: dict[str, dict[str, Any]] = {f"c{i:03d}": {} for i in range(257)}
    progress: list[tuple[int, int]] = []
    verdicts = list(
        grading._run_cases(
            world.case,
            cases,
            world.public,
            None,
            pool,
            1.0,
            lambda d, t: progress.append((d, t)),  # type: ignore[arg-type]
        )
    )
    assert len(verdicts) == 257 and len(pool.jobs) == 257 and pool.max_busy == 3
    assert progress[0] == (1, 257) and progress[-1] == (257, 257)


def test_a_worker_that_dies_on_a_case_makes_the_submission_invalid(
    world: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline_pool(monkeypatch, die={"c2": "the grading worker was killed by SIGKILL\nwhile reading it"})
    sub = submit(tmp_path / "s", {"c1": "1", "c2": "2", "c3": "3", "c4": "4"})
    report = grading.grade(world.case, sub, world.public, world.private, workers=1)
    assert not report.valid and report.n_cases == 4
    assert report.reason == "case c2: the grading worker was killed by SIGKILL while reading it"


def test_a_nan_metric_makes_the_submission_invalid(
    world: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline_pool(monkeypatch)
    sub = submit(tmp_path / "s", {"c1": "1", "c2": "nan", "c3": "3", "c4": "4"})
    report = grading.grade(world.case, sub, world.public, world.private, workers=2)
    # v, w and the sum all carry the NaN of case c2
    assert not report.valid and report.reason == "metric(s) v_mean, v_median, total, w are NaN"
    assert report.n_cases == 4 and report.metrics == {}


def test_failures_of_the_aggregate_hook_are_one_line_reasons(
    world: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline_pool(monkeypatch)
    sub = submit(tmp_path / "a", {"c1": "1", "c2": "13", "c3": "3", "c4": "4"})
    refused = grading.grade(world.case, sub, world.public, world.private, workers=2)
    assert not refused.valid and refused.reason == "13 is unlucky" and refused.n_cases == 4
    sub = submit(tmp_path / "b", {"c1": "1", "c2": "99", "c3": "3", "c4": "4"})
    broken = grading.grade(world.case, sub, world.public, world.private, workers=2)
    assert not broken.valid and broken.reason == "aggregation failed: ZeroDivisionError: division by zero"
    assert broken.n_cases == 4  # every case was scored before the hook failed


def test_a_grader_without_an_aggregate_hook_has_no_pooled_metric(
    world: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline_pool(monkeypatch)
    sub = submit(tmp_path / "s", {"c1": "1", "c2": "2", "c3": "3", "c4": "6"})
    report = grading.grade(world.no_hook, sub, world.public, world.private, workers=2)
    assert report.valid and report.metrics == {"v": 3.0}  # (1+2+3+6)/4 = 3


def test_score_pooled_gets_every_loaded_case_in_one_job(
    world: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools = inline_pool(monkeypatch).made
    sub = submit(tmp_path / "s", {"c4": "4", "c2": "2", "c3": "3", "c1": "1.25"})
    report = grading.grade(limited(world.pooled, case_time_s=50), sub, world.public, world.private, workers=2)
    assert report.valid and report.n_cases == 4
    # 1.25 + 2 + 3 + 4 + the private offset 2; the cases arrive in id order: "1234"
    assert report.metrics == {"sum": 12.25, "order": 1234.0}
    assert report.per_case == [{"case_id": c} for c in ("c1", "c2", "c3", "c4")]
    (pool,) = pools
    assert pool.jobs == ["c1", "c2", "c3", "c4", "all cases"] and pool.limits == [50.0] * 5
    loaded = {"c1": 1.25, "c2": 2.0, "c3": 3.0, "c4": 4.0}
    assert pool.requests[-1] == (
        "pooled",
        (str(world.pooled.folder), "gu_pooled", loaded, str(world.private)),
    )


def test_failures_of_score_pooled_are_one_line_reasons(
    world: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline_pool(monkeypatch)
    sub = submit(tmp_path / "a", {"c1": "-1", "c2": "2", "c3": "3", "c4": "4"})
    refused = grading.grade(world.pooled, sub, world.public, world.private, workers=2)
    assert not refused.valid and refused.reason == "negative values cannot be pooled"
    assert refused.n_cases == 4 and refused.metrics == {}
    inline_pool(monkeypatch, die={"all cases": "the grading worker exited with code 1"})
    sub = submit(tmp_path / "b", {"c1": "1", "c2": "2", "c3": "3", "c4": "4"})
    died = grading.grade(world.pooled, sub, world.public, world.private, workers=2)
    assert not died.valid and died.n_cases == 4
    assert died.reason == "scoring failed: all cases: the grading worker exited with code 1"


def test_a_bad_table_is_refused_before_any_worker_starts(
    world: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools = inline_pool(monkeypatch).made
    sub = submit(tmp_path / "s", {"c1": "1", "c2": "2", "c4": "4"})
    report = grading.grade(world.case, sub, world.public, world.private)
    assert not report.valid and report.reason == "missing 1 of 4 test case(s): c3"
    assert report.n_cases == 0 and report.metrics == {} and report.per_case == []
    assert pools == []


def test_a_value_column_must_repeat_test_csv(
    world: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools = inline_pool(monkeypatch).made
    public = tmp_path / "public"
    public.mkdir()
    (public / "test.csv").write_text("case_id,value\nc1,1\nc2,2\n")
    report = grading.validate(world.case, submit(tmp_path / "s", {"c1": "1", "c2": "5"}), public)
    assert not report.valid and report.reason == "case c2: value is '5', but test.csv says '2'"
    assert pools == []


def test_a_report_is_frozen() -> None:
    report = grading.GradeReport(valid=True)
    assert (report.reason, report.n_cases, report.metrics, report.per_case) == (None, 0, {}, [])
    with pytest.raises(ValidationError):
        report.valid = False  # type: ignore[misc]


# --- WorkerPool with pipe workers and a fake clock -----------------------------------------------


class FakeProc:
    """What the pool uses of a ``Popen``: ``returncode``, ``kill`` and ``wait``, recorded. A
    ``stubborn`` process ignores the request to stop (its ``wait(timeout)`` times out)."""

    def __init__(self, returncode: int | None = None, stubborn: bool = False, gone: bool = False) -> None:
        self.returncode = returncode
        self.stubborn, self.gone = stubborn, gone
        self.waits: list[float | None] = []
        self.kills = 0

    def kill(self) -> None:
        self.kills += 1
        if self.gone:
            raise ProcessLookupError
        if self.returncode is None:
            self.returncode = -9

    def wait(self, timeout: float | None = None) -> int | None:
        self.waits.append(timeout)
        if timeout is not None and self.returncode is None:
            if self.stubborn:
                raise subprocess.TimeoutExpired("worker", timeout)
            self.returncode = 0  # it obeyed the request and exited
        return self.returncode


def pipe_worker(proc: FakeProc | None = None) -> tuple[Any, SimpleNamespace]:
    """A ``_Worker`` whose process is ``proc`` and whose pipes end in this process: the other
    ends (``side.requests`` to read, ``side.answers`` to write) act as the worker."""
    req_r, req_w = os.pipe()
    ans_r, ans_w = os.pipe()
    worker = grading._Worker(
        proc=proc or FakeProc(),  # type: ignore[arg-type]
        requests=Connection(req_w, readable=False, writable=True),
        answers=Connection(ans_r, readable=True, writable=False),
        stderr=tempfile.TemporaryFile(),  # noqa: SIM115  (closed by the worker's kill)
    )
    side = SimpleNamespace(
        requests=Connection(req_r, readable=True, writable=False),
        answers=Connection(ans_w, readable=False, writable=True),
    )
    return worker, side


@pytest.fixture
def guard() -> Iterator[None]:
    """Fail a test that runs past 30 s instead of letting it hang."""

    def expire(_signum: int, _frame: object) -> None:
        raise TimeoutError("the test ran past its 30 s guard")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


class Clock:
    """``grading.time`` under test control: ``monotonic()`` is ``now``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch, guard: None) -> Iterator[SimpleNamespace]:
    """A ``WorkerPool(2, 1.5)`` whose workers are pipe workers, at a fake time of 10 s, and whose
    waits are recorded (their timeout) and never block: a loop that would spin stops at 50."""
    clock = Clock(10.0)
    waits: list[float] = []

    def wait(conns: list[Connection], timeout: float) -> list[Any]:
        waits.append(timeout)
        assert len(waits) < 50, "next_answer spins without an answer or a deadline"
        return real_wait(conns, timeout=0)

    monkeypatch.setattr(grading, "time", clock)
    monkeypatch.setattr(grading, "connection_wait", wait)
    p = grading.WorkerPool(2, 1.5)
    made: list[tuple[Any, SimpleNamespace]] = []

    def spawn() -> Any:
        made.append(pipe_worker())
        return made[-1][0]

    p._spawn = spawn  # type: ignore[method-assign]
    yield SimpleNamespace(pool=p, clock=clock, waits=waits, made=made, spawn=spawn)
    for worker, side in made:
        worker.kill()
        side.requests.close()
        side.answers.close()


def test_pool_size_and_memory_cap() -> None:
    assert grading.WorkerPool(0, 1.0).size == 1  # never fewer than one worker
    p = grading.WorkerPool(3, 1.5)
    assert p.size == 3 and p.free == 3
    assert p.memory_bytes == 1_610_612_736  # 1.5 GiB = 1.5 * 2**30 bytes
    assert grading.WorkerPool(1, 0.6).memory_bytes == 644_245_094  # int(0.6 * 1_073_741_824)


def test_free_is_the_workers_not_busy(pool: SimpleNamespace) -> None:
    p = grading.WorkerPool(4, 1.5)
    p._spawn = pool.spawn  # type: ignore[method-assign]
    frees = []
    for job in "abcd":
        p.submit(job, ("case", ()), 30.0)
        frees.append(p.free)
    assert frees == [3, 2, 1, 0]  # 4 - 1, 4 - 2, 4 - 3, 4 - 4


def test_an_answer_frees_its_worker_for_the_next_job(pool: SimpleNamespace) -> None:
    p = pool.pool
    p.submit("a", ("case", ("x",)), 15.0)
    worker, side = pool.made[0]
    assert (worker.job, worker.limit, worker.deadline) == ("a", 15.0, 25.0)  # 10 s now + 15 s
    assert p.free == 1 and side.requests.recv() == ("case", ("x",))
    side.answers.send(("a", True, None, {}))
    assert p.next_answer(lambda j: f"case {j}") == ("a", ("a", True, None, {}))
    assert pool.waits == [15.0]  # it waits until the earliest deadline: 25 - 10
    assert p.free == 2
    # the idle worker takes the next job; the wait is never longer than the time left (0.5 s)
    p.submit("b", ("case", ("y",)), 0.5)
    side.answers.send("answer b")
    assert p.next_answer(str) == ("b", "answer b")
    assert len(pool.made) == 1 and pool.waits == [15.0, 0.5]


def test_the_answer_comes_from_the_worker_that_gave_it(pool: SimpleNamespace) -> None:
    p = pool.pool
    p.submit("a", ("case", ()), 30.0)
    p.submit("b", ("case", ()), 30.0)
    pool.made[1][1].answers.send("from b")
    assert p.next_answer(str) == ("b", "from b")
    assert p._busy == [pool.made[0][0]] and p._idle == [pool.made[1][0]]


def test_a_job_is_late_at_exactly_its_limit(pool: SimpleNamespace) -> None:
    p = pool.pool
    p.submit("a", ("case", ()), 5.0)
    worker, side = pool.made[0]
    side.answers.send("too late")  # an answer at the deadline itself does not count
    pool.clock.now = 15.0
    with pytest.raises(grading.WorkerDied) as err:
        p.next_answer(lambda j: f"case {j}")
    assert err.value.job == "a" and str(err.value) == "case a: grading took longer than its 5 s limit"
    assert worker.proc.kills == 1 and worker.answers.closed and p._busy == [] and p.free == 2


def test_the_earliest_late_job_is_reported(pool: SimpleNamespace) -> None:
    p = pool.pool
    p.submit("a", ("case", ()), 0.5)
    p.submit("b", ("case", ()), 2.0)
    pool.clock.now = 20.0  # both late
    with pytest.raises(grading.WorkerDied) as err:
        p.next_answer(lambda j: f"case {j}")
    assert err.value.job == "a" and str(err.value) == "case a: grading took longer than its 0.5 s limit"
    assert p._busy == [pool.made[1][0]]


def test_a_hanging_worker_is_stopped_when_its_time_is_up(pool: SimpleNamespace) -> None:
    p = pool.pool
    p.submit("a", ("case", ()), 3.0)

    def wait(conns: list[Connection], timeout: float) -> list[Any]:
        pool.waits.append(timeout)
        assert len(pool.waits) < 50, "next_answer spins past the deadline"
        pool.clock.now += timeout + 0.25  # the wait ran (a little) past the time left: no answer
        return []

    grading.connection_wait = wait  # type: ignore[assignment]  (restored by the fixture)
    with pytest.raises(grading.WorkerDied, match=r"^all: grading took longer than its 3 s limit$"):
        p.next_answer(lambda j: "all")
    assert pool.waits == [3.0] and pool.made[0][0].proc.returncode == -9


ABRT = -signal.SIGABRT.value


@pytest.mark.parametrize(
    ("returncode", "stderr", "how", "words"),
    [
        (3, b"warming up\nsegfault in libfoo\n", "exited with code 3", ": segfault in libfoo"),
        (ABRT, b"", "was killed by SIGABRT", ""),
        (-1, b"", "was killed by SIGHUP", ""),
        (-35, b"\n", "was killed by signal 35", ""),  # a real-time signal: no name in signal.Signals
        (0, b"", "exited with code 0", ""),
    ],
)
def test_a_worker_that_ends_without_answering(
    pool: SimpleNamespace, returncode: int, stderr: bytes, how: str, words: str
) -> None:
    p = pool.pool
    p.submit("a", ("case", ()), 30.0)
    worker, side = pool.made[0]
    worker.proc.returncode = returncode
    worker.stderr.write(stderr)
    side.answers.close()  # end of file: the worker is gone
    with pytest.raises(grading.WorkerDied) as err:
        p.next_answer(lambda j: f"case {j}")
    assert err.value.job == "a"
    assert (
        str(err.value) == f"case a: the grading worker {how} while reading it (memory limit 1.5 GiB){words}"
    )
    assert worker.proc.kills == 1 and worker.requests.closed and worker.answers.closed
    assert worker.stderr.closed and p._busy == [] and p._idle == [] and p.free == 2


@pytest.mark.parametrize(
    "frame",
    [
        b"\x00\x00\x00\x10abc",  # 16 bytes announced, 3 sent: the worker died mid-answer
        b"\x00\x00\x00\x03abc",  # a whole message that is no pickle
    ],
)
def test_a_broken_or_garbage_answer_is_a_dead_worker(pool: SimpleNamespace, frame: bytes) -> None:
    p = pool.pool
    p.submit("a", ("case", ()), 30.0)
    worker, side = pool.made[0]
    worker.proc.returncode = -9
    os.write(side.answers.fileno(), frame)
    side.answers.close()
    with pytest.raises(grading.WorkerDied) as err:
        p.next_answer(lambda j: f"case {j}")
    assert (
        str(err.value)
        == "case a: the grading worker was killed by SIGKILL while reading it (memory limit 1.5 GiB)"
    )
    assert p._busy == [] and worker.answers.closed


def test_a_request_to_a_dead_idle_worker_is_a_dead_worker(pool: SimpleNamespace) -> None:
    p = pool.pool
    p.submit("a", ("case", ()), 30.0)
    worker, side = pool.made[0]
    side.answers.send("done")
    p.next_answer(str)
    side.requests.close()  # the worker is gone: its request pipe has no reader
    with pytest.raises(grading.WorkerDied) as err:
        p.submit("b", ("case", ()), 30.0)
    assert err.value.job == "b" and str(err.value) == "b: the grading worker could not start"
    assert worker.proc.kills == 1 and worker.requests.closed
    assert p._busy == [] and p._idle == [] and p.free == 2


def test_leaving_the_pool_stops_idle_workers_and_kills_busy_ones(pool: SimpleNamespace) -> None:
    p = pool.pool
    p.submit("a", ("case", ()), 30.0)
    p.submit("b", ("case", ()), 30.0)
    (idle, idle_side), (busy, _busy_side) = pool.made
    idle_side.requests.recv()
    idle_side.answers.send("done")
    p.next_answer(str)
    with p:
        pass
    # the idle one is asked to stop (None) and given 5 s to exit; the busy one is killed at once
    assert idle_side.requests.recv() is None and idle.proc.waits == [5.0, None]
    assert idle.proc.returncode == 0 and idle.requests.closed and idle.stderr.closed
    assert busy.proc.waits == [None] and busy.proc.returncode == -9 and busy.answers.closed
    assert p._idle == [] and p._busy == []


def test_stop_kills_a_worker_that_does_not_exit() -> None:
    worker, side = pipe_worker(FakeProc(stubborn=True))
    worker.stop(grace_s=0.01)
    assert worker.proc.waits == [0.01, None] and worker.proc.returncode == -9
    assert worker.requests.closed and worker.answers.closed and worker.stderr.closed
    side.requests.close()
    side.answers.close()


def test_kill_of_a_process_already_gone_still_closes_everything() -> None:
    worker, side = pipe_worker(FakeProc(returncode=0, gone=True))
    worker.kill()
    assert worker.proc.kills == 1 and worker.proc.waits == [None]
    assert worker.requests.closed and worker.answers.closed and worker.stderr.closed
    side.requests.close()
    side.answers.close()


# --- the worker's last words ---------------------------------------------------------------------


def last_words(stderr: bytes) -> str:
    worker, side = pipe_worker()
    worker.stderr.write(stderr)
    try:
        return str(worker.last_words())
    finally:
        worker.kill()
        side.requests.close()
        side.answers.close()


def test_last_words_are_the_last_stderr_line() -> None:
    assert last_words(b"first\nsecond\nthird\n") == "third"
    assert last_words(b"boom") == "boom"
    assert last_words(b"") == "" and last_words(b"\n \n") == ""
    # shortened to 160 characters: 159 and an ellipsis
    assert last_words(b"x" * 200) == "x" * 159 + "…"


def test_last_words_read_only_the_last_4096_bytes() -> None:
    # 10,000 bytes without a newline: the window starts at 10,000 - 4,096 = 5,904, where the
    # repeating digits are at 5,904 mod 10 = 4
    assert last_words(b"0123456789" * 1000) == ("4567890123" * 16)[:159] + "…"


def test_last_words_of_an_unseekable_stderr_are_empty() -> None:
    worker, side = pipe_worker()
    r, w = os.pipe()
    os.write(w, b"words\n")
    worker.stderr.close()
    worker.stderr = os.fdopen(r, "rb")
    try:
        assert worker.last_words() == ""
    finally:
        os.close(w)
        worker.kill()
        side.requests.close()
        side.answers.close()


# --- real grading workers ------------------------------------------------------------------------


def spy_pools(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The real ``WorkerPool``, with its pools, their workers and every ``Popen`` call recorded."""
    seen = SimpleNamespace(pools=[], workers=[], popen=[])
    real_popen = subprocess.Popen

    class Spy(grading.WorkerPool):
        def __init__(self, size: int, memory_gb: float) -> None:
            super().__init__(size, memory_gb)
            seen.pools.append(self)

        def _spawn(self) -> Any:
            seen.workers.append(super()._spawn())
            return seen.workers[-1]

    def popen(args: list[str], **kwargs: Any) -> Any:
        seen.popen.append((args, kwargs))
        return real_popen(args, **kwargs)

    monkeypatch.setattr(grading, "WorkerPool", Spy)
    monkeypatch.setattr(subprocess, "Popen", popen)
    return seen


def test_real_workers_grade_an_honest_submission(
    world: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, guard: None
) -> None:
    monkeypatch.setenv("REXMLE_GU_SECRET", "must-not-reach-a-worker")
    monkeypatch.setenv("COVERAGE_GU_MARK", "1")
    seen = spy_pools(monkeypatch)
    public = public_of(tmp_path, ["c1", "c2", "c3"])
    sub = submit(tmp_path / "s", {"c1": "fine", "c2": "fine", "c3": "fine"}, column="action")
    report = grading.grade(limited(world.real, memory_gb=1.5), sub, public, world.private, workers=2)
    assert report.valid, report.reason
    assert report.metrics == {"ok": 1.0} and report.n_cases == 3
    # two workers for three cases: one is reused
    assert len(seen.popen) == 2
    args, kwargs = seen.popen[0]
    # a fresh interpreter capped at 1.5 GiB (1.5 * 2**30 bytes) that dies with this process
    assert args == [sys.executable, "-m", "rexmle.grade_worker", "1610612736", str(os.getpid())]
    assert kwargs["close_fds"] is True
    env = kwargs["env"]
    assert "REXMLE_GU_SECRET" not in env and env["PATH"] == os.environ["PATH"]
    assert env["COVERAGE_GU_MARK"] == "1" and env["OMP_NUM_THREADS"] == "1"
    for w in seen.workers:
        # one-way pipes; after grading each worker was told to stop and exited by itself
        assert w.requests.writable and not w.requests.readable
        assert w.answers.readable and not w.answers.writable
        assert w.proc.returncode == 0 and w.requests.closed and w.answers.closed


def test_a_real_worker_that_hangs_is_killed_at_its_limit(
    world: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, guard: None
) -> None:
    seen = spy_pools(monkeypatch)
    public = public_of(tmp_path, ["a"])
    sub = submit(tmp_path / "s", {"a": "hang"}, column="action")
    t0 = time.monotonic()
    report = grading.grade(limited(world.real, case_time_s=1), sub, public, world.private, workers=3)
    assert not report.valid and report.reason == "case a: grading took longer than its 1 s limit"
    assert report.n_cases == 1 and time.monotonic() - t0 < 20
    assert seen.pools[0].size == 1  # three workers asked, one case
    (w,) = seen.workers
    assert w.proc.returncode == -signal.SIGKILL.value
