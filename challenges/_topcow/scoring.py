"""Per-case scores and their aggregation for the three TopCoW tasks, as the organisers define them
(CoWBenchmark/TopCoW_Eval_Metrics). Per-case rows hold numbers only (the grading pool's
contract), so variants travel as integer codes and detections as 0/1 counts.

Task 1 (multiclass segmentation), per case over the union class set (rexmle.graders.multiclass):
Dice, HD95 (90 mm for a label on one side only), Betti-0 error; clDice on the merged mask;
Group-2 detection outcomes for labels 8, 9, 10, 15 at IoU >= 0.25; the anterior/posterior
variant edges read from each segmentation; and topology matching per region (detection TP/TN,
equal neighbour lists and Betti-0 for each region label, no left/right flip). Aggregation:
means over cases; ``f1_grp2`` = mean over the 4 labels of F1 from counts pooled over cases;
``*_graph_acc`` = variant-balanced accuracy of predicted vs ground-truth variants;
``*_topology`` = the same with a failed match counted as a wrong variant.

Task 2 (ROI box): boundary IoU (shell width ceil(0.2 * size) per axis) and IoU, means over cases.

Task 3 (variant edge lists): variant-balanced accuracy per region.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from rexmle.challenges._topcow.formats import (
    ANTERIOR_LABELS,
    GROUP2,
    POSTERIOR_LABELS,
    edges_from_segmentation,
    variant_code,
)
from rexmle.graders import (
    Box,
    DetectionCounts,
    balanced_accuracy,
    boundary_iou,
    box_iou,
    class_boxes,
    detection_outcome,
    label_pair,
    left_right_flipped,
    region_matches,
    score_case,
)
from rexmle.graders.topology import Boxes

HD95_MISSING_MM = 90.0
IOU_THRESHOLD = 0.25
FAIL = -1  # a variant code no real variant has
OUTCOMES = ("tp", "fp", "fn", "tn")


def _flipped(
    label_map: npt.NDArray[np.integer], pairs: Sequence[tuple[int, int]], x_axis: int, boxes: Boxes
) -> bool:
    """The organisers' flip test: the first (left, right) pair present in the map decides."""
    for left, right in pairs:
        verdict = left_right_flipped(label_map, left, right, x_axis, boxes)
        if verdict is not None:
            return verdict
    return False


def segmentation_case(
    pred: npt.NDArray[np.integer], gt: npt.NDArray[np.integer], spacing_zyx: Sequence[float]
) -> dict[str, float]:
    """Task 1, one case. Arrays in SimpleITK's (z, y, x) order; spacing per array axis (mm).

    Each label map is scanned once for its class boxes; every metric then works on the boxes
    of the labels it asks about."""
    bp, bg = class_boxes(pred), class_boxes(gt)
    s = score_case(
        pred,
        gt,
        spacing=spacing_zyx,
        hd_missing=HD95_MISSING_MM,
        xyz_axes=(2, 1, 0),
        boxes_pred=bp,
        boxes_gt=bg,
    )
    row: dict[str, float] = {
        "dice": s.dice,
        "cldice": float(s.cldice or 0.0),
        "b0_error": s.b0_error,
        "hd95": s.hd95,
    }
    for label in GROUP2:
        outcome = detection_outcome(*label_pair(pred, gt, label, bp, bg), IOU_THRESHOLD)
        for o in OUTCOMES:
            row[f"det{label}_{o}"] = float(outcome == o)
    (ant_p, pos_p), (ant_g, pos_g) = edges_from_segmentation(pred, bp), edges_from_segmentation(gt, bg)
    x_axis = 2
    ant_match = region_matches(pred, gt, ANTERIOR_LABELS, IOU_THRESHOLD, bp, bg) and not _flipped(
        pred, [(6, 4), (12, 11)], x_axis, bp
    )
    pos_match = region_matches(pred, gt, POSTERIOR_LABELS, IOU_THRESHOLD, bp, bg) and not _flipped(
        pred, [(3, 2)], x_axis, bp
    )
    row.update(
        ant_gt=variant_code(ant_g),
        ant_pred=variant_code(ant_p),
        ant_match=float(ant_match),
        pos_gt=variant_code(pos_g),
        pos_pred=variant_code(pos_p),
        pos_match=float(pos_match),
    )
    return row


def aggregate_segmentation(rows: list[dict[str, float]]) -> dict[str, float]:
    """Task 1's pooled metrics (the harness takes the means of dice, cldice, b0_error and hd95):
    the Group-2 detection F1 from the counts summed over cases, and the graph and topology
    balanced accuracies over every case's variant codes."""
    out: dict[str, float] = {}
    f1 = []
    for label in GROUP2:
        c = DetectionCounts(**{o: int(sum(r[f"det{label}_{o}"] for r in rows)) for o in OUTCOMES})
        f1.append(c.f1)
    out["f1_grp2"] = float(np.mean(f1))
    for region, name in (("ant", "anterior"), ("pos", "posterior")):
        truth = [int(r[f"{region}_gt"]) for r in rows]
        out[f"{name}_graph_acc"] = balanced_accuracy(truth, [int(r[f"{region}_pred"]) for r in rows])
        topo = [t if r[f"{region}_match"] else FAIL for t, r in zip(truth, rows, strict=True)]
        out[f"{name}_topology"] = balanced_accuracy(truth, topo)
    return out


def box_case(pred: Box, gt: Box) -> dict[str, float]:
    """Task 2, one case."""
    return {"boundary_iou": boundary_iou(pred, gt, 0.2), "iou": box_iou(pred, gt)}


def edges_case(
    pred: tuple[Sequence[int], Sequence[int]], gt: tuple[Sequence[int], Sequence[int]]
) -> dict[str, float]:
    """Task 3, one case: the variant codes of both regions on both sides."""
    return {
        "ant_gt": variant_code(tuple(gt[0])),
        "ant_pred": variant_code(tuple(pred[0])),
        "pos_gt": variant_code(tuple(gt[1])),
        "pos_pred": variant_code(tuple(pred[1])),
    }


def aggregate_edges(rows: list[dict[str, float]]) -> dict[str, float]:
    return {
        f"{name}_acc": balanced_accuracy(
            [int(r[f"{k}_gt"]) for r in rows], [int(r[f"{k}_pred"]) for r in rows]
        )
        for k, name in (("ant", "anterior"), ("pos", "posterior"))
    }
