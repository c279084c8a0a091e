"""``rexmle report``: one self-contained HTML page that compares agents.

Everything is read from run folders (the results index in store.py), so a report can never
disagree with the runs it shows. The page carries its own CSS, the plotting library's
JavaScript (plotly.js, inlined once) and a few lines of table sorting: it opens offline.

Runs fall into cohorts, and only the first one makes headline numbers:
- ``headline``: real data in an isolated sandbox (a container runtime), a real model;
- ``scripted``: an LLM agent driven by the scripted (replayed) LLM: a test of the scaffold's
  plumbing, never compared with real models;
- ``synthetic``: synthetic data (a pipeline check, not a benchmark result);
- ``non-isolated``: real data on the local runtime (the agent could read more than its share).
The others are shown in full, each in its own marked section, never mixed in.
"""

from __future__ import annotations

import html
import math
import os
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from pydantic import BaseModel

from rexmle import __version__, store
from rexmle import challenge as challenge_registry
from rexmle.errors import NotFoundError, RexmleError
from rexmle.ranking import leaderboard_metrics
from rexmle.report import figures
from rexmle.report.stats import best_human, hierarchical_bootstrap_ci, normalized_score, sem

COHORTS = {
    "headline": "Real data, isolated sandbox",
    "scripted": "Scripted LLM: a replay that tests the scaffold, not a model's work",
    "synthetic": "Synthetic data: a check of the pipeline, not a benchmark result",
    "non-isolated": "Real data without isolation (local runtime): not comparable",
}
LOG_TAIL_LINES = 25
LOG_TAIL_BYTES = 4000


class ReportInfo(BaseModel):
    path: Path
    size_bytes: int
    n_runs: int
    n_agents: int
    seconds: float


def cohort_of(row: pd.Series) -> str:
    if row.get("llm") == "scripted":
        return "scripted"
    if bool(row["synthetic"]):
        return "synthetic"
    return "non-isolated" if row.get("isolation", "none") == "none" else "headline"


def entrant_of(row: pd.Series) -> str:
    """The agent and its model; a scripted LLM is named as such (its model name is a stand-in)."""
    if row.get("llm") == "scripted":
        return f"{row['agent']} · scripted LLM"
    model = row.get("model")
    return f"{row['agent']} · {model}" if isinstance(model, str) and model else str(row["agent"])


#: One colour per entrant, the same in every chart of a page (assigned in sorted order).
PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def entrant_colours(entrants: Iterable[str]) -> dict[str, str]:
    return {e: PALETTE[i % len(PALETTE)] for i, e in enumerate(sorted(set(entrants)))}


@cache
def _challenge(cid: str) -> challenge_registry.Challenge | None:
    try:
        return challenge_registry.get(cid)
    except (NotFoundError, RexmleError):
        return None


def _metric_info(cid: str) -> tuple[list[str], dict[str, str], pd.DataFrame | None]:
    """Ranked metric names, their directions and the human leaderboard (None if unknown)."""
    ch = _challenge(cid)
    if ch is None:
        return [], {}, None
    lb = ch.leaderboard
    directions: dict[str, str] = dict(ch.spec.directions)
    ranked = [m for m in leaderboard_metrics(lb) if m in ch.spec.ranked_directions]
    return ranked, directions, lb


