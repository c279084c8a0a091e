"""The three TopCoW graders (segmentation, box, edges), one :class:`Grader` each; ``family.py``
gives a task the one its ``family.params.task`` names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
from rexmle.challenges._topcow.formats import LABELS, read_box, read_edges
from rexmle.challenges._topcow.scoring import (
    aggregate_edges,
    aggregate_segmentation,
    box_case,
    edges_case,
    segmentation_case,
)
from rexmle.graders import Box

from rexmle.challenge_api import Grader, SubmissionFormat, read_label_map

ALLOWED_LABELS = frozenset({0, *LABELS})
Edges = tuple[tuple[int, ...], tuple[int, ...]]


def test_image(public_dir: Path, case_id: str) -> Path:
    return public_dir / "test" / "images" / f"{case_id}_0000.nii.gz"


def _format(column: str, suffixes: tuple[str, ...]) -> SubmissionFormat:
    return SubmissionFormat(
        id_column="image_id", file_columns={column: suffixes}, value_columns=("modality",)
    )


# --- task 1: a multiclass CoW label map per case; the organisers' nine aggregate metrics ---------


def check_segmentation(case_id: str, files: dict[str, Path], public_dir: Path) -> npt.NDArray[np.uint8]:
    return read_label_map(
        files["predicted_mask_path"],
        test_image(public_dir, case_id),
        f"case {case_id}",
        ALLOWED_LABELS,
        "a TopCoW label (0-12, 15)",
    )


def score_segmentation(case_id: str, pred: npt.NDArray[np.uint8], private_dir: Path) -> dict[str, float]:
    gt_img = sitk.ReadImage(str(private_dir / "test" / "labels" / f"{case_id}.nii.gz"))
    gt = sitk.GetArrayViewFromImage(gt_img)
    return segmentation_case(pred, gt, tuple(reversed(gt_img.GetSpacing())))


# --- task 2: the CoW region of interest as one box per case; boundary IoU and IoU --------------


def check_box(case_id: str, files: dict[str, Path], public_dir: Path) -> Box:
    return read_box(files["predicted_bbox_path"], f"case {case_id}")


def score_box(case_id: str, pred: Box, private_dir: Path) -> dict[str, float]:
    gt = read_box(private_dir / "test" / "labels" / f"{case_id}_bbox.json", f"ground truth of {case_id}")
    return box_case(pred, gt)


# --- task 3: a variant edge list per case; variant-balanced accuracy per region ----------------


def check_edges(case_id: str, files: dict[str, Path], public_dir: Path) -> Edges:
    return read_edges(files["predicted_edges_path"], f"case {case_id}")


def score_edges(case_id: str, pred: Edges, private_dir: Path) -> dict[str, float]:
    gt = read_edges(private_dir / "test" / "labels" / f"{case_id}.yml", f"ground truth of {case_id}")
    return edges_case(pred, gt)


SEGMENTATION = Grader(
    format=_format("predicted_mask_path", (".nii.gz", ".nii")),
    check_case=check_segmentation,
    score_case=score_segmentation,
    aggregate=aggregate_segmentation,
)
BOX = Grader(
    format=_format("predicted_bbox_path", (".json", ".txt")), check_case=check_box, score_case=score_box
)
EDGES = Grader(
    format=_format("predicted_edges_path", (".json", ".yml", ".yaml")),
    check_case=check_edges,
    score_case=score_edges,
    aggregate=aggregate_edges,
)
GRADERS = {"seg": SEGMENTATION, "box": BOX, "edges": EDGES}
