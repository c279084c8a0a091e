"""Correlation metrics (PLCC, SROCC, KROCC, the LDCT-IQA score) against hand-computed cases."""

import math

import pytest
from rexmle.graders.correlation import iqa_score, krocc, plcc, srocc


def test_perfect_and_reversed_predictions() -> None:
    t = [1.0, 2.0, 3.0, 4.0]
    assert (plcc(t, t), srocc(t, t), krocc(t, t)) == pytest.approx((1.0, 1.0, 1.0))
    rev = [4.0, 3.0, 2.0, 1.0]
    assert (plcc(rev, t), srocc(rev, t), krocc(rev, t)) == pytest.approx((-1.0, -1.0, -1.0))
    # the challenge score takes absolute values: exactly backwards scores the maximum, 3
    assert iqa_score(rev, t) == pytest.approx({"plcc": 1.0, "srocc": 1.0, "krocc": 1.0, "score": 3.0})


def test_one_swapped_pair_by_hand() -> None:
    p, t = [1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0]
    # deviations (-1.5, -.5, .5, 1.5) and (-1.5, .5, -.5, 1.5): cov 4, variances 5 -> 0.8
    assert plcc(p, t) == pytest.approx(0.8)
    assert srocc(p, t) == pytest.approx(0.8)  # the values are their own ranks
    # 6 pairs: 5 concordant, 1 discordant -> (5 - 1) / 6
    assert krocc(p, t) == pytest.approx(4 / 6)
    assert iqa_score(p, t)["score"] == pytest.approx(0.8 + 0.8 + 4 / 6)


def test_ties_use_mean_ranks_and_tau_b() -> None:
    p, t = [1.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]
    # Pearson on the values: cov 3.5, var 2.75 and 5
    assert plcc(p, t) == pytest.approx(3.5 / math.sqrt(2.75 * 5))
    # ranks of p: 1.5, 1.5, 3, 4 -> cov 4.5, var 4.5 and 5
    assert srocc(p, t) == pytest.approx(math.sqrt(0.9))
    # tau-b: C = 5, D = 0, one pair tied in p only -> 5 / sqrt(6 * 5)
    assert krocc(p, t) == pytest.approx(5 / math.sqrt(30))


def test_constant_predictions_or_truth_score_zero_never_nan() -> None:
    t = [0.2, 1.4, 3.0, 3.0]
    for a, b in (([2.0] * 4, t), (t, [2.0] * 4)):
        assert (plcc(a, b), srocc(a, b), krocc(a, b)) == (0.0, 0.0, 0.0)
    assert iqa_score([2.0] * 4, t) == {"plcc": 0.0, "srocc": 0.0, "krocc": 0.0, "score": 0.0}


@pytest.mark.parametrize(
    ("p", "t", "match"),
    [
        ([1.0, 2.0], [1.0, 2.0, 3.0], "length mismatch"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], "length mismatch"),
        ([1.0], [1.0], "at least 2"),
        ([1.0, math.nan], [1.0, 2.0], "finite"),
        ([1.0, math.inf], [1.0, 2.0], "finite"),
    ],
)
def test_bad_inputs_raise(p: list[float], t: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        plcc(p, t)


def test_a_truth_whose_first_score_is_the_largest_is_not_taken_for_constant() -> None:
    # t = [3, 1, 2], p = t: a perfect prediction, whatever the order of the first element
    t = [3.0, 1.0, 2.0]
    assert (plcc(t, t), srocc(t, t), krocc(t, t)) == pytest.approx((1.0, 1.0, 1.0))
    assert (plcc([1.0, 2.0, 3.0], t), srocc([1.0, 2.0, 3.0], t)) == pytest.approx((-0.5, -0.5))


def test_one_constant_side_is_zero_for_each_coefficient_separately() -> None:
    t = [0.2, 1.4, 3.0]
    for f in (plcc, srocc, krocc):
        assert f([5.0, 5.0, 5.0], t) == 0.0 and f(t, [5.0, 5.0, 5.0]) == 0.0
