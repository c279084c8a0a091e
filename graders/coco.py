"""COCO bounding-box average precision and recall, pooled over a set of images (pycocotools).

The ground truth is a COCO dataset (``images``, ``annotations`` with ``bbox`` [x, y, w, h],
``category_id``, ``area``, ``iscrowd``, ``id``; ``categories``); the detections are
``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``. ``COCOeval(gt, dt, "bbox")``
evaluates every (image, category) of the ground truth's declared categories: detections
sorted by score (at most ``maxDets`` per image and category) are greedily matched to the
unmatched ground-truth box of highest IoU >= t, for t in 0.50:0.05:0.95; per category and t,

    precision(r) = max_{r' >= r} TP(r') / (TP(r') + FP(r')),   at the 101 recall points r = 0:0.01:1
    AP_c,t       = mean_r precision(r)            (0 at recall points never reached)
    AR_c,t       = the recall reached with all detections kept

and a statistic is the mean over categories that have ground truth (a category without any
ground-truth box has -1 entries, which are left out; -1 when no category has any):
``ap`` = mean over t of AP (stats[0]), ``ap50``/``ap75`` = AP at t = 0.5 / 0.75 (stats[1..2]),
``ar100`` = mean over t of AR with 100 detections per image (stats[8]); the other stats are
the small/medium/large and 1/10-detection variants of the standard summary.

Detections of a category not declared in the ground truth are never evaluated; a detection
without ground truth of its category in its image is a false positive. Boxes are used as
given ([x, y, w, h]; nothing guesses another corner convention). An empty detection list, which ``COCO.loadRes``
refuses, scores 0 wherever there is ground truth (the value COCOeval gives a category whose
detections were all false positives).
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

#: Names of ``COCOeval.stats`` in order (maxDets (1, 10, 100), areas all/small/medium/large).
STAT_NAMES = (
    "ap",
    "ap50",
    "ap75",
    "ap_small",
    "ap_medium",
    "ap_large",
    "ar1",
    "ar10",
    "ar100",
    "ar_small",
    "ar_medium",
    "ar_large",
)


def _coco(dataset: Mapping[str, Any]) -> COCO:
    coco = COCO()
    coco.dataset = dict(dataset)
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def coco_bbox_stats(
    images: Sequence[Mapping[str, Any]],
    annotations: Sequence[Mapping[str, Any]],
    categories: Sequence[Mapping[str, Any]],
    detections: Sequence[Mapping[str, Any]],
) -> dict[str, float]:
    """The 12 COCO bbox summary statistics (``STAT_NAMES``) of ``detections`` against the
    ground truth (``images``, ``annotations``, ``categories``), pooled over all images.

    Raises ``ValueError`` for a detection whose ``image_id`` is not a ground-truth image."""
    gt = _coco({"images": list(images), "annotations": list(annotations), "categories": list(categories)})
    known = set(gt.getImgIds())
    stray = sorted({d["image_id"] for d in detections} - known, key=str)
    if stray:
        raise ValueError(f"detections for image id(s) not in the ground truth: {stray[:3]}")
    dets = [
        {
            "image_id": d["image_id"],
            "category_id": d["category_id"],
            "bbox": [float(v) for v in d["bbox"]],
            "score": float(d["score"]),
        }
        for d in detections
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        if dets:
            dt = gt.loadRes(copy.deepcopy(dets))
        else:
            dt = _coco({"images": list(images), "annotations": [], "categories": list(categories)})
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = np.asarray(ev.stats, dtype=float)
    return {name: float(v) for name, v in zip(STAT_NAMES, stats, strict=True)}
