"""SEG.A. 2023 grader (``challenges/seg_a/grade.py``), fast unit tests on tiny NRRD files.

Pinned: ``check_case`` returns the predicted vessel tree as a (z, y, x) bool mask and refuses
labels other than 0/1 and a grid other than the test image's; ``case_scores`` gives Dice (1 when
both masks are empty) and the symmetric Hausdorff distance in mm (the larger of the two directed
maxima, as description.md defines it; 0 when both are empty, the image diagonal in mm when only
one is); ``score_case`` reads the ground truth's spacing (x, y, z) and applies it to the array's
(z, y, x) axes, any label > 0 being vessel; and the harness takes the medians over cases
(``dsc_50pc``, ``hd_50pc``: the leaderboard's columns). Every expected number is worked out by
hand in a comment.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rexmle.challenges.seg_a import grade
from sitk_io import write_volume

from rexmle import challenge, grading
from rexmle.errors import InvalidSubmission

CID = "K7"
#: arrays are (z, y, x); SimpleITK spacing is (x, y, z) = (0.5, 1.0, 2.0) mm
SHAPE = (4, 5, 6)
ITK_SPACING = (0.5, 1.0, 2.0)


def _write(arr: np.ndarray, path: Path, spacing: tuple[float, ...] = ITK_SPACING) -> Path:
    return write_volume(arr, path, spacing, compress=True)


def _public(tmp_path: Path) -> Path:
    pub = tmp_path / "public"
    _write(np.zeros(SHAPE, np.int16), pub / "test" / "images" / f"{CID}.nrrd")
    return pub


def _check(path: Path, public: Path) -> Any:
    return grade.check_case(CID, {"predicted_mask_path": path}, public)


def _refused(path: Path, public: Path) -> str:
    with pytest.raises(InvalidSubmission) as exc:
        _check(path, public)
    return str(exc.value)


def _tree() -> np.ndarray:
    m = np.zeros(SHAPE, np.uint8)
    m[1:3, 1:3, 1:3] = 1
    m[3, 4, 5] = 1
    return m


# --- check_case ----------------------------------------------------------------------------------


def test_valid_mask_comes_back_as_a_bool_zyx_array(tmp_path: Path) -> None:
    got = _check(_write(_tree(), tmp_path / "pred.seg.nrrd"), _public(tmp_path))
    assert got.dtype == np.bool_ and got.shape == SHAPE
    assert np.array_equal(got, _tree() == 1)  # 8 + 1 = 9 voxels
    assert int(got.sum()) == 9


def test_all_background_mask_is_valid(tmp_path: Path) -> None:
    got = _check(_write(np.zeros(SHAPE, np.uint8), tmp_path / "pred.nii.gz"), _public(tmp_path))
    assert got.dtype == np.bool_ and got.shape == SHAPE and not got.any()


def test_all_vessel_mask_is_valid(tmp_path: Path) -> None:
    got = _check(_write(np.ones(SHAPE, np.uint8), tmp_path / "pred.mha"), _public(tmp_path))
    assert got.dtype == np.bool_ and got.all()


@pytest.mark.parametrize(("label", "dtype"), [(2, np.uint8), (255, np.uint8), (-1, np.int16)])
def test_labels_other_than_0_and_1_are_refused(tmp_path: Path, label: int, dtype: Any) -> None:
    arr = _tree().astype(dtype)
    arr[0, 0, 0] = label
    msg = _refused(_write(arr, tmp_path / "pred.seg.nrrd"), _public(tmp_path))
    assert msg == f"case {CID}: label {label} is not 0 (background) or 1 (aortic vessel tree)"


def test_grid_of_the_test_image_is_required(tmp_path: Path) -> None:
    pub = _public(tmp_path)
    other_spacing = _write(_tree(), tmp_path / "a.seg.nrrd", spacing=(1.0, 1.0, 1.0))
    assert _refused(other_spacing, pub) == (
        f"case {CID}: spacing differs from the test image's (same grid required)"
    )
    other_size = _write(np.zeros((4, 5, 5), np.uint8), tmp_path / "b.seg.nrrd")
    assert _refused(other_size, pub) == f"case {CID}: size (5, 5, 4) differs from the test image's (6, 5, 4)"


# --- case_scores -------------------------------------------------------------------------------

#: array spacing (z, y, x) in mm
SPACING = (2.0, 1.0, 0.5)


def _block(*blocks: tuple[slice, slice, slice], shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    m = np.zeros(shape, bool)
    for b in blocks:
        m[b] = True
    return m


def test_identical_masks() -> None:
    gt = _block(np.s_[1:3, 1:3, 1:3])
    assert grade.case_scores(gt.copy(), gt, SPACING) == {"dsc": 1.0, "hd": 0.0}


def test_one_extra_slice_costs_one_z_step_in_either_direction() -> None:
    """pred = gt plus the next z slice: 12 vs 8 voxels, Dice 2*8/(12+8) = 0.8. The extra slice is
    one z step (2 mm) from the gt's surface; every gt voxel is on pred's surface (distance 0).
    Symmetric HD = max(2, 0) = 2 with pred and gt either way round (a directed pred->gt maximum
    would give 0 for the smaller prediction)."""
    small, big = _block(np.s_[1:3, 1:3, 1:3]), _block(np.s_[1:4, 1:3, 1:3])
    assert grade.case_scores(big, small, SPACING) == pytest.approx({"dsc": 0.8, "hd": 2.0})
    assert grade.case_scores(small, big, SPACING) == pytest.approx({"dsc": 0.8, "hd": 2.0})


def test_hausdorff_is_in_mm_per_axis() -> None:
    """A stray voxel at x 4, same z and y as a block voxel at x 2: 2 x-steps * 0.5 mm = 1.0 mm
    from the nearest gt voxel (2 voxel units, 4 mm if z's spacing were used). Dice 2*8/(9+8) = 16/17."""
    gt = _block(np.s_[1:3, 1:3, 1:3])
    pred = gt.copy()
    pred[1, 1, 4] = True
    assert grade.case_scores(pred, gt, SPACING) == pytest.approx({"dsc": 16 / 17, "hd": 1.0})


def test_one_empty_mask_gives_the_image_diagonal_in_mm() -> None:
    """Shape (1, 3, 12) with spacing (2, 1, 0.5): extent (2, 3, 6) mm, diagonal
    sqrt(4 + 9 + 36) = 7 mm; Dice 0 (nothing shared, something predicted or missed)."""
    shape = (1, 3, 12)
    some = _block(np.s_[0:1, 1:2, 2:5], shape=shape)
    none = np.zeros(shape, bool)
    assert grade.case_scores(none, some, SPACING) == pytest.approx({"dsc": 0.0, "hd": 7.0})
    assert grade.case_scores(some, none, SPACING) == pytest.approx({"dsc": 0.0, "hd": 7.0})


def test_both_empty_is_perfect() -> None:
    none = np.zeros(SHAPE, bool)
    assert grade.case_scores(none, none.copy(), SPACING) == {"dsc": 1.0, "hd": 0.0}


# --- score_case (ground truth from private/test/labels) ----------------------------------------


def _private(tmp_path: Path, gt: np.ndarray) -> Path:
    priv = tmp_path / "private"
    _write(gt, priv / "test" / "labels" / f"{CID}.seg.nrrd")
    return priv


def test_score_case_reverses_the_itk_spacing_onto_the_array_axes(tmp_path: Path) -> None:
    """ITK spacing (x, y, z) = (0.5, 1, 2) is (z, y, x) = (2, 1, 0.5) on the array: one extra z
    slice is 2 mm (read unreversed it would be 0.5 mm). Dice 2*8/(12+8) = 0.8."""
    gt = _block(np.s_[1:3, 1:3, 1:3]).astype(np.uint8)
    pred = _block(np.s_[1:4, 1:3, 1:3])
    assert grade.score_case(CID, pred, _private(tmp_path, gt)) == pytest.approx({"dsc": 0.8, "hd": 2.0})


def test_score_case_empty_prediction_diagonal(tmp_path: Path) -> None:
    """Shape (4, 5, 6) at (2, 1, 0.5) mm: extent (8, 5, 3) mm, diagonal sqrt(64 + 25 + 9) =
    sqrt(98) mm (unreversed: sqrt(2^2 + 5^2 + 12^2) = sqrt(173))."""
    gt = _block(np.s_[1:3, 1:3, 1:3]).astype(np.uint8)
    got = grade.score_case(CID, np.zeros(SHAPE, bool), _private(tmp_path, gt))
    assert got == pytest.approx({"dsc": 0.0, "hd": math.sqrt(98)})


def test_score_case_any_positive_label_is_vessel(tmp_path: Path) -> None:
    """Ground-truth voxels labelled 1 or 3 are both vessel (`> 0`)."""
    gt = _block(np.s_[1:3, 1:3, 1:3]).astype(np.uint8)
    gt[1, 1, 1] = 3
    got = grade.score_case(CID, _block(np.s_[1:3, 1:3, 1:3]), _private(tmp_path, gt))
    assert got == {"dsc": 1.0, "hd": 0.0}


def test_score_case_negative_label_is_background(tmp_path: Path) -> None:
    """Vessel is `> 0`: a ground-truth voxel stored as -1 (signed label map) is not vessel, so a
    prediction of the positive block alone is perfect."""
    gt = _block(np.s_[1:3, 1:3, 1:3]).astype(np.int16)
    gt[3, 4, 5] = -1
    got = grade.score_case(CID, _block(np.s_[1:3, 1:3, 1:3]), _private(tmp_path, gt))
    assert got == {"dsc": 1.0, "hd": 0.0}


def test_score_case_both_empty(tmp_path: Path) -> None:
    got = grade.score_case(CID, np.zeros(SHAPE, bool), _private(tmp_path, np.zeros(SHAPE, np.uint8)))
    assert got == {"dsc": 1.0, "hd": 0.0}


# --- aggregation (the harness, as challenge.yaml says) -----------------------------------------


def test_cases_are_summarised_by_their_medians() -> None:
    """The leaderboard's dsc_50pc / hd_50pc: medians. Four cases: the mean of the two middle
    values, dsc sorted (0, 0.5, 0.8, 1) -> 0.65, hd sorted (0, 2, 7, 100) -> 4.5."""
    rows = [
        {"dsc": 1.0, "hd": 0.0},
        {"dsc": 0.8, "hd": 2.0},
        {"dsc": 0.0, "hd": 100.0},
        {"dsc": 0.5, "hd": 7.0},
    ]
    metrics = challenge.get("seg_a").spec.metrics
    assert grading.aggregate(metrics, rows, {}) == pytest.approx({"hd_50pc": 4.5, "dsc_50pc": 0.65})
    # three cases: the middle one, dsc 0.8 and hd 2
    assert grading.aggregate(metrics, rows[:3], {}) == pytest.approx({"hd_50pc": 2.0, "dsc_50pc": 0.8})
