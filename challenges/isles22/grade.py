"""ISLES'22 grader: the official per-case metrics, averaged over the test cases.

Follows the organisers' evaluation (``eval_utils.py`` in ezequieldlrosa/isles22 and the
Grand Challenge container): Dice and lesion F1 with 1.0 for both-empty, 26-connectivity,
absolute lesion-count difference, absolute volume difference in ml from the header
spacing, plain mean over cases. Validation is stricter than the ReX-MLE research code (no
silent resampling, affine and value checks): see description.md, Notes.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from rexmle.graders import abs_volume_difference_ml, dice, lesion_counts, lesion_counts_f1

from rexmle.challenge_api import (
    InvalidSubmission,
    SubmissionFormat,
    check_volume,
    load_nifti,
    voxel_volume_ml,
)

FORMAT = SubmissionFormat(id_column="case_id", file_columns={"predicted_mask_path": (".nii.gz", ".nii")})
AFFINE_ATOL = 1e-3


def expected_ids(public_dir: Path) -> list[str]:
    with (public_dir / "test.csv").open(newline="") as f:
        return [row["case_id"] for row in csv.DictReader(f)]


def _load(path: Path, what: str, expected: tuple[int, ...]) -> Any:
    """The predicted mask's NIfTI image (header only), after the checks that must precede
    nibabel (``rexmle.safe_io``: nibabel reads header extensions before anything else)."""
    check_volume(path, what, expected, formats=("NIfTI",), unreadable="not a readable NIfTI file")
    try:
        return load_nifti(path)
    except Exception as exc:
        raise InvalidSubmission(f"{what}: not a readable NIfTI file ({type(exc).__name__})") from None


def check_case(case_id: str, files: dict[str, Path], public_dir: Path) -> np.ndarray:
    """Load the predicted mask and check it against the test DWI's grid; returns a bool mask."""
    what = f"case {case_id}"
    ref = load_nifti(public_dir / "test" / f"{case_id}_dwi.nii.gz")
    pred = _load(files["predicted_mask_path"], what, tuple(ref.shape[:3]))
    if tuple(pred.shape) != tuple(ref.shape[:3]):
        raise InvalidSubmission(
            f"{what}: mask shape {tuple(pred.shape)} differs from the test image's {tuple(ref.shape[:3])}"
        )
    if not np.allclose(pred.affine, ref.affine, atol=AFFINE_ATOL):
        raise InvalidSubmission(f"{what}: mask affine differs from the test image's (same grid required)")
    try:
        data = np.asanyarray(pred.dataobj)
    except Exception as exc:
        raise InvalidSubmission(f"{what}: voxel data cannot be read ({type(exc).__name__})") from None
    if data.dtype.kind not in "biuf":
        raise InvalidSubmission(f"{what}: mask dtype {data.dtype} is not numeric")
    if data.dtype.kind == "b":
        return data
    if data.dtype.kind in "iu":  # one min/max pass, no temporaries
        lo, hi = data.min(), data.max()
        if lo < 0 or hi > 1:
            raise InvalidSubmission(f"{what}: mask must be binary 0/1, found value {hi if hi > 1 else lo:g}")
        return data.view(np.bool_) if data.dtype.itemsize == 1 else data != 0
    if np.isnan(data).any():
        raise InvalidSubmission(f"{what}: mask contains NaN")
    fg = data != 0
    bad = fg & (data != 1)
    if bad.any():
        raise InvalidSubmission(f"{what}: mask must be binary 0/1, found value {data[bad].flat[0]:g}")
    return fg


def score_case(case_id: str, pred: np.ndarray, private_dir: Path) -> dict[str, float]:
    gt_img = load_nifti(private_dir / "test" / f"{case_id}_msk.nii.gz")
    gt = np.asanyarray(gt_img.dataobj) != 0
    voxel_ml = voxel_volume_ml(gt_img)
    c = lesion_counts(pred, gt, connectivity=26)
    return {
        "dice": dice(pred, gt, empty_value=1.0),
        "lesion_f1": lesion_counts_f1(c, empty_value=1.0),
        "lesion_count_diff": float(abs(c.n_gt - c.n_pred)),
        "abs_volume_diff": abs_volume_difference_ml(pred, gt, voxel_ml),
    }
