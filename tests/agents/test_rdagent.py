"""Real R&D-Agent (rdagent 1.0.0 in its own venv, ~2 min and ~3 GB to install) against the
scripted LLM through the gateway: one data-science loop on synthetic ISLES'22.

Marked ``heavy``: run by ``make test-heavy`` (which .ci/run calls), not by ``make test``.
"""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import pytest

from rexmle import run as runs
from rexmle.gateway import read_calls
from rexmle.gateway.scripted import requests_log
from rexmle.store import RunState

pytestmark = pytest.mark.heavy


def test_rdagent_scripted_loop_ends_done_with_a_valid_metered_submission(home: Path, prepared: Path) -> None:
    spec = runs.make_spec("isles22", "rdagent", synthetic=True, llm="scripted")
    result = runs.execute(spec)
    rd = runs.run_dir(spec)
    assert result.state is RunState.done, (rd / "agent.log").read_text(errors="replace")[-3000:]
    assert result.valid, result.reason

    upstream = requests_log(rd / "scripted_llm.jsonl")
    chat_rules = [r["rule"] for r in upstream if r["endpoint"] == "chat"]
    assert chat_rules == [
        "scenario-analysis", "challenges", "hypotheses", "sketch", "coder", "coder-eval", "runner-eval", "feedback",
    ]  # fmt: skip
    assert all(r["stream"] for r in upstream if r["endpoint"] == "chat")  # R&D-Agent streams every chat call
    assert {r["rule"] for r in upstream if r["endpoint"] == "embeddings"} == {"embeddings"}
    # the alias is registered as schema-capable, so structured calls carry response_format
    kinds = [(r["response_format"] or {}).get("type") for r in upstream if r["endpoint"] == "chat"]
    assert kinds.count("json_schema") == 3 and kinds.count("json_object") == 4

    ledger = read_calls(rd / "llm.jsonl")
    assert len(ledger) == len(upstream) == result.llm_calls
    assert {c.endpoint for c in ledger} == {"chat", "embeddings"}
    assert result.tokens_in == sum(r["usage"]["prompt_tokens"] for r in upstream)
    assert result.tokens_out == sum(r["usage"].get("completion_tokens", 0) for r in upstream)
    assert result.cost_usd > 0 and result.unpriced_llm_calls == 0

    # The metric direction and name come from our challenge spec, not from the "LLM", which
    # claimed smaller-is-better: every later prompt says larger is better, about dice.
    later = [json.dumps(r["request"]) for r in upstream if r["endpoint"] == "chat"][1:]
    assert all("better when it is **larger**" in text for text in later)
    assert all("dice" in text for text in later)

    # The recorded SOTA experiment's submission is what was graded; its code is kept.
    sample = prepared / "public" / "sample_submission" / "submission.csv"
    assert filecmp.cmp(rd / "submission" / "submission.csv", sample, shallow=False)
    assert "copytree" in (rd / "sandbox" / "code" / "best_solution.py").read_text()
    assert any((rd / "sandbox" / "logs" / "rdagent").rglob("*.pkl"))  # R&D-Agent's session log
