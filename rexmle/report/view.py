"""``rexmle view RUN``: one run as a researcher reads it, in one self-contained HTML page.

Read from the run folder only (no server, no JavaScript, opens offline). The sandbox's files are
the agent's: they are read within bounds, never through a link, and escaped on the page. what ran and how it ended
(state, why the harness stopped it, the grade and the rank, synthetic or not), the agent's steps
in order (AIDE's journal: plan, code, output, metric, buggy or not, and which step each one
improved on), the best solution's code, every LLM call through the gateway (tokens, latency, cost,
bodies when they were logged), and the end of the agent's log. Scaffolds that keep no journal
(ML-Master's vendored copy, R&D-Agent) are read through their log and their LLM calls.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel

from rexmle.errors import InvalidSubmission, NotFoundError
from rexmle.gateway.meter import LlmCall, read_calls
from rexmle.safe_io import load_json
from rexmle.store import Result, RunDir, RunRecord, tail_lines

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


#: Most bytes of an agent's journal the viewer reads (its plans, code and outputs for thousands of
#: steps); a larger one is reported, not read.
MAX_JOURNAL_BYTES = 64 * 2**20


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def journal_steps(path: Path) -> list[Step]:
    """The nodes of an AIDE ``journal.json`` (``aide.utils.serialize``: ``nodes`` without their
    links, which are in ``node2parent``) in step order; the best good node is marked.

    The journal is the agent's own file: read within ``rexmle.safe_io``'s JSON bounds, anything
    that is not a node is skipped, and a file that is no journal at all is a one-line ValueError."""
    try:
        raw = load_json(path, "the agent's journal", MAX_JOURNAL_BYTES)
    except InvalidSubmission as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("nodes"), list):
        raise ValueError(f"{path.name} is not an AIDE journal (no list of nodes)")
    links = raw.get("node2parent")
    parents: dict[str, Any] = links if isinstance(links, dict) else {}
    nodes = [n for n in raw["nodes"] if isinstance(n, dict)]
    steps = []
    for i, n in enumerate(sorted(nodes, key=lambda n: _number(n.get("step")) or 0.0)):
        metric: dict[str, Any] = n["metric"] if isinstance(n.get("metric"), dict) else {}
        out = n.get("_term_out")
        parent = parents.get(str(n.get("id")))
        steps.append(
            Step(
                index=int(_number(n.get("step")) or i),
                id=str(n.get("id", i)),
                parent=str(parent) if parent is not None else None,
                plan=_cut(str(n.get("plan") or "")),
                code=_cut(str(n.get("code") or "")),
                output=_cut("".join(map(str, out)) if isinstance(out, list) else str(out or "")),
                analysis=_cut(str(n.get("analysis") or "")),
                metric=_number(metric.get("value")),
                maximize=metric.get("maximize") if isinstance(metric.get("maximize"), bool) else None,
                buggy=n.get("is_buggy") if isinstance(n.get("is_buggy"), bool) else None,
                exec_time_s=_number(n.get("exec_time")),
                error=str(n["exc_type"]) if n.get("exc_type") else None,
            )
        )
    good = [s for s in steps if s.metric is not None and not s.buggy]
    if good:
        sign = 1.0 if good[0].maximize is not False else -1.0
        best = max(good, key=lambda s: sign * (s.metric or 0.0))
        best.best = True
    return steps


def _inside(rd: RunDir, path: Path) -> bool:
    """A regular file of the run's sandbox reached without a link: the sandbox is the agent's, and
    a link there could point the page at any file the viewer's user can read."""
    try:
        return (
            not path.is_symlink()
            and path.is_file()
            and path.resolve().is_relative_to(rd.sandbox.resolve())
            and not any(p.is_symlink() for p in path.relative_to(rd.sandbox).parents if str(p) != ".")
        )
    except (OSError, ValueError):
        return False


def _files_under(folder: Path, limit: int = 10_000) -> list[Path]:
    """Regular files below ``folder``, links neither listed nor followed, at most ``limit``."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            p = Path(root) / name
            if not p.is_symlink() and p.is_file():
                found.append(p)
                if len(found) >= limit:
                    return found
    return found


def _journal(rd: RunDir) -> Path | None:
    logs = rd.sandbox / "logs"
    found = [p for p in _files_under(logs) if p.name == "journal.json" and _inside(rd, p)]
    return found[-1] if found else None


def _read_agent_text(rd: RunDir, path: Path) -> str | None:
    """At most MAX_TEXT characters of an agent's file (None if it is no plain file of the sandbox)."""
    if not _inside(rd, path):
        return None
    with path.open("rb") as f:
        return _cut(f.read(4 * MAX_TEXT + 4).decode("utf-8", "replace"))


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
    steps: list[Step] = []
    journal_problem = None
    if journal is not None:
        try:
            steps = journal_steps(journal)
        except ValueError as exc:
            journal_problem = str(exc)
    submission = [p.relative_to(rd.submission).as_posix() for p in _files_under(rd.submission)]
    calls = _calls(rd)
    return _template().render(
        record=record,
        result=result,
        steps=steps,
        journal=str(journal.relative_to(rd.path)) if journal else None,
        journal_problem=journal_problem,
        best_code=_read_agent_text(rd, rd.sandbox / "code" / "best_solution.py"),
        calls=calls,
        totals={
            "calls": len(calls),
            "tokens_in": sum(c["tokens_in"] for c in calls),
            "tokens_out": sum(c["tokens_out"] for c in calls),
            "cost_usd": sum(c["cost_usd"] or 0.0 for c in calls),
        },
        log="\n".join(tail_lines(rd.agent_log, LOG_TAIL_LINES)),
        submission=submission[:200],
        n_submission=len(submission),
    )


def write(rd: RunDir, output: Path | None = None) -> Path:
    """Write the run's page (default: ``view.html`` in the run folder) and return its path."""
    out = output or rd.path / "view.html"
    out.write_text(render(rd), encoding="utf-8")
    return out
