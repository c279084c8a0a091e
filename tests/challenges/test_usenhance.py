"""USenhance 2023 on synthetic data: the release zip's layout, the 80/20 split, LNCC/SSIM/PSNR
per case by hand (identical images and the PSNR cap, inverted contrast), malformed PNGs and
ids, and baseline vs dummy."""

from __future__ import annotations

import io
import json
import math
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import public_ids
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image
from rexmle.graders.image_quality import lncc, ssim

from rexmle import challenge, data, grading
from rexmle import run as runs

CID = "usenhance"
ORGANS = {"breast": (64, 72), "carotid": (56, 64), "kidney": (64, 64), "liver": (72, 64), "thyroid": (56, 72)}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return data.prepare(challenge.get(CID), synthetic=True, home=tmp_path_factory.mktemp("usenhance-home"))


def _gray(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("L"), dtype=np.uint8)


def _gt(root: Path, case: str) -> np.ndarray:
    return _gray(root / "private" / "test" / "high_quality" / f"{case}.png")


def _sample(root: Path, dst: Path) -> Path:
    shutil.copytree(root / "public" / "sample_submission", dst)
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


def _grade(root: Path, sub: Path, workers: int = 1) -> grading.GradeReport:
    return grading.grade(challenge.get(CID), sub, root / "public", root / "private", workers=workers)


def test_prepare_layout_and_split(root: Path) -> None:
    with zipfile.ZipFile(root / "raw" / "train_dataset.zip") as zf:
        names = zf.namelist()
    assert "train_datasets/liver/low_quality/001.png" in names
    assert "train_datasets/liver/high_quality/001.png" in names
    train, test = public_ids(root, "train.csv"), public_ids(root)
    assert len(train) == 24 and len(test) == 6 and not set(train) & set(test)
    assert sorted(train + test) == sorted(f"{o}_{k:03d}" for o in ORGANS for k in range(1, 7))
    for c in train[:3] + test:
        organ = c.rsplit("_", 1)[0]
        low = _gray(root / "public" / ("train" if c in train else "test") / "low_quality" / f"{c}.png")
        assert low.shape == ORGANS[organ]
    assert not (root / "public" / "test" / "high_quality").exists()
    for c in test:
        assert _gt(root, c).shape == ORGANS[c.rsplit("_", 1)[0]]
        # the sample submission is the input copied unchanged
        sample = root / "public" / "sample_submission" / "predictions" / f"{c}.png"
        assert sample.read_bytes() == (root / "public" / "test" / "low_quality" / f"{c}.png").read_bytes()


def test_identical_images_score_the_cap_not_infinity(root: Path, tmp_path: Path) -> None:
    sub = _sample(root, tmp_path / "perfect")
    for c in public_ids(root):
        shutil.copy(root / "private" / "test" / "high_quality" / f"{c}.png", sub / "predictions" / f"{c}.png")
    report = _grade(root, sub, workers=2)
    assert report.valid and report.n_cases == 6
    assert report.metrics == pytest.approx({"lncc": 1.0, "ssim": 1.0, "psnr": 100.0}, abs=1e-12)
    assert all(math.isfinite(r["psnr"]) and r["psnr"] == 100.0 for r in report.per_case)
    # the result serialises as strict JSON (no Infinity)
    json.dumps(report.model_dump(), allow_nan=False)


def test_dummy_copy_of_the_input_by_hand(root: Path) -> None:
    report = _grade(root, root / "public" / "sample_submission")
    assert report.valid
    per = {r["case_id"]: r for r in report.per_case}
    for c in public_ids(root):
        low = _gray(root / "public" / "test" / "low_quality" / f"{c}.png").astype(np.float64)
        gt = _gt(root, c).astype(np.float64)
        assert per[c]["psnr"] == pytest.approx(10 * math.log10(255**2 / np.mean((low - gt) ** 2)))
        assert per[c]["ssim"] == pytest.approx(ssim(low, gt)) and per[c]["lncc"] == pytest.approx(
            lncc(low, gt)
        )
    assert report.metrics["psnr"] == pytest.approx(np.mean([r["psnr"] for r in report.per_case]))


