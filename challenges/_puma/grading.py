"""The PUMA graders, as the organisers' evaluation (``tueimage/PUMA-challenge-eval-track2`` at
cb847d1: ``evaluate_tissue.py``, ``eval_nuclei.py``, ``evaluate.py``) computes them.

Tissue (task 1 of both tracks). A prediction is a single-channel TIF or PNG label map with values
0 background, 1 stroma, 2 blood vessel, 3 tumour, 4 epidermis, 5 necrosis. As the organisers do,
ground truth and prediction are each resized to 1024 x 1024 with PIL's nearest neighbour before
scoring (a no-op for a 1024 x 1024 ROI). Per class c (1-5):

- ``dice_<c>``: micro Dice over the test set, (2 sum I + eps) / (sum |G| + sum |P| + eps) with
  eps = 1e-5, and 0 when sum I == 0 (also when the class is in neither);
- ``dice``: the mean of the five (the leaderboard's metric);
- ``case_dice_<c>``: mean over cases of the per-case Dice (2 I + eps) / (|G| + |P| + eps), 1 when
  the class is in neither; ``mean_case_dice``: the mean of the five.

Nuclei (task 2). A prediction is the organisers' "Multiple polygons" JSON: ``{"polygons": [{"name":
<class>, "path_points": [[x, y(, z)], ...], "score": <optional, default 1>}, ...]}``. A polygon with
fewer than 3 points is ignored; its centroid is the mean of its points. Per case, predictions are
matched to ground truth by class within a centroid distance < 15 px (see rexmle.graders.points) and
per-class F1 computed for the classes present in that case's ground truth or prediction. Over the
test set: ``f1_<class>`` = sum of the per-case F1 / number of cases (a case where the class is absent
counts 0), ``f1`` = the mean of ``f1_<class>`` over the classes present in at least one case (the
leaderboard's macro F1).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image
from rexmle.challenges._puma.classes import TISSUE_CLASSES
from rexmle.graders.points import Point, per_class_f1
from rexmle.graders.segmentation import micro_dice, smoothed_dice_from_counts

from rexmle.challenge_api import (
    Grader,
    InvalidSubmission,
    SubmissionFormat,
    check_image,
    check_pixels,
)
from rexmle.challenge_api import (
    load_json as safe_load_json,
)

SHAPE = (1024, 1024)
EPS = 1e-5
MAX_DISTANCE = 15.0
MAX_JSON_BYTES = 64 * 1024 * 1024
#: A tissue mask may have at most this many pixels (16 times a 1024 x 1024 ROI: it is resized to
#: SHAPE anyway); checked from the header before decoding.
MAX_MASK_PIXELS = 16 * SHAPE[0] * SHAPE[1]
TISSUE_FORMAT = SubmissionFormat(
    id_column="image_id", file_columns={"predicted_mask_path": (".tif", ".tiff", ".png")}
)
NUCLEI_FORMAT = SubmissionFormat(id_column="image_id", file_columns={"predicted_nuclei_path": (".json",)})


# --- tissue -----------------------------------------------------------------------------------


def load_label_map(path: Path, what: str) -> npt.NDArray[np.uint8]:
    """A label map as the organisers read it (PIL, resized to 1024 x 1024, nearest), values 0-5.
    The header is checked first (``rexmle.safe_io``: size, TIFF pages and tags)."""
    check_image(path, what, MAX_MASK_PIXELS, decoder="pillow")
    try:
        with Image.open(path) as im:
            check_pixels(what, im.width, im.height, MAX_MASK_PIXELS)
            if im.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L", "1"):
                raise InvalidSubmission(
                    f"{what}: a single-channel label map is expected, found PIL mode {im.mode}"
                )
            arr = np.array(im.resize(SHAPE, Image.Resampling.NEAREST))
    except InvalidSubmission:
        raise
    except Exception as e:
        raise InvalidSubmission(f"{what}: cannot read the mask as TIF/PNG ({type(e).__name__}: {e})") from e
    if arr.ndim != 2:
        raise InvalidSubmission(f"{what}: a 2-D label map is expected, found shape {arr.shape}")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi > 5:
        raise InvalidSubmission(f"{what}: label values must be 0-5, found {lo}..{hi}")
    return arr.astype(np.uint8)


def check_tissue(case_id: str, files: dict[str, Path], public_dir: Path) -> npt.NDArray[np.uint8]:
    return load_label_map(files["predicted_mask_path"], f"case {case_id}")


def tissue_case_scores(gt: npt.NDArray[np.uint8], pred: npt.NDArray[np.uint8]) -> dict[str, float]:
    row: dict[str, float] = {}
    for c, name in TISSUE_CLASSES.items():
        g, p = gt == c, pred == c
        i, s = int(np.count_nonzero(g & p)), int(np.count_nonzero(g)) + int(np.count_nonzero(p))
        row[f"i_{name}"], row[f"s_{name}"] = float(i), float(s)
        row[f"case_dice_{name}"] = smoothed_dice_from_counts(i, s, EPS, empty_value=1.0)
    row["case_dice"] = float(np.mean([row[f"case_dice_{n}"] for n in TISSUE_CLASSES.values()]))
    return row


def score_tissue(case_id: str, pred: npt.NDArray[np.uint8], private_dir: Path) -> dict[str, float]:
    with Image.open(private_dir / "test" / "labels" / f"{case_id}.tif") as im:
        gt = np.array(im.resize(SHAPE, Image.Resampling.NEAREST))
    return tissue_case_scores(gt, pred)


def aggregate_tissue(rows: list[dict[str, float]]) -> dict[str, float]:
    """The pooled metrics (the harness takes the per-ROI means): per class the micro Dice from
    intersections and sizes summed over ROIs, and ``dice``, their mean over the five classes."""
    out: dict[str, float] = {}
    for name in TISSUE_CLASSES.values():
        out[f"dice_{name}"] = micro_dice([r[f"i_{name}"] for r in rows], [r[f"s_{name}"] for r in rows], EPS)
    out["dice"] = float(np.mean([out[f"dice_{n}"] for n in TISSUE_CLASSES.values()]))
    return out


# --- nuclei -----------------------------------------------------------------------------------


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def read_polygons(obj: Any, classes: tuple[str, ...] | None, what: str) -> list[Point]:
    """The centroids of a "Multiple polygons" object; ``classes`` None accepts any name (ground truth)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("polygons"), list):
        raise InvalidSubmission(f'{what}: expected a JSON object with a "polygons" list')
    out = []
    for k, poly in enumerate(obj["polygons"]):
        where = f"{what}: polygons[{k}]"
        if not isinstance(poly, dict):
            raise InvalidSubmission(f"{where} is not an object")
        name = poly.get("name")
        if not isinstance(name, str) or (classes is not None and name not in classes):
            raise InvalidSubmission(f"{where}: name {name!r} is not one of {', '.join(classes or ())}")
        pts = poly.get("path_points")
        if not isinstance(pts, list) or not all(
            isinstance(p, list) and len(p) >= 2 and _number(p[0]) and _number(p[1]) for p in pts
        ):
            raise InvalidSubmission(f"{where}: path_points must be a list of [x, y] or [x, y, z] numbers")
        score = poly.get("score", 1)
        if not _number(score):
            raise InvalidSubmission(f"{where}: score must be a finite number")
        if len(pts) < 3:
            continue  # the organisers skip these
        c = np.mean(np.array([p[:2] for p in pts], dtype=np.float64), axis=0)
        out.append(Point(name, float(c[0]), float(c[1]), float(score)))
    return out


