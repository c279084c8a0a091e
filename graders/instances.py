"""Instance-segmentation cell F1, as the NeurIPS 2022 Cell Segmentation Challenge scores it.

The definition is that of ``baseline/compute_metric.py`` of github.com/JunMa11/NeurIPS-CellSeg
(itself adapted from StarDist's ``matching.py``), re-implemented so that one overlap table per
image serves every IoU threshold:

1. Boundary cells: every instance with a pixel in the outer 2-pixel frame of the image is set to
   background, in the ground truth and in the prediction, and the remaining labels are renumbered
   1..n (``n_true``, ``n_pred`` instances).
2. ``IoU(g, p) = |g ∩ p| / (|g| + |p| - |g ∩ p|)`` for every pair that shares a pixel (pairs that
   share none have IoU 0 and can never count).
3. At threshold ``t`` the official code solves the assignment ``linear_sum_assignment`` on
   ``-(IoU >= t) - IoU / (2 min(n_true, n_pred))``; the second term sums to at most 1/2, so the
   optimum first maximises the number of matched pairs with ``IoU >= t`` and ``TP`` = that
   number: the size of a maximum matching in the graph of pairs with ``IoU >= t``. For
   ``t >= 0.5`` that graph has no node of degree above 2 (two halves of a cell, each with IoU
   exactly 0.5, is the only way), and we solve it exactly with a sparse maximum matching.
   ``FP = n_pred - TP``, ``FN = n_true - TP``; with no predicted instance the official code sets
   ``TP = FP = FN = 0``.
4. Images of ``H * W >= 25e6`` pixels are zero-padded to multiples of 2000 and cut into
   2000 x 2000 tiles; each tile gets step 1-3 on its own (so cells cut by a tile edge are
   boundary cells of their tile) and the tiles' TP and instance counts are summed.
5. ``precision = TP / n_pred``, ``recall = TP / n_true``, ``F1 = 2PR / (P + R)``; if ``TP == 0``
   then precision = recall = F1 = 0 (also when both images are empty). The official per-image
   table rounds F1 to 4 decimals (``np.round(f1, 4)``) and the challenge's score is the mean of
   those rounded values over images; :func:`cell_f1` returns the rounded value by default.

Labels must be non-negative integers. Speed: one ``bincount`` per image for the label sizes, one
for the overlaps (or ``unique`` when the label ranges are large), never a dense IoU matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)
BORDER = 2
TILE = 2000
LARGE_IMAGE_PIXELS = 25_000_000


@dataclass(frozen=True)
class MatchCounts:
    """Instance counts of one image (or tile), and TP per threshold."""

    n_true: int
    n_pred: int
    tp: tuple[int, ...]

    def __add__(self, other: MatchCounts) -> MatchCounts:
        return MatchCounts(
            self.n_true + other.n_true,
            self.n_pred + other.n_pred,
            tuple(a + b for a, b in zip(self.tp, other.tp, strict=True)),
        )


def _relabel_without_border(
    mask: npt.NDArray[np.integer], border: int = BORDER
) -> tuple[npt.NDArray[np.int32], int]:
    """Labels -> 0..n with every instance touching the ``border``-pixel frame removed; also n.

    Sequential in the order of the old label values, as ``skimage.segmentation.relabel_sequential``.
    """
    h, w = mask.shape
    frame = np.concatenate(
        [
            mask[:border].ravel(),
            mask[h - border :].ravel(),
            mask[:, :border].ravel(),
            mask[:, w - border :].ravel(),
        ]
    )
    flat = mask.ravel()
    top = int(flat.max()) if flat.size else 0
    if top <= 4 * flat.size + 65536:  # dense look-up table
        present = np.bincount(flat, minlength=top + 1) > 0
        present[0] = False
        present[frame] = False
        lut = np.zeros(top + 1, dtype=np.int32)
        n = int(present.sum())
        lut[present] = np.arange(1, n + 1)
        return lut[mask], n
    values, inverse = np.unique(flat, return_inverse=True)
    keep = (values != 0) & ~np.isin(values, frame)
    n = int(keep.sum())
    lut = np.zeros(values.size, dtype=np.int32)
    lut[keep] = np.arange(1, n + 1)
    return lut[inverse].reshape(mask.shape), n


def _matches(rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64], n_true: int, n_pred: int) -> int:
    """Size of a maximum matching in the bipartite graph with edges (rows[k], cols[k])."""
    if rows.size == 0:
        return 0
    if np.unique(rows).size == rows.size and np.unique(cols).size == cols.size:
        return int(rows.size)  # every node has degree <= 1: each edge is its own match
    graph = csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_true, n_pred))
    return int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum())


def tile_counts(
    true: npt.NDArray[np.integer],
    pred: npt.NDArray[np.integer],
    thresholds: Sequence[float] = THRESHOLDS,
    remove_border: bool = True,
) -> MatchCounts:
    """Steps 1-3 of the module docstring on one image (or tile) of the same shape."""
    if remove_border:
        g, n_true = _relabel_without_border(true)
        p, n_pred = _relabel_without_border(pred)
    else:
        g, n_true = _relabel_without_border(true, 0)
        p, n_pred = _relabel_without_border(pred, 0)
    zero = tuple(0 for _ in thresholds)
    if n_pred == 0 or n_true == 0:
        return MatchCounts(n_true, n_pred, zero)
    gf, pf = g.ravel(), p.ravel()
    size_true = np.bincount(gf, minlength=n_true + 1)
    size_pred = np.bincount(pf, minlength=n_pred + 1)
    both = (gf > 0) & (pf > 0)
    key = gf[both].astype(np.int64) * (n_pred + 1) + pf[both]
    if (n_true + 1) * (n_pred + 1) <= 4 * gf.size + 65536:
        table = np.bincount(key, minlength=(n_true + 1) * (n_pred + 1))
        keys = np.flatnonzero(table)
        inter = table[keys]
    else:
        keys, inter = np.unique(key, return_counts=True)
    gi, pi = np.divmod(keys, n_pred + 1)
    iou = inter / (size_true[gi] + size_pred[pi] - inter)
    tp = []
    for t in thresholds:
        ok = iou >= t
        tp.append(_matches(gi[ok] - 1, pi[ok] - 1, n_true, n_pred))
    return MatchCounts(n_true, n_pred, tuple(tp))


def image_counts(
    true: npt.NDArray[np.integer],
    pred: npt.NDArray[np.integer],
    thresholds: Sequence[float] = THRESHOLDS,
    remove_border: bool = True,
) -> MatchCounts:
    """MatchCounts of one image, tiled as the official code does when it has >= 25e6 pixels."""
    if true.shape != pred.shape or true.ndim != 2:
        raise ValueError(f"need two 2-D label images of one shape, got {true.shape} and {pred.shape}")
    h, w = true.shape
    if h * w < LARGE_IMAGE_PIXELS:
        return tile_counts(true, pred, thresholds, remove_border)
    total = MatchCounts(0, 0, tuple(0 for _ in thresholds))
    for y in range(0, h, TILE):
        for x in range(0, w, TILE):
            gt_tile = np.zeros((TILE, TILE), dtype=true.dtype)
            pr_tile = np.zeros((TILE, TILE), dtype=pred.dtype)
            a, b = true[y : y + TILE, x : x + TILE], pred[y : y + TILE, x : x + TILE]
            if not (a.any() or b.any()):
                continue  # an empty tile counts nothing
            gt_tile[: a.shape[0], : a.shape[1]] = a
            pr_tile[: b.shape[0], : b.shape[1]] = b
            total = total + tile_counts(gt_tile, pr_tile, thresholds, remove_border)
    return total


def f1_at_thresholds(counts: MatchCounts, decimals: int | None = 4) -> tuple[float, ...]:
    """Per-threshold F1 with the official zero rule (``TP == 0`` -> 0) and rounding."""
    out = []
    for tp in counts.tp:
        if tp == 0:
            f1 = 0.0
        else:
            precision, recall = tp / counts.n_pred, tp / counts.n_true
            f1 = 2 * (precision * recall) / (precision + recall)
        out.append(float(np.round(f1, decimals)) if decimals is not None else f1)
    return tuple(out)


def cell_f1(
    true: npt.NDArray[np.integer],
    pred: npt.NDArray[np.integer],
    thresholds: Sequence[float] = THRESHOLDS,
    decimals: int | None = 4,
) -> dict[float, float]:
    """Per-image F1 at each IoU threshold (boundary cells removed, tiled if large, rounded)."""
    return dict(
        zip(thresholds, f1_at_thresholds(image_counts(true, pred, thresholds), decimals), strict=True)
    )
