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
