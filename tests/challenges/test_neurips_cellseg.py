"""NeurIPS 2022 Cell Segmentation on synthetic data: the release's zips and names, the reference's
split of the pooled Training + Tuning list (with its clashing stems), grading of perfect, empty,
partly wrong and malformed submissions with exact values, and baseline vs dummy."""

from __future__ import annotations

import csv
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from helpers import public_ids
from PIL import Image

from rexmle import challenge, data, grading
from rexmle import run as runs

CID = "neurips-cellseg"
METRICS = ("f1_0.5", "f1_0.6", "f1_0.7", "f1_0.8", "f1_0.9")
TEST_IDS = ["cell_00001", "cell_00004", "cell_00013", "tuning_cell_00001"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return data.prepare(challenge.get(CID), synthetic=True, home=tmp_path_factory.mktemp("cellseg-home"))


def _gt(root: Path, case: str) -> np.ndarray:
    return np.asarray(tifffile.imread(root / "private" / "test" / "labels" / f"{case}_label.tiff"))


def _interior_cells(gt: np.ndarray) -> list[int]:
    """Cells with no pixel in the outer 2-pixel frame (the ones the metric counts)."""
    frame = np.ones(gt.shape, bool)
    frame[2:-2, 2:-2] = False
    return sorted(set(np.unique(gt).tolist()) - set(np.unique(gt[frame]).tolist()) - {0})


def test_release_layout_and_reference_split(root: Path) -> None:
    with zipfile.ZipFile(root / "raw" / "Training-labeled.zip") as zf:
        names = zf.namelist()
    assert "Training-labeled/images/cell_00001.tif" in names
    assert "Training-labeled/labels/cell_00001_label.tiff" in names
    assert {Path(n).suffix for n in names if "/images/" in n} == {".tif", ".tiff", ".png", ".bmp", ".jpg"}
    with zipfile.ZipFile(root / "raw" / "Tuning.zip") as zf:
        assert sorted(zf.namelist()) == [
            "Tuning/images/cell_00001.tiff",
            "Tuning/images/cell_00002.jpg",
            "Tuning/labels/cell_00001_label.tiff",
            "Tuning/labels/cell_00002_label.tiff",
        ]
    test, train = public_ids(root), public_ids(root, "train.csv")
    assert test == TEST_IDS and len(train) == 12 and not set(test) & set(train)
    # the reference: Training + Tuning pairs sorted by stem (stable), sklearn 80/20, seed 42
    from sklearn.model_selection import train_test_split

    pooled = [(f"cell_{k:05d}", "") for k in range(1, 15)] + [(f"cell_{k:05d}", "tuning_") for k in (1, 2)]
    pooled.sort(key=lambda p: p[0])
    _, ref_test = train_test_split(pooled, test_size=0.2, random_state=42, shuffle=True)
    assert sorted(prefix + stem for stem, prefix in ref_test) == TEST_IDS
    with (root / "public" / "test.csv").open() as f:
        rows = {r["image_id"]: r for r in csv.DictReader(f)}
    assert rows["cell_00001"]["image_path"] == "test/images/cell_00001.tif"
    assert (rows["cell_00001"]["height"], rows["cell_00001"]["width"]) == ("5000", "5000")  # tiled
    assert {Path(r["image_path"]).suffix for r in rows.values()} == {".tif", ".png", ".jpg", ".tiff"}
    for c in TEST_IDS:
        assert (root / "public" / rows[c]["image_path"]).is_file()
        gt = _gt(root, c)
        assert gt.shape == (int(rows[c]["height"]), int(rows[c]["width"])) and gt.dtype in (
            np.uint16,
            np.int32,
        )
    assert not (root / "public" / "test" / "labels").exists()
    assert (root / "public" / "train" / "labels" / "tuning_cell_00002_label.tiff").is_file()
    # border-touching cells exist in every small test image (the metric drops them)
    for c in TEST_IDS[1:]:
        assert len(_interior_cells(_gt(root, c))) < len(np.unique(_gt(root, c))) - 1


def _sub(root: Path, tmp_path: Path) -> Path:
    sub = tmp_path / "sub"
    shutil.copytree(root / "public" / "sample_submission", sub)
    return sub


def _pred(sub: Path, case: str) -> Path:
    return sub / "predictions" / f"{case}_label.tiff"


def test_grade_perfect_empty_and_partly_wrong(root: Path, tmp_path: Path) -> None:
    ch = challenge.get(CID)
    sub = _sub(root, tmp_path)
    empty = grading.grade(ch, sub, root / "public", root / "private", workers=1)
    assert empty.valid and empty.metrics == dict.fromkeys(METRICS, 0.0)
    for c in TEST_IDS:
        shutil.copy(root / "private" / "test" / "labels" / f"{c}_label.tiff", _pred(sub, c))
    perfect = grading.grade(ch, sub, root / "public", root / "private", workers=1)
    assert perfect.valid and perfect.metrics == dict.fromkeys(METRICS, 1.0)
    # large image empty, one small image missing one counted cell: F1 = 2(n-1)/(2n-1) there
    tifffile.imwrite(_pred(sub, "cell_00001"), np.zeros((5000, 5000), np.uint8), compression="zlib")
    gt = _gt(root, "cell_00004")
    cells = _interior_cells(gt)
    n = len(cells)
    pred = gt.astype(np.int32)
    pred[pred == cells[0]] = 0
    tifffile.imwrite(_pred(sub, "cell_00004"), pred)
    f1 = round(2 * (n - 1) / (2 * n - 1), 4)
    r = grading.grade(ch, sub, root / "public", root / "private", workers=1)
    assert r.valid and r.metrics == pytest.approx(dict.fromkeys(METRICS, (f1 + 2.0) / 4), abs=1e-12)
    # the same instance map as a 16-bit PNG with other label numbers scores the same
    png = sub / "predictions" / "cell_00004.png"
    Image.fromarray((pred * 3).astype(np.uint16)).save(png)
    text = (
        (sub / "submission.csv")
        .read_text()
        .replace("predictions/cell_00004_label.tiff", "predictions/cell_00004.png")
    )
    (sub / "submission.csv").write_text(text)
    assert grading.grade(ch, sub, root / "public", root / "private", workers=1).metrics == r.metrics


def test_malformed_submissions_are_invalid_with_one_line(root: Path, tmp_path: Path) -> None:
    ch = challenge.get(CID)
    sub = _sub(root, tmp_path)
    case = "cell_00013"
    h, w = _gt(root, case).shape

    def verdict() -> str:
        r = grading.validate(ch, sub, root / "public", workers=1)
        assert not r.valid and r.reason and "\n" not in r.reason
        return r.reason

    tifffile.imwrite(_pred(sub, case), np.zeros((h, w + 1), np.uint16))
    assert verdict() == f"case {case}: shape ({h}, {w + 1}) differs from the test image's ({h}, {w})"
    tifffile.imwrite(_pred(sub, case), np.zeros((h, w, 3), np.uint8))
    assert verdict() == f"case {case}: shape ({h}, {w}, 3) differs from the test image's ({h}, {w})"
    tifffile.imwrite(_pred(sub, case), np.full((h, w), 0.5, np.float32))
    assert verdict() == f"case {case}: an instance map must hold integer labels, not float32"
    bad = np.zeros((h, w), np.int16)
    bad[5, 5] = -1
    tifffile.imwrite(_pred(sub, case), bad)
    assert verdict() == f"case {case}: label -1 is outside 0..2147483647"
    _pred(sub, case).write_bytes(b"not a tiff")
    assert verdict().startswith(f"case {case}: not a readable TIFF or PNG instance map")
    _pred(sub, case).unlink()
    assert verdict() == f"case {case}: file 'predictions/{case}_label.tiff' does not exist"
    lines = (sub / "submission.csv").read_text().splitlines()
    (sub / "submission.csv").write_text("\n".join(lines[:-1]) + "\n")
    assert verdict() == "missing 1 of 4 test case(s): tuning_cell_00001"
    # a float image of whole numbers and a boolean one are accepted
    tifffile.imwrite(_pred(sub, case), np.ones((1, h, w), np.float32))
    (sub / "submission.csv").write_text("\n".join(lines) + "\n")
    assert grading.validate(ch, sub, root / "public", workers=1).valid


@pytest.mark.baselines
def test_baseline_beats_dummy(home: Path) -> None:
    base = runs.execute(runs.make_spec(CID, "baseline", synthetic=True))
    dummy = runs.execute(runs.make_spec(CID, "dummy", synthetic=True))
    assert base.valid and dummy.valid and base.percentile is not None and dummy.percentile is not None
    assert dummy.metrics == dict.fromkeys(METRICS, 0.0) and dummy.percentile == 0.0
    assert base.metrics["f1_0.5"] > 0.7 and base.metrics["f1_0.9"] > 0.3
    assert base.percentile > 0.3
