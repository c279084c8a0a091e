"""``rexmle view``: one run's trajectory page, from a run folder laid out as an AIDE run leaves it
(the journal in AIDE's own serialized form, the best solution, the gateway's ledger, the log),
rendered through the CLI and read in Chromium."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import pytest
from helpers import ARTIFACTS, rexmle_cli

from rexmle.errors import NotFoundError
from rexmle.gateway.meter import LlmCall
from rexmle.report import view
from rexmle.store import Result, RunDir, RunRecord, RunSpec, RunState

BUDGETS = {"wall_time_s": 120, "cpus": 2, "memory_gb": 4}


def _node(step: int, nid: str, code: str, metric: float | None, buggy: bool, exc: str | None = None) -> dict:  # type: ignore[type-arg]
    """A journal node as aide.utils.serialize writes it (links removed, see node2parent)."""
    return {
        "code": code, "plan": f"plan of step {step}", "step": step, "id": nid, "ctime": 0.0,
        "parent": None, "children": [], "_term_out": [f"output of step {step}\n"], "exec_time": 1.5 + step,
        "exc_type": exc, "exc_info": None, "exc_stack": None, "analysis": f"analysis {step}",
        "metric": {"value": metric, "maximize": True}, "is_buggy": buggy,
    }  # fmt: skip


@pytest.fixture
def run_dir(tmp_path: Path) -> RunDir:
    spec = RunSpec.model_validate(
        {"challenge": "isles22", "agent": "aide", "model": "openai/gpt-4o-mini", "llm": "scripted",
         "synthetic": True, "budgets": BUDGETS}
    )  # fmt: skip
    rd = RunDir(tmp_path / "runs" / spec.run_id)
    rd.path.mkdir(parents=True)
    now = time.time()
    rd.write_record(
        RunRecord(
            run_id=spec.run_id, spec=spec, state=RunState.done, created_at=now, updated_at=now, attempts=1
        )
    )
    rd.write_result(
        Result.model_validate(
            {"run_id": spec.run_id, "challenge": "isles22", "agent": "aide", "model": spec.model,
             "llm": "scripted", "seed": 0, "synthetic": True, "state": "done", "valid": True,
             "metrics": {"dice": 0.61}, "percentile": 0.4, "rank": 7, "n_leaderboard": 10, "llm_calls": 2}
        )
    )  # fmt: skip
    logs = rd.sandbox / "logs" / "aide" / "run"
    logs.mkdir(parents=True)
    nodes = [
        _node(0, "aaaa1111", "import broken", None, True, "ImportError"),
        _node(1, "bbbb2222", "print('first draft')", 0.5, False),
        _node(2, "cccc3333", "print('improved')", 0.7, False),
    ]
    (logs / "journal.json").write_text(
        json.dumps({"nodes": nodes, "node2parent": {"cccc3333": "bbbb2222"}, "__version": "2"})
    )
    (rd.sandbox / "code").mkdir(parents=True)
    (rd.sandbox / "code" / "best_solution.py").write_text("print('improved')  # the best one\n")
    calls = [
        LlmCall(time=now, endpoint="chat", alias="rexmle-chat", model="openai/gpt-4o-mini", status=200,
                prompt_tokens=120, completion_tokens=30, cost_usd=0.0001, latency_s=0.4,
                request={"messages": [{"role": "user", "content": "write a draft"}]},
                response={"choices": [{"message": {"content": "here is a draft"}}]}),
        LlmCall(time=now + 5, endpoint="chat", alias="rexmle-chat", model="openai/gpt-4o-mini", status=429,
                latency_s=0.1, error="budget exhausted"),
    ]  # fmt: skip
    rd.llm_jsonl.write_text("".join(c.model_dump_json() + "\n" for c in calls))
    rd.agent_log.write_text("".join(f"rexmle-aide: step {i}\n" for i in range(300)))
    (rd.submission / "predictions").mkdir(parents=True)
    (rd.submission / "submission.csv").write_text("case_id,predicted_mask_path\n")
    (rd.submission / "predictions" / "a.nii.gz").write_bytes(b"")
    return rd


def test_the_journal_is_read_in_aides_serialized_form(run_dir: RunDir) -> None:
    steps = view.journal_steps(next((run_dir.sandbox / "logs").rglob("journal.json")))
    assert [s.index for s in steps] == [0, 1, 2]
    assert [s.parent for s in steps] == [None, None, "bbbb2222"]
    assert [s.best for s in steps] == [False, False, True]  # the best good node, maximize = True
    assert steps[0].buggy and steps[0].error == "ImportError" and steps[1].output == "output of step 1\n"


def test_view_through_the_cli_in_chromium(run_dir: RunDir, tmp_path: Path, browser_page) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "view.html"
    proc = rexmle_cli("view", str(run_dir.path), "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["view"] == str(out)
    page = browser_page
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    assert "scripted LLM" in page.locator("#label-scripted").inner_text()
    assert "synthetic data" in page.locator("#label-synthetic").inner_text()
    rows = page.locator("#steps ~ table").first.locator("tr")
    assert rows.count() == 4  # header + three steps
    assert "★" in rows.nth(3).inner_text() and "cccc3333"[:8] in rows.nth(3).inner_text()
    assert "bbbb2222"[:8] in rows.nth(3).inner_text()  # improved on step 1
    assert "yes" in rows.nth(1).inner_text()  # the buggy draft
    assert "improved')  # the best one" in page.locator("#best + pre").inner_text()
    llm = page.locator("#llm ~ table").first.locator("tr")
    assert llm.count() == 3 and "budget exhausted" in llm.nth(2).inner_text()
    assert "rexmle-aide: step 299" in page.locator("#log ~ pre").first.inner_text()
    assert "predictions/a.nii.gz" in page.locator("#submission ~ pre").first.inner_text()
    page.locator("#steps ~ table details summary", has_text="code").first.click()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "view.png"), full_page=True)
    bad = [e for e in page.events if e[0] in ("error", "pageerror", "request")]
    assert bad == [], bad


def test_a_run_is_found_by_folder_or_id_prefix_and_a_wrong_one_is_one_line(
    run_dir: RunDir, tmp_path: Path
) -> None:
    root = run_dir.path.parent
    assert view.resolve(str(run_dir.path), root).path == run_dir.path
    assert view.resolve(run_dir.path.name[:6], root).path == run_dir.path
    with pytest.raises(NotFoundError, match="no run 'zzzz'"):
        view.resolve("zzzz", root)
    (root / "x1").mkdir()
    (root / "x1" / "run.json").write_text("{}")
    (root / "x2").mkdir()
    (root / "x2" / "run.json").write_text("{}")
    with pytest.raises(NotFoundError, match="matches 2 runs"):
        view.resolve("x", root)


def test_an_agents_files_cannot_point_the_page_elsewhere_or_break_it(run_dir: RunDir, tmp_path: Path) -> None:
    """The sandbox is the agent's: a journal or best solution that is a link to a file outside
    (the private labels, a key file) is not read; a journal that is no journal is reported in one
    line; markup in a plan is text, not markup."""
    secret = tmp_path / "private_test_labels.csv"
    secret.write_text("case_id,label\nSECRET-LABEL-42\n")
    journal = next((run_dir.sandbox / "logs").rglob("journal.json"))
    best = run_dir.sandbox / "code" / "best_solution.py"
    journal.unlink()
    journal.symlink_to(secret)
    best.unlink()
    best.symlink_to(secret)
    linked_dir = run_dir.sandbox / "logs" / "elsewhere"
    linked_dir.symlink_to(tmp_path, target_is_directory=True)  # a link to a folder is not walked
    page = view.render(run_dir)
    assert "SECRET-LABEL-42" not in page
    assert "no best_solution.py" in page

    journal.unlink()
    for bad, words in (
        ("not json at all", "the agent's journal"),
        ("[1, 2, 3]", "is not an AIDE journal"),
        ("9" * 40, "the agent's journal"),  # an integer too long to convert cheaply
    ):
        journal.write_text(bad)
        page = view.render(run_dir)
        problem = html.unescape(page.split('id="journal-problem">', 1)[1].split("</p>", 1)[0])
        assert words in problem and "\n" not in problem, problem

    nodes = [
        "a string, not a node",
        _node(0, "x1", "<script>alert(1)</script>", 0.5, False) | {"plan": "<img src=x onerror=alert(1)>"},
        {"step": "soon", "metric": "high", "is_buggy": "maybe", "_term_out": 7},
    ]
    journal.write_text(json.dumps({"nodes": nodes, "node2parent": ["not", "a", "map"]}))
    page = view.render(run_dir)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<img src=x" not in page
    steps = view.journal_steps(journal)
    by_id = {s.id: s for s in steps}
    assert len(steps) == 2 and by_id["x1"].metric == 0.5 and by_id["x1"].best
    garbage = next(s for s in steps if s.id != "x1")
    assert (garbage.metric, garbage.buggy, garbage.output) == (None, None, "7")
