"""What `rexmle run` shows while a run goes on: its phase, the agent's time against its limit, the
last line of the agent's log, and the LLM calls, tokens and dollars so far.

Read from the run folder (run.json, agent.log, llm.jsonl) by a background thread, so the display
never slows the run and shows exactly what the folder records. In a terminal it is one live
line (``show``: the CLI's progress display, where the grading bar appears too); piped, it is a
plain status line every ``plain_every_s`` seconds and at each change of phase, so a log file stays
readable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from rich.console import Console

from rexmle.gateway.meter import LlmCall, Usage
from rexmle.store import RunDir, RunState, tail_lines


def last_line(path: Path, limit: int = 8192) -> str:
    """The last non-empty line of a (growing) text file, read from its end only."""
    lines = [ln.strip() for ln in tail_lines(path, 50, limit) if ln.strip()]
    return lines[-1] if lines else ""


class RunWatch:
    """A context manager around one `execute`: starts the display, stops it when the run ends."""

    def __init__(
        self,
        rd: RunDir,
        limit_s: int,
        console: Console,
        show: Callable[[str], None] | None = None,
        plain_every_s: float = 30.0,
    ) -> None:
        self.rd, self.limit_s, self.console = rd, limit_s, console
        self.plain_every_s = plain_every_s
        self.show = show if console.is_terminal else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._agent_started: float | None = None
        self._agent_ended: float | None = None
        self._usage, self._ledger_read, self._ledger_inode = Usage(), 0, 0
        self._phase = ""

    def status(self) -> str:
        """One line: phase, agent time / limit, LLM use, the log's last line."""
        record = self.rd.read_record() if self.rd.run_json.is_file() else None
        phase = record.state.value if record else "starting"
        running = record is not None and record.state is RunState.running
        if running and self._agent_started is None:
            self._agent_started = time.monotonic()
        if not running and self._agent_started is not None and self._agent_ended is None:
            self._agent_ended = time.monotonic()
        parts = [phase]
        if self._agent_started is not None:
            now = self._agent_ended or time.monotonic()
            parts.append(f"agent {now - self._agent_started:.0f} s of {self.limit_s} s")
        usage = self._usage_so_far()
        if usage.calls:
            parts.append(f"LLM {usage.calls} calls, {usage.tokens:,} tokens, ${usage.cost_usd:.4f}")
        log = last_line(self.rd.agent_log)
        if log:
            parts.append(f"log: {log[:120]}")
        self._phase = phase
        return " · ".join(parts)

    def _usage_so_far(self) -> Usage:
        """The ledger's totals, reading only the lines added since the last look (with logged
        bodies a ledger holds megabytes; it is not parsed again every second). A torn last line
        waits for its end; a shorter file (a new attempt) is read again from the start."""
        path = self.rd.llm_jsonl
        size = path.stat().st_size if path.is_file() else 0
        if size < self._ledger_read:
            self._usage, self._ledger_read, self._ledger_inode = Usage(), 0, 0
        if size == self._ledger_read:
            return self._usage
        with path.open("rb") as f:
            f.seek(self._ledger_read)
            chunk = f.read(size - self._ledger_read)
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._ledger_read += len(complete)
        for line in complete.splitlines():
            try:
                self._usage.add(LlmCall.model_validate_json(line))
            except ValueError:
                continue
        return self._usage

    def _loop(self) -> None:
        last_plain, last_phase = 0.0, ""
        while not self._stop.wait(1.0):
            line = self.status()
            if self.show is not None:
                self.show(line)
            elif self._phase != last_phase or time.monotonic() - last_plain >= self.plain_every_s:
                self.console.print(f"· {line}", markup=False, highlight=False)
                last_plain, last_phase = time.monotonic(), self._phase

    def __enter__(self) -> RunWatch:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
