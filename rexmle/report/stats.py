"""The numbers a report compares agents by: pure functions over arrays, formulas in docstrings."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

Direction = str  # "higher_better" | "lower_better"


def sem(values: Sequence[float]) -> float:
    """Standard error of the mean, ``s / sqrt(n)`` with the sample standard deviation
    (``ddof=1``); NaN for fewer than two values (one seed has no error estimate)."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if x.size < 2:
        return math.nan
    return float(x.std(ddof=1) / math.sqrt(x.size))


def hierarchical_bootstrap_ci(
    groups: Sequence[Sequence[float]], n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean over groups of the group means, with a percentile bootstrap interval.

    ``groups`` are the seeds of one entrant on each challenge. Each replicate draws the
    challenges with replacement and then, inside each drawn challenge, its seeds with
    replacement, and takes the mean of the per-challenge means. The interval therefore
    covers both sources of variation the issue names (which challenges, which seeds). With a
    single challenge it reduces to a bootstrap over seeds. Returns (mean, low, high); NaN
    bounds when there is nothing to resample (one value in all).
    """
    cleaned = [np.asarray([v for v in g if not math.isnan(v)], dtype=float) for g in groups]
    cleaned = [g for g in cleaned if g.size]
    if not cleaned:
        return math.nan, math.nan, math.nan
    point = float(np.mean([g.mean() for g in cleaned]))
    if sum(g.size for g in cleaned) < 2:
        return point, math.nan, math.nan
    rng = np.random.default_rng(seed)
    # per challenge: n_boot resampled seed means (n_boot x C), then resample challenges
    inner = np.stack(
        [rng.choice(g, size=(n_boot, g.size), replace=True).mean(axis=1) for g in cleaned], axis=1
    )
    pick = rng.integers(0, len(cleaned), size=(n_boot, len(cleaned)))
    reps = np.take_along_axis(inner, pick, axis=1).mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(reps, [alpha, 1.0 - alpha])
    return point, float(low), float(high)


def best_human(values: Sequence[float], direction: Direction) -> float:
    """The best leaderboard value of one metric: max if higher is better, else min."""
    x = np.asarray(values, dtype=float)
    return float(np.nanmax(x) if direction == "higher_better" else np.nanmin(x))


def normalized_score(
    metrics: Mapping[str, float],
    dummy: Mapping[str, float],
    best: Mapping[str, float],
) -> float:
    """Where a run sits between the ``dummy`` agent (0) and the best human entry (1).

    For each ranked metric m shared by the three,
        s_m = (v_m - d_m) / (h_m - d_m)
    with v the run's value, d the dummy agent's (mean over its seeds) and h the best human
    value on the challenge's leaderboard. The score is the mean of s_m over the metrics. The
    same formula serves both directions: for a lower-is-better metric numerator and
    denominator both change sign. It is not clipped: below 0 is worse than submitting the
    sample, above 1 beats the best human. A metric where h_m == d_m says nothing and is
    skipped; NaN when no metric remains.
    """
    parts = []
    for m, v in metrics.items():
        if m not in dummy or m not in best:
            continue
        d, h = float(dummy[m]), float(best[m])
        if math.isnan(v) or math.isnan(d) or math.isnan(h) or math.isclose(h, d, rel_tol=0, abs_tol=1e-12):
            continue
        parts.append((float(v) - d) / (h - d))
    return float(np.mean(parts)) if parts else math.nan
