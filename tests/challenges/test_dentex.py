"""DENTEX 2023 on synthetic data: the release's zip layout, the reference split, the pooled COCO
grading (perfect, empty, corner convention, wrong labels, a missing image) worked out by hand,
malformed prediction files, and baseline vs dummy."""

from __future__ import annotations

import csv
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from helpers import public_ids
from rexmle.challenges.dentex.prepare import JSON_NAME, SUBSET, split_image_ids

from rexmle import challenge, data, grading
from rexmle import run as runs

CID = "dentex"
TEST_IDS = ["train_1", "train_15", "train_17", "train_18", "train_20"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return data.prepare(challenge.get(CID), synthetic=True, home=tmp_path_factory.mktemp("dentex-home"))


def _gt(root: Path) -> dict[str, Any]:
    gt: dict[str, Any] = json.loads((root / "private" / "test_ground_truth.json").read_text())
    return gt


def _submit(root: Path, folder: Path, preds: dict[str, Any]) -> Path:
    shutil.copytree(root / "public" / "sample_submission", folder)
    for stem, obj in preds.items():
        path = folder / "predictions" / f"{stem}.json"
        path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return folder


def _perfect(root: Path) -> dict[str, list[dict[str, Any]]]:
    gt = _gt(root)
    stems = {im["id"]: Path(im["file_name"]).stem for im in gt["images"]}
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in stems.values()}
    for a in gt["annotations"]:
        labels = {f"category_id_{k}": a[f"category_id_{k}"] for k in (1, 2, 3)}
        out[stems[a["image_id"]]].append({"bbox": a["bbox"], **labels, "score": 1.0})
    return out


def test_prepare_keeps_the_release_layout_and_split(root: Path) -> None:
    test, train = public_ids(root), public_ids(root, "train.csv")
    assert test == TEST_IDS and len(train) == 19 and not set(test) & set(train)
    # the reference split: random.seed(42), shuffle the ids in the JSON's order, first int(0.8 n) train
    with zipfile.ZipFile(root / "raw" / "training_data.zip") as zf:
        release = json.loads(zf.read(f"{SUBSET}/{JSON_NAME}"))
        assert "training_data/quadrant/train_quadrant.json" in zf.namelist()
    ids = [im["id"] for im in release["images"]]
    assert ids != sorted(ids)
    tr, te = split_image_ids(ids, 0.8, 42)
    stem = {im["id"]: Path(im["file_name"]).stem for im in release["images"]}
    assert sorted(stem[i] for i in te) == TEST_IDS and len(tr) == 19
    pub = json.loads((root / "public" / "train" / JSON_NAME).read_text())
    assert sorted(Path(im["file_name"]).stem for im in pub["images"]) == sorted(train)
    assert {a["image_id"] for a in pub["annotations"]} <= set(tr)
    assert [c["id"] for c in pub["categories_3"]] == [0, 1, 2, 3] and len(pub["categories_2"]) == 8
    assert sorted(p.stem for p in (root / "public" / "train" / "xrays").glob("*.png")) == sorted(train)
    assert sorted(p.stem for p in (root / "public" / "test" / "xrays").glob("*.png")) == TEST_IDS
    gt = _gt(root)
    assert len(gt["annotations"]) == 8 and sorted(Path(i["file_name"]).stem for i in gt["images"]) == TEST_IDS
    with (root / "private" / "test_labels.csv").open() as f:
        counts = {r["image_id"]: int(r["n_boxes"]) for r in csv.DictReader(f)}
    assert counts == {"train_1": 3, "train_15": 3, "train_17": 0, "train_18": 1, "train_20": 1}
    assert not list((root / "public").rglob("test_ground_truth.json"))


def test_grade_perfect_empty_and_wrong_corners(root: Path, tmp_path: Path) -> None:
    ch = challenge.get(CID)
    METRICS = [m.name for m in ch.spec.metrics]
    pub, priv = root / "public", root / "private"
    empty = grading.grade(ch, pub / "sample_submission", pub, priv, workers=2)
    assert empty.valid and list(empty.metrics) == list(METRICS)
    assert set(empty.metrics.values()) == {0.0}
    perfect = grading.grade(ch, _submit(root, tmp_path / "perfect", _perfect(root)), pub, priv, workers=2)
    assert perfect.valid and perfect.metrics == pytest.approx(dict.fromkeys(METRICS, 1.0), abs=1e-12)
    # [x1, y1, x2, y2] read as [x, y, w, h]: 12 x 40 teeth become >= 28 x 58 boxes, IoU < 0.3
    xyxy = _perfect(root)
    for dets in xyxy.values():
        for d in dets:
            x, y, w, h = d["bbox"]
            d["bbox"] = [x, y, x + w, y + h]
    corners = grading.grade(ch, _submit(root, tmp_path / "xyxy", xyxy), pub, priv, workers=2)
    assert corners.valid and set(corners.metrics.values()) == {0.0}