def load_json(path: Path, what: str) -> Any:
    """A submitted JSON file, within ``rexmle.safe_io.load_json``'s bounds (size, containers,
    values, integer digits, nesting)."""
    return safe_load_json(path, what, MAX_JSON_BYTES)


def check_nuclei(case_id: str, files: dict[str, Path], classes: tuple[str, ...]) -> list[Point]:
    what = f"case {case_id}"
    return read_polygons(load_json(files["predicted_nuclei_path"], what), classes, what)


def nuclei_case_scores(gt: list[Point], pred: list[Point], classes: tuple[str, ...]) -> dict[str, float]:
    f1 = per_class_f1(gt, pred, MAX_DISTANCE)
    row: dict[str, float] = {}
    for c in classes:
        row[f"f1_{c}"] = f1.get(c, 0.0)
        row[f"present_{c}"] = 1.0 if c in f1 else 0.0
    return row


def score_nuclei(
    case_id: str, pred: list[Point], private_dir: Path, classes: tuple[str, ...]
) -> dict[str, float]:
    gt_path = private_dir / "test" / "labels" / f"{case_id}.json"
    gt = read_polygons(json.loads(gt_path.read_text()), None, f"ground truth {case_id}")
    return nuclei_case_scores(gt, pred, classes)


def aggregate_nuclei(rows: list[dict[str, float]], classes: tuple[str, ...]) -> dict[str, float]:
    """The pooled metric (the harness takes each class's mean F1 over images): ``f1``, the mean
    over the classes present in some image (prediction or truth) of the class's mean F1."""
    n = len(rows)
    per_class = {c: float(sum(r[f"f1_{c}"] for r in rows)) / n for c in classes}
    seen = [c for c in classes if any(r[f"present_{c}"] for r in rows)]
    return {"f1": float(np.mean([per_class[c] for c in seen])) if seen else 0.0}


TISSUE = Grader(
    format=TISSUE_FORMAT, check_case=check_tissue, score_case=score_tissue, aggregate=aggregate_tissue
)


def nuclei_grader(classes: tuple[str, ...]) -> Grader:
    """A nuclei task's grader: the track's graded classes."""
    return Grader(
        format=NUCLEI_FORMAT,
        check_case=lambda case_id, files, public_dir: check_nuclei(case_id, files, classes),
        score_case=lambda case_id, pred, private_dir: score_nuclei(case_id, pred, private_dir, classes),
        aggregate=lambda rows: aggregate_nuclei(rows, classes),
    )