def test_inverted_contrast_is_negatively_correlated_by_hand(root: Path, tmp_path: Path) -> None:
    sub = _sample(root, tmp_path / "inverted")
    c = public_ids(root)[0]
    gt = _gt(root, c)
    Image.fromarray(255 - gt, mode="L").save(sub / "predictions" / f"{c}.png")
    per = {r["case_id"]: r for r in _grade(root, sub).per_case}
    # each non-flat 11x11 window correlates exactly -1; windows flat in the ground truth (the
    # black outside the fan) are flat in its inverse too and count 1
    flat = np.ptp(sliding_window_view(gt, (11, 11)), axis=(2, 3)) == 0
    assert 0 < flat.mean() < 1
    assert per[c]["lncc"] == pytest.approx(flat.mean() - (1 - flat.mean()))
    mse = np.mean((255.0 - 2 * gt.astype(np.float64)) ** 2)
    assert per[c]["psnr"] == pytest.approx(10 * math.log10(255**2 / mse))
    assert per[c]["ssim"] < 0.5


def test_malformed_submissions_are_one_line_reasons(root: Path, tmp_path: Path) -> None:
    ids = public_ids(root)
    c = ids[1]
    h, w = ORGANS[c.rsplit("_", 1)[0]]

    def reason(edit: str) -> str:
        sub = _sample(root, tmp_path / f"s{len(list(tmp_path.iterdir()))}")
        target = sub / "predictions" / f"{c}.png"
        if edit == "size":
            Image.fromarray(np.zeros((h, w + 1), np.uint8), mode="L").save(target)
        elif edit == "16bit":
            Image.fromarray(np.zeros((h, w), np.uint16)).save(target)
        elif edit == "text":
            target.write_text("not an image")
        elif edit == "jpeg":
            buf = io.BytesIO()
            Image.fromarray(np.zeros((h, w), np.uint8), mode="L").save(buf, format="JPEG")
            target.write_bytes(buf.getvalue())
        elif edit == "missing-file":
            target.unlink()
        elif edit == "missing-id":
            lines = (sub / "submission.csv").read_text().splitlines()
            (sub / "submission.csv").write_text("\n".join(line for line in lines if c not in line) + "\n")
        elif edit == "suffix":
            text = (sub / "submission.csv").read_text()
            (sub / "submission.csv").write_text(text.replace(f"predictions/{c}.png", f"predictions/{c}.jpg"))
            shutil.copy(target, target.with_suffix(".jpg"))
        report = _grade(root, sub)
        assert not report.valid and report.reason and "\n" not in report.reason
        return report.reason

    assert reason("size") == f"case {c}: image is {w + 1} x {h} (width x height); the test input is {w} x {h}"
    assert reason("16bit") == f"case {c}: {c}.png has mode I;16; write an 8-bit grayscale PNG (mode L)"
    assert reason("text") == f"case {c}: {c}.png is not a readable PNG (UnidentifiedImageError)"
    assert reason("jpeg") == f"case {c}: {c}.png is not a PNG (it is JPEG)"
    assert reason("missing-file") == f"case {c}: file 'predictions/{c}.png' does not exist"
    assert reason("missing-id") == f"missing 1 of 6 test case(s): {c}"
    assert reason("suffix") == f"case {c}: enhanced_image_path 'predictions/{c}.jpg' must end with .png"


def test_rgb_predictions_are_converted_like_the_reference(root: Path, tmp_path: Path) -> None:
    sub = _sample(root, tmp_path / "rgb")
    c = public_ids(root)[2]
    gt = _gt(root, c)
    Image.fromarray(np.stack([gt] * 3, axis=-1), mode="RGB").save(sub / "predictions" / f"{c}.png")
    per = {r["case_id"]: r for r in _grade(root, sub).per_case}
    assert per[c]["psnr"] == 100.0 and per[c]["lncc"] == pytest.approx(1.0)


@pytest.mark.baselines
def test_baseline_beats_dummy(home: Path) -> None:
    base = runs.execute(runs.make_spec(CID, "baseline", synthetic=True))
    dummy = runs.execute(runs.make_spec(CID, "dummy", synthetic=True))
    assert base.valid and dummy.valid and base.percentile is not None and dummy.percentile is not None
    for m in ("lncc", "ssim", "psnr"):
        assert base.metrics[m] > dummy.metrics[m], m
