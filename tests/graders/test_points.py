"""Centroid matching and detection F1 (rexmle.graders.points) on hand-worked cases."""

from __future__ import annotations

import pytest
from rexmle.graders.points import (
    Point,
    PointCounts,
    class_counts,
    detection_f1,
    match_centroids,
    per_class_f1,
)


def test_highest_score_wins_then_nearest_and_radius_is_strict() -> None:
    gt = [Point("t", 0, 0)]
    pred = [Point("t", 3, 4, 0.5), Point("t", 9, 12, 0.95), Point("t", 6, 8, 0.9)]  # d = 5, 15, 10
    assert match_centroids(gt, pred) == [(0, 2)]  # d = 15 is not < 15; 0.9 beats 0.5
    assert match_centroids(gt, pred, inclusive=True) == [(0, 1)]  # <= 15: the 0.95 one
    tie = [Point("t", 0, 10, 0.9), Point("t", 6, 8, 0.9), Point("t", 0, 10, 0.9)]  # d = 10, 10, 10
    assert match_centroids(gt, tie) == [(0, 0)]  # equal score and distance: the earlier one


def test_classes_must_agree() -> None:
    gt, pred = [Point("lymph", 0, 0)], [Point("tumor", 0, 0)]
    assert match_centroids(gt, pred) == []
    assert class_counts(gt, pred) == {"lymph": PointCounts(0, 0, 1), "tumor": PointCounts(0, 1, 0)}
    assert per_class_f1(gt, pred) == {"lymph": 0.0, "tumor": 0.0}


def test_greedy_in_ground_truth_order() -> None:
    # the first GT takes the only close prediction; the second is left without one
    gt = [Point("t", 0, 0), Point("t", 12, 0)]
    pred = [Point("t", 6, 0), Point("t", -20, 0)]
    assert match_centroids(gt, pred) == [(0, 0)]
    assert class_counts(gt, pred) == {"t": PointCounts(1, 1, 1)}
    assert per_class_f1(gt, pred) == {"t": 0.5}  # P = R = 1/2


def test_removal_takes_the_first_prediction_with_an_equal_centroid() -> None:
    # GT 0 picks the 0.9 prediction (index 1) but, as in the official code, the first prediction
    # at that centroid (index 0) is the one removed, so index 1 can match GT 1 again
    gt = [Point("t", 0, 0), Point("t", 2, 0)]
    pred = [Point("t", 1, 0, 0.1), Point("t", 1, 0, 0.9)]
    assert match_centroids(gt, pred) == [(0, 1), (1, 1)]
    assert class_counts(gt, pred) == {"t": PointCounts(2, 0, 0)}


def test_f1_zero_rules() -> None:
    assert detection_f1(PointCounts(3, 1, 2)) == pytest.approx(2 / 3)  # P 3/4, R 3/5: 0.9 / 1.35
    assert detection_f1(PointCounts(0, 0, 4)) == 0.0
    assert detection_f1(PointCounts(0, 2, 0)) == 0.0
    assert detection_f1(PointCounts(0, 0, 0)) == 0.0
    assert per_class_f1([], []) == {}


@pytest.mark.parametrize(
    ("counts", "f1"),
    [((1, 0, 0), 1.0), ((1, 0, 1), 2 / 3), ((1, 1, 0), 2 / 3), ((1, 1, 1), 0.5), ((2, 0, 0), 1.0)],
)
def test_f1_of_one_or_two_detections_by_hand(counts: tuple[int, int, int], f1: float) -> None:
    """F1 = 2PR / (P + R): one TP alone is perfect; one TP with one FP (P 1/2, R 1) or one FN
    (P 1, R 1/2) is 2/3; with both, 1/2."""
    assert detection_f1(PointCounts(*counts)) == pytest.approx(f1, abs=1e-12)


def test_the_distance_limit_is_strict_unless_inclusive() -> None:
    gt, pred = [Point("t", 0, 0)], [Point("t", 3, 4)]  # 5 apart
    assert match_centroids(gt, pred, max_distance=5.0) == []
    assert match_centroids(gt, pred, max_distance=5.0, inclusive=True) == [(0, 0)]
    assert match_centroids(gt, pred, max_distance=5.0 + 1e-9) == [(0, 0)]
    assert match_centroids(gt, [Point("t", 3, 4.001)], max_distance=5.0, inclusive=True) == []
