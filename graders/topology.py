"""Vessel-topology metrics: clDice, Betti-0 errors, detection F1 and variant-balanced accuracy.

Definitions follow the TopCoW/TopBrain organisers' evaluation (CoWBenchmark/TopCoW_Eval_Metrics:
``clDice.py``, ``cls_avg_b0.py``, ``detection_grp2_labels.py``, ``aggregate_all_*``).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import cc3d
import numpy as np
import numpy.typing as npt
from rexmle.graders.segmentation import Mask, _as_bool, _pair, count_components, nonzero_indices
from rexmle.graders.surface import Region, enclosing_region, neighbour_values, union_box


def skeleton(mask: npt.NDArray[np.bool_], axes: Sequence[int] | None = None) -> npt.NDArray[np.bool_]:
    """Lee's thinning (``skimage.morphology.skeletonize``; 2-D or 3-D), same shape as ``mask``.

    Thinning is not invariant to axis order: the organisers skeletonise arrays in (x, y, z)
    order (``GetArrayFromImage(...).transpose(2, 1, 0)``), so callers holding SimpleITK's
    (z, y, x) arrays pass ``axes=(2, 1, 0)``: the thinning runs on the transposed array and the
    skeleton comes back in the caller's order.

    Each 26-connected (8 in 2-D) component is thinned alone, on its own bounding box padded
    with one background voxel. That is the same skeleton as thinning the whole mask: a deletion
    test only reads a voxel's 3x3x3 neighbourhood, which never holds another component's voxel,
    and each component runs to its own fixed point whatever the others do. It is much faster,
    because skimage scans its whole input on every one of its passes: a vessel tree spread over
    a CTA has a large box, its separate pieces small ones.
    """
    from skimage.morphology import skeletonize

    out = np.zeros(mask.shape, dtype=bool)
    if not mask.any():
        return out
    labels = cc3d.connected_components(
        np.ascontiguousarray(mask, dtype=np.uint8), connectivity=26 if mask.ndim == 3 else 8
    )
    inverse = None if axes is None else tuple(int(i) for i in np.argsort(axes))
    # each component's box from its voxels' coordinates (a scan of the labels costs more)
    idx = nonzero_indices(labels)
    for i, box in zip(*_boxes_of(idx, labels[tuple(idx.T)].astype(np.intp)), strict=True):
        piece = np.pad(labels[box] == i, 1)
        if axes is not None and inverse is not None:
            thin = np.transpose(np.asarray(skeletonize(np.transpose(piece, axes)), dtype=bool), inverse)
        else:
            thin = np.asarray(skeletonize(piece), dtype=bool)
        out[box] |= thin[(slice(1, -1),) * mask.ndim]
    return out


def cldice(
    pred: Mask,
    gt: Mask,
    regions: Sequence[tuple[slice, ...]] | None = None,
    axes: Sequence[int] | None = None,
) -> float:
    """Centerline Dice of two binary vessel masks.

        tprec = |skel(P) ∩ G| / |skel(P)|,  tsens = |skel(G) ∩ P| / |skel(G)|
        clDice = 2 * tprec * tsens / (tprec + tsens)   (0 when both are 0)

    Each ratio is 0 when its skeleton is empty. ``axes``: the transpose the thinning runs in
    (see :func:`skeleton`). ``regions``: boxes that together hold every foreground voxel of
    both masks and are at least one voxel apart, so that nothing outside them is scanned (a
    stray label in a corner would otherwise make the union's box most of the volume).
    Default: the union's bounding box.
    """
    p_all, g_all = _pair(pred, gt)
    if regions is None:
        box = union_box(p_all, g_all)
        regions = [] if box is None else [box]
    hits_p = n_p = hits_g = n_g = 0
    for region in regions:
        p, g = p_all[region], g_all[region]
        sp, sg = skeleton(p, axes), skeleton(g, axes)
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


# ---------------------------------------------------------------- label adjacency and topology


Boxes = Mapping[int, Region]


def class_boxes(label_map: npt.NDArray[np.integer]) -> dict[int, Region]:
    """Bounding box of every non-zero label, in one pass over the volume.

    Every per-label function here takes these boxes (``boxes=``) so that a case is scanned once
    per label map, not once per label and metric: on a 512x512x300 CTA one full-volume
    comparison costs about 50 ms, and a TopCoW case asks dozens of them.
    """
    a = np.asarray(label_map)
    if a.dtype.kind not in "ui":
        raise ValueError(f"a label map must hold integers, not {a.dtype}")
    idx = nonzero_indices(a)
    values = a[tuple(idx.T)].astype(np.intp)
    keep = values > 0
    return {int(k): box for k, box in zip(*_boxes_of(idx[keep], values[keep]), strict=True)}


def _boxes_of(
    idx: npt.NDArray[np.intp], ids: npt.NDArray[np.intp]
) -> tuple[list[int], list[tuple[slice, ...]]]:
    """Bounding boxes of the index rows ``idx`` grouped by ``ids`` (sorted ids, their boxes)."""
    if idx.size == 0:
        return [], []
    uniq, inv = np.unique(ids, return_inverse=True)
    lo = np.full((len(uniq), idx.shape[1]), np.iinfo(np.intp).max, dtype=np.intp)
    hi = np.full((len(uniq), idx.shape[1]), -1, dtype=np.intp)
    np.minimum.at(lo, inv, idx)
    np.maximum.at(hi, inv, idx)
    boxes = [
        tuple(slice(int(a), int(b) + 1) for a, b in zip(lo[k], hi[k], strict=True)) for k in range(len(uniq))
    ]
    return [int(u) for u in uniq], boxes


def label_box(label_map: npt.NDArray[np.integer], label: int, boxes: Boxes | None = None) -> Region | None:
    """The label's bounding box; None if absent. ``boxes``: :func:`class_boxes` of the map."""
    from scipy import ndimage

    if boxes is not None:
        return boxes.get(label)
    mask = np.asarray(label_map) == label
    return ndimage.find_objects(mask.view(np.uint8))[0] if mask.any() else None


def neighbour_labels(
    label_map: npt.NDArray[np.integer], label: int, box: Sequence[slice] | None = None
) -> list[int]:
    """Sorted non-zero labels other than ``label`` found in the full (26 / 8) neighbourhood of
    ``label``'s voxels, as TopCoW's ``utils_neighborhood`` finds them; [] if the label is absent.

    ``box``: the label's bounding box if known (saves a pass over the volume). The neighbours
    are read voxel by voxel (no dilation of the box), so the cost follows the label's size.
    """
    a = np.asarray(label_map)
    if box is None:
        box = label_box(a, label)
        if box is None:
            return []
    grown = enclosing_region(a.shape, [box], pad=1)
    assert grown is not None
    region = a[grown]
    idx = nonzero_indices(region == label)
    if idx.size == 0:
        return []
    found = {int(v) for v in np.unique(neighbour_values(region, idx, 0))}
    return sorted(found - {0, label})


def invalid_neighbour_error(
    label_map: npt.NDArray[np.integer], valid: Mapping[int, Iterable[int]], boxes: Boxes | None = None
) -> float:
    """TopBrain's neighbour error of one predicted map (``cls_avg_invalid_neighbors.py``):

        NbErr = mean over the labels L present in the map of |N(L) \\ V(L)|

    with N(L) the labels 26-adjacent to L (:func:`neighbour_labels`) and V(L) the labels that
    may touch L anatomically (the organisers' table). It reads the prediction only; 0 for an
    empty map. A label missing from ``valid`` is a ``KeyError``: callers validate labels first.
    """
    a = np.asarray(label_map)
    boxes = class_boxes(a) if boxes is None else boxes
    if not boxes:
        return 0.0
    errors = [len(set(neighbour_labels(a, lab, box)) - set(valid[lab])) for lab, box in sorted(boxes.items())]
    return float(np.mean(errors))


def touches(label_map: npt.NDArray[np.integer], a: int, b: int, box: Sequence[slice] | None = None) -> bool:
    """Whether some voxel of label ``a`` has a voxel of label ``b`` among its 26 neighbours."""
    return b in neighbour_labels(label_map, a, box)


def median_coordinate(
    label_map: npt.NDArray[np.integer], label: int, axis: int, boxes: Boxes | None = None
) -> float | None:
    """Median index along ``axis`` of the label's voxels; None if the label is absent."""
    a = np.asarray(label_map)
    box = label_box(a, label, boxes) if boxes is not None else tuple(slice(0, n) for n in a.shape)
    if box is None:
        return None
    idx = nonzero_indices(a[box] == label)[:, axis]
    return float(np.median(idx)) + box[axis].start if idx.size else None


def left_right_flipped(
    label_map: npt.NDArray[np.integer], left: int, right: int, x_axis: int, boxes: Boxes | None = None
) -> bool | None:
    """TopCoW's flip test: in LPS+ images the left structure lies at larger x, so the map is
    flipped when median_x(left) < median_x(right). None when either label is absent."""
    lx = median_coordinate(label_map, left, x_axis, boxes)
    rx = median_coordinate(label_map, right, x_axis, boxes)
    if lx is None or rx is None:
        return None
    return lx < rx


def label_pair(
    pred: npt.NDArray[np.integer],
    gt: npt.NDArray[np.integer],
    label: int,
    boxes_pred: Boxes | None = None,
    boxes_gt: Boxes | None = None,
    pad: int = 0,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """``(pred == label, gt == label)`` on the union of the label's boxes on both sides (grown
    by ``pad``); on the whole volume without boxes. Both empty (0-sized) when the label is absent
    from both maps. Counts, IoU, components and neighbours are the same on the crop."""
    if boxes_pred is None or boxes_gt is None:
        return pred == label, gt == label
    box = enclosing_region(pred.shape, (boxes_pred.get(label), boxes_gt.get(label)), pad=pad)
    if box is None:
        box = (slice(0, 0),) * pred.ndim
    return pred[box] == label, gt[box] == label


def region_matches(
    pred: npt.NDArray[np.integer],
    gt: npt.NDArray[np.integer],
    labels: Iterable[int],
    threshold: float = 0.25,
    boxes_pred: Boxes | None = None,
    boxes_gt: Boxes | None = None,
) -> bool:
    """TopCoW topology matching of one region (anterior or posterior labels), without the
    left/right flip test: for every label, detection is a TP or TN at ``threshold``, the sorted
    neighbour-label lists are equal and the Betti-0 numbers are equal. ``boxes_*``:
    :func:`class_boxes` of each map, to work on each label's box instead of the volume."""
    for label in labels:
        p, g = label_pair(pred, gt, label, boxes_pred, boxes_gt)
        if detection_outcome(p, g, threshold) not in ("tp", "tn"):
            return False
        bp = label_box(pred, label, boxes_pred) if boxes_pred is not None else None
        bg = label_box(gt, label, boxes_gt) if boxes_gt is not None else None
        np_ = [] if boxes_pred is not None and bp is None else neighbour_labels(pred, label, bp)
        ng = [] if boxes_gt is not None and bg is None else neighbour_labels(gt, label, bg)
        if np_ != ng:
            return False
        if betti0(p) != betti0(g):
            return False
    return True


def variant_string(region: str, edges: Sequence[int]) -> str:
    """A CoW variant as TopCoW names it: ``Var_Ant_1_1_0_1`` from region "Ant" and its edge vector."""
    return f"Var_{region}_" + "_".join(str(int(e)) for e in edges)
