"""The LLM meter: one line of ``llm.jsonl`` per call, running totals, and the run's budget.

The ledger is the run's record of LLM use, so it is appended (and flushed) as each call
ends, before the response's last byte reaches the agent; a killed harness loses at most
the calls in flight. Totals are rebuilt from the file with :func:`summarise`, so the
result can never disagree with the ledger.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict


class LlmCall(BaseModel):
    """One line of llm.jsonl."""

    model_config = ConfigDict(frozen=True)

    time: float
    endpoint: str  # "chat" | "embeddings"
    alias: str
    model: str  # the real (litellm) model the alias maps to
    stream: bool = False
    status: int  # HTTP status the agent got
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None  # None: litellm's price map has no price for this model
    latency_s: float
    error: str | None = None
    dropped_fields: list[str] = []  # non-OpenAI request fields the gateway did not forward
    request: dict[str, Any] | None = None  # only with log_bodies
    response: dict[str, Any] | None = None


class Usage(BaseModel):
    calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, call: LlmCall) -> None:
        self.calls += 1
        if call.status >= 400:
            self.failed_calls += 1
        self.prompt_tokens += call.prompt_tokens
        self.completion_tokens += call.completion_tokens
        if call.cost_usd is None:
            if call.prompt_tokens or call.completion_tokens:
                self.unpriced_calls += 1
        else:
            self.cost_usd += call.cost_usd


class Budget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_usd: float | None = None
    max_tokens: int | None = None

    def spent(self, usage: Usage) -> str | None:
        """Why the budget is spent, or None."""
        if self.max_usd is not None and usage.cost_usd >= self.max_usd:
            return f"LLM budget spent: ${usage.cost_usd:.4f} of ${self.max_usd:.4f}"
        if self.max_tokens is not None and usage.tokens >= self.max_tokens:
            return f"LLM budget spent: {usage.tokens} of {self.max_tokens} tokens"
        return None


class Meter:
    """Thread-safe ledger + budget. ``exhausted`` is set the moment a call spends the budget."""

    def __init__(self, path: Path, budget: Budget) -> None:
        self.path = path
        self.budget = budget
        self.usage = Usage()
        self.exhausted = threading.Event()
        self.reason: str | None = None
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        for call in read_calls(path):  # a resumed ledger keeps counting
            self.usage.add(call)
        self._check()

    def _check(self) -> None:
        why = self.budget.spent(self.usage)
        if why and not self.exhausted.is_set():
            self.reason = why
            self.exhausted.set()

    def record(self, call: LlmCall) -> None:
        line = call.model_dump_json(exclude_none=False) + "\n"
        with self._lock:
            with self.path.open("a") as f:
                f.write(line)
                f.flush()
            self.usage.add(call)
            self._check()

    def snapshot(self) -> Usage:
        with self._lock:
            return self.usage.model_copy()


def read_calls(path: Path) -> list[LlmCall]:
    """Parse llm.jsonl; a torn last line (killed mid-write) is skipped, not fatal."""
    calls: list[LlmCall] = []
    if not path.is_file():
        return calls
    for line in path.read_text().splitlines():
        try:
            calls.append(LlmCall.model_validate(json.loads(line)))
        except (ValueError, TypeError):
            continue
    return calls


def summarise(path: Path) -> Usage:
    usage = Usage()
    for call in read_calls(path):
        usage.add(call)
    return usage
