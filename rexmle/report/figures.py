"""The report's plots (plotly): each returns an HTML ``<div>`` that needs plotly.js on the page."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

#: No toolbar: it covered the charts' labels, and an offline page has nothing to send anywhere.
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": False}


@cache
def plotly_js() -> str:
    """The bundled plotly.min.js, inlined once per page so the report works offline."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path.read_text(encoding="utf-8")


def _div(fig: go.Figure, div_id: str) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG))


def _pm(mean: float, err: float, n: int) -> str:
    spread = "" if math.isnan(err) else f" ± {err:.3f} SEM"
    return f"{mean:.3f}{spread} (n={n})"


def heatmap(
    cells: pd.DataFrame,
    label: str,
    div_id: str,
    zmin: float | None,
    zmax: float | None,
    diverging: bool = False,
) -> str:
    """Entrant (rows) x challenge (columns), coloured by ``mean``; hover: mean ± SEM (n). A cell
    whose runs all failed is blank and says ``failed``; one with some failed runs says how many.
    ``diverging``: a red-white-blue scale centred on 0 (normalized scores: below 0 is worse than
    the dummy, and must not look like 0)."""
    if cells.empty:
        return ""
    entrants = sorted(cells["entrant"].unique())
    chals = sorted(cells["challenge"].unique())
    z = [[math.nan] * len(chals) for _ in entrants]
    text = [[""] * len(chals) for _ in entrants]
    shown = [[""] * len(chals) for _ in entrants]
    for _, c in cells.iterrows():
        i, j = entrants.index(c["entrant"]), chals.index(c["challenge"])
        n, n_valid = int(c["count"]), int(c.get("valid", c["count"]))
        if n_valid == 0:
            text[i][j], shown[i][j] = f"failed ({n} of {n})", "failed"
            continue
        z[i][j] = float(c["mean"])
        failed = f", {n - n_valid} of {n} failed (counted 0)" if n_valid < n else ""
        text[i][j] = _pm(float(c["mean"]), float(c["sem"]), n) + failed
        shown[i][j] = f"{float(c['mean']):.2f}" + ("*" if n_valid < n else "")
    scale: dict[str, object] = (
        {"colorscale": "RdBu", "zmid": 0.0}
        if diverging
        else {"colorscale": "Viridis", "zmin": zmin, "zmax": zmax}
    )
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=chals,
            y=entrants,
            # what a cell shows, and what its hover says: a heat map's texttemplate knows
            # %{text} but not %{customdata} (which drew "-" in every cell)
            text=shown,
            hovertext=text,
            texttemplate="%{text}",
            hovertemplate="%{y} on %{x}<br>" + label + ": %{hovertext}<extra></extra>",
            colorbar={"title": {"text": label}},
            **scale,
        )
    )
    for i, row in enumerate(shown):  # plotly draws no text where z is empty: say it in a label
        for j, cell in enumerate(row):
            if cell == "failed":
                fig.add_annotation(
                    x=chals[j], y=entrants[i], text="failed", showarrow=False, font={"color": "#b00020"}
                )
    fig.update_layout(
        height=140 + 40 * len(entrants),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"side": "top"},
        yaxis={"autorange": "reversed"},
    )
    return _div(fig, div_id)


def human_distribution(
    div_id: str,
    runs: pd.DataFrame,
    leaderboard: pd.DataFrame,
    ranked: list[str],
    directions: dict[str, str],
    colours: dict[str, str],
) -> str:
    """One panel per ranked metric: the human entries (box + points) and each valid run placed
    on the same axis, coloured by entrant (``colours``: the page's one colour per entrant); the
    title says which way is better."""
    if not ranked:
        return ""
    fig = make_subplots(
        rows=len(ranked),
        cols=1,
        subplot_titles=[
            f"{m} ({'higher' if directions[m] == 'higher_better' else 'lower'} is better)" for m in ranked
        ],
        vertical_spacing=min(0.12, 0.5 / max(1, len(ranked))),
    )
    valid = runs[runs["valid"]]
    entrants = sorted(valid["entrant"].unique())
    for i, m in enumerate(ranked, start=1):
        teams = leaderboard.get("team", pd.Series([""] * len(leaderboard))).astype(str)
        fig.add_trace(
            go.Box(
                x=leaderboard[m].astype(float),
                name="humans",
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                marker={"color": "#999999", "size": 5},
                line={"color": "#777777"},
                text=teams,
                hovertemplate="human %{text}: %{x}<extra></extra>",
                showlegend=i == 1,
                legendgroup="humans",
                orientation="h",
            ),
            row=i,
            col=1,
        )
        col = f"metric.{m}"
        if col not in valid.columns:
            continue
        for entrant in entrants:
            part = valid[valid["entrant"] == entrant]
            fig.add_trace(
                go.Scatter(
                    x=part[col].astype(float),
                    y=[entrant] * len(part),
                    mode="markers",
                    name=entrant,
                    marker={"color": colours.get(entrant, "#000000"), "size": 10, "symbol": "diamond"},
                    text=[f"{r} (seed {s})" for r, s in zip(part["run_id"], part["seed"], strict=True)],
                    hovertemplate="%{text}: %{x}<extra></extra>",
                    legendgroup=entrant,
                    showlegend=i == 1,
                ),
                row=i,
                col=1,
            )
    fig.update_layout(
        height=160 + 150 * len(ranked),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.05},
    )
    return _div(fig, div_id)
