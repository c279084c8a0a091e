"""The run directory format: ``runs/<run_id>/{run.json, agent.log, llm.jsonl, submission/, result.json}``.

``run.json`` carries the full spec and the state (pending -> running -> grading -> done |
failed | timed_out) and is rewritten atomically at each transition; ``result.json`` is
written last, atomically, so its presence means the run is finished. The run id is a stable
hash of the spec: the same spec always maps to the same folder, which is how a re-run or a
sweep knows what is already done.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from rexmle import __version__
from rexmle.challenge import Budgets
from rexmle.errors import ConfigError, RexmleError
from rexmle.manifest import write_json_atomic


class RunState(StrEnum):
    pending = "pending"
    running = "running"
    grading = "grading"
    done = "done"
    failed = "failed"
    timed_out = "timed_out"
    #: Stopped by Ctrl-C or SIGTERM (a scheduler's cancel): not finished, the next run resumes it.
    interrupted = "interrupted"

    @property
    def finished(self) -> bool:
        return self in (RunState.done, RunState.failed, RunState.timed_out)


class RunSpec(BaseModel):
    """Everything that defines a run; its hash is the run id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    challenge: str
    agent: str
    model: str | None = None
    seed: int = 0
    runtime: str = "local"
    synthetic: bool = False
    budgets: Budgets
    #: LLM agents: "provider" (real model through the gateway) or "scripted" (offline replay).
    llm: Literal["provider", "scripted"] | None = None
    embedding_model: str | None = None
    #: Agent settings overriding its agent.yaml defaults (e.g. steps).
    settings: dict[str, Any] = {}
    #: A custom scripted conversation (``--llm-script``) instead of the agent's own.
    llm_script: str | None = None

    @property
    def run_id(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:12]
        tag = "syn" if self.synthetic else "real"
        return f"{self.challenge}.{self.agent}.{tag}.s{self.seed}.{digest}"


class RunRecord(BaseModel):
    """Contents of run.json."""

    run_id: str
    spec: RunSpec
    state: RunState = RunState.pending
    created_at: float
    updated_at: float
    attempts: int = 0
    versions: dict[str, str] = {}
    runtime_info: dict[str, Any] = {}
    #: Container runtimes: the image the agent ran in, by tag and by id (sha256: pins the bytes).
    image: str | None = None
    image_id: str | None = None
    agent_exit_code: int | None = None
    agent_ended_at: float | None = None  # wall-clock time the agent was seen to end (or was stopped)
    stopped: str | None = None
    error: str | None = None


#: The layout of result.json. 1: every field at the top level (before 0.x of the nested form);
#: 2: the sections below. Readers accept both; a newer version is refused with one line.
RESULT_SCHEMA_VERSION = 2


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ResultSpec(_Section):
    """Which run this is (the parts of the run spec a comparison groups by)."""

    run_id: str
    challenge: str
    agent: str
    model: str | None
    seed: int
    synthetic: bool

    @classmethod
    def of(cls, run_id: str, spec: RunSpec) -> ResultSpec:
        """The section of the run ``run_id`` with this spec."""
        return cls(
            run_id=run_id,
            challenge=spec.challenge,
            agent=spec.agent,
            model=spec.model,
            seed=spec.seed,
            synthetic=spec.synthetic,
        )


class ResultGrade(_Section):
    """The grader's verdict: valid or ``reason``, and the metrics as challenge.yaml defines them."""

    valid: bool
    reason: str | None = None
    metrics: dict[str, float] = {}
    n_cases: int = 0


class ResultRank(_Section):
    """The place among the human leaderboard (``rexmle.ranking``); all None when not ranked."""

    score: float | None = None  # the ranking value: mean position among the leaderboard (lower is better)
    positions: dict[str, int] = {}
    rank: int | None = None
    n_leaderboard: int | None = None
    percentile: float | None = None
    beats_median: bool | None = None
    beats_share: float | None = None
    medal: str | None = None


