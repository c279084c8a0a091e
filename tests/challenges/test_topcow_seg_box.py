"""TopCoW tasks 1 and 2 (both tracks): prepare, the graders on hand-made predictions that hit each
metric branch, malformed submissions, and baseline vs dummy."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import private_label_map, public_ids, write_label_map
from rexmle.challenges._topcow.grading import SEGMENTATION

from rexmle import challenge, data, grading
from rexmle import run as runs

SEG = ("topcow-track1-task1", "topcow-track2-task1")
BOX = ("topcow-track1-task2", "topcow-track2-task2")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    home = tmp_path_factory.mktemp("topcow-home")
    return {cid: data.prepare(challenge.get(cid), synthetic=True, home=home) for cid in (*SEG, *BOX)}


def _score(root: Path, case: str, arr: np.ndarray, like: sitk.Image, tmp: Path) -> dict[str, float]:
    f = write_label_map(arr, like, tmp / f"{case}.nii.gz")
    loaded = SEGMENTATION.check_case(case, {"predicted_mask_path": f}, root / "public")
    assert SEGMENTATION.score_case is not None
    return dict(SEGMENTATION.score_case(case, loaded, root / "private"))


def _submission(root: Path, dst: Path) -> Path:
    shutil.copytree(root / "public" / "sample_submission", dst)
    return dst


@pytest.mark.parametrize("cid", (*SEG, *BOX))
def test_prepare_keeps_test_labels_private(prepared: dict[str, Path], cid: str) -> None:
    root = prepared[cid]
    test, train = public_ids(root), public_ids(root, "train.csv")
    assert len(train) == 48 and len(test) == 12 and not set(train) & set(test)
    modality = "ct" if "track1" in cid else "mr"
    assert all(i.startswith(f"topcow_{modality}_") for i in train + test)
    private = sorted(p.name for p in (root / "private" / "test" / "labels").iterdir())
    suffix = ".nii.gz" if cid in SEG else "_bbox.json"
    assert private == sorted(f"{c}{suffix}" for c in test)
    # the only public files named after a test case: its image and the sample's placeholder
    public = [p for p in (root / "public").rglob("*") if p.name.startswith(tuple(test))]
    assert all(p.parent.name == "images" or "sample_submission" in p.parts for p in public)


@pytest.mark.parametrize("cid", SEG)
def test_segmentation_branches(prepared: dict[str, Path], cid: str, tmp_path: Path) -> None:
    root = prepared[cid]
    cases = public_ids(root)
    case = next(
        c
        for c in cases
        if 15 in np.unique(private_label_map(root, c)[0]) and 8 in np.unique(private_label_map(root, c)[0])
    )
    gt, like = private_label_map(root, case)
    n = len(set(np.unique(gt)) - {0})

    same = _score(root, case, gt, like, tmp_path)
    assert same["dice"] == 1.0 and same["hd95"] == 0.0 and same["b0_error"] == 0.0 and same["cldice"] == 1.0
    assert same["ant_match"] == 1.0 and same["pos_match"] == 1.0 and same["det8_tp"] == 1.0

    missing = gt.copy()
    missing[missing == 8] = 0  # a Group-2 artery (R-Pcom) left out
    s = _score(root, case, missing, like, tmp_path)
    assert s["det8_fn"] == 1.0 and s["dice"] == pytest.approx((n - 1) / n)
    assert s["hd95"] == pytest.approx(90.0 / n) and s["pos_match"] == 0.0

    case_b = next(c for c in cases if 15 not in np.unique(private_label_map(root, c)[0]))
    gt_b, like_b = private_label_map(root, case_b)
    extra = gt_b.copy()
    z, y, x = (int(v[0]) for v in np.nonzero(gt_b == 1))
    extra[z, y - 3, x] = 15  # a label the ground truth does not have: in the class set, Dice 0
    n_b = len(set(np.unique(gt_b)) - {0})
    s = _score(root, case_b, extra, like_b, tmp_path)
    assert s["dice"] == pytest.approx(n_b / (n_b + 1)) and s["hd95"] == pytest.approx(90.0 / (n_b + 1))
    assert s["det15_fp"] == 1.0 and s["b0_error"] == pytest.approx(1 / (n_b + 1))

    broken = gt.copy()
    ys = np.nonzero(broken == 6)[1]
    broken[:, int(np.median(ys)), :][broken[:, int(np.median(ys)), :] == 6] = 0  # L-ICA cut in two
    s = _score(root, case, broken, like, tmp_path)
    assert s["b0_error"] == pytest.approx(1 / n) and s["dice"] < 1.0 and s["cldice"] < 1.0

    empty = _score(root, case, np.zeros_like(gt), like, tmp_path)
    assert empty["dice"] == 0.0 and empty["hd95"] == 90.0 and empty["cldice"] == 0.0
    assert empty["det8_fn"] == 1.0 and empty["ant_match"] == 0.0

    # anisotropic spacing: a one-voxel shift along z costs the z spacing, not 1
    shifted = np.roll(gt, 1, axis=0)
    s = _score(root, case, shifted, like, tmp_path)
    assert s["hd95"] == pytest.approx(like.GetSpacing()[2]) and like.GetSpacing()[2] != like.GetSpacing()[0]


@pytest.mark.parametrize("cid", SEG)
def test_segmentation_submission_perfect_and_empty(
    prepared: dict[str, Path], cid: str, tmp_path: Path
) -> None:
    root = prepared[cid]
    ch = challenge.get(cid)
    sub = _submission(root, tmp_path / "sub")
    empty = grading.grade(ch, sub, root / "public", root / "private", workers=2)
    assert empty.valid and empty.metrics["dice"] == 0.0 and empty.metrics["hd95"] == 90.0
    for case in public_ids(root):
        shutil.copy(
            root / "private" / "test" / "labels" / f"{case}.nii.gz",
            sub / "predictions" / f"{case}_0000.nii.gz",
        )
    perfect = grading.grade(ch, sub, root / "public", root / "private", workers=2)
    assert perfect.valid and list(perfect.metrics) == [m.name for m in ch.spec.metrics]
    assert (
        perfect.metrics["dice"] == 1.0 and perfect.metrics["hd95"] == 0.0 and perfect.metrics["b0_error"] == 0
    )
    for m in (
        "cldice",
        "f1_grp2",
        "anterior_graph_acc",
        "posterior_graph_acc",
        "anterior_topology",
        "posterior_topology",
    ):
        assert perfect.metrics[m] == 1.0, m


def test_malformed_label_maps_are_one_line(prepared: dict[str, Path], tmp_path: Path) -> None:
    cid = SEG[0]
    root, ch = prepared[cid], challenge.get(cid)
    sub = _submission(root, tmp_path / "sub")
    case = public_ids(root)[0]
    target = sub / "predictions" / f"{case}_0000.nii.gz"
    gt, like = private_label_map(root, case)

    def verdict() -> str:
        r = grading.grade(ch, sub, root / "public", root / "private", workers=1)
        assert not r.valid and r.reason and "\n" not in r.reason
        return r.reason

    bad = gt.copy()
    bad[0, 0, 0] = 13
    write_label_map(bad, like, target)
    assert "label 13 is not a TopCoW label" in verdict()
    write_label_map(gt.astype(np.float32) + 0.5, like, target)
    assert "integer labels" in verdict()
    img = sitk.GetImageFromArray(gt)
    img.CopyInformation(like)
    img.SetSpacing((1.0, 1.0, 1.0))
    sitk.WriteImage(img, str(target))
    assert "spacing differs" in verdict()
    sitk.WriteImage(sitk.GetImageFromArray(gt[:, :, :-1]), str(target))
    assert "size" in verdict()
    target.write_bytes(b"not a nifti")
    assert "not a readable image (NIfTI, MHA or NRRD)" in verdict()


@pytest.mark.parametrize("cid", BOX)
def test_boxes_right_partly_right_and_wrong(prepared: dict[str, Path], cid: str, tmp_path: Path) -> None:
    root, ch = prepared[cid], challenge.get(cid)
    sub = _submission(root, tmp_path / "sub")
    cases = public_ids(root)
    gts = {
        c: json.loads((root / "private" / "test" / "labels" / f"{c}_bbox.json").read_text()) for c in cases
    }

    def write(case: str, box: object) -> None:
        (sub / "predictions" / f"{case}_bbox.json").write_text(json.dumps(box))

    for c in cases:
        write(c, gts[c])
    right = grading.grade(ch, sub, root / "public", root / "private", workers=1)
    assert right.valid and right.metrics == {"boundary_iou": 1.0, "iou": 1.0}
    g = gts[cases[0]]
    write(
        cases[0], {"size": g["size"], "location": [g["location"][0] + g["size"][0] // 2, *g["location"][1:]]}
    )
    g1 = gts[cases[1]]
    write(
        cases[1],
        {
            "size": g1["size"],
            "location": [v + s + 5 for v, s in zip(g1["location"], g1["size"], strict=True)],
        },
    )
    rows = {
        r["case_id"]: r for r in grading.grade(ch, sub, root / "public", root / "private", workers=1).per_case
    }
    assert 0.0 < rows[cases[0]]["iou"] < 1.0 and 0.0 < rows[cases[0]]["boundary_iou"] < 1.0
    half = g["size"][0] - g["size"][0] // 2
    assert rows[cases[0]]["iou"] == pytest.approx(half / (g["size"][0] + g["size"][0] // 2))
    assert rows[cases[1]]["iou"] == 0.0 and rows[cases[1]]["boundary_iou"] == 0.0
    # the release's .txt form is accepted too; a float size is truncated as the organisers do
    (sub / "predictions" / "x.txt").write_text(
        f"Spacing (mm): 1 1 1\nSize (Voxels): {' '.join(map(str, g['size']))}\n"
        f"Location (Voxels): {' '.join(map(str, g['location']))}\n"
    )
    with (sub / "submission.csv").open() as f:
        rows_csv = list(csv.DictReader(f))
    rows_csv[0]["predicted_bbox_path"] = "predictions/x.txt"
    with (sub / "submission.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows_csv[0]))
        w.writeheader()
        w.writerows(rows_csv)
    assert grading.grade(ch, sub, root / "public", root / "private", workers=1).per_case[0]["iou"] == 1.0
    for box, reason in (
        ({"size": [0, 1, 1], "location": [0, 0, 0]}, "box size must be positive"),
        ({"size": [1, 1], "location": [0, 0, 0]}, '"size" must be a list of three numbers'),
        ({"size": [1, 1, 1], "location": [0, 0, 0], "score": 1}, 'exactly the keys "size" and "location"'),
    ):
        write(cases[1], box)
        r = grading.grade(ch, sub, root / "public", root / "private", workers=1)
        assert not r.valid and r.reason and reason in r.reason, r.reason


@pytest.mark.parametrize("cid", BOX)
def test_box_baseline_beats_dummy(home: Path, cid: str) -> None:
    base = runs.execute(runs.make_spec(cid, "baseline", synthetic=True))
    dummy = runs.execute(runs.make_spec(cid, "dummy", synthetic=True))
    assert base.valid and dummy.valid and base.percentile is not None and dummy.percentile is not None
    assert base.metrics["iou"] > dummy.metrics["iou"] and base.percentile > dummy.percentile


@pytest.mark.baselines
@pytest.mark.parametrize("cid", SEG)
def test_segmentation_baseline_beats_dummy(home: Path, cid: str) -> None:
    base = runs.execute(runs.make_spec(cid, "baseline", synthetic=True))
    dummy = runs.execute(runs.make_spec(cid, "dummy", synthetic=True))
    assert base.valid and dummy.valid and base.percentile is not None and dummy.percentile is not None
    assert base.metrics["dice"] > 0.5 > dummy.metrics["dice"]
    assert base.metrics["hd95"] < dummy.metrics["hd95"] and base.percentile > dummy.percentile
