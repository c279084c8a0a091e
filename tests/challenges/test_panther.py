"""PANTHER tasks 1 and 2 on synthetic data: the release layout and split, the organisers' value
rule and uniform-mask penalty, their (x, y, z) spacing on a (z, y, x) array, the aggregation,
malformed masks, and baseline vs dummy."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import public_ids, write_label_map
from rexmle.challenges._panther.grading import binary_prediction, case_scores
from rexmle.graders import surfel_scores

from rexmle import challenge, data, grading
from rexmle import run as runs
from rexmle.errors import InvalidSubmission

TASKS = ("panther-task1", "panther-task2")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    home = tmp_path_factory.mktemp("panther-home")
    return {cid: data.prepare(challenge.get(cid), synthetic=True, home=home) for cid in TASKS}


def _gt(root: Path, case: str) -> tuple[np.ndarray, sitk.Image]:
    img = sitk.ReadImage(str(root / "private" / "test" / "labels" / f"{case}.mha"))
    return sitk.GetArrayFromImage(img), img


def test_prepare_layout_split_and_unlabeled(prepared: dict[str, Path]) -> None:
    t1, t2 = prepared["panther-task1"], prepared["panther-task2"]
    assert (len(public_ids(t1, "train.csv")), len(public_ids(t1))) == (9, 3)
    assert (len(public_ids(t2, "train.csv")), len(public_ids(t2))) == (8, 2)
    assert all(c.endswith("_0001") for c in public_ids(t1)) and all(c.isdigit() for c in public_ids(t2))
    assert len(list((t1 / "public" / "train_unlabeled" / "images").glob("*.mha"))) == 2
    assert not (t2 / "public" / "train_unlabeled").exists()
    gt, img = _gt(t1, public_ids(t1)[0])
    assert set(np.unique(gt)) == {0, 1, 2} and img.GetSpacing()[2] != img.GetSpacing()[0]


def test_value_rule_is_the_organisers() -> None:
    a = np.zeros((2, 2, 2), dtype=np.uint8)
    assert not binary_prediction(a, "c").any()
    a[0, 0, 0] = 255
    assert binary_prediction(a, "c").sum() == 1  # 0 and one other value: the other is tumour
    a[1, 1, 1] = 1
    with pytest.raises(
        InvalidSubmission, match=r"binary \(0 background, 1 tumour\), found the values \[0, 1, 255\]"
    ):
        binary_prediction(a, "c")
    assert binary_prediction(np.ones((2, 2, 2), np.uint8), "c").all()


def test_case_scores_spacing_penalty_and_volumes() -> None:
    gt = np.zeros((6, 12, 12), dtype=bool)
    gt[2:4, 4:8, 4:8] = True
    spacing = (0.5, 0.5, 3.0)  # SimpleITK's (x, y, z), used per (z, y, x) axis as the organisers do
    s = case_scores(gt, gt, spacing)
    assert (s["dsc"], s["msd"], s["hd95"], s["masd"]) == (1.0, 1.0, 0.0, 0.0)
    assert s["gt_volume"] == s["pred_volume"] == 32 * 0.75
    # one slice deeper: the z step counts 0.5 mm (the x spacing), not 3 mm
    deeper = np.roll(gt, 1, axis=0)
    assert case_scores(gt, deeper, spacing)["hd95"] == pytest.approx(0.5)
    assert surfel_scores(gt, deeper, (3.0, 0.5, 0.5), 5.0).hd95 == pytest.approx(3.0)
    diagonal = float(np.linalg.norm(np.array(gt.shape) * np.array(spacing)))
    for uniform in (np.zeros_like(gt), np.ones_like(gt)):
        u = case_scores(gt, uniform, spacing)
        assert u == {"dsc": 0.0, "msd": 0.0, "hd95": pytest.approx(diagonal), "masd": pytest.approx(diagonal),
                     "gt_volume": 24.0, "pred_volume": 0.0}  # fmt: skip


@pytest.mark.parametrize("cid", TASKS)
def test_grade_perfect_empty_and_malformed(prepared: dict[str, Path], cid: str, tmp_path: Path) -> None:
    root, ch = prepared[cid], challenge.get(cid)
    sub = tmp_path / "sub"
    shutil.copytree(root / "public" / "sample_submission", sub)
    empty = grading.grade(ch, sub, root / "public", root / "private", workers=2)
    assert empty.valid and empty.metrics["dsc"] == 0.0 and empty.metrics["msd"] == 0.0
    cases = public_ids(root)
    volumes = []
    for c in cases:
        gt, like = _gt(root, c)
        write_label_map((gt == 1).astype(np.uint8), like, sub / "predictions" / f"{c}.mha")
        volumes.append((gt == 1).sum() * np.prod(like.GetSpacing()))
    assert empty.metrics["rmse"] == pytest.approx(np.sqrt(np.mean(np.square(volumes))))
    perfect = grading.grade(ch, sub, root / "public", root / "private", workers=2)
    assert perfect.valid and perfect.metrics == {
        "dsc": 1.0,
        "msd": 1.0,
        "hd95": 0.0,
        "masd": 0.0,
        "rmse": 0.0,
    }

    # a disconnected blob far from the tumour moves HD95 and MASD, and the volume error
    gt, like = _gt(root, cases[0])
    stray = (gt == 1).astype(np.uint8)
    stray[0:2, 0:3, 0:3] = 1
    write_label_map(stray, like, sub / "predictions" / f"{cases[0]}.mha")
    s = grading.grade(ch, sub, root / "public", root / "private", workers=2)
    assert (
        s.valid
        and s.metrics["masd"] > 0
        and s.metrics["rmse"] == pytest.approx(18 * np.prod(like.GetSpacing()) / np.sqrt(len(cases)))
    )

    def verdict() -> str:
        r = grading.grade(ch, sub, root / "public", root / "private", workers=1)
        assert not r.valid and r.reason and "\n" not in r.reason
        return r.reason

    write_label_map(gt, like, sub / "predictions" / f"{cases[0]}.mha")  # the 0/1/2 map itself
    assert "found the values [0, 1, 2]" in verdict()
    img = sitk.GetImageFromArray((gt == 1).astype(np.uint8))
    img.CopyInformation(like)
    img.SetSpacing((1.0, 1.0, 1.0))
    sitk.WriteImage(img, str(sub / "predictions" / f"{cases[0]}.mha"))
    assert "spacing differs" in verdict()


@pytest.mark.baselines
@pytest.mark.parametrize("cid", TASKS)
def test_baseline_beats_dummy(home: Path, cid: str) -> None:
    base = runs.execute(runs.make_spec(cid, "baseline", synthetic=True))
    dummy = runs.execute(runs.make_spec(cid, "dummy", synthetic=True))
    assert base.valid and dummy.valid and base.percentile is not None and dummy.percentile is not None
    assert base.metrics["dsc"] > 0.3 > dummy.metrics["dsc"]
    assert base.metrics["hd95"] < dummy.metrics["hd95"]
