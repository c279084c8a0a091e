"""Ranking against the human leaderboard, hand-computed (challenges.md §0.3-0.4)."""

import pandas as pd
import pytest

from rexmle.ranking import leaderboard_metrics, rank_against


def lb() -> pd.DataFrame:
    # three humans, two metrics
    return pd.DataFrame(
        {
            "rank": [1, 2, 3],
            "team": ["a", "b", "c"],
            "mean_position": [1.5, 2.0, 2.5],
            "dice": [0.8, 0.7, 0.6],
            "dice_position": [1, 2, 3],
            "vol": [3.0, 1.0, 2.0],
            "vol_position": [3, 1, 2],
        }
    )


DIRS = {"dice": "higher_better", "vol": "lower_better"}


def test_metric_columns() -> None:
    assert leaderboard_metrics(lb()) == ["dice", "vol"]


def test_positions_ties_and_percentile() -> None:
    r = rank_against({"dice": 0.7, "vol": 0.5}, lb(), DIRS)  # tie with b on dice -> shares 2nd
    assert r.positions == {"dice": 2, "vol": 1}
    assert r.mean_position == 1.5
    assert r.percentile == pytest.approx(1 - 0.5 / 3)
    assert r.medal == "gold" and r.above_median
    assert r.rank == 1  # no stored mean position is strictly better than 1.5
    assert r.beats_share == pytest.approx(2 / 3)


def test_worst_submission() -> None:
    r = rank_against({"dice": 0.1, "vol": 9.0}, lb(), DIRS)
    assert r.positions == {"dice": 4, "vol": 4}
    assert r.percentile == 0.0
    assert r.medal is None and not r.above_median
    assert r.beats_share == 0.0


def test_nan_ranks_last_and_unknown_metrics_are_ignored() -> None:
    r = rank_against({"dice": float("nan"), "vol": 1.0, "extra": 5.0}, lb(), DIRS)
    assert r.positions == {"dice": 4, "vol": 1}


def test_reference_percentile_example() -> None:
    # ldct-iqa in the reference: N=6, mean_position 6 -> 0.16667, 5 -> 0.33333
    board = pd.DataFrame(
        {
            "rank": range(1, 7),
            "team": list("abcdef"),
            "mean_position": range(1, 7),
            "score": [6, 5, 4, 3, 2, 1],
        }
    )
    r6 = rank_against({"score": 1.5}, board, {"score": "higher_better"})
    assert r6.mean_position == 6 and r6.percentile == pytest.approx(0.16667, abs=1e-5)
    r5 = rank_against({"score": 2.5}, board, {"score": "higher_better"})
    assert r5.mean_position == 5 and r5.percentile == pytest.approx(0.33333, abs=1e-5)


def test_isles22_leaderboard_positions_reproduce(isles) -> None:  # type: ignore[no-untyped-def]
    """Each stored human row, ranked against the other rows + itself, keeps its stored positions."""
    board = isles.leaderboard
    dirs = isles.spec.directions
    for i, row in board.iterrows():
        others = board.drop(index=i)
        metrics = {m: row[m] for m in dirs}
        r = rank_against(metrics, others, dirs)
        for m in dirs:
            assert r.positions[m] == row[f"{m}_position"], (i, m)


# --- medals and the median, worked out by hand -------------------------------------------------


def _two_metric_board(stored: list[float]) -> pd.DataFrame:
    """Metrics `a` and `b` (higher is better), row i scoring n - i on both: a value of
    n - p + 1.5 is beaten by exactly p - 1 rows, so it sits at position p."""
    n = len(stored)
    scores = [float(n - i) for i in range(n)]
    return pd.DataFrame(
        {
            "rank": range(1, n + 1),
            "team": list("abcdefgh"[:n]),
            "mean_position": stored,
            "a": scores,
            "b": scores,
        }
    )


