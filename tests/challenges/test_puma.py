"""PUMA 2024 (four tasks, one shared release) on synthetic data: the release layout and the split,
the private ground truth (tissue rasterised with holes, nuclei mapped to each track's classes),
grading of perfect, empty, partial and malformed submissions with values worked out by hand, the
organisers' empty-class rules, and baseline vs dummy."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import public_ids
from PIL import Image
from rexmle.challenges._puma import synthetic
from rexmle.challenges._puma.classes import NUCLEI_NAMES, nuclei_label_map
from rexmle.challenges._puma.geometry import rasterise_tissue
from rexmle.challenges._puma.grading import (
    EPS,
    aggregate_nuclei,
    aggregate_tissue,
    nuclei_case_scores,
    tissue_case_scores,
)
from rexmle.graders.points import Point

from rexmle import challenge, data, grading
from rexmle import run as runs

TISSUE_TASKS = ("puma-track1-task1", "puma-track2-task1")
NUCLEI_TASKS = ("puma-track1-task2", "puma-track2-task2")
TASKS = TISSUE_TASKS + NUCLEI_TASKS
NO_NECROSIS = "training_set_primary_roi_005"  # the one test ROI without necrosis (k % 3 == 1)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    home = tmp_path_factory.mktemp("puma-home")
    return {cid: data.prepare(challenge.get(cid), synthetic=True, home=home) for cid in TASKS}


def _grade(cid: str, root: Path, sub: Path) -> grading.GradeReport:
    return grading.grade(challenge.get(cid), sub, root / "public", root / "private", workers=1)


def test_shared_release_layout_and_split(prepared: dict[str, Path]) -> None:
    raw = prepared["puma-track1-task1"] / "raw"
    with zipfile.ZipFile(raw / "01_training_dataset_tif_ROIs.zip") as z:
        names = sorted(z.namelist())
        assert (
            len(names) == 12
            and names[0] == "01_training_dataset_tif_ROIs/training_set_metastatic_roi_001.tif"
        )
        im = Image.open(io.BytesIO(z.read(names[0])))
        assert (im.mode, im.size) == ("RGBA", (256, 256))
    test_ids = public_ids(prepared["puma-track1-task1"])
    assert test_ids == ["training_set_metastatic_roi_001", "training_set_primary_roi_004", NO_NECROSIS]
    for cid, root in prepared.items():  # 12 ROIs -> 9 / 3, the same test ROIs for every task
        assert len(public_ids(root, "train.csv")) == 9 and public_ids(root) == test_ids
        kind = "tissue" if cid in TISSUE_TASKS else "nuclei"
        labels = sorted((root / "public" / "train" / "labels").iterdir())
        assert len(labels) == 9 and all(p.name.endswith(f"_{kind}.geojson") for p in labels)
        sample = (root / "public" / "sample_submission" / "submission.csv").read_text().splitlines()
        assert sample[0] == (
            "image_id,predicted_mask_path" if kind == "tissue" else "image_id,predicted_nuclei_path"
        )
    # the public train labels are the released GeoJSON bytes
    with zipfile.ZipFile(raw / "01_training_dataset_geojson_nuclei.zip") as z:
        first = public_ids(prepared["puma-track2-task2"], "train.csv")[0]
        member = f"01_training_dataset_geojson_nuclei/{first}_nuclei.geojson"
        released = z.read(member)
    assert (
        prepared["puma-track2-task2"] / "public" / "train" / "labels" / f"{first}_nuclei.geojson"
    ).read_bytes() == released
    fc = json.loads(released)
    types = {f["geometry"]["type"] for f in fc["features"]}
    assert types == {"Polygon", "MultiPolygon"}
    assert {f["properties"]["classification"]["name"] for f in fc["features"]} <= set(NUCLEI_NAMES)


def test_one_shared_download() -> None:
    files = {cid: {df.name: df for df in challenge.get(cid).spec.data} for cid in TASKS}
    rois = "01_training_dataset_tif_ROIs.zip"
    assert all(df.shared == "puma" for f in files.values() for df in f.values())
    assert {cid: sorted(f) for cid, f in files.items()} == {
        cid: sorted(
            [rois, f"01_training_dataset_geojson_{'tissue' if cid in TISSUE_TASKS else 'nuclei'}.zip"]
        )
        for cid in TASKS
    }
    assert len({tuple(f[rois].urls) for f in files.values()}) == 1
    assert str(files["puma-track1-task1"][rois].urls[0]).startswith(
        "https://zenodo.org/records/14869398/files/"
    )


def test_tissue_ground_truth_has_holes_and_real_names(prepared: dict[str, Path]) -> None:
    root = prepared["puma-track1-task1"]
    gt = {
        c: np.array(Image.open(root / "private" / "test" / "labels" / f"{c}.tif")) for c in public_ids(root)
    }
    assert all(g.shape == (256, 256) and g.dtype == np.uint8 for g in gt.values())
    assert {c: sorted(np.unique(g).tolist()) for c, g in gt.items()} == {
        "training_set_metastatic_roi_001": [0, 1, 2, 3, 4, 5],
        "training_set_primary_roi_004": [0, 1, 2, 3, 4, 5],
        NO_NECROSIS: [0, 1, 2, 3, 4],
    }
    # a square with a square hole, a MultiPolygon, an unknown class (skipped), later on top
    fc = {"type": "FeatureCollection", "features": [
        synthetic.feature("tissue_tumor", "Polygon", [[[0, 0], [9, 0], [9, 9], [0, 9], [0, 0]],
                                                      [[3, 3], [6, 3], [6, 6], [3, 6], [3, 3]]]),
        synthetic.feature("tissue_necrosis", "MultiPolygon", [[[[0, 0], [1, 0], [1, 1], [0, 0]]],
                                                              [[[11, 11], [11, 11.5], [11.5, 11], [11, 11]]]]),
        synthetic.feature("stroma", "Polygon", [[[0, 0], [12, 0], [12, 12], [0, 0]]]),
    ]}  # fmt: skip
    m = rasterise_tissue(json.dumps(fc), (12, 12), {"tissue_tumor": 3, "tissue_necrosis": 5})
    assert m[4, 4] == 0 and m[3, 3] == 0 and m[2, 2] == 3 and m[8, 8] == 3 and m[0, 0] == 5 and m[11, 11] == 5
    assert int((m == 3).sum()) == 100 - 16 - 3  # 10x10 filled, 4x4 hole cleared, 3 px under necrosis


def test_track1_merges_nuclei_classes(prepared: dict[str, Path]) -> None:
    t1 = nuclei_label_map(1)
    assert (t1["nuclei_plasma_cell"], t1["nuclei_lymphocyte"], t1["nuclei_tumor"]) == (
        "nuclei_lymphocyte",
    ) * 2 + ("nuclei_tumor",)
    assert {t1[n] for n in NUCLEI_NAMES} == {"nuclei_tumor", "nuclei_lymphocyte", "nuclei_other"}
    c = public_ids(prepared["puma-track1-task2"])[0]
    g1 = json.loads((prepared["puma-track1-task2"] / "private" / "test" / "labels" / f"{c}.json").read_text())
    g2 = json.loads((prepared["puma-track2-task2"] / "private" / "test" / "labels" / f"{c}.json").read_text())
    assert len(g1["polygons"]) == len(g2["polygons"]) == 50
    assert [t1[p["name"]] for p in g2["polygons"]] == [p["name"] for p in g1["polygons"]]


@pytest.mark.parametrize("cid", TISSUE_TASKS)
def test_tissue_grade_empty_perfect_partial(prepared: dict[str, Path], cid: str, tmp_path: Path) -> None:
    root = prepared[cid]
    sub = tmp_path / "sub"
    shutil.copytree(root / "public" / "sample_submission", sub)
    empty = _grade(cid, root, sub)
    # no class is predicted: every micro Dice is 0; per ROI only the absent necrosis scores 1
    assert empty.valid and empty.metrics["dice"] == 0.0
    assert empty.metrics["case_dice_necrosis"] == pytest.approx(1 / 3, abs=1e-6)
    assert empty.metrics["mean_case_dice"] == pytest.approx(1 / 15, abs=1e-6)
    gts = {
        c: np.array(Image.open(root / "private" / "test" / "labels" / f"{c}.tif")) for c in public_ids(root)
    }
    for c, g in gts.items():
        Image.fromarray(g).save(sub / "predictions" / f"{c}.tif")
    perfect = _grade(cid, root, sub)
    assert perfect.valid and perfect.metrics["dice"] == 1.0 and perfect.metrics["mean_case_dice"] == 1.0
    # tumour predicted as stroma everywhere, saved as PNG: dice_stroma = 2 S / (2 S + T)
    shutil.rmtree(sub / "predictions")
    rows = ["image_id,predicted_mask_path"]
    for c, g in gts.items():
        Image.fromarray(np.where(g == 3, 1, g).astype(np.uint8)).save(sub / f"{c}.png")
        rows.append(f"{c},{c}.png")
    (sub / "submission.csv").write_text("\n".join(rows) + "\n")
    s_px = 16 * sum(int((g == 1).sum()) for g in gts.values())  # 16: the 4x4 resize to 1024
    t_px = 16 * sum(int((g == 3).sum()) for g in gts.values())
    partial = _grade(cid, root, sub)
    stroma = (2 * s_px + EPS) / (2 * s_px + t_px + EPS)
    assert partial.valid and partial.metrics["dice_tumor"] == 0.0 and partial.metrics["dice_stroma"] == stroma
    assert partial.metrics["dice"] == pytest.approx((stroma + 3) / 5, abs=1e-12)


def test_tissue_class_predicted_where_absent() -> None:
    gt = np.ones((4, 4), dtype=np.uint8)  # all stroma
    pred = gt.copy()
    pred[0] = 5  # necrosis predicted, absent from the ground truth
    row = tissue_case_scores(gt, pred)
    assert row["case_dice_stroma"] == (24 + EPS) / (28 + EPS)
    assert row["case_dice_necrosis"] == EPS / (4 + EPS)
    assert row["case_dice_tumor"] == 1.0  # absent from both
    out = aggregate_tissue([row])
    assert out["dice_necrosis"] == out["dice_tumor"] == 0.0  # micro: no overlap -> 0, absent-both too
    assert out["dice"] == (24 + EPS) / (28 + EPS) / 5


def test_nuclei_aggregation_and_absent_class() -> None:
    classes = NUCLEI_NAMES
    a = nuclei_case_scores(
        [Point("nuclei_tumor", 10, 10)],
        [Point("nuclei_tumor", 12, 10), Point("nuclei_melanophage", 50, 50)],  # melanophage: not in GT
        classes,
    )
    b = nuclei_case_scores([Point("nuclei_lymphocyte", 0, 0)], [], classes)  # an empty prediction
    assert (a["f1_nuclei_tumor"], a["present_nuclei_melanophage"], a["f1_nuclei_melanophage"]) == (
        1.0,
        1.0,
        0.0,
    )
    assert (b["f1_nuclei_lymphocyte"], b["present_nuclei_lymphocyte"], b["present_nuclei_tumor"]) == (
        0.0,
        1.0,
        0.0,
    )
    out = aggregate_nuclei([a, b], classes)
    # per class: sum over ROIs / 2 ROIs; macro over the 3 classes seen (tumour, melanophage, lymphocyte)
    assert out == {"f1": pytest.approx(0.5 / 3)}  # the per-class means are the harness's (yaml: mean)
    metrics = challenge.get("puma-track2-task2").spec.metrics
    full = grading.aggregate(metrics, [a, b], out)
    assert full["f1_nuclei_tumor"] == 0.5 and full["f1_nuclei_apoptosis"] == 0.0 and full["f1"] == out["f1"]


@pytest.mark.parametrize("cid", NUCLEI_TASKS)
def test_nuclei_grade_empty_perfect_partial(prepared: dict[str, Path], cid: str, tmp_path: Path) -> None:
    root = prepared[cid]
    sub = tmp_path / "sub"
    shutil.copytree(root / "public" / "sample_submission", sub)
    empty = _grade(cid, root, sub)
    assert empty.valid and empty.metrics["f1"] == 0.0 and all(v == 0.0 for v in empty.metrics.values())
    ids = public_ids(root)
    gts = {c: json.loads((root / "private" / "test" / "labels" / f"{c}.json").read_text()) for c in ids}
    for c, g in gts.items():
        (sub / "predictions" / f"{c}.json").write_text(json.dumps(g))
    perfect = _grade(cid, root, sub)
    # the organisers divide a class's F1 sum by every ROI: neutrophils are absent from one test
    # ROI (track 2), so even a perfect submission scores 2/3 on them
    t2 = cid == "puma-track2-task2"
    assert perfect.valid and perfect.metrics["f1"] == pytest.approx((9 + 2 / 3) / 10 if t2 else 1.0)
    assert perfect.metrics["f1_nuclei_tumor"] == 1.0
    # first ROI: every polygon moved far off (no match: F1 0 for each class there), the others perfect
    first = gts[ids[0]]
    moved = [dict(p, path_points=[[x + 1000, y] for x, y in p["path_points"]]) for p in first["polygons"]]
    (sub / "predictions" / f"{ids[0]}.json").write_text(json.dumps({"polygons": moved}))
    partial = _grade(cid, root, sub)
    # per class (0 + 1 + 1) / 3; track 2's neutrophils (0 + 1 + 0) / 3
    assert partial.valid and partial.metrics["f1"] == pytest.approx((9 * 2 / 3 + 1 / 3) / 10 if t2 else 2 / 3)


@pytest.mark.parametrize("cid", TASKS)
def test_malformed_submissions(prepared: dict[str, Path], cid: str, tmp_path: Path) -> None:
    root = prepared[cid]
    sub = tmp_path / "sub"
    shutil.copytree(root / "public" / "sample_submission", sub)
    c = public_ids(root)[0]

    def verdict() -> str:
        r = _grade(cid, root, sub)
        assert not r.valid and r.reason and "\n" not in r.reason
        return r.reason

    if cid in TISSUE_TASKS:
        path = sub / "predictions" / f"{c}.tif"
        Image.fromarray(np.zeros((256, 256, 3), np.uint8)).save(path)
        assert "single-channel label map is expected, found PIL mode RGB" in verdict()
        Image.fromarray(np.full((256, 256), 6, np.uint8)).save(path)
        assert "label values must be 0-5, found 6..6" in verdict()
        path.write_text("not an image")
        assert "cannot read the mask as TIF/PNG" in verdict()
    else:
        path = sub / "predictions" / f"{c}.json"
        path.write_text("{")
        assert "not valid JSON" in verdict()
        path.write_text('{"nuclei": []}')
        assert 'expected a JSON object with a "polygons" list' in verdict()
        path.write_text(
            json.dumps({"polygons": [{"name": "tumor", "path_points": [[0, 0], [1, 0], [0, 1]]}]})
        )
        assert "name 'tumor' is not one of nuclei_tumor" in verdict()
        path.write_text(json.dumps({"polygons": [{"name": "nuclei_tumor", "path_points": [["a", 0]]}]}))
        assert "path_points must be a list of [x, y] or [x, y, z] numbers" in verdict()
    shutil.copy(root / "public" / "sample_submission" / "submission.csv", sub / "submission.csv")
    lines = (sub / "submission.csv").read_text().splitlines()
    (sub / "submission.csv").write_text("\n".join(lines[:-1]) + "\n")  # a test ROI left out
    assert verdict()


@pytest.mark.baselines
@pytest.mark.parametrize("cid", ("puma-track1-task1", "puma-track2-task2"))
def test_baseline_beats_dummy(home: Path, cid: str) -> None:
    metric = "dice" if cid in TISSUE_TASKS else "f1"
    base = runs.execute(runs.make_spec(cid, "baseline", synthetic=True))
    dummy = runs.execute(runs.make_spec(cid, "dummy", synthetic=True))
    assert base.valid and dummy.valid and base.percentile is not None and dummy.percentile is not None
    assert base.metrics[metric] > 0.5 > dummy.metrics[metric]