class ResultUsage(_Section):
    """What the agent spent through the gateway (``llm``: provider or scripted; None: no LLM)."""

    llm: str | None = None
    cost_usd: float = 0.0
    unpriced_llm_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    llm_calls: int = 0


class ResultTiming(_Section):
    """The run's wall time from the sandbox's start to the written result (the data and the
    agent's one-time install are ``provision_s``, apart: they are no part of what an agent costs
    per run), the agent's own time, and the GPU-hours it held."""

    wall_time_s: float = 0.0
    agent_time_s: float = 0.0
    gpu_hours: float = 0.0
    provision_s: float = 0.0


_SECTIONS: dict[str, type[_Section]] = {
    "spec": ResultSpec,
    "grade": ResultGrade,
    "ranking": ResultRank,
    "usage": ResultUsage,
    "timing": ResultTiming,
}


class Result(BaseModel):
    """Contents of result.json, written last in a run: one section per concern, with a schema
    version. A flat (version 1) file, or flat keyword arguments, are read into the sections; the
    flat names stay readable as properties (``result.valid`` is ``result.grade.valid``)."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = RESULT_SCHEMA_VERSION
    spec: ResultSpec
    state: RunState
    #: Why the harness ended the agent: "time_limit" | "llm_budget" | "memory" | "disk" (None: it exited).
    stopped: str | None = None
    isolation: str = "none"
    agent_exit_code: int | None = None
    grade: ResultGrade
    ranking: ResultRank = ResultRank()
    usage: ResultUsage = ResultUsage()
    timing: ResultTiming = ResultTiming()

    @model_validator(mode="before")
    @classmethod
    def _sections_from_flat(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        version = data.get("schema_version", 1 if "spec" not in data else RESULT_SCHEMA_VERSION)
        if isinstance(version, int) and version > RESULT_SCHEMA_VERSION:
            raise ValueError(
                f"result.json has schema version {version}; this rexmle reads up to {RESULT_SCHEMA_VERSION} (upgrade rexmle)"
            )
        if "spec" in data:
            return data
        flat = dict(data)
        nested: dict[str, Any] = {"schema_version": RESULT_SCHEMA_VERSION}
        for name, section in _SECTIONS.items():
            nested[name] = {k: flat.pop(k) for k in list(flat) if k in section.model_fields}
        flat.pop("schema_version", None)
        return {**flat, **nested}

    def flat(self) -> dict[str, Any]:
        """One flat row (the index and the report's table): every section's fields at the top level."""
        row: dict[str, Any] = {"schema_version": self.schema_version, "state": self.state.value}
        for name in _SECTIONS:
            row.update(getattr(self, name).model_dump(mode="json"))
        row.update(stopped=self.stopped, isolation=self.isolation, agent_exit_code=self.agent_exit_code)
        return row

    # the flat names, as properties of the sections (read-only, like the model)
    @property
    def run_id(self) -> str:
        return self.spec.run_id

    @property
    def challenge(self) -> str:
        return self.spec.challenge

    @property
    def agent(self) -> str:
        return self.spec.agent

    @property
    def model(self) -> str | None:
        return self.spec.model

    @property
    def seed(self) -> int:
        return self.spec.seed

    @property
    def synthetic(self) -> bool:
        return self.spec.synthetic

    @property
    def valid(self) -> bool:
        return self.grade.valid

    @property
    def reason(self) -> str | None:
        return self.grade.reason

    @property
    def metrics(self) -> dict[str, float]:
        return self.grade.metrics

    @property
    def n_cases(self) -> int:
        return self.grade.n_cases

    @property
    def score(self) -> float | None:
        return self.ranking.score

    @property
    def positions(self) -> dict[str, int]:
        return self.ranking.positions

    @property
    def rank(self) -> int | None:
        return self.ranking.rank

    @property
    def n_leaderboard(self) -> int | None:
        return self.ranking.n_leaderboard

    @property
    def percentile(self) -> float | None:
        return self.ranking.percentile

    @property
    def beats_median(self) -> bool | None:
        return self.ranking.beats_median

    @property
    def beats_share(self) -> float | None:
        return self.ranking.beats_share

    @property
    def medal(self) -> str | None:
        return self.ranking.medal

    @property
    def llm(self) -> str | None:
        return self.usage.llm

    @property
    def cost_usd(self) -> float:
        return self.usage.cost_usd

    @property
    def unpriced_llm_calls(self) -> int:
        return self.usage.unpriced_llm_calls

    @property
    def tokens_in(self) -> int:
        return self.usage.tokens_in

    @property
    def tokens_out(self) -> int:
        return self.usage.tokens_out

    @property
    def llm_calls(self) -> int:
        return self.usage.llm_calls

    @property
    def wall_time_s(self) -> float:
        return self.timing.wall_time_s

    @property
    def agent_time_s(self) -> float:
        return self.timing.agent_time_s

    @property
    def gpu_hours(self) -> float:
        return self.timing.gpu_hours


def versions() -> dict[str, str]:
    return {"rexmle": __version__, "python": sys.version.split()[0], "platform": platform.platform()}


def tail_lines(path: Path, lines: int, max_bytes: int = 256_000) -> list[str]:
    """The last ``lines`` lines of a (growing, possibly huge) text file, read from at most its last
    ``max_bytes`` bytes; [] for a missing file. What the report, ``rexmle view`` and the live
    status show of an agent's log."""
    if not path.is_file():
        return []
    with path.open("rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - max_bytes))
        return f.read().decode("utf-8", "replace").splitlines()[-lines:]


class RunInProgress(RexmleError):
    """Another process holds the run's lock: it is executing that run now."""


class RunDir:
    """A run's folder and the files in it. The run's lock (an flock on ``.lock``) is held by the
    one process executing the run: a second ``rexmle run``, a sweep worker or a restarted
    orchestrator sees it taken and leaves the run alone."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run's lock for the block; :class:`RunInProgress` if another process has it."""
        self.path.mkdir(parents=True, exist_ok=True)
        f = (self.path / ".lock").open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise RunInProgress(f"run {self.path.name} is being executed by another process") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()

    def locked(self) -> bool:
        """Whether some process is executing this run now (it holds the run's lock)."""
        lock = self.path / ".lock"
        if not lock.exists():
            return False
        with lock.open("a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
        return False

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def result_json(self) -> Path:
        return self.path / "result.json"

    @property
    def agent_log(self) -> Path:
        return self.path / "agent.log"

    @property
    def llm_jsonl(self) -> Path:
        return self.path / "llm.jsonl"

    @property
    def submission(self) -> Path:
        return self.path / "submission"

    @property
    def sandbox(self) -> Path:
        return self.path / "sandbox"

    #: Files of one attempt, renamed to ``<stem>.attempt-N<suffix>`` when the next one starts.
    ATTEMPT_FILES = ("result.json", "per_case.csv", "agent.log", "llm.jsonl")

    def archive_attempt(self, n: int) -> None:
        """Keep attempt ``n``'s result, per-case scores, agent log and LLM ledger under
        ``*.attempt-N.*`` names (a name already taken is never overwritten)."""
        if n < 1:
            return
        for name in self.ATTEMPT_FILES:
            src = self.path / name
            if not src.exists():
                continue
            stem, _, suffix = name.partition(".")
            dst = self.path / f"{stem}.attempt-{n}.{suffix}"
            k = 1
            while dst.exists():
                k += 1
                dst = self.path / f"{stem}.attempt-{n}-{k}.{suffix}"
            os.replace(src, dst)

    def read_record(self) -> RunRecord | None:
        if not self.run_json.is_file():
            return None
        return RunRecord.model_validate_json(self.run_json.read_text())

    def write_record(self, record: RunRecord) -> None:
        record.updated_at = time.time()
        write_json_atomic(self.run_json, record.model_dump(mode="json"))

    def read_result(self) -> Result | None:
        if not self.result_json.is_file():
            return None
        try:
            return Result.model_validate_json(self.result_json.read_text())
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(f"{self.result_json}: {err['msg']}") from None

    def write_result(self, result: Result) -> None:
        write_json_atomic(self.result_json, result.model_dump(mode="json"))


# ---------------------------------------------------------------- the results index

INDEX_COLUMNS = (
    "run_id",
    "challenge",
    "agent",
    "model",
    "seed",
    "synthetic",
    "state",
    "valid",
    "reason",
    "score",
    "rank",
    "n_leaderboard",
    "percentile",
    "beats_median",
    "beats_share",
    "medal",
    "llm",
    "stopped",
    "cost_usd",
    "tokens_in",
    "tokens_out",
    "llm_calls",
    "wall_time_s",
    "agent_time_s",
    "gpu_hours",
    "isolation",
    "runtime",
    "path",
)


def run_dirs(roots: list[Path]) -> list[Path]:
    """Every run folder under ``roots``: a sweep folder (``runs/*``), a runs folder (``*``)
    or one run folder, in a stable order and without repeats."""
    found: dict[Path, None] = {}
    for root in roots:
        if (root / "run.json").is_file():
            found[root.resolve()] = None
            continue
        base = root / "runs" if (root / "runs").is_dir() else root
        if not base.is_dir():
            continue
        for d in sorted(base.iterdir()):
            if (d / "run.json").is_file():
                found[d.resolve()] = None
    return list(found)


class RunRow(ResultSpec):
    """One run as ``rexmle runs`` lists it: its spec, where it is, and how it ended."""

    runtime: str
    #: The record's state, except that a run whose record says running or grading while no
    #: process holds its lock is ``interrupted`` (its process died).
    state: str
    valid: bool | None = None
    percentile: float | None = None
    reason: str | None = None
    error: str | None = None
    attempts: int
    updated_at: float
    path: str


def run_rows(roots: list[Path]) -> list[RunRow]:
    """Every run under ``roots`` (see :func:`run_dirs`), the most recently updated first."""
    rows = []
    for d in run_dirs(roots):
        rd = RunDir(d)
        record = rd.read_record()
        if record is None:
            continue
        result = rd.read_result()
        state = (result.state if result is not None else record.state).value
        if (
            result is None
            and not record.state.finished
            and record.state is not RunState.pending
            and not rd.locked()
        ):
            state = RunState.interrupted.value
        rows.append(
            RunRow(
                **ResultSpec.of(record.run_id, record.spec).model_dump(),
                runtime=record.spec.runtime,
                state=state,
                valid=result.valid if result else None,
                percentile=result.percentile if result else None,
                reason=result.reason if result else None,
                error=record.error,
                attempts=record.attempts,
                updated_at=record.updated_at,
                path=str(d),
            )
        )
    return sorted(rows, key=lambda r: r.updated_at, reverse=True)


def index(roots: list[Path]) -> pd.DataFrame:
    """One row per *finished* run (a result.json), metrics as ``metric.<name>`` columns.

    Rebuilt from the run folders every time, so it can never disagree with them; the
    ``runtime`` column comes from run.json (how the run was isolated is part of the record).
    """
    rows: list[dict[str, Any]] = []
    for d in run_dirs(roots):
        rd = RunDir(d)
        result = rd.read_result()
        if result is None:
            continue
        row = result.flat()
        row.pop("metrics")
        row.pop("positions")
        record = rd.read_record()
        row["runtime"] = record.spec.runtime if record else None
        row["path"] = str(d)
        for name, value in result.metrics.items():
            row[f"metric.{name}"] = value
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=list(INDEX_COLUMNS))
    metric_cols = sorted(c for c in frame.columns if c.startswith("metric."))
    rest = [c for c in frame.columns if c not in INDEX_COLUMNS and c not in metric_cols]
    return frame[[c for c in INDEX_COLUMNS if c in frame.columns] + rest + metric_cols]


def write_index(root: Path) -> Path:
    """Write ``index.csv`` for a sweep folder (atomically: a reader never sees half a file)."""
    frame = index([root])
    path = root / "index.csv"
    tmp = path.with_name(f".index.csv.{os.getpid()}.tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path
