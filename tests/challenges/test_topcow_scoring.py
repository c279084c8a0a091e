"""TopCoW per-case scores and aggregation against the organisers' end-to-end expectations."""

from __future__ import annotations

import numpy as np
import pytest
from rexmle.challenges._topcow import scoring
from rexmle.graders import Box

from rexmle import challenge, grading


def test_edges_aggregation_matches_the_organisers_task3_case() -> None:
    rows = [
        scoring.edges_case(pred=((1, 1, 1, 1), (0, 0, 0, 0)), gt=((1, 1, 0, 1), (1, 0, 1, 0))),
        scoring.edges_case(pred=((0, 1, 1, 0), (1, 0, 1, 1)), gt=((0, 1, 0, 1), (1, 1, 1, 1))),
    ]
    assert scoring.aggregate_edges(rows) == {"anterior_acc": 0.0, "posterior_acc": 0.0}
    rows.append(scoring.edges_case(pred=((1, 1, 0, 1), (1, 1, 1, 1)), gt=((1, 1, 0, 1), (1, 1, 1, 1))))
    # anterior: classes 1101 (1/2 right), 0101 (0/1) -> 0.25; posterior: 1010 (0/1), 1111 (1/2) -> 0.25
    assert scoring.aggregate_edges(rows) == {"anterior_acc": 0.25, "posterior_acc": 0.25}


def test_box_rows_and_means() -> None:
    rows = [
        scoring.box_case(Box(size=(1, 2, 3), location=(0, 0, 0)), Box(size=(3, 3, 4), location=(0, 0, 0))),
        scoring.box_case(Box(size=(5, 5, 5), location=(2, 2, 2)), Box(size=(5, 5, 5), location=(2, 2, 2))),
    ]
    metrics = challenge.get("topcow-track1-task2").spec.metrics  # both `mean`: the harness averages
    assert grading.aggregate(metrics, rows, {}) == pytest.approx(
        {"boundary_iou": (6 / 34 + 1) / 2, "iou": (6 / 36 + 1) / 2}
    )


def cow(shift: int = 0) -> np.ndarray:
    """A toy CoW in (z, y, x): ICAs, ACAs joined by an Acom, BA with both PCAs, one Pcom."""
    a = np.zeros((6, 20, 40), dtype=np.uint8)
    a[3, 2:8, 30:33] = 6  # L-ICA (left at larger x)
    a[3, 8:12, 30:33] = 12  # L-ACA, touching it: L-A1
    a[3, 2:8, 6:9] = 4  # R-ICA
    a[3, 8:12, 6:9] = 11  # R-ACA: R-A1
    a[3, 12, 9:30] = 10  # Acom between the ACAs
    a[3, 16, 18:22] = 1  # BA
    a[3, 16, 22:34] = 3  # L-PCA touching BA: L-P1
    a[3, 16, 6:18] = 2  # R-PCA: R-P1
    a[3, 9:16, 34] = 9  # L-Pcom
    return np.roll(a, shift, axis=2)


def test_a_perfect_segmentation_scores_like_the_ground_truth() -> None:
    gt = cow()
    row = scoring.segmentation_case(gt, gt, (0.6, 0.45, 0.45))
    assert row["dice"] == 1.0 and row["hd95"] == 0.0 and row["b0_error"] == 0.0 and row["cldice"] == 1.0
    assert row["ant_match"] == row["pos_match"] == 1.0 and row["ant_gt"] == row["ant_pred"] == 0b1111 - 0b0010
    agg = scoring.aggregate_segmentation([row])
    # labels 8 and 15 are TN in every case: F1 0 by the organisers' rule, which pulls f1_grp2 to 0.5
    assert agg["f1_grp2"] == 0.5
    assert agg["anterior_graph_acc"] == agg["anterior_topology"] == 1.0


