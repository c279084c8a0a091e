"""RAVIR on synthetic data: the release's zip layout and the split, the mask conversion, every
scoring branch worked out by hand (empty prediction, a class only in the prediction, both
encodings), malformed masks, the manual-download messages (offline), and baseline vs dummy."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import public_ids
from PIL import Image
from rexmle.challenges.ravir.grade import case_scores
from rexmle.challenges.ravir.prepare import class_ids
from rexmle.challenges.ravir.synthetic import TRAIN_IDS

from rexmle import challenge, data, grading
from rexmle import run as runs
from rexmle.errors import DataError

CID = "ravir"
TEST_IDS = ["IR_Case_011", "IR_Case_034", "IR_Case_035", "IR_Case_044", "IR_Case_051"]
NO_VEIN = "IR_Case_011"  # the synthetic release's artery-only case


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return data.prepare(challenge.get(CID), synthetic=True, home=tmp_path_factory.mktemp("ravir-home"))


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def _save(arr: np.ndarray, path: Path, mode: str | None = None, fmt: str = "PNG") -> None:
    path.unlink(missing_ok=True)
    Image.fromarray(arr, mode=mode).save(path, format=fmt)


def test_prepare_keeps_the_release_layout_and_split(root: Path) -> None:
    test, train = public_ids(root), public_ids(root, "train.csv")
    assert test == TEST_IDS  # sorted ids, ceil(0.2 * 23) = 5 test, seed 42
    assert len(train) == 18 and sorted(train + test) == TRAIN_IDS
    pub, priv = root / "public", root / "private"
    assert not (pub / "test" / "labels").exists() and not list(pub.rglob("IR_Case_006*"))
    with zipfile.ZipFile(root / "raw" / "RAVIR_Dataset.zip") as zf:
        names = set(zf.namelist())
        raw_mask = np.asarray(
            Image.open(io.BytesIO(zf.read(f"RAVIR Dataset/train/training_masks/{train[0]}.png")))
        )
        raw_image = zf.read(f"RAVIR Dataset/train/training_images/{train[0]}.png")
    assert "RAVIR Dataset/test/IR_Case_006.png" in names and len(names) == 2 * 23 + 3
    assert set(np.unique(raw_mask)) == {0, 128, 255}
    # images are copied byte for byte; masks become class ids 0/1/2 (128 -> 1, 255 -> 2)
    assert (pub / "train" / "images" / f"{train[0]}.png").read_bytes() == raw_image
    label = _png(pub / "train" / "labels" / f"{train[0]}.png")
    assert label.dtype == np.uint8 and set(np.unique(label)) == {0, 1, 2}
    assert np.array_equal(label, (raw_mask == 128) * 1 + (raw_mask == 255) * 2)
    for c in test:
        gt = _png(priv / "test" / "labels" / f"{c}.png")
        assert set(np.unique(gt)) == ({0, 1} if c == NO_VEIN else {0, 1, 2})
        empty = _png(pub / "sample_submission" / "predictions" / f"{c}.png")
        assert empty.shape == gt.shape == (128, 128) and not empty.any()
    assert (pub / "description.md").exists()


def test_class_ids_conversion() -> None:
    raw = np.array([[0, 128], [255, 0]], dtype=np.uint8)
    assert class_ids(raw, "m").tolist() == [[0, 1], [2, 0]]
    assert class_ids(np.array([[256, 0]], dtype=np.uint16), "m").tolist() == [[2, 0]]
    assert class_ids(np.repeat(raw[..., None], 3, axis=2), "m").tolist() == [[0, 1], [2, 0]]
    with pytest.raises(DataError, match=r"mask value\(s\) \[7\] are not 0, 128 or 255"):
        class_ids(np.array([[0, 7]], dtype=np.uint8), "m")


def test_case_scores_by_hand() -> None:
    gt = np.zeros((6, 6), dtype=np.uint8)
    gt[0, 0:4] = 1  # 4 artery pixels
    gt[3, 0:6] = 2  # 6 vein pixels
    assert case_scores(gt, gt) == {
        "dice_artery": 1.0,
        "jaccard_artery": 1.0,
        "dice_vein": 1.0,
        "jaccard_vein": 1.0,
        "dice_mean": 1.0,
        "jaccard_mean": 1.0,
    }
    pred = gt.copy()
    pred[0, 2:4] = 0
    pred[1, 0:2] = 1  # artery: 2 of 4 found, 2 false: Dice 2*2/(4+4), Jaccard 2/6
    pred[3, 5] = 0  # vein: 5 of 6: Dice 10/11, Jaccard 5/6
    s = case_scores(pred, gt)
    assert s["dice_artery"] == pytest.approx(0.5) and s["jaccard_artery"] == pytest.approx(2 / 6)
    assert s["dice_vein"] == pytest.approx(10 / 11) and s["jaccard_vein"] == pytest.approx(5 / 6)
    assert s["dice_mean"] == pytest.approx((0.5 + 10 / 11) / 2) and s["jaccard_mean"] == pytest.approx(
        (2 / 6 + 5 / 6) / 2
    )
    # empty prediction: 0 everywhere
    assert set(case_scores(np.zeros_like(gt), gt).values()) == {0.0}
    # a class only in the prediction scores 0; a class in neither scores 1
    only_artery = np.where(gt == 2, 0, gt).astype(np.uint8)
    s = case_scores(gt, only_artery)
    assert s["dice_vein"] == 0.0 and s["jaccard_vein"] == 0.0 and s["dice_artery"] == 1.0
    s = case_scores(only_artery, only_artery)
    assert s["dice_vein"] == 1.0 and s["jaccard_vein"] == 1.0


def test_grade_perfect_empty_only_predicted_and_malformed(root: Path, tmp_path: Path) -> None:
    ch = challenge.get(CID)
    pub, priv = root / "public", root / "private"
    sub = tmp_path / "sub"
    shutil.copytree(pub / "sample_submission", sub)
    for p in sub.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)

    def grade(workers: int = 1) -> grading.GradeReport:
        return grading.grade(ch, sub, pub, priv, workers=workers)

    # the sample (all background): 0 except the vein of the artery-only case (absent from both)
    empty = grade(workers=2)
    assert empty.valid and empty.n_cases == 5
    assert empty.metrics == pytest.approx(
        {
            "dice_mean": 0.1,
            "dice_artery": 0.0,
            "dice_vein": 0.2,
            "jaccard_mean": 0.1,
            "jaccard_artery": 0.0,
            "jaccard_vein": 0.2,
        }
    )
    gts = {c: _png(priv / "test" / "labels" / f"{c}.png") for c in TEST_IDS}
    for c, gt in gts.items():
        _save(gt, sub / "predictions" / f"{c}.png")
    perfect = grade()
    assert perfect.valid and set(perfect.metrics.values()) == {1.0}
    # the organisers' encoding 0/128/255 scores the same
    for c, gt in gts.items():
        _save(np.choose(gt, [0, 128, 255]).astype(np.uint8), sub / "predictions" / f"{c}.png")
    assert grade().metrics == perfect.metrics
    # veins predicted on background of the artery-only case: its vein scores 0, artery stays 1
    pred = gts[NO_VEIN].copy()
    pred[:3, :] = np.where(pred[:3, :] == 0, 2, pred[:3, :])
    _save(pred, sub / "predictions" / f"{NO_VEIN}.png")
    only = grade()
    assert only.valid and only.metrics == pytest.approx(
        {
            "dice_mean": 0.9,
            "dice_artery": 1.0,
            "dice_vein": 0.8,
            "jaccard_mean": 0.9,
            "jaccard_artery": 1.0,
            "jaccard_vein": 0.8,
        }
    )

    target = sub / "predictions" / f"{NO_VEIN}.png"

    def verdict() -> str:
        r = grade()
        assert not r.valid and r.reason and "\n" not in r.reason
        return r.reason

    gt = gts[NO_VEIN]
    _save(np.repeat(gt[..., None], 3, axis=2), target)
    assert (
        verdict()
        == f"case {NO_VEIN}: expected a 2-D single-channel mask, got an array of shape (128, 128, 3)"
    )
    _save(gt[:64, :64], target)
    assert verdict() == f"case {NO_VEIN}: mask is 64x64 but the test image is 128x128"
    bad = gt.copy()
    bad[0, 0] = 3
    _save(bad, target)
    assert verdict() == f"case {NO_VEIN}: value 3 is not 0/1/2 (background/artery/vein) or 0/128/255"
    bad[0, 0] = 128
    _save(bad, target)
    assert verdict() == f"case {NO_VEIN}: mixes the 0/1/2 and 0/128/255 encodings (values [0, 1, 128])"
    _save(gt.astype(np.float32), target, mode="F", fmt="TIFF")
    assert verdict() == f"case {NO_VEIN}: file is TIFF, not PNG"
    target.write_text("not an image")
    assert verdict() == f"case {NO_VEIN}: not a readable PNG image"
    target.unlink()
    assert verdict() == f"case {NO_VEIN}: file 'predictions/{NO_VEIN}.png' does not exist"


def test_manual_download_messages_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (df,) = challenge.get(CID).spec.data
    raw = tmp_path / "raw"
    target = raw / "RAVIR_Dataset.zip"
    how = data.by_hand(df, target)
    assert "https://ravir.grand-challenge.org/data/" in how and "do not unpack it" in how
    assert f"save it as {target} (sha256 {df.sha256}); then run prepare again" in how
    # Drive unreachable (a closed loopback port): the error says how to get the file by hand
    monkeypatch.setenv("REXMLE_GDRIVE_URL", "http://127.0.0.1:9/{id}")
    with pytest.raises(DataError, match="download failed from every source") as err:
        data.fetch([df], raw)
    assert "or get it by hand: Register on https://ravir.grand-challenge.org/" in str(err.value)
    # a file placed by hand is verified, never replaced
    target.write_bytes(b"not the release")
    with pytest.raises(DataError, match=f"has sha256 [0-9a-f]{{64}}, not {df.sha256}; replace it"):
        data.fetch([df], raw)
    assert target.read_bytes() == b"not the release"


@pytest.mark.baselines
def test_baseline_beats_dummy(home: Path) -> None:
    base = runs.execute(runs.make_spec(CID, "baseline", synthetic=True))
    dummy = runs.execute(runs.make_spec(CID, "dummy", synthetic=True))
    assert base.valid and dummy.valid and base.percentile is not None and dummy.percentile is not None
    assert dummy.metrics["dice_mean"] == pytest.approx(0.1)
    assert (
        base.metrics["dice_mean"] > 0.6
        and base.metrics["dice_artery"] > 0.4
        and base.metrics["dice_vein"] > 0.8
    )
    assert base.percentile > dummy.percentile
