"""Real ML-Master (upstream source) against the scripted LLM through the gateway.

ML-Master is not on PyPI and this machine cannot clone it, so the test needs a checkout:
``REXMLE_ML_MASTER_SRC=/path/to/ML-Master make test-heavy``. Without one it is skipped and
says why. Completion is judged by the files ML-Master writes, not by its exit code.
"""

from __future__ import annotations

import filecmp
import json
import os
from pathlib import Path

import pytest

from rexmle import agent as agents
from rexmle import run as runs
from rexmle.gateway import read_calls
from rexmle.gateway.scripted import requests_log
from rexmle.store import RunState

pytestmark = [
    pytest.mark.heavy,
    pytest.mark.skipif(
        not os.environ.get("REXMLE_ML_MASTER_SRC"),
        reason="ML-Master NOT TESTED: set REXMLE_ML_MASTER_SRC to an ML-Master checkout to run its end-to-end test",
    ),
]


def test_ml_master_scripted_run_validates_nodes_and_keeps_the_best(home: Path, prepared: Path) -> None:
    agents.get("ml-master").install(home, source=Path(os.environ["REXMLE_ML_MASTER_SRC"]))
    spec = runs.make_spec("isles22", "ml-master", synthetic=True, llm="scripted")
    result = runs.execute(spec, force=True)
    rd = runs.run_dir(spec)
    assert result.state is RunState.done, (rd / "agent.log").read_text(errors="replace")[-3000:]
    assert result.valid, result.reason

    upstream = requests_log(rd / "scripted_llm.jsonl")
    assert [r["rule"] for r in upstream] == [
        "code-sample", "review-best", "code-broken", "review-worse", "code", "review",
    ]  # fmt: skip
    assert all(r["stream"] for r in upstream if r["rule"].startswith("code"))  # the code model streams
    ledger = read_calls(rd / "llm.jsonl")
    assert {c.alias for c in ledger} == {"rexmle-chat", "gpt-rexmle-review"}
    assert all(c.status == 200 for c in ledger) and result.llm_calls == 6
    assert "chat_template_kwargs" in {
        f for c in ledger for f in c.dropped_fields
    }  # vLLM-only field, not forwarded
    assert result.tokens_in == sum(r["usage"]["prompt_tokens"] for r in upstream)

    # Upstream's format check went to our gateway: the header-only table was refused.
    (log,) = (rd / "sandbox" / "logs" / "ml-master").glob("*/ml-master.log")
    text = log.read_text()
    assert text.count("is valid.") == 2 and "is invalid" in text

    best = json.loads((rd / "sandbox" / "code" / "best_node.json").read_text())
    table = next(
        (rd / "sandbox" / "code" / "ml-master" / "workspaces").glob(
            f"*/submission/submission_{best['node']}.csv"
        )
    )
    assert filecmp.cmp(rd / "submission" / "submission.csv", table, shallow=False)
    sample = prepared / "public" / "sample_submission" / "submission.csv"  # the script rewrote its line ends
    assert (rd / "submission" / "submission.csv").read_text().splitlines() == sample.read_text().splitlines()
