"""Vessel-topology metrics: clDice, Betti-0 errors, detection F1 and variant-balanced accuracy.

Definitions follow the TopCoW/TopBrain organisers' evaluation (CoWBenchmark/TopCoW_Eval_Metrics:
``clDice.py``, ``cls_avg_b0.py``, ``detection_grp2_labels.py``, ``aggregate_all_*``).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from rexmle.graders.segmentation import Mask, _as_bool, _pair, count_components
from rexmle.graders.surface import union_box


def skeleton(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Lee's thinning (``skimage.morphology.skeletonize``; 2-D or 3-D).

    Thinning is not invariant to axis order: the organisers skeletonise arrays in (x, y, z)
    order (``GetArrayFromImage(...).transpose(2, 1, 0)``), so callers holding SimpleITK's
    (z, y, x) arrays must transpose first to match them.
    """
    from skimage.morphology import skeletonize

    return np.asarray(skeletonize(mask), dtype=bool)


def cldice(
    pred: Mask,
    gt: Mask,
    regions: Sequence[tuple[slice, ...]] | None = None,
    axes: Sequence[int] | None = None,
) -> float:
    """Centerline Dice of two binary vessel masks.

        tprec = |skel(P) ∩ G| / |skel(P)|,  tsens = |skel(G) ∩ P| / |skel(G)|
        clDice = 2 * tprec * tsens / (tprec + tsens)   (0 when both are 0)

    Each ratio is 0 when its skeleton is empty. ``axes``: a transpose applied before thinning
    (see :func:`skeleton`). ``regions``: boxes that together hold every foreground voxel of
    both masks and are at least one voxel apart. Thinning only looks at a voxel's 26
    neighbours, so separated parts are thinned independently and the sums over regions equal
    the sums over the whole volume; the cost then follows the regions, not the box spanning
    them (a stray label in a corner would otherwise make it most of the volume). Default:
    the union's bounding box.
    """
    p_all, g_all = _pair(pred, gt)
    if regions is None:
        box = union_box(p_all, g_all)
        regions = [] if box is None else [box]
    hits_p = n_p = hits_g = n_g = 0
    for region in regions:
        p, g = np.pad(p_all[region], 1), np.pad(g_all[region], 1)
        if axes is not None:
            p, g = np.transpose(p, axes), np.transpose(g, axes)
        sp, sg = skeleton(p), skeleton(g)
        hits_p += int(np.logical_and(sp, g).sum())
        n_p += int(sp.sum())
        hits_g += int(np.logical_and(sg, p).sum())
        n_g += int(sg.sum())
    tprec = hits_p / n_p if n_p else 0.0
    tsens = hits_g / n_g if n_g else 0.0
    return 2.0 * tprec * tsens / (tprec + tsens) if tprec + tsens > 0 else 0.0


def betti0(mask: Mask) -> int:
    """Betti-0: the number of 26-connected (8 in 2-D) foreground components; 0 for an empty mask."""
    m = _as_bool(mask)
    return count_components(m, 26 if m.ndim == 3 else 8) if m.any() else 0


def betti0_error(pred: Mask, gt: Mask) -> int:
    """|b0(P) - b0(G)|. A label missing on one side has b0 = 0 there."""
    return abs(betti0(pred) - betti0(gt))


@dataclass
class DetectionCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    @property
    def f1(self) -> float:
        """2TP / (2TP + FP + FN); 0 when TP + FP + FN = 0 (a label never present scores 0)."""
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else 0.0


def iou(pred: Mask, gt: Mask) -> float:
    """Voxel-count Jaccard |P ∩ G| / |P ∪ G|; 0 when either mask is empty."""
    p, g = _pair(pred, gt)
    if not p.any() or not g.any():
        return 0.0
    return float(np.logical_and(p, g).sum() / np.logical_or(p, g).sum())


def detection_outcome(pred: Mask, gt: Mask, threshold: float = 0.25) -> str:
    """One label in one case: in GT -> "tp" if IoU >= threshold else "fn"; not in GT ->
    "fp" if in the prediction else "tn"."""
    p, g = _pair(pred, gt)
    if g.any():
        return "tp" if iou(p, g) >= threshold else "fn"
    return "fp" if p.any() else "tn"


def balanced_accuracy(y_true: Sequence[Hashable], y_pred: Sequence[Hashable]) -> float:
    """Mean over the classes present in ``y_true`` of their recall (sklearn's
    ``balanced_accuracy_score`` without adjustment); classes only predicted are ignored.

        BA = (1 / |C|) * sum_{c in C} #{i: y_true_i = c and y_pred_i = c} / #{i: y_true_i = c}
    """
    if len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred differ in length")
    if not y_true:
        return 0.0
    classes: dict[Hashable, list[int]] = {}
    for t, p in zip(y_true, y_pred, strict=True):
        hit_total = classes.setdefault(t, [0, 0])
        hit_total[0] += int(t == p)
        hit_total[1] += 1
    return float(np.mean([hit / total for hit, total in classes.values()]))


