"""DENTEX 2023 grader: COCO bbox AP/AR of the abnormal-tooth boxes, pooled over all test images,
once per label aspect (quadrant, enumeration, diagnosis), as the organisers' evaluation
container does (ibrahimethemhamamci/DENTEX, DentexChallenge-AlgorithmPhases-Evaluation-Docker).

Per aspect k the ground truth's ``category_id`` is its ``category_id_k`` and the declared
categories are its ``categories_k`` (0-based ids in the release); every detection is evaluated
with its own ``category_id_k``. Per aspect: AP (IoU .50:.95), AP50, AP75, AR (100 detections);
the ``*_mean`` metrics are the plain means over the three aspects.

A prediction file is a JSON list (or ``{"annotations": [...]}``) of detections
``{"bbox": [x, y, w, h], "category_id_1": q, "category_id_2": t, "category_id_3": d, "score": s}``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rexmle.graders.coco import coco_bbox_stats

from rexmle.challenge_api import InvalidSubmission, SubmissionFormat, load_json

FORMAT = SubmissionFormat(id_column="image_id", file_columns={"predictions_json": (".json",)})
ASPECTS = {"quadrant": 1, "enumeration": 2, "diagnosis": 3}
STATS = {"ap": "ap", "ap50": "ap50", "ap75": "ap75", "ar": "ar100"}
GT_NAME = "test_ground_truth.json"
MAX_BYTES = 8 * 1024 * 1024
MAX_DETECTIONS = 10_000
#: one detection: (x, y, w, h, category_id_1, category_id_2, category_id_3, score)
Detection = tuple[float, float, float, float, int, int, int, float]


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def parse_detections(obj: Any, what: str) -> list[Detection]:
    """Check the structure of one image's detections; returns small tuples."""
    if isinstance(obj, dict) and isinstance(obj.get("annotations"), list):
        obj = obj["annotations"]
    if not isinstance(obj, list):
        raise InvalidSubmission(f"{what}: expected a JSON list of detections, got {type(obj).__name__}")
    if len(obj) > MAX_DETECTIONS:
        raise InvalidSubmission(f"{what}: {len(obj)} detections (at most {MAX_DETECTIONS} per image)")
    out: list[Detection] = []
    for i, d in enumerate(obj):
        where = f"{what}: detection {i}"
        if not isinstance(d, dict):
            raise InvalidSubmission(f"{where} is not an object")
        bbox = d.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_number(v) for v in bbox)):
            raise InvalidSubmission(f"{where}: bbox must be 4 finite numbers [x, y, w, h], got {bbox!r}")
        if bbox[2] < 0 or bbox[3] < 0:
            raise InvalidSubmission(
                f"{where}: bbox width and height must be >= 0 ([x, y, w, h]), got {bbox!r}"
            )
        ids = []
        for k in (1, 2, 3):
            v = d.get(f"category_id_{k}")
            if not (isinstance(v, int) and not isinstance(v, bool)):
                raise InvalidSubmission(f"{where}: category_id_{k} must be an integer, got {v!r}")
            ids.append(v)
        score = d.get("score")
        if not _number(score):
            raise InvalidSubmission(f"{where}: score must be a finite number, got {score!r}")
        out.append((*(float(v) for v in bbox), ids[0], ids[1], ids[2], float(score)))  # type: ignore[arg-type]
    return out


def check_case(case_id: str, files: dict[str, Path], public_dir: Path) -> list[Detection]:
    """One image's detections, read within ``rexmle.safe_io.load_json``'s bounds (size,
    containers, values, integer digits, nesting)."""
    what = f"case {case_id}"
    return parse_detections(load_json(files["predictions_json"], what, MAX_BYTES), what)


def score_detections(gt: dict[str, Any], loaded: dict[str, list[Detection]]) -> dict[str, float]:
    """The 16 metrics of ``loaded`` (image stem -> detections) against the COCO ground truth."""
    by_stem = {Path(im["file_name"]).stem: im["id"] for im in gt["images"]}
    missing = sorted(set(loaded) - set(by_stem))
    if missing:
        raise InvalidSubmission(f"no ground truth for image(s) {', '.join(missing[:3])}")
    out: dict[str, float] = {}
    for aspect, k in ASPECTS.items():
        anns = [{**a, "category_id": a[f"category_id_{k}"]} for a in gt["annotations"]]
        dets = [
            {"image_id": by_stem[stem], "category_id": d[3 + k], "bbox": list(d[:4]), "score": d[7]}
            for stem, ds in loaded.items()
            for d in ds
        ]
        stats = coco_bbox_stats(gt["images"], anns, gt[f"categories_{k}"], dets)
        for m, s in STATS.items():
            out[f"{m}_{aspect}"] = stats[s]
    for m in STATS:
        out[f"{m}_mean"] = sum(out[f"{m}_{a}"] for a in ASPECTS) / len(ASPECTS)
    return out


def score_pooled(loaded: dict[str, list[Detection]], private_dir: Path) -> dict[str, float]:
    gt = json.loads((private_dir / GT_NAME).read_text())
    return score_detections(gt, loaded)
