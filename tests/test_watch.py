"""What `rexmle run` shows while a run goes on, read from the run folder (rexmle.watch)."""

from __future__ import annotations

import io
import time
from pathlib import Path

from rich.console import Console

from rexmle.gateway.meter import LlmCall
from rexmle.store import RunDir, RunRecord, RunSpec, RunState
from rexmle.watch import RunWatch, last_line


def _record(rd: RunDir, state: RunState) -> None:
    spec = RunSpec.model_validate(
        {
            "challenge": "isles22",
            "agent": "dummy",
            "synthetic": True,
            "budgets": {"wall_time_s": 60, "cpus": 1, "memory_gb": 1},
        }
    )
    now = time.time()
    rd.write_record(RunRecord(run_id=spec.run_id, spec=spec, state=state, created_at=now, updated_at=now))


def test_the_status_line_has_phase_time_llm_use_and_the_logs_last_line(tmp_path: Path) -> None:
    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    watch = RunWatch(rd, 600, Console(file=io.StringIO()))
    assert watch.status() == "starting"
    _record(rd, RunState.running)
    rd.agent_log.write_text("epoch 1\n\nepoch 2 loss 0.5\n\n")
    call = LlmCall(time=0, endpoint="chat", alias="a", model="m", status=200, prompt_tokens=1000,
                   completion_tokens=234, cost_usd=0.0125, latency_s=1.0)  # fmt: skip
    rd.llm_jsonl.write_text(call.model_dump_json() + "\n" + call.model_dump_json() + "\n")
    line = watch.status()
    assert line.startswith("running · agent 0 s of 600 s · ")
    assert "LLM 2 calls, 2,468 tokens, $0.0250" in line and line.endswith("log: epoch 2 loss 0.5")
    _record(rd, RunState.grading)
    assert watch.status().startswith("grading · agent 0 s of 600 s")  # the agent's time stops


def test_piped_it_prints_plain_lines_at_each_phase(tmp_path: Path) -> None:
    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False)
    shown: list[str] = []
    with RunWatch(rd, 60, console, show=shown.append, plain_every_s=3600):
        _record(rd, RunState.running)
        time.sleep(2.5)
        _record(rd, RunState.grading)
        time.sleep(2.5)
    lines = buf.getvalue().splitlines()
    assert shown == []  # not a terminal: no live line
    assert any(ln.startswith("· running") for ln in lines) and any(ln.startswith("· grading") for ln in lines)
    assert "\x1b[" not in buf.getvalue()  # no terminal codes in a piped log


def test_last_line_reads_the_end_of_a_large_log(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    log.write_text("x" * 100_000 + "\nthe end\n\n")
    assert last_line(log) == "the end" and last_line(tmp_path / "missing") == ""


def test_the_ledger_is_read_as_it_grows_a_torn_line_waits_and_a_new_attempt_restarts(tmp_path: Path) -> None:
    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    watch = RunWatch(rd, 60, Console(file=io.StringIO()))
    line = LlmCall(time=0, endpoint="chat", alias="a", model="m", status=200, prompt_tokens=10,
                   completion_tokens=5, cost_usd=0.5, latency_s=1.0).model_dump_json() + "\n"  # fmt: skip
    rd.llm_jsonl.write_text(line + line[:20])  # the second call is being written
    assert "LLM 1 calls, 15 tokens, $0.5000" in watch.status()
    with rd.llm_jsonl.open("a") as f:
        f.write(line[20:] + line)
    assert "LLM 3 calls, 45 tokens, $1.5000" in watch.status()
    rd.llm_jsonl.write_text(line)  # archived: the next attempt's ledger starts empty again
    assert "LLM 1 calls, 15 tokens, $0.5000" in watch.status()


def test_in_a_terminal_run_shows_a_live_status_that_ends_with_the_result(home: Path, prepared: Path) -> None:
    """`rexmle run` in a real pseudo-terminal: the live line (phase, the agent's time against its
    limit, the log's last line) is redrawn in place with terminal codes while the agent runs,
    and the run ends with its result, as a person at a terminal sees it."""
    from helpers import run_in_terminal

    code, shown = run_in_terminal(
        ["run", "--agent", "sleeper", "--challenge", "isles22", "--synthetic", "--time-limit", "6"],
        timeout=120,
    )
    assert code == 0, shown[-2000:]
    assert "\x1b[" in shown  # drawn with terminal codes, redrawn in place
    assert "running · agent" in shown and "of 6 s" in shown
    assert "log: sleeper: sleeping" in shown
    assert "time_limit" in shown or "time limit" in shown  # how the run ended