def labels_present(label_map: npt.NDArray[np.integer]) -> set[int]:
    """Non-zero labels in a label map (one counting pass for small unsigned labels, not a sort)."""
    a = np.asarray(label_map)
    if a.dtype.kind == "u" and a.dtype.itemsize <= 2:
        return {int(v) for v in np.flatnonzero(np.bincount(a.ravel())) if v != 0}
    return {int(v) for v in np.unique(a) if v != 0}


def union_labels(pred: npt.NDArray[np.integer], gt: npt.NDArray[np.integer]) -> list[int]:
    """The class set of a multiclass case: labels in the ground truth or the prediction."""
    return sorted(labels_present(pred) | labels_present(gt))


def mean_or(values: Iterable[float], empty: float = 0.0) -> float:
    vals = list(values)
    return float(np.mean(vals)) if vals else empty


# ---------------------------------------------------------------- label adjacency and topology


def _grow(box: Sequence[slice], shape: Sequence[int], by: int = 1) -> tuple[slice, ...]:
    return tuple(slice(max(0, s.start - by), min(n, s.stop + by)) for s, n in zip(box, shape, strict=True))


def label_box(label_map: npt.NDArray[np.integer], label: int) -> tuple[slice, ...] | None:
    """The label's bounding box; None if absent."""
    from scipy import ndimage

    mask = np.asarray(label_map) == label
    return ndimage.find_objects(mask.view(np.uint8))[0] if mask.any() else None


def neighbour_labels(
    label_map: npt.NDArray[np.integer], label: int, box: Sequence[slice] | None = None
) -> list[int]:
    """Sorted non-zero labels other than ``label`` found in the full (26 / 8) neighbourhood of
    ``label``'s voxels, as TopCoW's ``utils_neighborhood`` finds them; [] if the label is absent.

    ``box``: the label's bounding box if known (saves a pass over the volume).
    """
    from scipy import ndimage

    a = np.asarray(label_map)
    if box is None:
        box = label_box(a, label)
        if box is None:
            return []
    region = a[_grow(box, a.shape)]
    mask = region == label
    if not mask.any():
        return []
    ring = ndimage.binary_dilation(mask, structure=np.ones((3,) * a.ndim, dtype=bool)) & ~mask
    return sorted(int(v) for v in np.unique(region[ring]) if v != 0 and v != label)


def touches(label_map: npt.NDArray[np.integer], a: int, b: int, box: Sequence[slice] | None = None) -> bool:
    """Whether some voxel of label ``a`` has a voxel of label ``b`` among its 26 neighbours."""
    return b in neighbour_labels(label_map, a, box)


def median_coordinate(label_map: npt.NDArray[np.integer], label: int, axis: int) -> float | None:
    """Median index along ``axis`` of the label's voxels; None if the label is absent."""
    idx = np.nonzero(np.asarray(label_map) == label)[axis]
    return float(np.median(idx)) if idx.size else None


def left_right_flipped(label_map: npt.NDArray[np.integer], left: int, right: int, x_axis: int) -> bool | None:
    """TopCoW's flip test: in LPS+ images the left structure lies at larger x, so the map is
    flipped when median_x(left) < median_x(right). None when either label is absent."""
    lx, rx = median_coordinate(label_map, left, x_axis), median_coordinate(label_map, right, x_axis)
    if lx is None or rx is None:
        return None
    return lx < rx


def region_matches(
    pred: npt.NDArray[np.integer], gt: npt.NDArray[np.integer], labels: Iterable[int], threshold: float = 0.25
) -> bool:
    """TopCoW topology matching of one region (anterior or posterior labels), without the
    left/right flip test: for every label, detection is a TP or TN at ``threshold``, the sorted
    neighbour-label lists are equal and the Betti-0 numbers are equal."""
    for label in labels:
        p, g = pred == label, gt == label
        if detection_outcome(p, g, threshold) not in ("tp", "tn"):
            return False
        if neighbour_labels(pred, label) != neighbour_labels(gt, label):
            return False
        if betti0(p) != betti0(g):
            return False
    return True


def variant_string(region: str, edges: Sequence[int]) -> str:
    """A CoW variant as TopCoW names it: ``Var_Ant_1_1_0_1`` from region "Ant" and its edge vector."""
    return f"Var_{region}_" + "_".join(str(int(e)) for e in edges)
