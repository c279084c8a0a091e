"""The LLM meter: one line of ``llm.jsonl`` per call, running totals, and the run's budget.

The ledger is the run's record of LLM use, so it is appended (and flushed) as each call
ends, before the response's last byte reaches the agent; a killed harness loses at most
the calls in flight. Totals are rebuilt from the file with :func:`summarise`, so the
result can never disagree with the ledger.

The budget is enforced by reservation, not by a look at what is spent: a call is only billed
when it ends, so checking the spend before forwarding let an agent start 50 calls at once and
spend 33 times its budget. :meth:`Meter.reserve` admits a call only if the budget, less what
is spent and what the calls in flight have reserved, still has room, and tells the gateway the
completion limit to send so that the call cannot spend more than it reserved;
:meth:`Meter.record` replaces the reservation with the real usage in one step.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
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


@dataclass
class Reservation:
    """What one admitted call holds of the budget until it settles.

    ``completion_limit`` is the most completion tokens each choice may produce: the caller's own
    cap, lowered to what the budget has room for. The gateway must send it upstream when it is
    below what the agent asked for, or the reservation does not bound the call. None: no budget
    and no cap, nothing to enforce.
    """

    tokens: int = 0
    usd: float = 0.0
    completion_limit: int | None = None
    settled: bool = False


class Meter:
    """Thread-safe ledger + budget. ``exhausted`` is set the moment a call spends the budget."""

    def __init__(self, path: Path, budget: Budget) -> None:
        self.path = path
        self.budget = budget
        self.usage = Usage()
        self.exhausted = threading.Event()
        self.reason: str | None = None
        self._lock = threading.Lock()
        self._reserved_tokens = 0
        self._reserved_usd = 0.0
        self._in_flight = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        for call in read_calls(path):  # a resumed ledger keeps counting
            self.usage.add(call)
        self._check()

    def _check(self) -> None:
        why = self.budget.spent(self.usage)
        if why and not self.exhausted.is_set():
            self.reason = why
            self.exhausted.set()

    def reserve(
        self,
        prompt_tokens: int,
        *,
        completion_cap: int | None = None,
        choices: int = 1,
        usd_per_prompt_token: float = 0.0,
        usd_per_completion_token: float = 0.0,
        completions: bool = True,
    ) -> Reservation | str:
        """Admit a call, or say why not (the budget is spent, or held by the calls in flight).

        ``prompt_tokens`` must not be below what the provider will bill for the prompt (the
        gateway's estimate is deliberately high); ``completion_cap`` is the most the call could
        write per choice without the gateway's clamp (the agent's max_tokens or the model's
        output limit; None: unknown); ``completions=False`` for embeddings. The completion
        limit is what is left after the prompt, split over ``choices``, and never below one
        token: the last call admitted may pass the budget by its prompt and a token per choice, and then
        nothing else is admitted until the calls in flight settle. That is the whole overshoot.
        """
        with self._lock:
            if self.exhausted.is_set():
                return self.reason or "LLM budget spent"
            b = self.budget
            left_tokens = left_usd = None
            if b.max_tokens is not None:
                left_tokens = b.max_tokens - self.usage.tokens - self._reserved_tokens
                if left_tokens <= 0:
                    return (
                        f"LLM budget spent: {self.usage.tokens} tokens used and {self._reserved_tokens} held "
                        f"by {self._in_flight} calls in flight, of {b.max_tokens}"
                    )
            if b.max_usd is not None:
                left_usd = b.max_usd - self.usage.cost_usd - self._reserved_usd
                if left_usd <= 0:
                    return (
                        f"LLM budget spent: ${self.usage.cost_usd:.4f} used and ${self._reserved_usd:.4f} "
                        f"held by {self._in_flight} calls in flight, of ${b.max_usd:.4f}"
                    )
            choices = max(1, choices)
            limit = completion_cap if completions else 0
            if completions and left_tokens is not None:
                limit = _lower(limit, max(1, (left_tokens - prompt_tokens) // choices))
            if completions and left_usd is not None and usd_per_completion_token > 0:
                room = left_usd - prompt_tokens * usd_per_prompt_token
                limit = _lower(limit, max(1, math.floor(room / (usd_per_completion_token * choices))))
            completion = choices * (limit or 0)
            reservation = Reservation(
                tokens=prompt_tokens + completion,
                usd=prompt_tokens * usd_per_prompt_token + completion * usd_per_completion_token,
                completion_limit=limit,
            )
            self._reserved_tokens += reservation.tokens
            self._reserved_usd += reservation.usd
            self._in_flight += 1
            return reservation

    def release(self, reservation: Reservation) -> None:
        """Give a reservation back without billing (the call never reached the ledger); a
        settled one is left alone, so callers may release in ``finally`` unconditionally."""
        with self._lock:
            self._release(reservation)

    def _release(self, reservation: Reservation) -> None:
        if reservation.settled:
            return
        reservation.settled = True
        self._in_flight -= 1
        self._reserved_tokens -= reservation.tokens
        self._reserved_usd -= reservation.usd
        if self._in_flight == 0:  # no float residue from adding and subtracting prices
            self._reserved_tokens, self._reserved_usd = 0, 0.0

    def record(self, call: LlmCall, reservation: Reservation | None = None) -> None:
        """Append ``call`` to the ledger and count it; with ``reservation``, release that in
        the same step, so no other call is admitted in between against a budget that has
        lost the reservation but not yet gained the real usage."""
        line = call.model_dump_json(exclude_none=False) + "\n"
        with self._lock:
            with self.path.open("a") as f:
                f.write(line)
                f.flush()
            self.usage.add(call)
            if reservation is not None:
                self._release(reservation)
            self._check()

    @property
    def in_flight(self) -> int:
        """Calls admitted and not yet settled or released."""
        with self._lock:
            return self._in_flight

    def reserved(self) -> tuple[int, float]:
        """(tokens, dollars) held by the calls in flight."""
        with self._lock:
            return self._reserved_tokens, self._reserved_usd

    def snapshot(self) -> Usage:
        with self._lock:
            return self.usage.model_copy()


def _lower(limit: int | None, bound: int) -> int:
    return bound if limit is None else min(limit, bound)


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