def add_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Cohort, entrant, and the normalized score of every run (see stats.normalized_score).

    The dummy line of a challenge is the mean of the valid ``dummy`` runs on the same kind of
    data (synthetic or real). Invalid runs score 0 on both percentile and normalized score:
    no better than handing in the sample submission.
    """
    frame = frame.copy()
    frame["cohort"] = frame.apply(cohort_of, axis=1)
    frame["entrant"] = frame.apply(entrant_of, axis=1)
    frame["valid"] = frame["valid"].astype(bool)
    frame["pct"] = np.where(frame["valid"], frame["percentile"].astype(float), 0.0)
    frame["pct"] = frame["pct"].fillna(0.0)
    frame["norm"] = math.nan
    for (cid, _synthetic), part in frame.groupby(["challenge", "synthetic"]):
        ranked, directions, lb = _metric_info(str(cid))
        if lb is None or not ranked:
            continue
        dummies = part[(part["agent"] == "dummy") & part["valid"]]
        cols = [f"metric.{m}" for m in ranked if f"metric.{m}" in part.columns]
        if dummies.empty or not cols:
            continue
        dummy_line = {c.removeprefix("metric."): float(dummies[c].astype(float).mean()) for c in cols}
        best = {m: best_human(lb[m].astype(float).tolist(), directions[m]) for m in ranked}
        for idx, row in part.iterrows():
            if not row["valid"]:
                frame.at[idx, "norm"] = 0.0
                continue
            values = {c.removeprefix("metric."): float(row[c]) for c in cols if not pd.isna(row[c])}
            frame.at[idx, "norm"] = normalized_score(values, dummy_line, best)
    frame["tokens"] = frame["tokens_in"].astype(int) + frame["tokens_out"].astype(int)
    return frame


def _groups(part: pd.DataFrame, column: str) -> list[list[float]]:
    return [g[column].astype(float).tolist() for _, g in part.groupby("challenge")]


def leaderboard(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per entrant: means with 95% bootstrap CIs over challenges and seeds."""
    rows = []
    for entrant, part in frame.groupby("entrant"):
        pct, pct_lo, pct_hi = hierarchical_bootstrap_ci(_groups(part, "pct"))
        has_norm = part["norm"].notna()
        nrm, nrm_lo, nrm_hi = hierarchical_bootstrap_ci(_groups(part[has_norm], "norm"))
        seeds = part.groupby("challenge")["seed"].nunique()
        rows.append(
            {
                "entrant": entrant,
                "runs": len(part),
                "challenges": part["challenge"].nunique(),
                "seeds": f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}-{seeds.max()}",
                "percentile": pct,
                "percentile_ci": (pct_lo, pct_hi),
                "normalized": nrm,
                "normalized_ci": (nrm_lo, nrm_hi),
                "normalized_runs": int(has_norm.sum()),
                "above_median": float(part["beats_median"].fillna(False).astype(bool).mean()),
                "gold": int((part["medal"] == "gold").sum()),
                "silver": int((part["medal"] == "silver").sum()),
                "bronze": int((part["medal"] == "bronze").sum()),
                "valid_rate": float(part["valid"].mean()),
                "cost_usd": float(part["cost_usd"].astype(float).mean()),
                "cost_sem": sem(part["cost_usd"].astype(float).tolist()),
                "tokens": float(part["tokens"].mean()),
                "wall_min": float(part["wall_time_s"].astype(float).mean() / 60.0),
                "wall_sem": sem((part["wall_time_s"].astype(float) / 60.0).tolist()),
            }
        )
    return sorted(
        rows, key=lambda r: (-(r["percentile"] if not math.isnan(r["percentile"]) else -1), r["entrant"])
    )


