"""SEG.A. 2023 on synthetic data: the release's nested-zip layout, the split, every metric branch
worked out by hand, malformed masks, and baseline vs dummy."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import offline, public_ids, write_label_map
from rexmle.challenges.seg_a.grade import case_scores

from rexmle import challenge, data, grading, paths
from rexmle import run as runs

CID = "seg_a"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return data.prepare(challenge.get(CID), synthetic=True, home=tmp_path_factory.mktemp("seg-a-home"))


def _gt(root: Path, case: str) -> tuple[np.ndarray, sitk.Image]:
    img = sitk.ReadImage(str(root / "private" / "test" / "labels" / f"{case}.seg.nrrd"))
    return sitk.GetArrayFromImage(img), img


def test_prepare_keeps_the_release_layout_and_split(root: Path) -> None:
    test, train = public_ids(root), public_ids(root, "train.csv")
    assert len(test) == 2 and len(train) == 8 and not set(test) & set(train)
    assert {c[0] for c in train + test} == {"D", "K", "R"}
    for c in test:
        assert (root / "public" / "test" / "images" / f"{c}.nrrd").exists()
        assert not (root / "public" / "test" / "labels").exists()
        gt, img = _gt(root, c)
        assert set(np.unique(gt)) == {0, 1} and img.GetSpacing()[2] != img.GetSpacing()[0]
    # the three Figshare files, read in place
    assert sorted(p.name for p in (root / "raw").iterdir() if p.suffix == ".zip") == [
        "Dongyang.zip",
        "KiTS.zip",
        "Rider.zip",
    ]


@pytest.mark.parametrize("route", ["article zip", "unpacked folders"])
def test_the_whole_article_zip_or_hand_unpacked_folders_need_no_download(
    root: Path, tmp_path: Path, route: str
) -> None:
    """A user who saved Figshare's whole-article zip, or unpacked the three zips by hand (case
    folders with spaces), prepares the same split without any download being tried."""
    import zipfile

    synthetic = root / "raw"
    shas = {p.name: data.file_digest(p) for p in synthetic.glob("*.zip")}
    ch = offline(challenge.get(CID), "http://127.0.0.1:9", shas)  # a closed port: any download fails
    raw = paths.data_dir(CID, False, tmp_path) / "raw"
    raw.mkdir(parents=True)
    if route == "article zip":
        with zipfile.ZipFile(raw / "avt_dataset.zip", "w") as zf:
            for name in shas:
                zf.write(synthetic / name, name)
    else:
        for name in shas:
            with zipfile.ZipFile(synthetic / name) as zf:
                zf.extractall(raw)
        assert (raw / "Rider" / "R1 (AD)" / "R1.nrrd").is_file()
    got = data.prepare(ch, home=tmp_path)
    assert public_ids(got) == public_ids(root) and public_ids(got, "train.csv") == public_ids(
        root, "train.csv"
    )
    m = data.read_manifest(got)
    assert m is not None
    assert m.sources == (shas if route == "article zip" else dict.fromkeys(shas, data.UNPACKED))


def test_case_scores_by_hand() -> None:
    spacing = (2.0, 0.5, 0.5)  # (z, y, x) mm
    gt = np.zeros((10, 20, 20), dtype=bool)
    gt[2:8, 8:12, 8:12] = True
    assert case_scores(gt, gt, spacing) == {"dsc": 1.0, "hd": 0.0}
    # one slice more at the bottom: Dice 2*24*... and HD = one z step
    more = gt.copy()
    more[8] = gt[7]
    s = case_scores(more, gt, spacing)
    assert s["dsc"] == pytest.approx(2 * 96 / (96 + 112)) and s["hd"] == pytest.approx(2.0)
    # a disconnected voxel 4 mm (8 x steps of 0.5) beyond the tree's surface: symmetric HD sees it
    stray = gt.copy()
    stray[4, 9, 19] = True
    assert case_scores(stray, gt, spacing)["hd"] == pytest.approx(np.hypot(0, 8 * 0.5))
    # empty prediction: Dice 0, HD the image diagonal in mm; both empty: 1 and 0
    empty = np.zeros_like(gt)
    diag = float(np.linalg.norm(np.array(gt.shape) * np.array(spacing)))
    assert case_scores(empty, gt, spacing) == {"dsc": 0.0, "hd": pytest.approx(diag)}
    assert case_scores(empty, empty, spacing) == {"dsc": 1.0, "hd": 0.0}


def test_grade_perfect_empty_medians_and_malformed(root: Path, tmp_path: Path) -> None:
    ch = challenge.get(CID)
    sub = tmp_path / "sub"
    shutil.copytree(root / "public" / "sample_submission", sub)
    empty = grading.grade(ch, sub, root / "public", root / "private", workers=2)
    assert empty.valid and empty.metrics["dsc_50pc"] == 0.0 and empty.metrics["hd_50pc"] > 50
    cases = public_ids(root)
    for c in cases:
        shutil.copy(
            root / "private" / "test" / "labels" / f"{c}.seg.nrrd", sub / "predictions" / f"{c}.seg.nrrd"
        )
    perfect = grading.grade(ch, sub, root / "public", root / "private", workers=2)
    assert perfect.valid and perfect.metrics == {"hd_50pc": 0.0, "dsc_50pc": 1.0}
    # one case perfect, one empty: the medians are the midpoints
    gt, like = _gt(root, cases[1])
    write_label_map(np.zeros_like(gt), like, sub / "predictions" / f"{cases[1]}.seg.nrrd")
    half = grading.grade(ch, sub, root / "public", root / "private", workers=2)
    assert half.metrics["dsc_50pc"] == 0.5

    def verdict() -> str:
        r = grading.grade(ch, sub, root / "public", root / "private", workers=1)
        assert not r.valid and r.reason and "\n" not in r.reason
        return r.reason

    bad = gt.copy()
    bad[0, 0, 0] = 2
    write_label_map(bad, like, sub / "predictions" / f"{cases[1]}.seg.nrrd")
    assert "label 2 is not 0 (background) or 1 (aortic vessel tree)" in verdict()
    img = sitk.GetImageFromArray(gt)
    img.CopyInformation(like)
    img.SetSpacing((1.0, 1.0, 1.0))
    sitk.WriteImage(img, str(sub / "predictions" / f"{cases[1]}.seg.nrrd"))
    assert "spacing differs" in verdict()


@pytest.mark.baselines
def test_baseline_beats_dummy(home: Path) -> None:
    base = runs.execute(runs.make_spec(CID, "baseline", synthetic=True))
    dummy = runs.execute(runs.make_spec(CID, "dummy", synthetic=True))
    assert base.valid and dummy.valid and base.percentile is not None and dummy.percentile is not None
    assert base.metrics["dsc_50pc"] > 0.5 > dummy.metrics["dsc_50pc"]
    assert base.metrics["hd_50pc"] < dummy.metrics["hd_50pc"]
