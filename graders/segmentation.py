"""Binary segmentation metrics: overlap, volume and lesion-wise (connected-component) detection.

All functions take boolean-convertible arrays of identical shape (any non-zero voxel is
foreground) and never resample: shape agreement is the caller's contract and a mismatch
raises ``ValueError``. Conventions for empty masks follow the ISLES'22 official evaluation
(``ezequieldlrosa/isles22``, ``utils/eval_utils.py``), which several challenges reuse.

Implementation note: the lesion-wise counts are vectorised over component labels (one
``cc3d`` pass per mask and a ``bincount``), instead of one full-volume comparison per
component, and run on the bounding box of the union of both masks (lesions are sparse; a
component never crosses that box), so a 512x512x300 CT volume costs little more than its load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cc3d
import numpy as np
import numpy.typing as npt

Mask = npt.ArrayLike
Connectivity = Literal[4, 6, 8, 18, 26]


def _as_bool(a: Mask) -> npt.NDArray[np.bool_]:
    arr = np.asarray(a)
    return arr if arr.dtype == np.bool_ else arr != 0


def _pair(pred: Mask, gt: Mask) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    p, g = _as_bool(pred), _as_bool(gt)
    if p.shape != g.shape:
        raise ValueError(f"shape mismatch: prediction {p.shape} vs ground truth {g.shape}")
    return p, g


def dice(pred: Mask, gt: Mask, empty_value: float = 1.0) -> float:
    """Dice similarity coefficient.

    DSC = 2 |P ∩ G| / (|P| + |G|), in [0, 1]. When both masks are empty the ratio is 0/0
    and ``empty_value`` is returned (ISLES'22 official: 1.0, a correct "no lesion" call).
    Symmetric in its arguments.
    """
    p, g = _pair(pred, gt)
    denom = int(np.count_nonzero(p)) + int(np.count_nonzero(g))
    if denom == 0:
        return float(empty_value)
    return 2.0 * int(np.count_nonzero(p & g)) / denom


def abs_volume_difference_ml(pred: Mask, gt: Mask, voxel_volume_ml: float) -> float:
    """Absolute volume difference in millilitres.

    AVD = | |G| - |P| | * v, with v the volume of one voxel in ml (product of the voxel
    spacing in mm divided by 1000). 0 is perfect; unbounded above.
    """
    p, g = _pair(pred, gt)
    return abs(int(np.count_nonzero(g)) - int(np.count_nonzero(p))) * float(voxel_volume_ml)


def nonzero_indices(arr: npt.ArrayLike) -> npt.NDArray[np.intp]:
    """``np.argwhere(arr)`` (N x ndim, C order), fast when the foreground is sparse.

    Rows along the last axis are first tested with one reduction (about 20 ms for a 512x512x300
    volume), and only the rows holding foreground are searched: argwhere over the whole of such
    a volume takes 0.4 s on this machine even when it holds a few thousand vessel voxels.
    """
    a = np.asarray(arr)
    if a.ndim < 2:
        return np.argwhere(a)
    occupied = (
        a.any(axis=-1)
        if a.dtype == np.bool_
        else a.max(axis=-1) != 0
        if a.dtype.kind == "u"
        else (a != 0).any(axis=-1)
    )
    rows = np.argwhere(occupied)
    r, c = np.nonzero(a[tuple(rows.T)])
    return np.column_stack([rows[r], c]).astype(np.intp, copy=False)


def count_components(mask: Mask, connectivity: Connectivity = 26) -> int:
    """Number of connected components of the foreground (26-connectivity by default in 3-D)."""
    return _labels(_as_bool(mask), connectivity)[1]


@dataclass(frozen=True)
class LesionCounts:
    """Lesion-wise detection counts.

    tp: ground-truth components that overlap the prediction in at least one voxel.
    fn: ground-truth components with no overlap.
    fp: predicted components that overlap no ground-truth voxel.
    n_gt / n_pred: number of components in each mask.
    """

    tp: int
    fp: int
    fn: int
    n_gt: int
    n_pred: int


def _labels(mask: npt.NDArray[np.bool_], connectivity: Connectivity) -> tuple[npt.NDArray[np.integer], int]:
    """Component labels of a contiguous mask (same memory order as the mask) and their count."""
    if not mask.any():
        return np.zeros(mask.shape, dtype=np.uint8, order="F" if _fortran(mask) else "C"), 0
    labels, n = cc3d.connected_components(mask.view(np.uint8), connectivity=connectivity, return_N=True)
    return labels, int(n)


def _fortran(a: npt.NDArray[np.generic]) -> bool:
    """True when the first axis varies fastest in memory (NIfTI data loads this way)."""
    return a.ndim > 1 and abs(a.strides[0]) < abs(a.strides[-1])


def crop_to_union(
    pred: npt.NDArray[np.bool_], gt: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Views of both masks restricted to the bounding box of their union (empty if both are)."""
    union = pred | gt
    box = []
    for axis in range(union.ndim):
        other = tuple(a for a in range(union.ndim) if a != axis)
        hits = np.flatnonzero(union.any(axis=other))
        if hits.size == 0:
            return pred[(slice(0, 0),) * pred.ndim], gt[(slice(0, 0),) * gt.ndim]
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return pred[tuple(box)], gt[tuple(box)]


def lesion_counts(pred: Mask, gt: Mask, connectivity: Connectivity = 26) -> LesionCounts:
    """Connected-component matching between prediction and ground truth (see LesionCounts)."""
    p, g = crop_to_union(*_pair(pred, gt))
    # Copy the (small) crops keeping the source's memory order: converting NIfTI's column-major
    # data to C order costs more than the labelling. Then index through 1-D views, which is
    # consistent because masks and labels share that order.
    order: Literal["C", "F"] = "F" if _fortran(g) else "C"
    p, g = np.asarray(p, order=order), np.asarray(g, order=order)
    gt_labels, n_gt = _labels(g, connectivity)
    pred_labels, n_pred = _labels(p, connectivity)
    p1, g1 = p.ravel(order=order), g.ravel(order=order)
    # GT components hit by the prediction; predicted components that touch the GT.
    hit_gt = np.bincount(gt_labels.ravel(order=order)[p1], minlength=n_gt + 1)[1:] if n_gt else np.zeros(0)
    touching = (
        np.bincount(pred_labels.ravel(order=order)[g1], minlength=n_pred + 1)[1:] if n_pred else np.zeros(0)
    )
    tp = int(np.count_nonzero(hit_gt))
    fp = n_pred - int(np.count_nonzero(touching))
    return LesionCounts(tp=tp, fp=fp, fn=n_gt - tp, n_gt=n_gt, n_pred=n_pred)


def lesion_f1(pred: Mask, gt: Mask, empty_value: float = 1.0, connectivity: Connectivity = 26) -> float:
    """Lesion-wise F1 score.

    F1 = TP / (TP + (FP + FN) / 2) with TP, FP, FN from :func:`lesion_counts`. When there is
    nothing to count (no component in either mask) ``empty_value`` is returned (ISLES'22
    official: 1.0).
    """
    return lesion_counts_f1(lesion_counts(pred, gt, connectivity=connectivity), empty_value)


def lesion_counts_f1(c: LesionCounts, empty_value: float = 1.0) -> float:
    """F1 = TP / (TP + (FP + FN) / 2); ``empty_value`` when TP + FP + FN = 0."""
    if c.tp + c.fp + c.fn == 0:
        return float(empty_value)
    return c.tp / (c.tp + (c.fp + c.fn) / 2.0)


def lesion_count_difference(pred: Mask, gt: Mask, connectivity: Connectivity = 26) -> int:
    """Absolute difference in the number of connected components: | #G - #P |."""
    p, g = _pair(pred, gt)
    return abs(count_components(g, connectivity) - count_components(p, connectivity))


def smoothed_dice_from_counts(
    intersection: int, size_sum: int, eps: float = 1e-5, empty_value: float = 1.0
) -> float:
    """Dice from counts with an additive smoothing term (PUMA's per-case tissue Dice).

    DSC = (2 |P ∩ G| + eps) / (|P| + |G| + eps), where ``size_sum`` = |P| + |G|; when both
    masks are empty (``size_sum == 0``) ``empty_value`` is returned. With ``eps = 0`` this is
    :func:`dice` computed from counts.
    """
    if size_sum == 0:
        return float(empty_value)
    return (2.0 * intersection + eps) / (size_sum + eps)


def micro_dice(intersections: npt.ArrayLike, size_sums: npt.ArrayLike, eps: float = 1e-5) -> float:
    """Micro (pooled) Dice of one class over many cases, PUMA's official tissue metric.

    Sums the per-case counts first: I = sum_i |P_i ∩ G_i|, S = sum_i (|P_i| + |G_i|), then
    DSC = (2 I + eps) / (S + eps), and 0 when I == 0 (a class missed everywhere, predicted where
    it is absent, or absent from both prediction and ground truth scores 0). Equal to the Dice of
    the cases' masks concatenated into one image.
    """
    i = int(np.sum(np.asarray(intersections, dtype=np.int64)))
    s = int(np.sum(np.asarray(size_sums, dtype=np.int64)))
    if i == 0:
        return 0.0
    return (2.0 * i + eps) / (s + eps)


def jaccard(pred: Mask, gt: Mask, empty_value: float = 1.0) -> float:
    """Jaccard index (intersection over union).

    J = |P ∩ G| / |P ∪ G|, in [0, 1]; J = DSC / (2 - DSC) for the same pair. When both masks
    are empty the ratio is 0/0 and ``empty_value`` is returned (as :func:`dice` does). Symmetric
    in its arguments.
    """
    p, g = _pair(pred, gt)
    union = int(np.count_nonzero(p | g))
    if union == 0:
        return float(empty_value)
    return int(np.count_nonzero(p & g)) / union
