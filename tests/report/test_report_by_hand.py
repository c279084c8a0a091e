"""The report's statistics on a five-run fixture whose every number is worked out by hand.

ISLES'22's human leaderboard (challenges/isles22/leaderboard.csv) has as best values
dice 0.7869, lesion_f1 0.8246, lesion_count_diff 2.0667, abs_volume_diff 4.6982. The dummy
scores (0, 0, 10, 20) on both its seeds, so its line is exactly that. The baseline's seed 0 sits
half-way between dummy and best human on all four metrics (normalized 0.5), seed 1 on the best
human values (1.0), seed 2 is invalid (counts 0 in both the percentile and the normalized score).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from rexmle.report import add_scores, leaderboard

BEST = {"dice": 0.7869, "lesion_f1": 0.8246, "lesion_count_diff": 2.0667, "abs_volume_diff": 4.6982}
DUMMY = {"dice": 0.0, "lesion_f1": 0.0, "lesion_count_diff": 10.0, "abs_volume_diff": 20.0}
HALF = {m: DUMMY[m] + 0.5 * (BEST[m] - DUMMY[m]) for m in BEST}  # dice 0.39345, lcd 6.03335, ...


def _run(
    agent: str, seed: int, valid: bool, metrics: dict[str, float], pct: float, medal: str | None
) -> dict:  # type: ignore[type-arg]
    return {
        "challenge": "isles22",
        "synthetic": False,
        "isolation": "namespaces",
        "agent": agent,
        "model": None,
        "seed": seed,
        "valid": valid,
        "percentile": pct,
        "beats_median": (medal is not None) if valid else None,
        "medal": medal,
        "cost_usd": 0.0 if agent == "dummy" else [1.0, 2.0, 6.0][seed],
        "tokens_in": 10 * seed,
        "tokens_out": 1,
        "wall_time_s": 60.0 * (seed + 1),
        **{f"metric.{m}": v for m, v in metrics.items()},
    }


@pytest.fixture
def rows() -> list[dict]:  # type: ignore[type-arg]
    nan = dict.fromkeys(BEST, math.nan)
    table = pd.DataFrame(
        [
            _run("dummy", 0, True, DUMMY, 0.0, None),
            _run("dummy", 1, True, DUMMY, 0.0, None),
            _run("baseline", 0, True, HALF, 0.4, None),
            _run("baseline", 1, True, BEST, 0.9, "gold"),
            _run("baseline", 2, False, nan, math.nan, None),
        ]
    )
    return leaderboard(add_scores(table))


def test_scores_per_run(rows: list[dict]) -> None:  # type: ignore[type-arg]
    nan = dict.fromkeys(BEST, math.nan)
    table = pd.DataFrame(
        [
            _run("dummy", 0, True, DUMMY, 0.0, None),
            _run("baseline", 0, True, HALF, 0.4, None),
            _run("baseline", 1, True, BEST, 0.9, "gold"),
            _run("baseline", 2, False, nan, math.nan, None),
        ]
    )
    scored = add_scores(table)
    assert scored["norm"].tolist() == pytest.approx([0.0, 0.5, 1.0, 0.0])  # the invalid run counts 0
    assert scored["pct"].tolist() == pytest.approx([0.0, 0.4, 0.9, 0.0])
    assert scored["cohort"].tolist() == ["headline"] * 4
    assert scored["tokens"].tolist() == [1, 1, 11, 21]


def test_entrant_rows_by_hand(rows: list[dict]) -> None:  # type: ignore[type-arg]
    base, dummy = rows  # sorted by mean percentile: baseline 0.433 before dummy 0
    assert base["entrant"] == "baseline" and dummy["entrant"] == "dummy"
    assert base["runs"] == 3 and base["challenges"] == 1 and base["seeds"] == "3"
    assert base["percentile"] == pytest.approx((0.4 + 0.9 + 0.0) / 3)
    assert base["normalized"] == pytest.approx((0.5 + 1.0 + 0.0) / 3) and base["normalized_runs"] == 3
    assert base["valid_rate"] == pytest.approx(2 / 3)
    assert (base["gold"], base["silver"], base["bronze"]) == (1, 0, 0)
    assert base["above_median"] == pytest.approx(1 / 3)
    assert base["cost_usd"] == pytest.approx(3.0)  # (1 + 2 + 6) / 3
    assert base["cost_sem"] == pytest.approx(math.sqrt(7.0) / math.sqrt(3))  # sample sd sqrt(7)
    assert base["wall_min"] == pytest.approx(2.0)  # (1 + 2 + 3) / 3 minutes
    assert base["tokens"] == pytest.approx(11.0)
    # one challenge: the interval is a bootstrap over the three seeds, inside [min, max]
    low, high = base["percentile_ci"]
    assert 0.0 <= low <= base["percentile"] <= high <= 0.9
    assert dummy["normalized"] == 0.0 and dummy["percentile"] == 0.0 and dummy["valid_rate"] == 1.0
    assert dummy["normalized_ci"] == (0.0, 0.0)  # constant values: the interval collapses
