"""Centroid matching and detection F1 (rexmle.graders.points) on hand-worked cases."""

from __future__ import annotations

import dataclasses

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


def test_points_and_counts_are_frozen_and_the_default_score_is_one() -> None:
    p, c = Point("t", 0, 0), PointCounts(1, 2, 3)
    assert p.score == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.tp = 0
    assert len({p, Point("t", 0, 0)}) == 1  # frozen + eq: hashable, equal points collapse


def test_the_default_score_competes_as_one() -> None:
    gt = [Point("t", 0, 0)]
    # default (1.0) at d = 5 against an explicit 0.5 at d = 1: the higher score wins -> index 0
    assert match_centroids(gt, [Point("t", 3, 4), Point("t", 0, 1, 0.5)]) == [(0, 0)]
    # an explicit 1.0 at d = 1 against the default at d = 5: equal scores, the nearer (index 0)
    assert match_centroids(gt, [Point("t", 0, 1, 1.0), Point("t", 3, 4)]) == [(0, 0)]


def test_distance_uses_coordinate_differences_away_from_the_origin() -> None:
    # GT (10, 20), prediction (13, 24): dx = -3, dy = -4, so d = 5 (not 10|13 = 15 or 20+24)
    gt, pred = [Point("t", 10, 20)], [Point("t", 13, 24)]
    assert match_centroids(gt, pred, max_distance=5.5) == [(0, 0)]
    assert match_centroids(gt, pred, max_distance=5.0) == []  # 5 is not < 5
    # GT (1, 0), prediction (2, 0): d = 1 (1 ^ 2 = 3 and 1 | 2 = 3 would be 3 apart)
    assert match_centroids([Point("t", 1, 0)], [Point("t", 2, 0)], max_distance=2.0) == [(0, 0)]


def test_defaults_are_a_strict_15_pixel_radius_in_counts_and_f1() -> None:
    # G0 has only a prediction exactly 15 away (9, 12): not < 15, no match; G1 has one 14.5 away:
    # a match. So TP 1, FP 1, FN 1 and F1 = 1/2 (16 or inclusive would give 2 TP, 14 none)
    gt = [Point("t", 0, 0), Point("t", 100, 0)]
    pred = [Point("t", 9, 12), Point("t", 100, 14.5)]
    assert match_centroids(gt, pred) == [(1, 1)]
    assert class_counts(gt, pred) == {"t": PointCounts(1, 1, 1)}
    assert per_class_f1(gt, pred) == {"t": 0.5}


def test_a_ground_truth_without_candidates_does_not_stop_the_later_ones() -> None:
    # GT 0 is of a class with no prediction at all, GT 1 has only a prediction 50 away; GT 2
    # still matches the prediction 1 away: one pair, (2, 1)
    gt = [Point("a", 0, 0), Point("t", 0, 0), Point("t", 100, 0)]
    pred = [Point("t", 50, 0), Point("t", 101, 0)]
    assert match_centroids(gt, pred) == [(2, 1)]
    # the class pool emptied by GT 0's match: GT 1 has none left, GT 2 (other class) still matches
    gt = [Point("t", 0, 0), Point("t", 1, 0), Point("u", 0, 0)]
    assert match_centroids(gt, [Point("t", 0, 0), Point("u", 1, 0)]) == [(0, 0), (2, 1)]


def test_fp_and_fn_are_differences_of_counts() -> None:
    # 3 GT, 3 predictions, only GT 0 / prediction 0 within 15: TP 1, FP 3 - 1 = 2, FN 3 - 1 = 2
    # (a shift 3 >> 1 would give 1); P = R = 1/3, so F1 = 1/3
    gt = [Point("t", 0, 0), Point("t", 100, 0), Point("t", 200, 0)]
    pred = [Point("t", 1, 0), Point("t", 0, 100), Point("t", 0, 200)]
    assert class_counts(gt, pred) == {"t": PointCounts(1, 2, 2)}
    assert per_class_f1(gt, pred) == {"t": pytest.approx(1 / 3)}


@pytest.mark.parametrize("offset", [(3, 0), (-3, 0), (0, 3), (0, -3)])
def test_removal_needs_both_coordinates_equal(offset: tuple[int, int]) -> None:
    # W at (1, 1) with 0.9 beats A (W + offset, 0.1, listed first) for GT 0. A shares one
    # coordinate with W and is larger or smaller in the other, so only an exact centroid test
    # leaves it in the pool: W is removed and GT 1 (at A) gets A -> [(0, 1), (1, 0)]
    a = Point("t", 1 + offset[0], 1 + offset[1], 0.1)
    pred = [a, Point("t", 1, 1, 0.9)]
    gt = [Point("t", 1, 1), Point("t", a.x, a.y)]
    assert match_centroids(gt, pred) == [(0, 1), (1, 0)]


def test_removal_compares_centroids_by_value() -> None:
    # as in test_removal_takes_the_first_prediction_with_an_equal_centroid, with coordinates that
    # are equal but distinct float objects: the first prediction at (1, 0) is removed, by value
    pred = [Point("t", float(x), float(y), s) for x, y, s in [(1, 0, 0.1), (1, 0, 0.9)]]
    assert pred[0].x is not pred[1].x and pred[0].y is not pred[1].y
    gt = [Point("t", 0.0, 0.0), Point("t", 2.0, 0.0)]
    assert match_centroids(gt, pred) == [(0, 1), (1, 1)]


def test_removal_takes_only_one_of_several_equal_centroids() -> None:
    # three predictions at (1, 0): each of the three GT at (0, 0) removes one, so all match;
    # GT 0 picks index 0 and removes it, then GT 1 index 1, GT 2 index 2
    pred = [Point("t", 1, 0)] * 3
    gt = [Point("t", 0, 0)] * 3
    assert match_centroids(gt, pred) == [(0, 0), (1, 1), (2, 2)]
    assert class_counts(gt, pred) == {"t": PointCounts(3, 0, 0)}
