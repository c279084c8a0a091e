"""The run directory format: ``runs/<run_id>/{run.json, agent.log, llm.jsonl, submission/, result.json}``.

``run.json`` carries the full spec and the state (pending -> running -> grading -> done |
failed | timed_out) and is rewritten atomically at each transition; ``result.json`` is
written last, atomically, so its presence means the run is finished. The run id is a stable
hash of the spec: the same spec always maps to the same folder, which is how a re-run or a
sweep knows what is already done.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from rexmle import __version__
from rexmle.challenge import Budgets
from rexmle.data import write_json_atomic


class RunState(StrEnum):
    pending = "pending"
    running = "running"
    grading = "grading"
    done = "done"
    failed = "failed"
    timed_out = "timed_out"

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


class Result(BaseModel):
    """Contents of result.json (see DESIGN.md, Run contract)."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    challenge: str
    agent: str
    model: str | None
    seed: int
    synthetic: bool
    state: RunState
    valid: bool
    reason: str | None = None
    metrics: dict[str, float] = {}
    n_cases: int = 0
    score: float | None = None  # the ranking value: mean position among the leaderboard (lower is better)
    positions: dict[str, int] = {}
    rank: int | None = None
    n_leaderboard: int | None = None
    percentile: float | None = None
    beats_median: bool | None = None
    beats_share: float | None = None
    medal: str | None = None
    llm: str | None = None
    stopped: str | None = None  # "time_limit" | "llm_budget" | "memory": why the agent was ended
    cost_usd: float = 0.0
    unpriced_llm_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    llm_calls: int = 0
    wall_time_s: float = 0.0
    agent_time_s: float = 0.0
    gpu_hours: float = 0.0
    isolation: str = "none"
    agent_exit_code: int | None = None


def versions() -> dict[str, str]:
    return {"rexmle": __version__, "python": sys.version.split()[0], "platform": platform.platform()}


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = path

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
        return Result.model_validate_json(self.result_json.read_text())

    def write_result(self, result: Result) -> None:
        write_json_atomic(self.result_json, result.model_dump(mode="json"))