def test_flipped_and_broken_predictions_fail_topology_but_keep_graph_accuracy() -> None:
    gt = cow()
    flipped = np.flip(gt, axis=2).copy()  # same labels, mirrored: the variant is the same
    row = scoring.segmentation_case(flipped, gt, (0.6, 0.45, 0.45))
    assert row["ant_pred"] == row["ant_gt"] and row["ant_match"] == 0.0
    broken = gt.copy()
    broken[3, 12, 15:17] = 0  # Acom in two pieces: Betti-0 differs, anterior topology fails
    row2 = scoring.segmentation_case(broken, gt, (0.6, 0.45, 0.45))
    assert row2["ant_match"] == 0.0 and row2["pos_match"] == 1.0 and row2["det10_tp"] == 1.0
    agg = scoring.aggregate_segmentation([row, row2])
    assert agg["anterior_topology"] == 0.0 and agg["anterior_graph_acc"] == 1.0
    missing = gt.copy()
    missing[missing == 9] = 0  # a missing Group-2 artery: FN, and a different posterior variant
    row3 = scoring.segmentation_case(missing, gt, (0.6, 0.45, 0.45))
    assert row3["det9_fn"] == 1.0 and row3["pos_pred"] != row3["pos_gt"] and row3["hd95"] > 0


def strip_map(*pieces: tuple[int, int, int, int]) -> np.ndarray:
    """A (3, 8, 16) (z, y, x) map with label ``v`` on z = 1, row y, x in [x0, x1) per piece."""
    a = np.zeros((3, 8, 16), dtype=np.uint8)
    for v, y, x0, x1 in pieces:
        a[1, y, x0:x1] = v
    return a


@pytest.mark.parametrize(
    ("pieces", "ant_match", "pos_match"),
    [
        # L-ICA (6) at x 1-2, R-ICA (4) at x 10-11, same row: median x 1.5 < 10.5, the ICA pair
        # (6, 4) says flipped; no ACA pair and no posterior labels (no pair there: not flipped)
        ([(6, 2, 1, 3), (4, 2, 10, 12)], 0.0, 1.0),
        # only the ACA pair: L-ACA (12) at x 1-2 left of R-ACA (11) at x 10-11: flipped
        ([(12, 2, 1, 3), (11, 5, 10, 12)], 0.0, 1.0),
        # both pairs, the ICAs the right way round (6 at larger x) and the ACAs flipped: the first
        # pair present, (6, 4), decides, so not flipped
        ([(6, 1, 10, 12), (4, 1, 1, 3), (12, 4, 1, 3), (11, 6, 10, 12)], 1.0, 1.0),
        # L-PCA (3) at x 1-2 left of R-PCA (2) at x 10-11: the posterior region is flipped
        ([(3, 2, 1, 3), (2, 2, 10, 12)], 1.0, 0.0),
        # no pair present at all (BA only): neither region is flipped
        ([(1, 2, 5, 9)], 1.0, 1.0),
    ],
)
def test_a_left_right_flip_fails_the_topology_match(
    pieces: list[tuple[int, int, int, int]], ant_match: float, pos_match: float
) -> None:
    """Prediction = ground truth, so every region matches (detection TP/TN, same neighbours, same
    Betti-0) and only the flip test on the prediction's x axis (array axis 2) can fail a region."""
    m = strip_map(*pieces)
    row = scoring.segmentation_case(m, m, (1.0, 1.0, 1.0))
    assert (row["ant_match"], row["pos_match"]) == (ant_match, pos_match)


def test_one_sided_labels_score_90_mm_and_zero_cldice() -> None:
    # GT: label 1 on row 2; prediction: label 2 on row 6, no voxel in common. Classes {1, 2} are
    # each on one side only: Dice 0 and HD95 90 mm each, mean 90; the merged masks are disjoint,
    # so no skeleton voxel hits the other mask: clDice 0
    gt, pred = strip_map((1, 2, 2, 10)), strip_map((2, 6, 2, 10))
    row = scoring.segmentation_case(pred, gt, (1.0, 1.0, 1.0))
    assert row["hd95"] == 90.0 and row["dice"] == 0.0 and row["cldice"] == 0.0


def test_a_failed_match_counts_as_a_variant_no_case_has() -> None:
    # one case whose variants are read right (codes 0 and 1) but whose topology match failed:
    # graph accuracy 1, topology 0, even for the codes 0 and 1 (the failure is not a variant)
    row = {f"det{label}_{o}": float(o == "tn") for label in (8, 9, 10, 15) for o in scoring.OUTCOMES}
    row.update(ant_gt=0, ant_pred=0, ant_match=0.0, pos_gt=1, pos_pred=1, pos_match=0.0)
    agg = scoring.aggregate_segmentation([row])
    assert agg["anterior_graph_acc"] == agg["posterior_graph_acc"] == 1.0
    assert agg["anterior_topology"] == agg["posterior_topology"] == 0.0
    assert agg["f1_grp2"] == 0.0  # all four labels TN: F1 0 each
