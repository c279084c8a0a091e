"""TopCoW task 3 (both tracks): synthetic release -> prepare -> grade, and baseline vs dummy."""

from __future__ import annotations

import csv
import json
import shutil
import zipfile
from pathlib import Path

import pytest
import SimpleITK as sitk
from rexmle.challenges._topcow import synthetic
from rexmle.challenges._topcow.formats import edges_from_segmentation, read_edges

from rexmle import challenge, data, grading
from rexmle import run as runs

IDS = ("topcow-track1-task3", "topcow-track2-task3")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    home = tmp_path_factory.mktemp("topcow-home")
    return {cid: data.prepare(challenge.get(cid), synthetic=True, home=home) for cid in IDS}


def test_release_layout_and_edges_agree_with_the_segmentations(tmp_path: Path) -> None:
    synthetic.generate(tmp_path, seed=3)
    with zipfile.ZipFile(tmp_path / synthetic.ARCHIVE) as zf:
        names = zf.namelist()
        folders = {n.split("/")[1] for n in names}
        assert all(n.startswith("TopCoW2024_Data_Release/") for n in names)
        assert folders == {"imagesTr", "cow_seg_labelsTr", "roi_loc_labelsTr", "antpos_edges_labelsTr"}
        for n in [n for n in names if "cow_seg_labelsTr/topcow_mr_00" in n][:5]:
            (tmp_path / "seg.nii.gz").write_bytes(zf.read(n))
            (tmp_path / "e.yml").write_bytes(
                zf.read(n.replace("cow_seg_labelsTr", "antpos_edges_labelsTr").replace(".nii.gz", ".yml"))
            )
            seg = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "seg.nii.gz")))
            assert edges_from_segmentation(seg) == read_edges(tmp_path / "e.yml", n)


@pytest.mark.parametrize("cid", IDS)
def test_prepare_splits_one_modality_and_keeps_test_labels_private(
    prepared: dict[str, Path], cid: str
) -> None:
    root = prepared[cid]
    modality = "ct" if "track1" in cid else "mr"
    with (root / "public" / "test.csv").open() as f:
        test = [r["image_id"] for r in csv.DictReader(f)]
    with (root / "public" / "train.csv").open() as f:
        train = [r["image_id"] for r in csv.DictReader(f)]
    assert len(train) == 48 and len(test) == 12 and not set(train) & set(test)
    assert all(i.startswith(f"topcow_{modality}_") for i in train + test)
    assert not list((root / "public").rglob(f"{test[0]}.yml"))
    assert (root / "private" / "test" / "labels" / f"{test[0]}.yml").is_file()


def test_sample_submission_is_valid_and_bad_edge_files_are_one_line(
    prepared: dict[str, Path], tmp_path: Path
) -> None:
    ch = challenge.get(IDS[0])
    root = prepared[IDS[0]]
    sub = tmp_path / "sub"
    shutil.copytree(root / "public" / "sample_submission", sub)
    report = grading.grade(ch, sub, root / "public", root / "private", workers=1)
    assert report.valid and set(report.metrics) == {"anterior_acc", "posterior_acc"}
    first = next((sub / "predictions").iterdir())
    edges = json.loads(first.read_text())
    edges["anterior"]["Acom"] = True
    first.write_text(json.dumps(edges))
    bad = grading.grade(ch, sub, root / "public", root / "private", workers=1)
    assert not bad.valid and bad.reason is not None and "anterior.Acom must be 0 or 1, not True" in bad.reason
    first.unlink()
    gone = grading.grade(ch, sub, root / "public", root / "private", workers=1)
    assert not gone.valid and "\n" not in (gone.reason or "")


@pytest.mark.parametrize("cid", IDS)
def test_baseline_beats_dummy(home: Path, cid: str) -> None:
    base = runs.execute(runs.make_spec(cid, "baseline", synthetic=True))
    dummy = runs.execute(runs.make_spec(cid, "dummy", synthetic=True))
    assert base.valid and dummy.valid and base.percentile is not None and dummy.percentile is not None
    assert base.metrics["anterior_acc"] > dummy.metrics["anterior_acc"]
    assert base.metrics["posterior_acc"] > dummy.metrics["posterior_acc"]
    assert base.percentile > dummy.percentile
