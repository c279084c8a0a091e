"""Placing a submission among a challenge's human leaderboard (ReX-MLE mean-position method).

For each ranked metric m with direction d, the submission's position is
    pos_m = 1 + #{ leaderboard rows strictly better than the submission on m },
i.e. its ``rank(method="min")`` among the N human rows plus itself, ties sharing the best
place. Raw submission values are compared with the leaderboard's stored (rounded) values.
    mean_position = mean_m pos_m                      (lower is better)
    percentile    = 1 - (mean_position - 1) / N       (1.0 = first everywhere, 0.0 = last)
Medals use the leaderboard's stored mean positions as thresholds: gold <= row 1, silver
<= row 2, bronze <= row 3, above_median <= the row at index N // 2 (0-based, sorted).
We also report ``beats_share``: the share of human rows whose stored mean_position is
strictly worse than the submission's, a plain "fraction of humans beaten" reading.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict

Direction = Literal["higher_better", "lower_better"]
#: Columns that describe an entry rather than score it (`source`: where the row was taken from).
NON_METRIC = {"rank", "team", "mean_position", "source"}


class RankResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    positions: dict[str, int]
    mean_position: float
    percentile: float
    rank: int
    n_entries: int
    medal: Literal["gold", "silver", "bronze"] | None
    above_median: bool
    beats_share: float


def leaderboard_metrics(leaderboard: pd.DataFrame) -> list[str]:
    return [c for c in leaderboard.columns if c not in NON_METRIC and not c.endswith("_position")]


def rank_against(
    metrics: Mapping[str, float], leaderboard: pd.DataFrame, directions: Mapping[str, Direction]
) -> RankResult:
    """Rank ``metrics`` (aggregate values) against ``leaderboard`` (one row per human entry)."""
    ranked = [m for m in leaderboard_metrics(leaderboard) if m in metrics and m in directions]
    if not ranked:
        raise ValueError("no metric is shared by the submission and the leaderboard")
    n = len(leaderboard)
    positions: dict[str, int] = {}
    for m in ranked:
        value = float(metrics[m])
        column = leaderboard[m].astype(float)
        if math.isnan(value):
            better = n  # a NaN ranks last
        elif directions[m] == "higher_better":
            better = int((column > value).sum())
        else:
            better = int((column < value).sum())
        positions[m] = 1 + better
    mean_position = sum(positions.values()) / len(positions)
    percentile = 1.0 - (mean_position - 1.0) / n
    stored = sorted(leaderboard["mean_position"].astype(float).tolist())
    medal: Literal["gold", "silver", "bronze"] | None = None
    for name, idx in (("gold", 0), ("silver", 1), ("bronze", 2)):
        if idx < n and mean_position <= stored[idx]:
            medal = name  # type: ignore[assignment]
            break
    above_median = mean_position <= stored[n // 2]
    rank = 1 + sum(1 for s in stored if s < mean_position)
    beats = sum(1 for s in stored if s > mean_position) / n
    return RankResult(
        positions=positions,
        mean_position=mean_position,
        percentile=percentile,
        rank=rank,
        n_entries=n,
        medal=medal,
        above_median=above_median,
        beats_share=beats,
    )