def cells(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Entrant x challenge: mean, SEM and n of ``column`` over seeds, and how many runs were valid
    (a cell of failed runs only is drawn as failed, not as a score of 0)."""
    g = frame.groupby(["entrant", "challenge"])[column]
    out = g.agg(["mean", "count"]).reset_index()
    out["sem"] = [sem(v.astype(float).tolist()) for _, v in g]
    out["valid"] = frame.groupby(["entrant", "challenge"])["valid"].sum().astype(int).to_numpy()
    return out


def challenge_section(
    cid: str, part: pd.DataFrame, cohort: str, colours: dict[str, str] | None = None
) -> dict[str, Any]:
    ranked, directions, lb = _metric_info(cid)
    metric_cols = [c for c in part.columns if c.startswith("metric.") and part[c].notna().any()]
    names = [c.removeprefix("metric.") for c in metric_cols]
    table = []
    for entrant, g in part.groupby("entrant"):
        valid = g[g["valid"]]
        row: dict[str, Any] = {"entrant": entrant, "runs": len(g), "valid": len(valid)}
        for c, m in zip(metric_cols, names, strict=True):
            v = valid[c].astype(float).dropna().tolist()
            row[m] = (float(np.mean(v)) if v else math.nan, sem(v), len(v))
        row["percentile"] = (float(g["pct"].mean()), sem(g["pct"].tolist()), len(g))
        norm = g["norm"].dropna().tolist()
        row["normalized"] = (float(np.mean(norm)) if norm else math.nan, sem(norm), len(norm))
        table.append(row)
    ch = _challenge(cid)
    return {
        "id": cid,
        "title": ch.spec.title if ch else cid,
        "metrics": names,
        "directions": directions,
        "table": table,
        "anchor": f"{cohort}-{cid}",
        "figure": figures.human_distribution(
            f"dist-{cohort}-{cid}",
            part,
            lb,
            ranked,
            directions,
            colours or entrant_colours(part["entrant"].astype(str).tolist()),
        )
        if lb is not None
        else "",
        "n_humans": len(lb) if lb is not None else 0,
    }


def _tail(path: Path) -> str:
    return "\n".join(store.tail_lines(path, LOG_TAIL_LINES, LOG_TAIL_BYTES))


def _href(target: Path, page_dir: Path) -> str:
    """A link from the report (in ``page_dir``) to ``target``, relative so that a report kept
    next to its run folders still finds them when the whole tree moves."""
    rel = os.path.relpath(target.resolve(), page_dir.resolve())
    return urllib.parse.quote(Path(rel).as_posix()) + ("/" if target.is_dir() else "")


def run_views(frame: pd.DataFrame) -> dict[str, bool]:
    """Write each run's trajectory page (``view.html`` in its folder, as ``rexmle view`` does)
    so the report can link to it; a folder the reader may not write to keeps no page and the
    report links to the folder alone. Run id -> whether its page exists."""
    from rexmle.report import view as views

    written: dict[str, bool] = {}
    for run_id, folder in zip(frame["run_id"], frame["path"], strict=True):
        try:
            views.write(store.RunDir(Path(folder)))
            written[str(run_id)] = True
        except (OSError, RexmleError):
            written[str(run_id)] = False
    return written


def run_rows(frame: pd.DataFrame, page_dir: Path, views: dict[str, bool]) -> list[dict[str, Any]]:
    metric_cols = [c for c in frame.columns if c.startswith("metric.")]
    rows = []
    for _, r in frame.sort_values(["challenge", "entrant", "seed"]).iterrows():
        metrics = {c.removeprefix("metric."): float(r[c]) for c in metric_cols if not pd.isna(r[c])}
        rows.append(
            {
                **{k: r[k] for k in ("run_id", "challenge", "entrant", "seed", "state", "cohort", "runtime")},
                "valid": bool(r["valid"]),
                "reason": r["reason"] if isinstance(r["reason"], str) else "",
                "stopped": r["stopped"] if isinstance(r["stopped"], str) else "",
                "percentile": None if pd.isna(r["percentile"]) else float(r["percentile"]),
                "norm": None if pd.isna(r["norm"]) else float(r["norm"]),
                "medal": r["medal"] if isinstance(r["medal"], str) else "",
                "metrics": metrics,
                "cost_usd": float(r["cost_usd"]),
                "tokens_in": int(r["tokens_in"]),
                "tokens_out": int(r["tokens_out"]),
                "llm_calls": int(r["llm_calls"]),
                "wall_time_s": float(r["wall_time_s"]),
                "agent_time_s": float(r["agent_time_s"]),
                "log_tail": _tail(Path(r["path"]) / "agent.log"),
                "path": r["path"],
                "links": {
                    "view": _href(Path(r["path"]) / "view.html", page_dir) if views.get(r["run_id"]) else "",
                    "folder": _href(Path(r["path"]), page_dir),
                    "result": _href(Path(r["path"]) / "result.json", page_dir),
                    "log": _href(Path(r["path"]) / "agent.log", page_dir),
                },
            }
        )
    return rows


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _sort_key(value: Any) -> str:
    """data-sort attribute: numbers sort numerically, NaN/None last."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rexmle.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["sortkey"] = _sort_key
    return env.get_template("report.html.j2")


def build(folders: Sequence[Path], output: Path) -> ReportInfo:
    """Write the report for every finished run under ``folders`` to ``output``."""
    t0 = time.perf_counter()
    missing = [str(f) for f in folders if not f.exists()]
    if missing:
        raise NotFoundError(f"no such folder: {', '.join(missing)}")
    raw = store.index(list(folders))
    if raw.empty:
        raise NotFoundError(
            f"no finished runs under {', '.join(map(str, folders))} (a run is finished once it has result.json)"
        )
    frame = add_scores(raw)
    colours = entrant_colours(frame["entrant"].astype(str).tolist())
    cohorts = []
    for key, title in COHORTS.items():
        part = frame[frame["cohort"] == key]
        if part.empty:
            cohorts.append({"key": key, "title": title, "empty": True})
            continue
        cohorts.append(
            {
                "key": key,
                "title": title,
                "empty": False,
                "n_runs": len(part),
                "leaderboard": leaderboard(part),
                "heatmap": figures.heatmap(cells(part, "pct"), "mean percentile", f"heat-{key}", 0.0, 1.0),
                "heatmap_norm": figures.heatmap(
                    cells(part[part["norm"].notna()], "norm"),
                    "mean normalized score",
                    f"norm-{key}",
                    None,
                    None,
                    diverging=True,
                )
                if part["norm"].notna().any()
                else "",
                "challenges": [
                    challenge_section(str(cid), g, key, colours) for cid, g in part.groupby("challenge")
                ],
            }
        )
    page = _template().render(
        title="ReX-MLE report",
        version=__version__,
        generated=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        folders=[str(f) for f in folders],
        n_runs=len(frame),
        n_entrants=frame["entrant"].nunique(),
        n_challenges=frame["challenge"].nunique(),
        cohorts=cohorts,
        runs=run_rows(frame, output.parent, run_views(frame)),
        plotly_js=figures.plotly_js(),
        escape=html.escape,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(output)
    return ReportInfo(
        path=output,
        size_bytes=output.stat().st_size,
        n_runs=len(frame),
        n_agents=frame["entrant"].nunique(),
        seconds=time.perf_counter() - t0,
    )
