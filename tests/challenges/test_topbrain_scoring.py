"""TopBrain per-case scores, aggregation and grader (``challenges/_topbrain/scoring.py`` and
``grading.py``) on tiny hand-made label maps, fast.

Pinned, against the organisers' CoWBenchmark/TopBrain_Eval_Metrics (``score_case_task_1_seg.py``,
``aggregate/``): the row of one case (class-set means of Dice, clDice per class, Betti-0 error and
HD95 with 290 mm for a label on one side only; all 0 for an empty class set; the neighbour error
of the prediction with each modality's table; one detection outcome per side-road label of the
modality at IoU >= 0.25), the pooled side-road F1 (mean over the modality's side roads of
2TP / (2TP + FP + FN), 0 for a label never seen), and the grader's file handling: the label set
0-40 (CTA) / 0-42 (MRA) on the test image's grid, the ground truth file, and SimpleITK's (x, y, z)
spacing reversed onto the (z, y, x) array.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from rexmle.challenges._topbrain import grading as tb
from rexmle.challenges._topbrain.scoring import OUTCOMES, aggregate, segmentation_case
from sitk_io import write_volume

from rexmle.errors import InvalidSubmission

#: the organisers' side roads (``constants.py``): 18 on CTA, 17 on MRA
SIDE_CT = (8, 9, 10, 15, 16, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 37, 38, 39)
SIDE_MR = (8, 9, 10, 15, 16, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 41, 42)
SIDE = {"ct": SIDE_CT, "mr": SIDE_MR}
CASE = "topcow_ct_001"


def strips(*pieces: tuple[int, int, int, int, int], shape: tuple[int, int, int] = (3, 8, 12)) -> np.ndarray:
    """A (z, y, x) uint8 map with label ``v`` on the line z, y, x in [x0, x1) per piece."""
    a = np.zeros(shape, np.uint8)
    for v, z, y, x0, x1 in pieces:
        a[z, y, x0:x1] = v
    return a


#: BA (1) and R-Pcom (8, a side road) as two separate 5-voxel lines (4 rows apart: not touching)
GT = strips((1, 1, 1, 1, 6), (8, 1, 5, 1, 6))


def detections(row: dict[str, float], modality: str) -> dict[int, str]:
    """The one outcome each side road has in ``row`` (and check it is exactly one)."""
    out = {}
    for label in SIDE[modality]:
        hits = [o for o in OUTCOMES if row[f"det{label}_{o}"] == 1.0]
        assert len(hits) == 1 and all(row[f"det{label}_{o}"] in (0.0, 1.0) for o in OUTCOMES)
        out[label] = hits[0]
    return out


def metrics(row: dict[str, float]) -> dict[str, float]:
    return {k: row[k] for k in ("dice", "cldice", "b0_error", "hd95", "neighbor_error")}


# --- one case ---------------------------------------------------------------------------------


@pytest.mark.parametrize("modality", ["ct", "mr"])
def test_the_row_keys_are_the_five_metrics_and_the_modalitys_side_roads(modality: str) -> None:
    row = segmentation_case(GT, GT, (1.0, 1.0, 1.0), modality)  # type: ignore[arg-type]
    det = {f"det{label}_{o}" for label in SIDE[modality] for o in OUTCOMES}
    assert set(row) == {"dice", "cldice", "b0_error", "hd95", "neighbor_error"} | det
    assert len(row) == 5 + 4 * len(SIDE[modality])  # 77 on CTA, 73 on MRA


def test_a_perfect_prediction() -> None:
    row = segmentation_case(GT.copy(), GT, (1.0, 1.0, 1.0), "ct")
    # L = {1, 8}: each Dice 1, clDice 1 (a line is its own skeleton), same components, HD95 0;
    # 1 and 8 do not touch: no neighbour at all
    assert metrics(row) == {"dice": 1.0, "cldice": 1.0, "b0_error": 0.0, "hd95": 0.0, "neighbor_error": 0.0}
    assert detections(row, "ct") == {label: "tp" if label == 8 else "tn" for label in SIDE_CT}


def test_a_missed_side_road() -> None:
    pred = strips((1, 1, 1, 1, 6))  # R-Pcom left out
    row = segmentation_case(pred, GT, (1.0, 1.0, 1.0), "ct")
    # L = {1, 8}; label 8 on the ground-truth side only: Dice 0, clDice 0, HD95 290,
    # Betti-0 |0 - 1| = 1. Means: Dice (1 + 0) / 2, clDice (1 + 0) / 2, HD95 (0 + 290) / 2 = 145,
    # b0 (0 + 1) / 2
    assert metrics(row) == {"dice": 0.5, "cldice": 0.5, "b0_error": 0.5, "hd95": 145.0, "neighbor_error": 0.0}
    assert detections(row, "ct")[8] == "fn"


def test_a_label_only_predicted() -> None:
    pred = strips((1, 1, 1, 1, 6), (8, 1, 5, 1, 6), (9, 2, 3, 8, 11))  # L-Pcom, not in the truth
    row = segmentation_case(pred, GT, (1.0, 1.0, 1.0), "ct")
    # L = {1, 8, 9}: Dice (1 + 1 + 0) / 3 = 2/3, clDice 2/3, HD95 (0 + 0 + 290) / 3,
    # b0 (0 + 0 + 1) / 3; 9 touches neither 1 nor 8
    assert metrics(row) == pytest.approx(
        {"dice": 2 / 3, "cldice": 2 / 3, "b0_error": 1 / 3, "hd95": 290 / 3, "neighbor_error": 0.0}
    )
    assert detections(row, "ct") == {8: "tp", 9: "fp"} | {s: "tn" for s in SIDE_CT if s not in (8, 9)}


@pytest.mark.parametrize("modality", ["ct", "mr"])
def test_two_empty_maps_score_zero_everywhere(modality: str) -> None:
    """No label on either side: the class set is empty and every average is 0 (HD95 0, not the
    290 mm bound; clDice 0, not 1); every side road is a true negative."""
    empty = np.zeros((3, 8, 12), np.uint8)
    row = segmentation_case(empty, empty.copy(), (1.0, 1.0, 1.0), modality)  # type: ignore[arg-type]
    assert metrics(row) == {"dice": 0.0, "cldice": 0.0, "b0_error": 0.0, "hd95": 0.0, "neighbor_error": 0.0}
    assert set(detections(row, modality).values()) == {"tn"}


def test_an_empty_prediction() -> None:
    row = segmentation_case(np.zeros_like(GT), GT, (1.0, 1.0, 1.0), "mr")
    # L = {1, 8}, both on the truth side only: 0, 0, 290 and Betti-0 1 each
    assert metrics(row) == {"dice": 0.0, "cldice": 0.0, "b0_error": 1.0, "hd95": 290.0, "neighbor_error": 0.0}
    assert detections(row, "mr") == {label: "fn" if label == 8 else "tn" for label in SIDE_MR}


def test_hd95_uses_the_spacing_per_array_axis() -> None:
    """Both lines one slice deeper (axis 0, 2.5 mm): every voxel of a one-voxel line is its own
    surface, and its nearest voxel of the other line is straight along axis 0, 2.5 mm away (any
    other is sqrt(2.5^2 + k^2) mm): HD95 2.5 for each label, mean 2.5. No overlap: Dice 0, and
    no skeleton voxel on the other side: clDice 0; R-Pcom's IoU 0 < 0.25: a miss."""
    row = segmentation_case(np.roll(GT, 1, axis=0), GT, (2.5, 1.0, 1.0), "ct")
    assert metrics(row) == {"dice": 0.0, "cldice": 0.0, "b0_error": 0.0, "hd95": 2.5, "neighbor_error": 0.0}
    assert detections(row, "ct")[8] == "fn"


