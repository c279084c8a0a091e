"""``rexmle view RUN``: one run as a researcher reads it, in one self-contained HTML page.

Read from the run folder only (no server, no JavaScript, opens offline): what ran and how it ended
(state, why the harness stopped it, the grade and the rank, synthetic or not), the agent's steps
in order (AIDE's journal: plan, code, output, metric, buggy or not, and which step each one
improved on), the best solution's code, every LLM call through the gateway (tokens, latency, cost,
bodies when they were logged), and the end of the agent's log. Scaffolds that keep no journal
(ML-Master's vendored copy, R&D-Agent) are read through their log and their LLM calls.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel

from rexmle.errors import NotFoundError
from rexmle.gateway.meter import LlmCall, read_calls
from rexmle.store import Result, RunDir, RunRecord

LOG_TAIL_LINES = 200
#: Longest code / output / body shown inline per item (characters); the rest is cut with a note.
MAX_TEXT = 20_000


class Step(BaseModel):
    """One node of an AIDE-style journal."""

    index: int
    id: str
    parent: str | None
    plan: str = ""
    code: str = ""
    output: str = ""
    analysis: str = ""
    metric: float | None = None
    maximize: bool | None = None
    buggy: bool | None = None
    exec_time_s: float | None = None
    error: str | None = None
    best: bool = False


def _cut(text: str) -> str:
    return (
        text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"\n… ({len(text) - MAX_TEXT} more characters)"
    )


def journal_steps(path: Path) -> list[Step]:
    """The nodes of an AIDE ``journal.json`` (``aide.utils.serialize``: ``nodes`` without their
    links, which are in ``node2parent``) in step order; the best good node is marked."""
    raw = json.loads(path.read_text())
    parents: dict[str, str] = raw.get("node2parent", {})
    steps = []
    for i, n in enumerate(sorted(raw.get("nodes", []), key=lambda n: n.get("step", 0))):
        metric = n.get("metric") or {}
        value = metric.get("value")
        steps.append(
            Step(
                index=int(n.get("step", i)),
                id=str(n.get("id", i)),
                parent=parents.get(str(n.get("id"))),
                plan=_cut(str(n.get("plan") or "")),
                code=_cut(str(n.get("code") or "")),
                output=_cut("".join(n.get("_term_out") or [])),
                analysis=str(n.get("analysis") or ""),
                metric=float(value) if isinstance(value, (int, float)) else None,
                maximize=metric.get("maximize"),
                buggy=n.get("is_buggy"),
                exec_time_s=n.get("exec_time"),
                error=n.get("exc_type"),
            )
        )
    good = [s for s in steps if s.metric is not None and not s.buggy]
    if good:
        sign = 1.0 if good[0].maximize is not False else -1.0
        best = max(good, key=lambda s: sign * (s.metric or 0.0))
        best.best = True
    return steps


def _journal(rd: RunDir) -> Path | None:
    found = sorted((rd.sandbox / "logs").rglob("journal.json")) if (rd.sandbox / "logs").is_dir() else []
    return found[-1] if found else None


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.is_file():
        return ""
    text = path.read_bytes()[-256_000:].decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def _calls(rd: RunDir) -> list[dict[str, Any]]:
    rows = []
    t0: float | None = None
    for c in read_calls(rd.llm_jsonl):
        t0 = c.time if t0 is None else t0
        rows.append({**_call_row(c), "at_s": c.time - t0})
    return rows


def _call_row(c: LlmCall) -> dict[str, Any]:
    return {
        "endpoint": c.endpoint,
        "model": c.model,
        "status": c.status,
        "tokens_in": c.prompt_tokens,
        "tokens_out": c.completion_tokens,
        "latency_s": c.latency_s,
        "cost_usd": c.cost_usd,
        "error": c.error,
        "request": _cut(json.dumps(c.request, indent=1)) if c.request is not None else None,
        "response": _cut(json.dumps(c.response, indent=1)) if c.response is not None else None,
    }


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.PackageLoader("rexmle.report", "templates"), autoescape=True)
    return env.get_template("view.html.j2")


def resolve(run: str, runs_root: Path) -> RunDir:
    """A run folder from a path or a run id (or its unique prefix) under ``runs_root``."""
    path = Path(run)
    if (path / "run.json").is_file():
        return RunDir(path)
    matches = (
        sorted(p for p in runs_root.glob(f"{run}*") if (p / "run.json").is_file())
        if runs_root.is_dir()
        else []
    )
    if len(matches) == 1:
        return RunDir(matches[0])
    if len(matches) > 1:
        raise NotFoundError(
            f"run id prefix {run!r} matches {len(matches)} runs under {runs_root}; give more of it"
        )
    raise NotFoundError(
        f"no run {run!r}: give a run folder or a run id under {runs_root} (see `rexmle runs`)"
    )


def render(rd: RunDir) -> str:
    """The run's page (HTML)."""
    record: RunRecord | None = rd.read_record()
    if record is None:
        raise NotFoundError(f"{rd.path} is not a run folder (no run.json)")
    result: Result | None = rd.read_result()
    journal = _journal(rd)
    steps = journal_steps(journal) if journal is not None else []
    best = rd.sandbox / "code" / "best_solution.py"
    submission = sorted(
        p.relative_to(rd.submission).as_posix() for p in rd.submission.rglob("*") if p.is_file()
    )
    calls = _calls(rd)
    return _template().render(
        record=record,
        result=result,
        steps=steps,
        journal=str(journal.relative_to(rd.path)) if journal else None,
        best_code=_cut(best.read_text(errors="replace")) if best.is_file() else None,
        calls=calls,
        totals={
            "calls": len(calls),
            "tokens_in": sum(c["tokens_in"] for c in calls),
            "tokens_out": sum(c["tokens_out"] for c in calls),
            "cost_usd": sum(c["cost_usd"] or 0.0 for c in calls),
        },
        log=_tail(rd.agent_log),
        submission=submission[:200],
        n_submission=len(submission),
    )


def write(rd: RunDir, output: Path | None = None) -> Path:
    """Write the run's page (default: ``view.html`` in the run folder) and return its path."""
    out = output or rd.path / "view.html"
    out.write_text(render(rd), encoding="utf-8")
    return out
