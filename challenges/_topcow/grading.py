"""Submission formats and per-case loading shared by the TopCoW graders (one class per task).

Each challenge's ``grade.py`` re-exports one of these classes' members, so the six folders keep
the grading contract (``FORMAT``, ``check_case``, ``score_case``, ``aggregate``) without six
copies of the readers.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
from rexmle.challenges._topcow.formats import LABELS, read_box, read_edges
from rexmle.challenges._topcow.scoring import (
    aggregate_boxes,
    aggregate_edges,
    aggregate_segmentation,
    box_case,
    edges_case,
    segmentation_case,
)
from rexmle.graders import Box

from rexmle.imaging import read_label_map
from rexmle.submission import SubmissionFormat

ALLOWED_LABELS = frozenset({0, *LABELS})
Edges = tuple[tuple[int, ...], tuple[int, ...]]


def expected_ids(public_dir: Path) -> list[str]:
    with (public_dir / "test.csv").open(newline="") as f:
        return [row["image_id"] for row in csv.DictReader(f)]


def test_image(public_dir: Path, case_id: str) -> Path:
    return public_dir / "test" / "images" / f"{case_id}_0000.nii.gz"


class SegmentationGrader:
    """Task 1: a multiclass CoW label map per case; the organisers' nine aggregate metrics."""

    FORMAT = SubmissionFormat(
        id_column="image_id",
        file_columns={"predicted_mask_path": (".nii.gz", ".nii")},
        value_columns=("modality",),
    )
    METRICS = (
        "dice",
        "cldice",
        "b0_error",
        "hd95",
        "f1_grp2",
        "anterior_graph_acc",
        "posterior_graph_acc",
        "anterior_topology",
        "posterior_topology",
    )

    @staticmethod
    def check_case(case_id: str, files: dict[str, Path], public_dir: Path) -> npt.NDArray[np.uint8]:
        return read_label_map(
            files["predicted_mask_path"],
            test_image(public_dir, case_id),
            f"case {case_id}",
            ALLOWED_LABELS,
            "a TopCoW label (0-12, 15)",
        )

    @staticmethod
    def score_case(case_id: str, pred: npt.NDArray[np.uint8], private_dir: Path) -> dict[str, float]:
        gt_img = sitk.ReadImage(str(private_dir / "test" / "labels" / f"{case_id}.nii.gz"))
        gt = sitk.GetArrayViewFromImage(gt_img)
        return segmentation_case(pred, gt, tuple(reversed(gt_img.GetSpacing())))

    aggregate = staticmethod(aggregate_segmentation)


class BoxGrader:
    """Task 2: the CoW region of interest as one box per case; boundary IoU and IoU."""

    FORMAT = SubmissionFormat(
        id_column="image_id",
        file_columns={"predicted_bbox_path": (".json", ".txt")},
        value_columns=("modality",),
    )
    METRICS = ("boundary_iou", "iou")

    @staticmethod
    def check_case(case_id: str, files: dict[str, Path], public_dir: Path) -> Box:
        return read_box(files["predicted_bbox_path"], f"case {case_id}")

    @staticmethod
    def score_case(case_id: str, pred: Box, private_dir: Path) -> dict[str, float]:
        gt = read_box(private_dir / "test" / "labels" / f"{case_id}_bbox.json", f"ground truth of {case_id}")
        return box_case(pred, gt)

    aggregate = staticmethod(aggregate_boxes)


class EdgesGrader:
    """Task 3: a variant edge list per case; variant-balanced accuracy per region."""

    FORMAT = SubmissionFormat(
        id_column="image_id",
        file_columns={"predicted_edges_path": (".json", ".yml", ".yaml")},
        value_columns=("modality",),
    )
    METRICS = ("anterior_acc", "posterior_acc")

    @staticmethod
    def check_case(case_id: str, files: dict[str, Path], public_dir: Path) -> Edges:
        return read_edges(files["predicted_edges_path"], f"case {case_id}")

    @staticmethod
    def score_case(case_id: str, pred: Edges, private_dir: Path) -> dict[str, float]:
        gt = read_edges(private_dir / "test" / "labels" / f"{case_id}.yml", f"ground truth of {case_id}")
        return edges_case(pred, gt)

    aggregate = staticmethod(aggregate_edges)
