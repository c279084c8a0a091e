"""Correlation between predicted and reference scores (image-quality assessment).

For predictions ``p`` and reference scores ``t`` pooled over a test set (n >= 2):

    PLCC  = cov(p, t) / (sd(p) sd(t))                         Pearson, scipy.stats.pearsonr
    SROCC = PLCC of the ranks of p and of t (ties: mean rank) Spearman, scipy.stats.spearmanr
    KROCC = (C - D) / sqrt((C + D + T_p)(C + D + T_t))        Kendall tau-b, scipy.stats.kendalltau

with C / D the concordant / discordant pairs and T_p / T_t the pairs tied in p only / in t only
(tau-b, scipy's default, so ties in the reference scores, which come in steps of 0.2, are handled).

A coefficient is undefined when either side is constant (a zero standard deviation, or every
pair tied). Here it is then 0: a constant prediction carries no information about the order of
the images, and a grade must never be NaN. ``iqa_score`` is the LDCT-IQA challenge score,
``|PLCC| + |SROCC| + |KROCC|`` (in [0, 3]); the absolute values mean a predictor that ranks the
images exactly backwards scores as well as a perfect one, as the organisers defined it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import stats

ArrayLike = Sequence[float] | npt.NDArray[np.floating]


def _pair(pred: ArrayLike, truth: ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(truth, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"length mismatch: {p.size} predictions vs {t.size} reference scores")
    if p.size < 2:
        raise ValueError(f"a correlation needs at least 2 pairs, got {p.size}")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError("scores must be finite")
    return p, t


def _degenerate(p: npt.NDArray[np.float64], t: npt.NDArray[np.float64]) -> bool:
    """Either side constant: every coefficient is undefined (scipy would answer NaN), so 0."""
    return bool(np.ptp(p) == 0 or np.ptp(t) == 0)


def plcc(pred: ArrayLike, truth: ArrayLike) -> float:
    """Pearson linear correlation coefficient (signed); 0 if either side is constant."""
    p, t = _pair(pred, truth)
    if _degenerate(p, t):
        return 0.0
    return float(stats.pearsonr(p, t)[0])


def srocc(pred: ArrayLike, truth: ArrayLike) -> float:
    """Spearman rank-order correlation coefficient (signed, mean ranks for ties); 0 if constant."""
    p, t = _pair(pred, truth)
    if _degenerate(p, t):
        return 0.0
    return float(stats.spearmanr(p, t)[0])


def krocc(pred: ArrayLike, truth: ArrayLike) -> float:
    """Kendall rank-order correlation coefficient, tau-b (signed); 0 if either side is constant."""
    p, t = _pair(pred, truth)
    if _degenerate(p, t):
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.kendalltau(p, t, variant="b")[0])


def iqa_score(pred: ArrayLike, truth: ArrayLike) -> dict[str, float]:
    """LDCT-IQA's metrics: ``plcc``, ``srocc``, ``krocc`` as absolute values and ``score`` their sum."""
    out = {
        "plcc": abs(plcc(pred, truth)),
        "srocc": abs(srocc(pred, truth)),
        "krocc": abs(krocc(pred, truth)),
    }
    out["score"] = out["plcc"] + out["srocc"] + out["krocc"]
    return out
