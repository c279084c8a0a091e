"""Real AIDE (aideml 0.2.2 in its own venv) against the scripted LLM, through the gateway.

agent process -> gateway (127.0.0.1, per-run token) -> litellm -> scripted server (127.0.0.1).
The first test installs AIDE's venv (~1 minute: aideml + torch CPU + MONAI).
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


def test_aide_scripted_run_is_graded_metered_and_keeps_the_best_node(home: Path, prepared: Path) -> None:
    spec = runs.make_spec("isles22", "aide", synthetic=True, llm="scripted")
    result = runs.execute(spec)
    rd = runs.run_dir(spec)
    assert result.state is RunState.done, (rd / "agent.log").read_text()[-2000:]
    assert result.valid, result.reason
    assert result.stopped is None

    # 3 steps x (code call + review call), all through the gateway and all priced.
    ledger = read_calls(rd / "llm.jsonl")
    upstream = requests_log(rd / "scripted_llm.jsonl")
    assert [r["rule"] for r in upstream] == [
        "code-sample", "review-best", "code-broken", "review-worse", "code", "review",
    ]  # fmt: skip
    assert len(ledger) == 6 and all(c.status == 200 and c.alias == "rexmle-chat" for c in ledger)
    assert result.llm_calls == 6
    assert result.tokens_in == sum(r["usage"]["prompt_tokens"] for r in upstream) > 1000
    assert result.tokens_out == sum(r["usage"]["completion_tokens"] for r in upstream) > 0
    assert result.cost_usd == pytest.approx(sum(c.cost_usd or 0 for c in ledger)) and result.cost_usd > 0

    # The best node (step 1, metric 0.6) is what was graded, not the last script's output
    # (AIDE 0.2.2 would keep step 3's) nor step 2's invalid table.
    best = json.loads((rd / "sandbox" / "code" / "best_node.json").read_text())
    assert best["metric"] == 0.6 and best["step"] == 0
    sample = prepared / "public" / "sample_submission" / "submission.csv"
    assert filecmp.cmp(rd / "submission" / "submission.csv", sample, shallow=False)

    # Trajectory and code are kept in the run directory.
    (journal,) = (rd / "sandbox" / "logs" / "aide").glob("*/journal.json")
    assert len(json.loads(journal.read_text())["nodes"]) == 3
    assert "copytree" in (rd / "sandbox" / "code" / "best_solution.py").read_text()


PROBE_SCRIPT = """
rules:
  - name: review
    when: {tool: submit_review}
    tool_arguments: {is_bug: false, metric: 0.5, lower_is_better: false, summary: ok}
  - name: code
    content: |
      Record the environment, then copy the sample submission.

      ```python
      import json, os, shutil
      json.dump(dict(os.environ), open("./working/env.json", "w"))
      shutil.copytree("./input/sample_submission", "./submission", dirs_exist_ok=True)
      print("validation metric: 0.5")
      ```
"""


def test_agent_environment_holds_no_provider_key(
    home: Path, prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "OPENAI_API_KEY": "sk-provider-openai-SECRET-1",
        "ANTHROPIC_API_KEY": "sk-ant-SECRET-2",
        "AZURE_API_KEY": "azure-SECRET-3",
        "GEMINI_API_KEY": "gemini-SECRET-4",
    }
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    script = tmp_path / "probe.yaml"
    script.write_text(PROBE_SCRIPT)
    spec = runs.make_spec("isles22", "aide", synthetic=True, llm="scripted", llm_script=script, steps=1)
    result = runs.execute(spec)
    rd = runs.run_dir(spec)
    assert result.valid, result.reason
    (dump,) = (rd / "sandbox" / "code" / "aide").glob("*/working/env.json")
    seen = json.loads(dump.read_text())
    assert not set(secrets.values()) & set(seen.values())
    assert seen["OPENAI_API_KEY"].startswith("rxm-")  # the per-run gateway token, nothing else
    assert seen["OPENAI_BASE_URL"].startswith("http://127.0.0.1:")
    assert "REXMLE_HOME" not in seen
    # ... and no secret was written anywhere in the run directory (logs, ledger, records).
    for path in rd.rglob("*"):
        if path.is_file() and not path.is_symlink():
            blob = path.read_bytes()
            assert not any(v.encode() in blob for v in secrets.values()), path


def test_llm_budget_stops_the_agent_within_seconds(home: Path, prepared: Path) -> None:
    # One AIDE step costs ~4000 tokens (code call + review call): 3000 is spent during step 1.
    spec = runs.make_spec("isles22", "aide", synthetic=True, llm="scripted", max_tokens=3000, steps=50)
    result = runs.execute(spec)
    rd = runs.run_dir(spec)
    assert result.stopped == "llm_budget"
    assert result.state is RunState.done
    assert result.tokens_in + result.tokens_out >= 3000
    record = json.loads((rd / "run.json").read_text())
    assert record["stopped"] == "llm_budget"
    ledger = read_calls(rd / "llm.jsonl")
    spent_at = max(c.time for c in ledger if c.status == 200)
    assert (
        record["agent_ended_at"] - spent_at < 60
    )  # a hang guard: the stop comes; its latency is benchmarked
    assert all(c.status == 200 for c in ledger)  # refusals are not calls: nothing billed after
