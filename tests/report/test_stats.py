"""The report's statistics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from rexmle.report.stats import best_human, hierarchical_bootstrap_ci, normalized_score, sem


def test_sem_is_sample_sd_over_root_n() -> None:
    # values 1, 2, 3: sd (ddof=1) = 1, n = 3 -> 1 / sqrt(3)
    assert sem([1.0, 2.0, 3.0]) == pytest.approx(1 / math.sqrt(3))
    assert math.isnan(sem([0.7]))  # one seed: no error estimate, not 0
    assert sem([2.0, float("nan"), 4.0]) == pytest.approx(1.0)  # NaNs are dropped: sd sqrt(2), n 2


def test_bootstrap_point_is_mean_of_challenge_means_and_interval_brackets_it() -> None:
    groups = [[0.1, 0.2, 0.3], [0.9]]  # challenge means 0.2 and 0.9
    mean, lo, hi = hierarchical_bootstrap_ci(groups, n_boot=4000)
    assert mean == pytest.approx(0.55)
    assert lo <= mean <= hi
    # resampling challenges can pick either one twice: the interval spans close to both
    assert lo < 0.3 and hi > 0.8


def test_bootstrap_of_constant_values_collapses_and_single_value_has_no_interval() -> None:
    mean, lo, hi = hierarchical_bootstrap_ci([[0.4, 0.4], [0.4]])
    assert (mean, lo, hi) == pytest.approx((0.4, 0.4, 0.4))
    mean, lo, hi = hierarchical_bootstrap_ci([[0.4]])
    assert mean == 0.4 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in hierarchical_bootstrap_ci([]))


def test_best_human_follows_direction() -> None:
    assert best_human([0.5, 0.8, 0.7], "higher_better") == 0.8
    assert best_human([5.0, 2.0, 3.0], "lower_better") == 2.0


def test_normalized_score_hand_computed_both_directions() -> None:
    dummy = {"dice": 0.2, "hd95": 40.0}
    best = {"dice": 0.8, "hd95": 10.0}
    # dice: (0.5 - 0.2) / (0.8 - 0.2) = 0.5; hd95: (25 - 40) / (10 - 40) = 0.5
    assert normalized_score({"dice": 0.5, "hd95": 25.0}, dummy, best) == pytest.approx(0.5)
    # at the dummy line: 0; at the best human: 1; beyond: > 1; worse than dummy: < 0
    assert normalized_score(dummy, dummy, best) == pytest.approx(0.0)
    assert normalized_score(best, dummy, best) == pytest.approx(1.0)
    assert normalized_score({"dice": 0.9}, dummy, best) == pytest.approx(7 / 6)
    assert normalized_score({"hd95": 70.0}, dummy, best) == pytest.approx(-1.0)


def test_normalized_score_skips_degenerate_and_unknown_metrics() -> None:
    assert normalized_score({"x": 1.0, "dice": 0.5}, {"x": 1.0, "dice": 0.0}, {"x": 1.0, "dice": 1.0}) == 0.5
    assert math.isnan(normalized_score({"other": 1.0}, {"dice": 0.0}, {"dice": 1.0}))


def test_sem_of_two_values_is_their_half_difference() -> None:
    # sd (ddof=1) of {a, b} = |a - b| / sqrt(2); over sqrt(2): |a - b| / 2
    assert sem([1.0, 4.0]) == pytest.approx(1.5)


def test_two_values_in_all_already_have_an_interval() -> None:
    # two challenges of one seed each: replicates pick (0.2, 0.2), (0.2, 0.6), (0.6, 0.2) or
    # (0.6, 0.6), so the replicate means are 0.2, 0.4 or 0.6 and the 95 % interval is [0.2, 0.6]
    assert hierarchical_bootstrap_ci([[0.2], [0.6]]) == pytest.approx((0.4, 0.2, 0.6))


def test_the_bootstrap_is_pinned_for_its_seed_and_level() -> None:
    """Deterministic for a seed: these values were computed once (2026-12-07, numpy 2) from
    2,000 replicates with seed 0 and are pinned, so a change of the replicate count, the seed, the
    resampling of challenges or the quantile levels shows. Properties that hold whatever the
    draw: the point is the mean of challenge means, the 50 % interval lies inside the 95 % one,
    and both lie inside [smallest, largest] challenge mean reachable (0.2 and 0.8)."""
    groups = [[0.1, 0.5, 0.3], [0.9, 0.7], [0.2]]  # challenge means 0.3, 0.8, 0.2
    mean, lo95, hi95 = hierarchical_bootstrap_ci(groups)
    _, lo50, hi50 = hierarchical_bootstrap_ci(groups, level=0.5)
    assert mean == pytest.approx((0.3 + 0.8 + 0.2) / 3)
    assert 0.1 <= lo95 < lo50 < mean < hi50 < hi95 <= 0.9
    assert (lo95, hi95) == pytest.approx((0.18888888888888888, 0.8000000000000002), abs=1e-12)
    assert (lo50, hi50) == pytest.approx((0.3111111111111111, 0.5444444444444444), abs=1e-12)


def test_a_metric_missing_from_the_dummy_or_the_best_is_skipped_not_fatal() -> None:
    # "a" first in order and skipped, "b" still counted: (0.5 - 0) / (1 - 0) = 0.5
    assert normalized_score({"a": 1.0, "b": 0.5}, {"b": 0.0}, {"a": 1.0, "b": 1.0}) == 0.5
    assert normalized_score({"a": 1.0, "b": 0.5}, {"a": 0.0, "b": 0.0}, {"b": 1.0}) == 0.5


@pytest.mark.parametrize("where", ["value", "dummy", "best"])
def test_a_nan_anywhere_skips_that_metric(where: str) -> None:
    v, d, h = {"a": 0.5, "b": 0.5}, {"a": 0.0, "b": 0.0}, {"a": 1.0, "b": 1.0}
    {"value": v, "dummy": d, "best": h}[where]["a"] = math.nan
    v["b"] = 0.25  # b alone: (0.25 - 0) / (1 - 0)
    assert normalized_score(v, d, h) == 0.25
