"""ISLES'22 grader (``challenges/isles22/grade.py``), fast unit tests on tiny NIfTI files.

Pinned: ``expected_ids`` (the order of ``test.csv``); every refusal of ``check_case`` with its
message (unsupported or unreadable file, oversized header, shape, affine at its 1e-3 tolerance,
non-numeric dtype, unreadable voxels, values other than 0/1 for integer and float masks, NaN)
and what it returns for a valid mask (a bool mask; a 1-byte mask reinterpreted without a copy);
``score_case``'s four per-case values against the organisers' definitions (``eval_utils.py`` of
ezequieldlrosa/isles22: Dice and lesion F1 with 1.0 when both masks are empty, 26-connected
lesions, absolute lesion-count difference, absolute volume difference in ml from the ground
truth's header zooms); and the harness's plain mean over cases that challenge.yaml asks for.
Every expected number is worked out by hand in a comment.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from rexmle.challenges.isles22 import grade

from rexmle import challenge, grading
from rexmle.errors import InvalidSubmission

SHAPE = (4, 5, 6)
#: the test DWI's grid: zooms 2 x 3 x 0.5 mm, translation 0 (so the affine tolerance is exactly atol)
AFFINE = np.diag([2.0, 3.0, 0.5, 1.0])
CID = "sub-strokecase0007"


def _public(tmp_path: Path, shape: tuple[int, ...] = SHAPE) -> Path:
    """A public folder holding only the case's test DWI (its header is all check_case reads)."""
    pub = tmp_path / "public"
    (pub / "test").mkdir(parents=True)
    nib.save(nib.Nifti1Image(np.zeros(shape, np.float32), AFFINE), str(pub / "test" / f"{CID}_dwi.nii.gz"))
    return pub


def _pred(tmp_path: Path, arr: np.ndarray, affine: np.ndarray = AFFINE, name: str = "pred.nii.gz") -> Path:
    path = tmp_path / name
    nib.save(nib.Nifti1Image(arr, affine), str(path))
    return path


def _check(path: Path, public: Path) -> Any:
    return grade.check_case(CID, {"predicted_mask_path": path}, public)


def _refused(path: Path, public: Path) -> str:
    with pytest.raises(InvalidSubmission) as exc:
        _check(path, public)
    return str(exc.value)


# --- expected_ids ------------------------------------------------------------------------------


def test_expected_ids_are_test_csv_case_ids_in_file_order(tmp_path: Path) -> None:
    (tmp_path / "test.csv").write_text(
        "case_id,dwi,adc,flair\n"
        "sub-strokecase0009,test/a_dwi.nii.gz,test/a_adc.nii.gz,test/a_flair.nii.gz\n"
        "sub-strokecase0002,test/b_dwi.nii.gz,test/b_adc.nii.gz,test/b_flair.nii.gz\n"
    )
    assert grade.expected_ids(tmp_path) == ["sub-strokecase0009", "sub-strokecase0002"]


# --- check_case: valid masks -------------------------------------------------------------------


def _mask(dtype: Any) -> np.ndarray:
    m = np.zeros(SHAPE, dtype)
    m[1, 2, 3] = 1
    m[3, 4, 5] = 1
    return m


def test_uint8_mask_is_reinterpreted_as_bool_without_a_copy(tmp_path: Path) -> None:
    """A 1-byte 0/1 mask is viewed as bool (no full-volume temporary under the worker's memory cap)."""
    got = _check(_pred(tmp_path, _mask(np.uint8)), _public(tmp_path))
    assert got.dtype == np.bool_ and got.shape == SHAPE
    assert np.array_equal(got, _mask(np.uint8) != 0)
    assert not got.flags.owndata  # a view of the loaded bytes, not `data != 0`


def test_int8_mask_is_a_bool_view_too(tmp_path: Path) -> None:
    got = _check(_pred(tmp_path, _mask(np.int8)), _public(tmp_path))
    assert got.dtype == np.bool_ and got.shape == SHAPE and not got.flags.owndata
    assert np.array_equal(got, _mask(np.int8) != 0)


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int32, np.float32, np.float64])
def test_wider_masks_give_a_bool_mask_of_the_same_shape(tmp_path: Path, dtype: Any) -> None:
    """2-8 byte masks are compared with 0 (a bool view of them would have 2-8x the voxels)."""
    got = _check(_pred(tmp_path, _mask(dtype)), _public(tmp_path))
    assert got.dtype == np.bool_ and got.shape == SHAPE
    assert np.array_equal(got, _mask(np.uint8) != 0)
    assert int(got.sum()) == 2


