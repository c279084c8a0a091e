"""PANTHER grading (``challenges/_panther/grading.py``) on tiny hand-made masks, fast.

Pinned, against the organisers' ``Evaluation/evaluate_local.py`` (DIAGNijmegen/PANTHER_baseline):
the value rule ({0}, {1}, {0, 1} as they are; two values one of which is 0 -> ``> 0``; anything
else refused), the 0-255 label check and grid check of ``check_case`` on the test image, the
uniform-prediction penalty (Dice 0, surface Dice 0, HD95 = MASD = the image diagonal
``|shape * spacing|``, predicted volume 0), the surface Dice tolerance of exactly 5 mm, the
tumour = label 1 ground truth, SimpleITK's (x, y, z) spacing applied to the (z, y, x) array, the
volumes ``count * prod(spacing)`` and ``rmse = sqrt(mean((V_pred - V_gt)^2))``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from rexmle.challenges._panther import grading
from rexmle.challenges._panther.grading import (
    aggregate,
    binary_prediction,
    case_scores,
    check_case,
    score_case,
)
from sitk_io import write_volume

from rexmle.errors import InvalidSubmission

CASE = "10000_0001"


_write = write_volume


def _public(tmp_path: Path, shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> Path:
    """A public folder holding the test image ``test/images/<case>_0000.mha`` the grid is read from."""
    _write(np.zeros(shape, np.int16), tmp_path / "public" / "test" / "images" / f"{CASE}_0000.mha", spacing)
    return tmp_path / "public"


# --- the value rule ---------------------------------------------------------------------------


@pytest.mark.parametrize("values", [(0,), (1,), (0, 1)])
def test_values_within_0_1_are_the_mask_itself(values: tuple[int, ...]) -> None:
    """The organisers accept {0}, {1} and {0, 1} unchanged: tumour is exactly the 1s."""
    arr = np.array([values[i % len(values)] for i in range(8)], np.uint8).reshape(2, 2, 2)
    assert np.array_equal(binary_prediction(arr, "c"), arr == 1)


@pytest.mark.parametrize("other", [2, 7, 255])
def test_two_values_with_0_binarise_as_nonzero(other: int) -> None:
    """Exactly two values, one of them 0: ``mask_pred > 0`` (the other value is tumour)."""
    arr = np.zeros((2, 2, 2), np.uint8)
    arr[0, 0, 0] = arr[1, 1, 1] = other
    got = binary_prediction(arr, "c")
    assert got.dtype == np.bool_ and got.sum() == 2 and got[0, 0, 0] and got[1, 1, 1]


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        ((0, 1, 255), "[0, 1, 255]"),  # three values
        ((0, 1, 2), "[0, 1, 2]"),  # the released 0/1/2 map itself
        ((1, 2), "[1, 2]"),  # two values, neither 0
        ((2, 3), "[2, 3]"),
        ((5,), "[5]"),  # one value that is neither 0 nor 1
        ((255,), "[255]"),
    ],
)
def test_other_value_sets_are_refused(values: tuple[int, ...], shown: str) -> None:
    arr = np.array([values[i % len(values)] for i in range(8)], np.uint8).reshape(2, 2, 2)
    with pytest.raises(
        InvalidSubmission, match=r"^case 7: a PANTHER prediction is binary \(0 background, 1 tumour\)"
    ):
        binary_prediction(arr, "case 7")
    with pytest.raises(InvalidSubmission, match=re.escape(f"found the values {shown}") + "$"):
        binary_prediction(arr, "case 7")


# --- check_case: the file against the test image ------------------------------------------------


def test_check_case_reads_the_prediction_on_the_test_grid(tmp_path: Path) -> None:
    public = _public(tmp_path, (2, 3, 4), (0.5, 0.5, 3.0))
    arr = np.zeros((2, 3, 4), np.uint8)
    arr[1, 2, 3] = 255  # {0, 255}: the 255 voxel is tumour
    f = _write(arr, tmp_path / "sub" / "p.mha", (0.5, 0.5, 3.0))
    got = check_case(CASE, {"predicted_mask_path": f}, public)
    assert got.shape == (2, 3, 4) and got.sum() == 1 and got[1, 2, 3]


def test_check_case_accepts_255_in_a_wider_integer_type(tmp_path: Path) -> None:
    """255 is the largest allowed value (0-255), also in a uint16 file."""
    public = _public(tmp_path, (2, 2, 2), (1.0, 1.0, 1.0))
    arr = np.zeros((2, 2, 2), np.uint16)
    arr[0, 0, 0] = 255
    f = _write(arr, tmp_path / "p.mha", (1.0, 1.0, 1.0))
    assert check_case(CASE, {"predicted_mask_path": f}, public).sum() == 1


def test_check_case_refuses_256_and_the_grid_and_the_value_rule(tmp_path: Path) -> None:
    public = _public(tmp_path, (2, 2, 2), (1.0, 1.0, 1.0))
    arr = np.zeros((2, 2, 2), np.uint16)
    arr[0, 0, 0] = 256  # one past 0-255: would wrap to 0 in uint8
    f = _write(arr, tmp_path / "p.mha", (1.0, 1.0, 1.0))
    with pytest.raises(InvalidSubmission, match=f"^case {CASE}: label 256 is not an integer 0-255$"):
        check_case(CASE, {"predicted_mask_path": f}, public)
    ok = np.zeros((2, 2, 2), np.uint8)
    ok[0, 0, 0] = 1
    f = _write(ok, tmp_path / "q.mha", (1.0, 1.0, 2.0))  # the test image has z spacing 1
    with pytest.raises(InvalidSubmission, match=f"^case {CASE}: spacing differs"):
        check_case(CASE, {"predicted_mask_path": f}, public)
    ok[1, 1, 1] = 2
    f = _write(ok, tmp_path / "r.mha", (1.0, 1.0, 1.0))
    with pytest.raises(InvalidSubmission, match=r"case 10000_0001: .*found the values \[0, 1, 2\]$"):
        check_case(CASE, {"predicted_mask_path": f}, public)


# --- case_scores: the per-case metrics ----------------------------------------------------------


def _slab(shape: tuple[int, int, int] = (4, 8, 8), z: int = 1) -> np.ndarray:
    """A 1-voxel-thick 4x4 slab at array index ``z`` (16 voxels)."""
    a = np.zeros(shape, bool)
    a[z, 2:6, 2:6] = True
    return a


def test_a_perfect_prediction() -> None:
    gt = _slab()
    s = case_scores(gt, gt.copy(), (2.0, 0.5, 1.5))
    # voxel = 2 * 0.5 * 1.5 = 1.5 mm^3; 16 voxels -> 24 mm^3 on both sides
    assert s == {"dsc": 1.0, "msd": 1.0, "hd95": 0.0, "masd": 0.0, "gt_volume": 24.0, "pred_volume": 24.0}


def test_one_slice_off_within_and_beyond_5_mm() -> None:
    """The slab moved one step along axis 0. The surfel surfaces (DeepMind surface-distance)
    of a one-voxel slab lie on two corner planes with equal area: gt on z = 1 and z = 2, the
    prediction on z = 2 and z = 3. Plane z = 2 is shared (distance 0); the other plane of each is
    one step, s0 mm, from the other surface. So half the area is at 0 and half at s0:
    surface Dice = 1 if s0 <= 5 mm else 1/2, HD95 = s0, MASD = s0 / 2, Dice = 0 (disjoint)."""
    gt, pred = _slab(z=1), _slab(z=2)
    at_5 = case_scores(gt, pred, (5.0, 1.0, 1.0))  # exactly at the 5 mm tolerance: counted
    assert at_5["msd"] == 1.0 and at_5["dsc"] == 0.0
    assert at_5["hd95"] == pytest.approx(5.0) and at_5["masd"] == pytest.approx(2.5)
    # volumes: 16 voxels * 5 mm^3 = 80 mm^3 each
    assert at_5["gt_volume"] == 80.0 and at_5["pred_volume"] == 80.0
    beyond = case_scores(gt, pred, (5.5, 1.0, 1.0))  # 5.5 mm > 5 mm: that half is lost
    assert beyond["msd"] == pytest.approx(0.5) and beyond["hd95"] == pytest.approx(5.5)
    assert beyond["masd"] == pytest.approx(2.75)
    below = case_scores(gt, pred, (4.5, 1.0, 1.0))  # well within
    assert below["msd"] == 1.0 and below["hd95"] == pytest.approx(4.5)


def test_partial_overlap_dice_and_volumes() -> None:
    gt = np.zeros((3, 3, 6), bool)
    gt[1, 1, 0:4] = True  # 4 voxels
    pred = np.zeros_like(gt)
    pred[1, 1, 2:6] = True  # 4 voxels, 2 shared
    s = case_scores(gt, pred, (1.0, 2.0, 3.0))
    # Dice = 2 * 2 / (4 + 4) = 0.5; voxel = 1 * 2 * 3 = 6 mm^3: 4 * 6 = 24 mm^3 each
    assert s["dsc"] == 0.5 and s["gt_volume"] == 24.0 and s["pred_volume"] == 24.0
    assert 0.0 < s["msd"] <= 1.0 and s["hd95"] > 0.0 and s["masd"] > 0.0


# shape * spacing = (2, 6, 9) -> |(2, 6, 9)| = sqrt(4 + 36 + 81) = 11 mm
DIAG_SHAPE, DIAG_SPACING = (2, 3, 3), (1.0, 2.0, 3.0)


@pytest.mark.parametrize("fill", [False, True], ids=["all background", "all foreground"])
def test_a_uniform_prediction_gets_the_organisers_penalty(fill: bool) -> None:
    """All 0 or all 1: Dice 0, surface Dice 0, HD95 = MASD = the diagonal, predicted volume 0
    (the organisers' ``pred_volume: 0.0`` even for an all-1 mask)."""
    gt = np.zeros(DIAG_SHAPE, bool)
    gt[0, 1, 1:3] = True  # 2 voxels * 6 mm^3 = 12 mm^3
    s = case_scores(gt, np.full(DIAG_SHAPE, fill), DIAG_SPACING)
    assert s == {"dsc": 0.0, "msd": 0.0, "hd95": 11.0, "masd": 11.0, "gt_volume": 12.0, "pred_volume": 0.0}


def test_an_empty_ground_truth_gets_the_penalty_but_keeps_the_predicted_volume() -> None:
    """No tumour in the ground truth: no surface to measure against, so the penalty values,
    but the prediction (not uniform) keeps its volume: 3 voxels * 6 mm^3 = 18 mm^3."""
    pred = np.zeros(DIAG_SHAPE, bool)
    pred[1, 0, :] = True
    s = case_scores(np.zeros(DIAG_SHAPE, bool), pred, DIAG_SPACING)
    assert s == {"dsc": 0.0, "msd": 0.0, "hd95": 11.0, "masd": 11.0, "gt_volume": 0.0, "pred_volume": 18.0}


def test_an_empty_ground_truth_and_a_uniform_prediction() -> None:
    for fill in (False, True):
        s = case_scores(np.zeros(DIAG_SHAPE, bool), np.full(DIAG_SHAPE, fill), DIAG_SPACING)
        assert s == {"dsc": 0.0, "msd": 0.0, "hd95": 11.0, "masd": 11.0, "gt_volume": 0.0, "pred_volume": 0.0}


# --- score_case: the ground-truth file ----------------------------------------------------------


def _private(tmp_path: Path, gt: np.ndarray, spacing: tuple[float, float, float]) -> Path:
    _write(gt.astype(np.uint8), tmp_path / "private" / "test" / "labels" / f"{CASE}.mha", spacing)
    return tmp_path / "private"


def test_score_case_scores_label_1_only_with_the_organisers_spacing(tmp_path: Path) -> None:
    """Ground truth 0/1/2: the tumour is label 1 (pancreas, 2, is not scored). The spacing is
    SimpleITK's (x, y, z) = (2, 1, 7) used on the (z, y, x) array, as the organisers do: a
    one-slice shift along z counts x's 2 mm, not z's 7 mm."""
    labels = np.zeros((4, 8, 8), np.uint8)
    labels[1, 2:6, 2:6] = 1  # 16 tumour voxels
    labels[3, 0:2, 0:8] = 2  # 16 pancreas voxels, not scored
    private = _private(tmp_path, labels, (2.0, 1.0, 7.0))
    same = score_case(CASE, labels == 1, private)
    # voxel = 2 * 1 * 7 = 14 mm^3: 16 * 14 = 224 mm^3
    assert same == {
        "dsc": 1.0,
        "msd": 1.0,
        "hd95": 0.0,
        "masd": 0.0,
        "gt_volume": 224.0,
        "pred_volume": 224.0,
    }
    # the slab one slice deeper: half the surfel area at the z step (see the test above), 2 mm
    s = score_case(CASE, np.roll(labels == 1, 1, axis=0), private)
    assert s["hd95"] == pytest.approx(2.0) and s["masd"] == pytest.approx(1.0) and s["msd"] == 1.0
    # with the pancreas counted as tumour the Dice would be 2 * 16 / (16 + 32) = 2/3, not 1
    assert score_case(CASE, labels > 0, private)["dsc"] == pytest.approx(2 / 3)
    # an all-background prediction: the diagonal of (4, 8, 8) * (2, 1, 7) = (8, 8, 56):
    # sqrt(64 + 64 + 3136) = sqrt(3264)
    empty = score_case(CASE, np.zeros((4, 8, 8), bool), private)
    assert empty["hd95"] == pytest.approx(math.sqrt(3264)) and empty["gt_volume"] == 224.0


# --- aggregate: the pooled volume RMSE ----------------------------------------------------------


def test_rmse_of_the_tumour_volumes() -> None:
    rows = [
        {"gt_volume": 7.0, "pred_volume": 10.0},  # error +3
        {"gt_volume": 6.0, "pred_volume": 2.0},  # error -4
        {"gt_volume": 5.0, "pred_volume": 5.0},  # 0
        {"gt_volume": 0.0, "pred_volume": 0.0},  # 0
    ]
    # sqrt((9 + 16 + 0 + 0) / 4) = sqrt(25 / 4) = 2.5
    assert aggregate(rows) == {"rmse": 2.5}
    # one case: the absolute error, whatever its sign
    assert aggregate([{"gt_volume": 12.0, "pred_volume": 0.0}]) == {"rmse": 12.0}
    assert aggregate([{"gt_volume": 1.5, "pred_volume": 4.0}]) == {"rmse": 2.5}


def test_the_grader_wires_the_module() -> None:
    g = grading.GRADER
    assert (g.check_case, g.score_case, g.aggregate) == (check_case, score_case, aggregate)
    assert g.format.columns == ["image_id", "predicted_mask_path"]
    assert g.format.file_columns["predicted_mask_path"] == (".mha", ".nii.gz")
    assert (grading.TUMOUR, grading.TOLERANCE_MM) == (1, 5.0)