def test_the_neighbour_error_reads_the_prediction_with_the_modalitys_table() -> None:
    """R-ICA (4) touching R-OA (33): allowed on MRA (4 and 33 list each other), not on CTA.
    CTA: 4 sees {33}, 33 sees {4}, 8 sees nothing: (1 + 1 + 0) / 3 = 2/3; MRA: 0."""
    pred = strips((4, 1, 1, 1, 4), (33, 1, 2, 1, 4), (8, 1, 6, 1, 6))
    gt = np.zeros_like(pred)  # the neighbour error ignores the truth
    assert segmentation_case(pred, gt, (1.0, 1.0, 1.0), "ct")["neighbor_error"] == pytest.approx(2 / 3)
    assert segmentation_case(pred, gt, (1.0, 1.0, 1.0), "mr")["neighbor_error"] == 0.0


def test_detection_at_exactly_iou_0_25() -> None:
    """The organisers' threshold is inclusive: IoU = 1/4 is a hit, 1/5 a miss."""
    gt = strips((8, 1, 1, 1, 5))  # 4 voxels
    quarter = strips((8, 1, 1, 1, 2))  # 1 voxel inside: IoU = 1 / 4
    fifth = strips((8, 1, 1, 0, 2))  # 1 inside, 1 outside: IoU = 1 / (4 + 1)
    assert detections(segmentation_case(quarter, gt, (1.0, 1.0, 1.0), "ct"), "ct")[8] == "tp"
    assert detections(segmentation_case(fifth, gt, (1.0, 1.0, 1.0), "ct"), "ct")[8] == "fn"