def test_all_zero_mask_is_valid(tmp_path: Path) -> None:
    got = _check(_pred(tmp_path, np.zeros(SHAPE, np.uint8)), _public(tmp_path))
    assert got.dtype == np.bool_ and not got.any()


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_all_lesion_mask_is_valid(tmp_path: Path, dtype: Any) -> None:
    """Minimum and maximum are both 1: nothing below 0 or above 1, so nothing to refuse."""
    got = _check(_pred(tmp_path, np.ones(SHAPE, dtype)), _public(tmp_path))
    assert got.dtype == np.bool_ and got.shape == SHAPE and got.all()


def test_four_d_test_image_compares_its_first_three_axes(tmp_path: Path) -> None:
    """A DWI stored with a 4th axis (x, y, z, b-values): the mask is on its 3-D grid."""
    pub = _public(tmp_path, (*SHAPE, 2))
    got = _check(_pred(tmp_path, _mask(np.uint8)), pub)
    assert got.shape == SHAPE and int(got.sum()) == 2


def test_bool_data_is_returned_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NIfTI has no bool type, but a reader that yields bool data gets it back unchanged (no copy)."""
    pub = _public(tmp_path)
    data = _mask(np.uint8) != 0
    fake = SimpleNamespace(shape=SHAPE, affine=AFFINE, dataobj=data)
    monkeypatch.setattr(grade, "_load", lambda path, what, expected: fake)
    got = _check(tmp_path / "any.nii.gz", pub)
    assert got is data


# --- check_case: the affine at its tolerance ---------------------------------------------------


def test_affine_tolerance_is_1e_3(tmp_path: Path) -> None:
    """np.allclose(atol=1e-3, rtol=1e-5) on a translation whose reference value is 0: the
    tolerance there is exactly 1e-3. 2**-10 = 0.0009765625 (exact in the header's float32) is
    inside, 0.0011 and 2**-9 are outside."""
    pub = _public(tmp_path)
    inside = AFFINE.copy()
    inside[0, 3] = 2.0**-10
    assert _check(_pred(tmp_path, _mask(np.uint8), inside, "in.nii.gz"), pub).sum() == 2
    for i, off in enumerate((0.0011, 2.0**-9, 5.0)):
        outside = AFFINE.copy()
        outside[1, 3] = off
        msg = _refused(_pred(tmp_path, _mask(np.uint8), outside, f"out{i}.nii.gz"), pub)
        assert msg == f"case {CID}: mask affine differs from the test image's (same grid required)"


def test_affine_zoom_difference_is_refused(tmp_path: Path) -> None:
    """Same shape, another voxel size: the header's volume would differ, so it is refused."""
    pub = _public(tmp_path)
    msg = _refused(_pred(tmp_path, _mask(np.uint8), np.diag([2.0, 3.0, 1.0, 1.0])), pub)
    assert "mask affine differs" in msg


# --- check_case: refusals ----------------------------------------------------------------------


def test_wrong_shape_is_refused_with_both_shapes(tmp_path: Path) -> None:
    msg = _refused(_pred(tmp_path, np.zeros((4, 5, 5), np.uint8)), _public(tmp_path))
    assert msg == f"case {CID}: mask shape (4, 5, 5) differs from the test image's (4, 5, 6)"


def test_four_d_mask_is_refused(tmp_path: Path) -> None:
    msg = _refused(_pred(tmp_path, np.zeros((*SHAPE, 1), np.uint8)), _public(tmp_path))
    assert msg == f"case {CID}: mask shape (4, 5, 6, 1) differs from the test image's (4, 5, 6)"


def test_wrong_shape_against_a_four_d_test_image_names_its_3_d_grid(tmp_path: Path) -> None:
    pub = _public(tmp_path, (*SHAPE, 2))
    msg = _refused(_pred(tmp_path, np.zeros((4, 5, 7), np.uint8)), pub)
    assert msg == f"case {CID}: mask shape (4, 5, 7) differs from the test image's (4, 5, 6)"


def test_header_far_larger_than_the_test_image_is_refused_before_loading(tmp_path: Path) -> None:
    """The header check bounds what is read by the 3-D test grid (4 x 120 = 480 voxels), also for
    a 4-D test image: a (4, 5, 6, 5) mask (600 voxels) is refused there, not by the shape check."""
    pub = _public(tmp_path, (*SHAPE, 2))
    msg = _refused(_pred(tmp_path, np.zeros((*SHAPE, 5), np.uint8)), pub)
    assert msg == f"case {CID}: size (4, 5, 6, 5) differs from the test image's (4, 5, 6)"


def test_other_format_is_refused_even_when_readable(tmp_path: Path) -> None:
    """Only NIfTI is accepted (an .mha would be read by another library)."""
    path = tmp_path / "pred.mha"
    path.write_bytes(b"ObjectType = Image\nNDims = 3\n")
    msg = _refused(path, _public(tmp_path))
    assert msg.startswith(f"case {CID}: not a readable NIfTI file: unsupported file name")


def test_garbage_is_refused_by_the_header_check(tmp_path: Path) -> None:
    path = tmp_path / "pred.nii.gz"
    path.write_bytes(b"this is not a nifti file at all")
    assert _refused(path, _public(tmp_path)).startswith(f"case {CID}: ")


def test_nibabel_failure_after_the_header_check_is_a_clean_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should a file pass the header check and still break nibabel, the reason is one line."""
    pub = _public(tmp_path)
    monkeypatch.setattr(grade, "check_volume", lambda *a, **k: None)
    path = tmp_path / "pred.nii.gz"
    path.write_bytes(b"not gzip")
    assert _refused(path, pub) == f"case {CID}: not a readable NIfTI file (ImageFileError)"


def test_unreadable_voxels_are_a_clean_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A truncated .nii whose header loads: reading the voxels raises OSError inside nibabel."""
    pub = _public(tmp_path)
    path = _pred(tmp_path, _mask(np.uint8), name="pred.nii")
    path.write_bytes(path.read_bytes()[:400])
    assert "NIfTI data is truncated" in _refused(path, pub)  # the header check sees it first
    monkeypatch.setattr(grade, "check_volume", lambda *a, **k: None)
    assert _refused(path, pub) == f"case {CID}: voxel data cannot be read (OSError)"


def test_complex_mask_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pub = _public(tmp_path)
    path = _pred(tmp_path, _mask(np.complex64))
    assert "NIfTI datatype 32 is not a supported" in _refused(path, pub)  # header check first
    monkeypatch.setattr(grade, "check_volume", lambda *a, **k: None)
    assert _refused(path, pub) == f"case {CID}: mask dtype complex64 is not numeric"


def _with(dtype: Any, *values: tuple[tuple[int, int, int], float]) -> np.ndarray:
    m = _mask(dtype)
    for idx, v in values:
        m[idx] = v
    return m


@pytest.mark.parametrize(
    ("arr", "shown"),
    [
        # integer masks: the maximum if it is above 1, else the minimum (below 0)
        (_with(np.uint8, ((0, 0, 0), 2)), "2"),  # min 0, max 2
        (_with(np.uint8, ((2, 2, 2), 255)), "255"),
        (_with(np.int8, ((0, 0, 1), -1)), "-1"),  # min -1, max 1
        (np.full(SHAPE, -1, np.int8) * _mask(np.int8), "-1"),  # min -1, max 0: only negatives
        (_with(np.int16, ((0, 0, 0), -3), ((3, 4, 4), 2)), "2"),  # both: the maximum is named
        (_with(np.int32, ((0, 0, 0), 7)), "7"),
        # float masks: the first non-0/1 value in C order
        (_with(np.float32, ((0, 0, 0), 0.7), ((3, 3, 3), 2.0)), "0.7"),
        (_with(np.float32, ((1, 1, 1), 2.0)), "2"),
        (_with(np.float64, ((1, 1, 1), -1.0)), "-1"),
        (_with(np.float32, ((1, 1, 1), np.inf)), "inf"),
        (_with(np.float32, ((2, 0, 0), 1.5), ((0, 0, 0), 0.25)), "0.25"),
    ],
)
def test_non_binary_values_are_refused_naming_one(tmp_path: Path, arr: np.ndarray, shown: str) -> None:
    msg = _refused(_pred(tmp_path, arr), _public(tmp_path))
    assert msg == f"case {CID}: mask must be binary 0/1, found value {shown}"


def test_nan_is_refused(tmp_path: Path) -> None:
    msg = _refused(_pred(tmp_path, _with(np.float32, ((2, 2, 2), np.nan))), _public(tmp_path))
    assert msg == f"case {CID}: mask contains NaN"


# --- score_case --------------------------------------------------------------------------------

#: ground-truth zooms 2 x 3 x 0.5 mm: one voxel is 3 mm^3 = 0.003 ml
VOXEL_ML = 0.003


def _private(tmp_path: Path, gt: np.ndarray, zooms: tuple[float, float, float] = (2.0, 3.0, 0.5)) -> Path:
    priv = tmp_path / "private"
    (priv / "test").mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(gt, np.diag([*zooms, 1.0]))
    nib.save(img, str(priv / "test" / f"{CID}_msk.nii.gz"))
    return priv


def _score(tmp_path: Path, pred: np.ndarray, gt: np.ndarray, **kw: Any) -> dict[str, float]:
    return grade.score_case(CID, pred, _private(tmp_path, gt, **kw))


def _vol(*blocks: tuple[slice, slice, slice], shape: tuple[int, ...] = (8, 8, 8)) -> np.ndarray:
    m = np.zeros(shape, bool)
    for b in blocks:
        m[b] = True
    return m


def test_perfect_prediction(tmp_path: Path) -> None:
    gt = _vol(np.s_[1:3, 1:3, 1:3], np.s_[5:7, 5:7, 5:7])
    assert _score(tmp_path, gt.copy(), gt.astype(np.uint8)) == {
        "dice": 1.0,
        "lesion_f1": 1.0,
        "lesion_count_diff": 0.0,
        "abs_volume_diff": 0.0,
    }


def test_both_empty_is_a_correct_no_lesion_call(tmp_path: Path) -> None:
    """Official convention: Dice 1 and F1 1 when neither mask has a lesion."""
    empty = np.zeros((8, 8, 8), bool)
    assert _score(tmp_path, empty, empty.astype(np.uint8)) == {
        "dice": 1.0,
        "lesion_f1": 1.0,
        "lesion_count_diff": 0.0,
        "abs_volume_diff": 0.0,
    }


def test_empty_prediction_of_two_lesions(tmp_path: Path) -> None:
    gt = _vol(np.s_[1:3, 1:3, 1:3], np.s_[5:7, 5:7, 5:6])  # 8 + 4 = 12 voxels, 2 lesions
    got = _score(tmp_path, np.zeros_like(gt), gt.astype(np.uint8))
    # Dice 2*0/(0+12) = 0; TP 0, FN 2: F1 0/(0+2/2) = 0; |2-0| = 2; 12 * 0.003 = 0.036 ml
    assert got == pytest.approx(
        {"dice": 0.0, "lesion_f1": 0.0, "lesion_count_diff": 2.0, "abs_volume_diff": 0.036}
    )


def test_prediction_on_an_empty_ground_truth(tmp_path: Path) -> None:
    pred = _vol(np.s_[0:1, 0:1, 0:3], np.s_[6:7, 6:7, 6:7])  # 3 + 1 voxels, 2 lesions
    got = _score(tmp_path, pred, np.zeros((8, 8, 8), np.uint8))
    # Dice 0/(4+0) = 0; FP 2: F1 0/(0+2/2) = 0; |0-2| = 2; 4 * 0.003 = 0.012 ml
    assert got == pytest.approx(
        {"dice": 0.0, "lesion_f1": 0.0, "lesion_count_diff": 2.0, "abs_volume_diff": 0.012}
    )


def test_one_lesion_found_with_three_false_positives(tmp_path: Path) -> None:
    gt = _vol(np.s_[1:3, 1:3, 1:3])  # 8 voxels, 1 lesion
    pred = _vol(
        np.s_[2:4, 2:4, 2:4],  # 8 voxels, 1 inside the lesion: a hit
        np.s_[6, 0, 0],
        np.s_[6, 6, 6],
        np.s_[0, 6, 0],  # three isolated false positives
    )
    got = _score(tmp_path, pred, gt.astype(np.uint8))
    # Dice 2*1/(11+8) = 2/19; TP 1, FP 3, FN 0: F1 1/(1+3/2) = 0.4;
    # |1-4| = 3 (n_gt=1, n_pred=4 tells - from +, *, /, //, %, **, >>, <<, |, &, ^);
    # |8-11| * 0.003 = 0.009 ml
    assert got == pytest.approx(
        {"dice": 2 / 19, "lesion_f1": 0.4, "lesion_count_diff": 3.0, "abs_volume_diff": 0.009}
    )


def test_one_of_three_lesions_found(tmp_path: Path) -> None:
    gt = _vol(np.s_[0:2, 0:2, 0:2], np.s_[5:7, 0:2, 0:2], np.s_[0:2, 5:7, 5:8])  # 8 + 8 + 12
    pred = _vol(np.s_[0:1, 0:1, 0:1])  # 1 voxel inside the first lesion
    got = _score(tmp_path, pred, gt.astype(np.uint8))
    # Dice 2*1/(1+28) = 2/29; TP 1, FN 2, FP 0: F1 1/(1+2/2) = 0.5; |3-1| = 2;
    # |28-1| * 0.003 = 0.081 ml
    assert got == pytest.approx(
        {"dice": 2 / 29, "lesion_f1": 0.5, "lesion_count_diff": 2.0, "abs_volume_diff": 0.081}
    )


def test_lesions_are_26_connected(tmp_path: Path) -> None:
    """Two voxels touching only by a corner are one lesion (26-connectivity, official): hitting
    one of them finds it. Under 6- or 18-connectivity it would be two lesions, one missed."""
    gt = np.zeros((8, 8, 8), np.uint8)
    gt[2, 2, 2] = gt[3, 3, 3] = 1
    pred = np.zeros((8, 8, 8), bool)
    pred[2, 2, 2] = True
    got = _score(tmp_path, pred, gt)
    # Dice 2*1/(1+2) = 2/3; 1 lesion each: TP 1 -> F1 1, count diff 0; |2-1| * 0.003 ml
    assert got == pytest.approx(
        {"dice": 2 / 3, "lesion_f1": 1.0, "lesion_count_diff": 0.0, "abs_volume_diff": 0.003}
    )


@pytest.mark.parametrize(("dtype", "label"), [(np.float32, 2.0), (np.int16, -1), (np.float32, -0.5)])
def test_any_nonzero_ground_truth_value_is_lesion(tmp_path: Path, dtype: Any, label: float) -> None:
    """The ground truth is read as `!= 0`, as the official `astype(bool)` does: a voxel stored
    as 2, -1 or -0.5 is lesion like one stored as 1."""
    gt = np.zeros((8, 8, 8), dtype)
    gt[1:3, 1:3, 1:3] = 1
    gt[1, 1, 1] = label
    got = _score(tmp_path, _vol(np.s_[1:3, 1:3, 1:3]), gt)
    assert got == {"dice": 1.0, "lesion_f1": 1.0, "lesion_count_diff": 0.0, "abs_volume_diff": 0.0}


def test_volume_uses_the_ground_truth_header_zooms(tmp_path: Path) -> None:
    """0.9 x 0.9 x 5 mm = 4.05 mm^3 = 0.00405 ml per voxel; 10 voxels apart = 0.0405 ml."""
    gt = _vol(np.s_[0:2, 0:5, 0:1])  # 10 voxels
    got = _score(tmp_path, np.zeros_like(gt), gt.astype(np.uint8), zooms=(0.9, 0.9, 5.0))
    assert got["abs_volume_diff"] == pytest.approx(10 * 0.9 * 0.9 * 5.0 / 1000)


# --- aggregation (the harness, as challenge.yaml says) -----------------------------------------


def test_cases_are_averaged_with_a_plain_mean() -> None:
    """Official: the arithmetic mean of each per-case value over the test cases."""
    rows = [
        {"dice": 1.0, "lesion_f1": 1.0, "lesion_count_diff": 0.0, "abs_volume_diff": 0.0},
        {"dice": 0.0, "lesion_f1": 0.0, "lesion_count_diff": 2.0, "abs_volume_diff": 0.036},
        {"dice": 2 / 19, "lesion_f1": 0.4, "lesion_count_diff": 3.0, "abs_volume_diff": 0.009},
    ]
    metrics = challenge.get("isles22").spec.metrics
    assert grading.aggregate(metrics, rows, {}) == pytest.approx(
        {
            "dice": (1 + 0 + 2 / 19) / 3,
            "lesion_f1": (1 + 0 + 0.4) / 3,  # 1.4 / 3
            "lesion_count_diff": (0 + 2 + 3) / 3,  # 5 / 3
            "abs_volume_diff": (0 + 0.036 + 0.009) / 3,  # 0.015
        }
    )
