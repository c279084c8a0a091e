"""TopBrain tracks 1 and 2: prepare, the grader on hand-made predictions that hit each metric
branch (a label only predicted, a missing side road, a broken vessel, a forbidden neighbour, an
empty map, anisotropic spacing), malformed submissions, and baseline vs dummy."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import private_label_map, public_ids, write_label_map
from rexmle.challenges._topbrain.labels import LABELS, SIDE_ROADS, valid_neighbours

from rexmle import challenge, data, grading
from rexmle import run as runs
from rexmle.challenge_api import grader_of

TRACKS = {"topbrain-track1": "ct", "topbrain-track2": "mr"}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    home = tmp_path_factory.mktemp("topbrain-home")
    return {cid: data.prepare(challenge.get(cid), synthetic=True, home=home) for cid in TRACKS}


def _score(cid: str, root: Path, case: str, arr: np.ndarray, like: sitk.Image, tmp: Path) -> dict[str, float]:
    g = grader_of(challenge.get(cid))
    f = write_label_map(arr, like, tmp / f"{case}.nii.gz")
    assert g.score_case is not None
    return dict(
        g.score_case(case, g.check_case(case, {"predicted_mask_path": f}, root / "public"), root / "private")
    )


@pytest.mark.parametrize("cid", TRACKS)
def test_prepare_keeps_test_labels_private(prepared: dict[str, Path], cid: str) -> None:
    root, m = prepared[cid], TRACKS[cid]
    test, train = public_ids(root), public_ids(root, "train.csv")
    assert len(train) == 20 and len(test) == 5 and not set(train) & set(test)  # 25 cases, as released
    assert all(i.startswith(f"topcow_{m}_") for i in train + test)
    private = sorted(p.name for p in (root / "private" / "test" / "labels").iterdir())
    assert private == sorted(f"{c}.nii.gz" for c in test)
    public = [p for p in (root / "public").rglob("*") if p.name.startswith(tuple(test))]
    assert all(p.parent.name == "images" or "sample_submission" in p.parts for p in public)
    # the synthetic ground truth obeys the organisers' neighbour table and has every label value
    gt, _ = private_label_map(root, test[0])
    assert set(np.unique(gt)) <= {0, *LABELS[m]}
    assert (
        _score(cid, root, test[0], gt, private_label_map(root, test[0])[1], root.parent)["neighbor_error"]
        == 0.0
    )


@pytest.mark.parametrize("cid", TRACKS)
def test_branches(prepared: dict[str, Path], cid: str, tmp_path: Path) -> None:
    root, m = prepared[cid], TRACKS[cid]
    cases = public_ids(root)
    case = cases[0]
    gt, like = private_label_map(root, case)
    present = sorted(set(np.unique(gt)) - {0})
    n = len(present)

    same = _score(cid, root, case, gt, like, tmp_path)
    assert same["dice"] == 1.0 and same["cldice"] == 1.0 and same["hd95"] == 0.0
    assert same["b0_error"] == 0.0 and same["neighbor_error"] == 0.0
    for label in SIDE_ROADS[m]:
        assert same[f"det{label}_{'tp' if label in present else 'tn'}"] == 1.0

    side = next(s for s in SIDE_ROADS[m] if s in present)
    missing = gt.copy()
    missing[missing == side] = 0  # a side-road vessel left out: Dice and clDice 0, HD95 290 for it
    s = _score(cid, root, case, missing, like, tmp_path)
    assert s[f"det{side}_fn"] == 1.0 and s["dice"] == pytest.approx((n - 1) / n)
    assert s["cldice"] == pytest.approx((n - 1) / n) and s["hd95"] == pytest.approx(290.0 / n)

    absent = next(s for s in SIDE_ROADS[m] if s not in present)
    extra = gt.copy()
    extra[0, 0, 0:2] = absent  # a label only predicted: in the class set, and a false positive
    s = _score(cid, root, case, extra, like, tmp_path)
    assert s[f"det{absent}_fp"] == 1.0 and s["dice"] == pytest.approx(n / (n + 1))
    assert s["hd95"] == pytest.approx(290.0 / (n + 1)) and s["b0_error"] == pytest.approx(1 / (n + 1))

    broken = gt.copy()
    xs = np.nonzero(broken == 1)[2]
    cut = int(np.median(xs))
    broken[:, :, cut][broken[:, :, cut] == 1] = 0  # the basilar artery cut in two
    s = _score(cid, root, case, broken, like, tmp_path)
    assert s["b0_error"] == pytest.approx(1 / n) and s["dice"] < 1.0

    # a forbidden neighbour: label 1's tube touches one whose table entry does not allow it
    forbidden = next(k for k in present if k != 1 and k not in valid_neighbours(m)[1])
    touching = gt.copy()
    z, y, x = (int(v[0]) for v in np.nonzero(gt == 1))
    touching[z, y - 1, x] = forbidden
    s = _score(cid, root, case, touching, like, tmp_path)
    # label 1 and the forbidden label each see one invalid neighbour
    assert s["neighbor_error"] == pytest.approx(2 / n)

    empty = _score(cid, root, case, np.zeros_like(gt), like, tmp_path)
    assert empty["dice"] == 0.0 and empty["cldice"] == 0.0 and empty["hd95"] == 290.0
    assert empty["neighbor_error"] == 0.0 and empty["b0_error"] == 1.0

    # anisotropic spacing: the tubes are one voxel thick in z, so a one-voxel shift along z
    # puts every surface voxel exactly one z spacing from the other surface
    s = _score(cid, root, case, np.roll(gt, 1, axis=0), like, tmp_path)
    assert s["hd95"] == pytest.approx(like.GetSpacing()[2]) and like.GetSpacing()[2] != like.GetSpacing()[0]


@pytest.mark.parametrize("cid", TRACKS)
def test_submission_perfect_empty_and_side_road_f1(
    prepared: dict[str, Path], cid: str, tmp_path: Path
) -> None:
    root, ch, m = prepared[cid], challenge.get(cid), TRACKS[cid]
    sub = tmp_path / "sub"
    shutil.copytree(root / "public" / "sample_submission", sub)
    empty = grading.grade(ch, sub, root / "public", root / "private", workers=2)
    assert empty.valid and empty.metrics["dice"] == 0.0 and empty.metrics["f1_side_road"] == 0.0
    for case in public_ids(root):
        shutil.copy(
            root / "private" / "test" / "labels" / f"{case}.nii.gz",
            sub / "predictions" / f"{case}_0000.nii.gz",
        )
    perfect = grading.grade(ch, sub, root / "public", root / "private", workers=2)
    assert perfect.valid and list(perfect.metrics) == [m.name for m in ch.spec.metrics]
    assert (
        perfect.metrics["dice"] == 1.0 and perfect.metrics["cldice"] == 1.0 and perfect.metrics["hd95"] == 0.0
    )
    # F1 per side road from pooled counts: a label never in any ground truth scores 0
    seen = set()
    for case in public_ids(root):
        seen |= set(np.unique(private_label_map(root, case)[0]).tolist())
    expected = np.mean([1.0 if s in seen else 0.0 for s in SIDE_ROADS[m]])
    assert perfect.metrics["f1_side_road"] == pytest.approx(expected)


def test_malformed_label_maps_are_one_line(prepared: dict[str, Path], tmp_path: Path) -> None:
    cid = "topbrain-track1"
    root, ch = prepared[cid], challenge.get(cid)
    sub = tmp_path / "sub"
    shutil.copytree(root / "public" / "sample_submission", sub)
    case = public_ids(root)[0]
    target = sub / "predictions" / f"{case}_0000.nii.gz"
    gt, like = private_label_map(root, case)

    def verdict() -> str:
        r = grading.grade(ch, sub, root / "public", root / "private", workers=1)
        assert not r.valid and r.reason and "\n" not in r.reason
        return r.reason

    bad = gt.copy()
    bad[0, 0, 0] = 41  # an MRA-only label in a CTA map
    write_label_map(bad, like, target)
    assert "label 41 is not a TopBrain CT label (0-40)" in verdict()
    img = sitk.GetImageFromArray(gt)
    img.CopyInformation(like)
    img.SetOrigin((5.0, 0.0, 0.0))
    sitk.WriteImage(img, str(target))
    assert "origin differs" in verdict()


@pytest.mark.baselines
@pytest.mark.parametrize("cid", TRACKS)
def test_baseline_beats_dummy(home: Path, cid: str) -> None:
    base = runs.execute(runs.make_spec(cid, "baseline", synthetic=True))
    dummy = runs.execute(runs.make_spec(cid, "dummy", synthetic=True))
    assert base.valid and dummy.valid and base.percentile is not None and dummy.percentile is not None
    assert base.metrics["dice"] > 0.5 > dummy.metrics["dice"]
    assert base.metrics["f1_side_road"] > dummy.metrics["f1_side_road"] and base.percentile > dummy.percentile
