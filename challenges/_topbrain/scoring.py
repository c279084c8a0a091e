"""Per-case TopBrain scores and their aggregation, as the organisers define them
(CoWBenchmark/TopBrain_Eval_Metrics, ``score_case_task_1_seg.py`` and ``aggregate/``).

Per case, over the class set L = labels in the ground truth or the prediction
(rexmle.graders.multiclass): Dice, clDice *per class* (TopCoW uses the merged mask), Betti-0
error and symmetric HD95 (290 mm for a label on one side only), each averaged over L (all 0
when L is empty); the neighbour error of the prediction alone; and the detection outcome of
every side-road label at IoU >= 0.25. Aggregation: means over cases; ``f1_side_road`` = mean
over the side-road labels of F1 = 2TP / (2TP + FP + FN) from counts pooled over cases.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from rexmle.challenges._topbrain.labels import (
    HD95_MISSING_MM,
    IOU_THRESHOLD,
    SIDE_ROADS,
    Modality,
    valid_neighbours,
)
from rexmle.graders import (
    DetectionCounts,
    class_boxes,
    detection_outcome,
    invalid_neighbour_error,
    label_pair,
    score_case,
)

OUTCOMES = ("tp", "fp", "fn", "tn")


def segmentation_case(
    pred: npt.NDArray[np.integer],
    gt: npt.NDArray[np.integer],
    spacing_zyx: Sequence[float],
    modality: Modality,
) -> dict[str, float]:
    """One case. Arrays in SimpleITK's (z, y, x) order; spacing per array axis (mm)."""
    bp, bg = class_boxes(pred), class_boxes(gt)
    s = score_case(
        pred,
        gt,
        spacing=spacing_zyx,
        hd_missing=HD95_MISSING_MM,
        with_cldice=False,
        xyz_axes=(2, 1, 0),  # the organisers thin (x, y, z) arrays
        boxes_pred=bp,
        boxes_gt=bg,
        with_class_cldice=True,
    )
    row: dict[str, float] = {
        "dice": s.dice,
        "cldice": float(s.class_cldice or 0.0),
        "b0_error": s.b0_error,
        "hd95": s.hd95,
        "neighbor_error": invalid_neighbour_error(pred, valid_neighbours(modality), bp),
    }
    for label in SIDE_ROADS[modality]:
        outcome = detection_outcome(*label_pair(pred, gt, label, bp, bg), IOU_THRESHOLD)
        for o in OUTCOMES:
            row[f"det{label}_{o}"] = float(outcome == o)
    return row


def aggregate(rows: list[dict[str, float]], modality: Modality) -> dict[str, float]:
    """The pooled metric (the harness takes the means of the other five): ``f1_side_road``, the
    mean over the modality's side-road labels of the F1 from detection counts summed over cases."""
    out: dict[str, float] = {}
    f1 = []
    for label in SIDE_ROADS[modality]:
        c = DetectionCounts(**{o: int(sum(r[f"det{label}_{o}"] for r in rows)) for o in OUTCOMES})
        f1.append(c.f1)
    out["f1_side_road"] = float(np.mean(f1))
    return out
