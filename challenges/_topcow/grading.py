"""Submission formats and per-case loading shared by the TopCoW graders (one class per task).

Each challenge's ``grade.py`` re-exports one of these classes' members, so the six folders keep
the grading contract (``FORMAT``, ``check_case``, ``score_case``, ``aggregate``) without six
copies of the readers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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

from rexmle.errors import InvalidSubmission
from rexmle.grading import SubmissionFormat

#: Grid agreement a prediction must have with its test image (mm, and direction cosines).
GRID_ATOL = 1e-3
ALLOWED_LABELS = frozenset({0, *LABELS})
Edges = tuple[tuple[int, ...], tuple[int, ...]]


def expected_ids(public_dir: Path) -> list[str]:
    with (public_dir / "test.csv").open(newline="") as f:
        return [row["image_id"] for row in csv.DictReader(f)]


def test_image(public_dir: Path, case_id: str) -> Path:
    return public_dir / "test" / "images" / f"{case_id}_0000.nii.gz"


def image_info(path: Path) -> sitk.ImageFileReader:
    """The header of an image (size, spacing, origin, direction) without reading its voxels."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return reader


def read_label_map(
    path: Path,
    reference: Path,
    what: str,
    allowed: Iterable[int] = ALLOWED_LABELS,
    label_set: str = "a TopCoW label (0-12, 15)",
) -> npt.NDArray[np.uint8]:
    """A predicted CoW label map on the test image's grid, as a (z, y, x) uint8 array.

    The organisers' evaluation resamples a prediction of another size onto the ground truth
    and copies the ground truth's spacing onto it; we refuse a different grid instead (a
    silent resampling would score something the agent never wrote). Labels must be integers in
    ``allowed`` (TopCoW's map, 0-12 and 15, by default): the organisers' code fails on others.
    """
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError:
        raise InvalidSubmission(f"{what}: not a readable NIfTI image") from None
    ref = image_info(reference)
    if img.GetDimension() != 3 or img.GetNumberOfComponentsPerPixel() != 1:
        raise InvalidSubmission(f"{what}: expected a 3-D single-channel label map")
    if tuple(img.GetSize()) != tuple(ref.GetSize()):
        raise InvalidSubmission(
            f"{what}: size {tuple(img.GetSize())} differs from the test image's {tuple(ref.GetSize())}"
        )
    for name, mine, theirs in (
        ("spacing", img.GetSpacing(), ref.GetSpacing()),
        ("origin", img.GetOrigin(), ref.GetOrigin()),
        ("direction", img.GetDirection(), ref.GetDirection()),
    ):
        if not np.allclose(mine, theirs, atol=GRID_ATOL):
            raise InvalidSubmission(f"{what}: {name} differs from the test image's (same grid required)")
    arr = sitk.GetArrayViewFromImage(img)
    if arr.dtype.kind not in "iu" and (
        arr.dtype.kind != "f" or not np.isfinite(arr).all() or not np.array_equal(arr, np.round(arr))
    ):
        raise InvalidSubmission(f"{what}: a label map must hold integer labels, not {arr.dtype}")
    bad = first_label_outside(arr, allowed)
    if bad is not None:
        raise InvalidSubmission(f"{what}: label {bad} is not {label_set}")
    return np.asarray(arr, dtype=np.uint8).copy() if arr.dtype != np.uint8 else np.array(arr)


def first_label_outside(arr: npt.NDArray[Any], allowed: Iterable[int]) -> int | None:
    """The smallest value of ``arr`` not in ``allowed`` (None if all are), from its min, max and
    one comparison per gap in ``allowed``: a histogram of a 512x512x300 map needs a 600 MB
    int64 copy (``bincount``) or a sort (``unique``)."""
    ok = sorted(set(allowed))
    lo, hi = int(arr.min()), int(arr.max())
    if lo < ok[0]:
        return lo
    for v in range(ok[0], min(hi, ok[-1]) + 1):
        if v not in ok and (arr == v).any():
            return v
    return hi if hi > ok[-1] else None


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
            files["predicted_mask_path"], test_image(public_dir, case_id), f"case {case_id}"
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