def test_grade_partly_right_labels_and_a_missed_image(root: Path, tmp_path: Path) -> None:
    ch = challenge.get(CID)
    pub, priv = root / "public", root / "private"
    # 1-based tooth numbers: no predicted tooth id meets a ground-truth box of that id (8 is not
    # even declared), the other two aspects stay perfect
    shifted = _perfect(root)
    for dets in shifted.values():
        for d in dets:
            d["category_id_2"] += 1
    m = grading.grade(ch, _submit(root, tmp_path / "shift", shifted), pub, priv, workers=2).metrics
    assert m["ap_enumeration"] == 0.0 and m["ar_enumeration"] == 0.0
    assert (m["ap_quadrant"], m["ap_diagnosis"], m["ap_mean"]) == pytest.approx((1.0, 1.0, 2 / 3))
    # nothing for train_20 (its one box: quadrant id 1, tooth id 6, diagnosis id 3):
    # quadrant 1 found 1 of 2 -> 51/101 of the recall points; tooth 6 (only there) -> 0 of the
    # 5 tooth ids with boxes; diagnosis 3 found 2 of 3 -> 67/101
    missed = _perfect(root)
    missed["train_20"] = []
    m = grading.grade(ch, _submit(root, tmp_path / "missed", missed), pub, priv, workers=2).metrics
    expected = {
        "ap_quadrant": (3 + 51 / 101) / 4,
        "ar_quadrant": (3 + 1 / 2) / 4,
        "ap_enumeration": 4 / 5,
        "ar_enumeration": 4 / 5,
        "ap_diagnosis": (3 + 67 / 101) / 4,
        "ar_diagnosis": (3 + 2 / 3) / 4,
    }
    assert {k: m[k] for k in expected} == pytest.approx(expected)
    assert m["ap50_quadrant"] == pytest.approx(expected["ap_quadrant"])
    assert m["ap_mean"] == pytest.approx(
        sum(expected[f"ap_{a}"] for a in ("quadrant", "enumeration", "diagnosis")) / 3
    )


GOOD = {"bbox": [1, 2, 3, 4], "category_id_1": 0, "category_id_2": 0, "category_id_3": 0, "score": 0.5}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            "not json",
            "case train_15: train_15.json is not valid JSON: Expecting value: line 1 column 1 (char 0)",
        ),
        ({"boxes": []}, "case train_15: expected a JSON list of detections, got dict"),
        (["x"], "case train_15: detection 0 is not an object"),
        (
            [{**GOOD, "bbox": [1, 2, 3]}],
            "case train_15: detection 0: bbox must be 4 finite numbers [x, y, w, h], got [1, 2, 3]",
        ),
        (
            [GOOD, {**GOOD, "bbox": [10, 10, -3, 4]}],
            "case train_15: detection 1: bbox width and height must be >= 0 ([x, y, w, h]), got [10, 10, -3, 4]",
        ),
        (
            [{k: v for k, v in GOOD.items() if k != "category_id_2"}],
            "case train_15: detection 0: category_id_2 must be an integer, got None",
        ),
        (
            [{**GOOD, "category_id_3": 1.0}],
            "case train_15: detection 0: category_id_3 must be an integer, got 1.0",
        ),
        (
            [{**GOOD, "score": "high"}],
            "case train_15: detection 0: score must be a finite number, got 'high'",
        ),
    ],
)
def test_malformed_predictions_are_one_line_reasons(
    root: Path, tmp_path: Path, content: Any, reason: str
) -> None:
    ch = challenge.get(CID)
    sub = _submit(root, tmp_path / "bad", {"train_15": content})
    report = grading.grade(ch, sub, root / "public", root / "private", workers=1)
    assert not report.valid and report.reason == reason
    assert grading.validate(ch, sub, root / "public").reason == reason


def test_missing_row_and_dict_form(root: Path, tmp_path: Path) -> None:
    ch = challenge.get(CID)
    sub = _submit(root, tmp_path / "rows", {"train_1": {"annotations": [GOOD]}})
    assert grading.validate(ch, sub, root / "public").valid
    lines = (sub / "submission.csv").read_text().splitlines()
    (sub / "submission.csv").write_text("\n".join(line for line in lines if "train_20" not in line) + "\n")
    report = grading.validate(ch, sub, root / "public")
    assert not report.valid and report.reason == "missing 1 of 5 test case(s): train_20"


@pytest.mark.baselines
def test_baseline_beats_dummy(home: Path) -> None:
    base = runs.execute(runs.make_spec(CID, "baseline", synthetic=True))
    dummy = runs.execute(runs.make_spec(CID, "dummy", synthetic=True))
    assert base.valid and dummy.valid and base.percentile is not None and dummy.percentile is not None
    assert dummy.metrics["ap_mean"] == 0.0
    assert base.metrics["ap_mean"] > 0.3 and base.metrics["ap_quadrant"] > 0.5


def test_prepare_from_a_folder_unpacked_by_hand(root: Path, tmp_path: Path) -> None:
    ch = challenge.get(CID)
    raw = tmp_path / "raw" / "DENTEX"
    with zipfile.ZipFile(root / "raw" / "training_data.zip") as zf:
        zf.extractall(raw)
    public, private = tmp_path / "public", tmp_path / "private"
    public.mkdir()
    private.mkdir()
    counts = ch.module("prepare").prepare(tmp_path / "raw", public, private, ch.spec)
    assert counts == {"train": 19, "test": 5}
    assert (private / "test_ground_truth.json").read_text() == (
        root / "private" / "test_ground_truth.json"
    ).read_text()