@pytest.mark.parametrize(
    ("stored", "positions", "medal", "above_median"),
    [
        # odd N = 5, stored sorted [1, 2, 3, 4, 5]: gold <= 1, silver <= 2, bronze <= 3; median
        # row index 5 // 2 = 2 -> 3
        ([3.0, 1.0, 5.0, 2.0, 4.0], (1, 1), "gold", True),
        ([3.0, 1.0, 5.0, 2.0, 4.0], (1, 2), "silver", True),  # 1.5
        ([3.0, 1.0, 5.0, 2.0, 4.0], (2, 2), "silver", True),
        ([3.0, 1.0, 5.0, 2.0, 4.0], (3, 3), "bronze", True),  # bronze and the median are <=
        ([3.0, 1.0, 5.0, 2.0, 4.0], (3, 4), None, False),  # 3.5
        # even N = 4, stored sorted [1, 2, 3, 4]: the median row is index 4 // 2 = 2 -> 3, not 2
        ([4.0, 3.0, 2.0, 1.0], (2, 3), "bronze", True),  # 2.5
        ([4.0, 3.0, 2.0, 1.0], (3, 3), "bronze", True),
        ([4.0, 3.0, 2.0, 1.0], (3, 4), None, False),  # 3.5: past bronze (<= 3) and the median
        # ties: a stored value equal to the submission's counts as reached
        ([2.0, 2.0, 2.0], (2, 2), "gold", True),
    ],
)
def test_medals_and_median_by_hand(
    stored: list[float], positions: tuple[int, int], medal: str | None, above_median: bool
) -> None:
    n = len(stored)
    values = {k: n - p + 1.5 for k, p in zip("ab", positions, strict=True)}
    r = rank_against(values, _two_metric_board(stored), {"a": "higher_better", "b": "higher_better"})
    assert (r.positions["a"], r.positions["b"]) == positions
    assert r.mean_position == sum(positions) / 2
    assert r.medal == medal and r.above_median is above_median
    assert r.rank == 1 + sum(s < r.mean_position for s in stored)


def test_lower_better_positions_count_strictly_smaller_values() -> None:
    board = pd.DataFrame(
        {"rank": [1, 2, 3], "team": list("abc"), "mean_position": [1.0, 2.0, 3.0], "hd": [1.0, 2.0, 2.0]}
    )
    assert rank_against({"hd": 2.0}, board, {"hd": "lower_better"}).positions == {"hd": 2}  # ties share 2nd
    assert rank_against({"hd": 0.5}, board, {"hd": "lower_better"}).positions == {"hd": 1}
    assert rank_against({"hd": 9.0}, board, {"hd": "lower_better"}).positions == {"hd": 4}
    r = rank_against({"hd": float("nan")}, board, {"hd": "lower_better"})
    assert r.positions == {"hd": 4} and r.percentile == 0.0 and r.beats_share == 0.0


def test_a_leaderboard_metric_the_submission_lacks_is_not_ranked() -> None:
    r = rank_against({"dice": 0.9}, lb(), DIRS)  # no `vol`: ranked on dice alone, no KeyError
    assert r.positions == {"dice": 1} and r.mean_position == 1.0


def test_a_two_row_leaderboard_has_no_bronze() -> None:
    board = pd.DataFrame({"rank": [1, 2], "team": ["a", "b"], "mean_position": [1.0, 2.0], "m": [2.0, 1.0]})
    r = rank_against({"m": 0.0}, board, {"m": "higher_better"})  # third of three
    assert r.mean_position == 3.0 and r.medal is None and not r.above_median and r.rank == 3


def test_a_result_cannot_be_edited_after_ranking() -> None:
    r = rank_against({"dice": 0.9}, lb(), DIRS)
    with pytest.raises(ValueError, match="frozen"):
        r.medal = "gold"  # type: ignore[misc]


def test_a_one_row_leaderboard_has_only_gold_to_give() -> None:
    board = pd.DataFrame({"rank": [1], "team": ["a"], "mean_position": [1.0], "m": [1.0]})
    r = rank_against({"m": 0.0}, board, {"m": "higher_better"})  # second of two
    assert r.mean_position == 2.0 and r.medal is None and not r.above_median and r.percentile == 0.0
    assert rank_against({"m": 1.0}, board, {"m": "higher_better"}).medal == "gold"  # a tie is first
