"""ISLES'22: synthetic data covers every metric branch; grading values; malformed submissions."""

from __future__ import annotations

import csv
import gzip
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from rexmle.graders import count_components

from rexmle import challenge, grading


def _rows(sub: Path) -> list[dict[str, str]]:
    with (sub / "submission.csv").open() as f:
        return list(csv.DictReader(f))


def _write_rows(sub: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> None:
    header = header or ["case_id", "predicted_mask_path"]
    with (sub / "submission.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _first_pred(sub: Path) -> tuple[str, Path]:
    row = _rows(sub)[0]
    return row["case_id"], sub / row["predicted_mask_path"]


def _rewrite_first(sub: Path, fn: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]) -> None:
    _, path = _first_pred(sub)
    img = nib.load(str(path))
    arr, aff = fn(np.asarray(img.dataobj), img.affine.copy())
    nib.save(nib.Nifti1Image(arr, aff), str(path))


def _gt_submission(prepared: Path, dst: Path) -> Path:
    """A perfect submission: the private ground truth itself, on the right grid."""
    (dst / "predictions").mkdir(parents=True)
    rows = []
    for gt in sorted((prepared / "private" / "test").glob("*_msk.nii.gz")):
        cid = gt.name.removesuffix("_msk.nii.gz")
        shutil.copyfile(gt, dst / "predictions" / f"{cid}.nii.gz")
        rows.append({"case_id": cid, "predicted_mask_path": f"predictions/{cid}.nii.gz"})
    _write_rows(dst, rows)
    return dst


def test_synthetic_test_set_exercises_every_branch(prepared: Path) -> None:
    gts = {p.name: nib.load(str(p)) for p in (prepared / "private" / "test").glob("*_msk.nii.gz")}
    masks = {k: np.asarray(v.dataobj) != 0 for k, v in gts.items()}
    n26 = {k: count_components(m, 26) for k, m in masks.items()}
    n6 = {k: count_components(m, 6) for k, m in masks.items()}
    assert any(n == 0 for n in n26.values()), "an empty ground truth"
    assert any(n == 1 and n6[k] == 1 for k, n in n26.items()), "a single lesion"
    assert any(n >= 3 for n in n26.values()), "several lesions"
    assert any(n26[k] == 1 and n6[k] == 2 for k in masks), "two lesions touching only by a corner"
    zooms = [v.header.get_zooms()[:3] for v in gts.values()]
    assert any(max(z) / min(z) >= 4 for z in zooms), "strongly anisotropic spacing"


def test_perfect_submission_scores_perfectly(
    isles: challenge.Challenge, prepared: Path, tmp_path: Path
) -> None:
    sub = _gt_submission(prepared, tmp_path / "perfect")
    r = grading.grade(isles, sub, prepared / "public", prepared / "private", workers=2)
    assert r.valid, r.reason
    assert r.metrics == {"dice": 1.0, "lesion_f1": 1.0, "lesion_count_diff": 0.0, "abs_volume_diff": 0.0}


def test_empty_prediction_values_by_hand(isles: challenge.Challenge, prepared: Path) -> None:
    """The all-zero sample submission: each value computed by hand from the ground truth."""
    r = grading.grade(
        isles, prepared / "public" / "sample_submission", prepared / "public", prepared / "private"
    )
    assert r.valid
    exp_dice, exp_f1, exp_count, exp_vol = [], [], [], []
    for p in sorted((prepared / "private" / "test").glob("*_msk.nii.gz")):
        img = nib.load(str(p))
        g = np.asarray(img.dataobj) != 0
        n = count_components(g, 26)
        exp_dice.append(1.0 if n == 0 else 0.0)
        exp_f1.append(1.0 if n == 0 else 0.0)
        exp_count.append(n)
        exp_vol.append(g.sum() * np.prod(img.header.get_zooms()[:3]) / 1000)
    assert r.metrics["dice"] == pytest.approx(np.mean(exp_dice))
    assert r.metrics["lesion_f1"] == pytest.approx(np.mean(exp_f1))
    assert r.metrics["lesion_count_diff"] == pytest.approx(np.mean(exp_count))
    assert r.metrics["abs_volume_diff"] == pytest.approx(np.mean(exp_vol))
    assert [c["case_id"] for c in r.per_case] == sorted(c["case_id"] for c in r.per_case)


def test_workers_do_not_change_results(isles: challenge.Challenge, prepared: Path, tmp_path: Path) -> None:
    sub = _gt_submission(prepared, tmp_path / "p")
    _rewrite_first(sub, lambda a, aff: (np.zeros_like(a), aff))
    one = grading.grade(isles, sub, prepared / "public", prepared / "private", workers=1)
    two = grading.grade(isles, sub, prepared / "public", prepared / "private", workers=2)
    assert one == two and one.valid


# --- malformed submissions: each is invalid with a one-line reason, never a traceback ----


def _no_csv(sub: Path, prepared: Path) -> None:
    (sub / "submission.csv").unlink()


def _missing_case(sub: Path, prepared: Path) -> None:
    _write_rows(sub, _rows(sub)[1:])


def _extra_case(sub: Path, prepared: Path) -> None:
    rows = _rows(sub)
    _write_rows(
        sub, [*rows, {"case_id": "sub-strokecase9999", "predicted_mask_path": rows[0]["predicted_mask_path"]}]
    )


def _duplicate_case(sub: Path, prepared: Path) -> None:
    rows = _rows(sub)
    _write_rows(sub, [*rows, rows[0]])


def _wrong_columns(sub: Path, prepared: Path) -> None:
    rows = [{"id": r["case_id"], "mask": r["predicted_mask_path"]} for r in _rows(sub)]
    _write_rows(sub, rows, header=["id", "mask"])


def _extra_column(sub: Path, prepared: Path) -> None:
    rows = [{**r, "score": "1"} for r in _rows(sub)]
    _write_rows(sub, rows, header=["case_id", "predicted_mask_path", "score"])


def _empty_csv(sub: Path, prepared: Path) -> None:
    (sub / "submission.csv").write_text("")


def _header_only(sub: Path, prepared: Path) -> None:
    (sub / "submission.csv").write_text("case_id,predicted_mask_path\n")


def _binary_csv(sub: Path, prepared: Path) -> None:
    (sub / "submission.csv").write_bytes(b"\xff\xfe\x00\x01garbage\x00")


def _missing_file(sub: Path, prepared: Path) -> None:
    _first_pred(sub)[1].unlink()


def _absolute_path(sub: Path, prepared: Path) -> None:
    rows = _rows(sub)
    rows[0]["predicted_mask_path"] = str((sub / rows[0]["predicted_mask_path"]).resolve())
    _write_rows(sub, rows)


def _dotdot_path(sub: Path, prepared: Path) -> None:
    rows = _rows(sub)
    outside = sub.parent / "outside.nii.gz"
    shutil.copyfile(sub / rows[0]["predicted_mask_path"], outside)
    rows[0]["predicted_mask_path"] = "../outside.nii.gz"
    _write_rows(sub, rows)


def _symlink_to_private(sub: Path, prepared: Path) -> None:
    cid, path = _first_pred(sub)
    path.unlink()
    os.symlink(prepared / "private" / "test" / f"{cid}_msk.nii.gz", path)


def _symlinked_dir(sub: Path, prepared: Path) -> None:
    shutil.rmtree(sub / "predictions")
    os.symlink(prepared / "public" / "sample_submission" / "predictions", sub / "predictions")


def _wrong_suffix(sub: Path, prepared: Path) -> None:
    rows = _rows(sub)
    src = sub / rows[0]["predicted_mask_path"]
    dst = src.with_name("mask.npy")
    src.rename(dst)
    rows[0]["predicted_mask_path"] = "predictions/mask.npy"
    _write_rows(sub, rows)


def _directory_not_file(sub: Path, prepared: Path) -> None:
    _, path = _first_pred(sub)
    path.unlink()
    path.mkdir()


def _not_nifti(sub: Path, prepared: Path) -> None:
    _first_pred(sub)[1].write_bytes(gzip.compress(b"this is not a nifti file"))


def _truncated(sub: Path, prepared: Path) -> None:
    _, p = _first_pred(sub)
    p.write_bytes(p.read_bytes()[:200])


def _wrong_shape(sub: Path, prepared: Path) -> None:
    _rewrite_first(sub, lambda a, aff: (np.zeros((a.shape[0] + 1, *a.shape[1:]), np.uint8), aff))


def _extra_dim(sub: Path, prepared: Path) -> None:
    _rewrite_first(sub, lambda a, aff: (a[..., None], aff))


def _wrong_affine(sub: Path, prepared: Path) -> None:
    def shift(a: np.ndarray, aff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        aff[:3, 3] += 5.0
        return a, aff

    _rewrite_first(sub, shift)


def _nan_values(sub: Path, prepared: Path) -> None:
    def nan(a: np.ndarray, aff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = a.astype(np.float32)
        f[0, 0, 0] = np.nan
        return f, aff

    _rewrite_first(sub, nan)


def _non_binary(sub: Path, prepared: Path) -> None:
    _rewrite_first(sub, lambda a, aff: (np.full(a.shape, 2, np.uint8), aff))


def _probabilities(sub: Path, prepared: Path) -> None:
    _rewrite_first(sub, lambda a, aff: (np.full(a.shape, 0.7, np.float32), aff))


def _missing_folder(sub: Path, prepared: Path) -> None:
    shutil.rmtree(sub)


MALFORMED = {
    "no submission.csv": (_no_csv, "submission.csv"),
    "missing case": (_missing_case, "missing 1 of 5"),
    "unknown case": (_extra_case, "unknown case id"),
    "duplicate case": (_duplicate_case, "more than once"),
    "wrong columns": (_wrong_columns, "lacks column"),
    "extra column": (_extra_column, "unexpected column"),
    "empty csv": (_empty_csv, "lacks column"),
    "header only": (_header_only, "no rows"),
    "binary csv": (_binary_csv, "not UTF-8"),
    "missing file": (_missing_file, "does not exist"),
    "absolute path": (_absolute_path, "must be relative"),
    "dot-dot path": (_dotdot_path, "leaves the submission folder"),
    "symlink to private": (_symlink_to_private, "symlink"),
    "symlinked folder": (_symlinked_dir, "symlink"),
    "wrong suffix": (_wrong_suffix, "must end with"),
    "directory instead of file": (_directory_not_file, "not a regular file"),
    "not nifti": (_not_nifti, "not a readable NIfTI"),
    "truncated file": (_truncated, "case sub-strokecase"),
    "wrong shape": (_wrong_shape, "shape"),
    "4-d mask": (_extra_dim, "shape"),
    "wrong affine": (_wrong_affine, "affine"),
    "NaN": (_nan_values, "NaN"),
    "non-binary": (_non_binary, "binary 0/1, found value 2"),
    "probability map": (_probabilities, "binary 0/1, found value 0.7"),
    "no submission folder": (_missing_folder, "does not exist"),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_submission_is_invalid_with_reason(
    kind: str, isles: challenge.Challenge, prepared: Path, sample_submission: Path
) -> None:
    mutate, expected = MALFORMED[kind]
    mutate(sample_submission, prepared)
    for report in (
        grading.grade(isles, sample_submission, prepared / "public", prepared / "private", workers=2),
        grading.validate(isles, sample_submission, prepared / "public"),
    ):
        assert not report.valid
        assert report.reason is not None and expected in report.reason, report.reason
        assert "\n" not in report.reason and "Traceback" not in report.reason
        assert report.metrics == {}


def test_validate_needs_no_private_data(
    isles: challenge.Challenge, prepared: Path, sample_submission: Path, tmp_path: Path
) -> None:
    public_only = tmp_path / "public"
    shutil.copytree(prepared / "public", public_only)
    r = grading.validate(isles, sample_submission, public_only)
    assert r.valid and r.n_cases == 5 and r.metrics == {}


def test_symlink_inside_submission_is_fine(
    isles: challenge.Challenge, prepared: Path, sample_submission: Path
) -> None:
    _, path = _first_pred(sample_submission)
    real = path.with_name("real.nii.gz")
    path.rename(real)
    os.symlink("real.nii.gz", path)
    assert grading.grade(isles, sample_submission, prepared / "public", prepared / "private").valid