def test_the_modalitys_own_side_roads_are_detected() -> None:
    """37-39 are CTA side roads, 41 and 42 MRA ones: each scored on its own track."""
    ct = strips((37, 1, 1, 1, 4), (39, 1, 5, 1, 4))
    row = segmentation_case(ct, ct.copy(), (1.0, 1.0, 1.0), "ct")
    assert detections(row, "ct") == {s: "tp" if s in (37, 39) else "tn" for s in SIDE_CT}
    mr = strips((42, 1, 1, 1, 4))
    row = segmentation_case(mr, np.zeros_like(mr), (1.0, 1.0, 1.0), "mr")
    assert detections(row, "mr") == {s: "fp" if s == 42 else "tn" for s in SIDE_MR}


# --- aggregation over cases -------------------------------------------------------------------


def _row(modality: str, **outcome: str) -> dict[str, float]:
    """A case row holding only detections: ``outcome['d8'] = 'tp'`` etc., others TN."""
    row: dict[str, float] = {}
    for label in SIDE[modality]:
        got = outcome.get(f"d{label}", "tn")
        for o in OUTCOMES:
            row[f"det{label}_{o}"] = float(o == got)
    return row


@pytest.mark.parametrize(("modality", "n"), [("ct", 18), ("mr", 17)])
def test_side_road_f1_pools_counts_over_cases(modality: str, n: int) -> None:
    rows = [
        _row(modality, d8="tp", d9="fp", d10="tp", d15="fn"),
        _row(modality, d8="fn", d9="tp", d10="tp", d15="fn"),
        _row(modality, d8="tp", d10="tp"),
    ]
    # pooled: 8: TP 2, FN 1 -> 2*2 / (2*2 + 1) = 4/5; 9: TP 1, FP 1 -> 2 / (2 + 1) = 2/3;
    # 10: TP 3 -> 1; 15: FN 2 -> 0 / 2 = 0; every other side road TN only -> 0 (no 0/0)
    expected = (4 / 5 + 2 / 3 + 1) / n
    assert aggregate(rows, modality) == {"f1_side_road": pytest.approx(expected)}  # type: ignore[arg-type]


def test_side_road_f1_of_one_perfect_case_and_of_none_seen() -> None:
    # every side road a TP once: F1 1 each, mean 1
    assert aggregate([_row("mr", **{f"d{s}": "tp" for s in SIDE_MR})], "mr") == {"f1_side_road": 1.0}
    # all TN: F1 0 for each (TP + FP + FN = 0), mean 0
    assert aggregate([_row("ct"), _row("ct")], "ct") == {"f1_side_road": 0.0}


def test_the_modality_picks_the_side_roads_averaged() -> None:
    """Label 41 is a side road on MRA only: a TP there is 1/17 on MRA, and a CTA row has no 41."""
    assert aggregate([_row("mr", d41="tp")], "mr") == {"f1_side_road": pytest.approx(1 / 17)}
    assert aggregate([_row("ct", d37="tp")], "ct") == {"f1_side_road": pytest.approx(1 / 18)}
    with pytest.raises(KeyError):
        aggregate([_row("ct")], "mr")


# --- the grader: files, label sets, spacing -----------------------------------------------------


_write = write_volume


#: SimpleITK (x, y, z) spacing: z is 2.5 mm, so the array's axis 0 is 2.5 mm once reversed
SPACING_XYZ = (1.0, 1.0, 2.5)


def _dirs(tmp_path: Path, gt: np.ndarray) -> tuple[Path, Path]:
    public, private = tmp_path / "public", tmp_path / "private"
    _write(np.zeros(gt.shape, np.int16), public / "test" / "images" / f"{CASE}_0000.nii.gz", SPACING_XYZ)
    _write(gt, private / "test" / "labels" / f"{CASE}.nii.gz", SPACING_XYZ)
    return public, private


@pytest.mark.parametrize(("modality", "top"), [("ct", 40), ("mr", 42)])
def test_check_case_accepts_the_modalitys_labels(tmp_path: Path, modality: str, top: int) -> None:
    public, _ = _dirs(tmp_path, GT)
    pred = GT.copy()
    pred[0, 0, 0] = top  # the largest label of the track
    f = _write(pred, tmp_path / "p.nii.gz", SPACING_XYZ)
    got = tb.check_case(modality, CASE, {"predicted_mask_path": f}, public)  # type: ignore[arg-type]
    assert got.dtype == np.uint8 and np.array_equal(got, pred)


@pytest.mark.parametrize(
    ("modality", "bad", "shown"), [("ct", 41, "CT label (0-40)"), ("mr", 43, "MR label (0-42)")]
)
def test_check_case_refuses_a_label_outside_the_track(
    tmp_path: Path, modality: str, bad: int, shown: str
) -> None:
    public, _ = _dirs(tmp_path, GT)
    pred = GT.copy()
    pred[0, 0, 0] = bad
    f = _write(pred, tmp_path / "p.nii.gz", SPACING_XYZ)
    with pytest.raises(
        InvalidSubmission, match="^" + re.escape(f"case {CASE}: label {bad} is not a TopBrain {shown}") + "$"
    ):
        tb.check_case(modality, CASE, {"predicted_mask_path": f}, public)  # type: ignore[arg-type]


def test_check_case_refuses_another_grid(tmp_path: Path) -> None:
    public, _ = _dirs(tmp_path, GT)
    f = _write(GT, tmp_path / "p.nii.gz", (1.0, 1.0, 1.0))  # the test image's z spacing is 2.5
    with pytest.raises(InvalidSubmission, match=rf"^case {CASE}: spacing differs"):
        tb.check_case("ct", CASE, {"predicted_mask_path": f}, public)


def test_score_case_reads_the_truth_and_reverses_the_spacing(tmp_path: Path) -> None:
    _, private = _dirs(tmp_path, GT)
    same = tb.score_case("ct", CASE, GT.copy(), private)
    assert metrics(same) == {"dice": 1.0, "cldice": 1.0, "b0_error": 0.0, "hd95": 0.0, "neighbor_error": 0.0}
    # one slice deeper along z: 2.5 mm (the file's z spacing), as in the test above
    assert tb.score_case("ct", CASE, np.roll(GT, 1, axis=0), private)["hd95"] == 2.5


@pytest.mark.parametrize("modality", ["ct", "mr"])
def test_the_grader_of_a_track(tmp_path: Path, modality: str) -> None:
    """``grader(modality)`` binds the track everywhere: its labels, its side roads."""
    g = tb.grader(modality)  # type: ignore[arg-type]
    public, private = _dirs(tmp_path, GT)
    f = _write(GT, tmp_path / "p.nii.gz", SPACING_XYZ)
    loaded = g.check_case(CASE, {"predicted_mask_path": f}, public)
    assert g.score_case is not None and g.aggregate is not None
    row = dict(g.score_case(CASE, loaded, private))
    assert set(detections(row, modality)) == set(SIDE[modality])
    # one case, R-Pcom a TP and the rest TN: F1 1 for label 8 only -> 1/18 (CTA), 1/17 (MRA)
    assert g.aggregate([row]) == {"f1_side_road": pytest.approx(1 / len(SIDE[modality]))}
    assert g.format.columns == ["image_id", "predicted_mask_path", "modality"]
    assert g.format.file_columns["predicted_mask_path"] == (".nii.gz", ".nii")
