"""LDCT-IQA 2023 grade module (challenges/ldct-iqa/grade.py), fast unit tests.

Pinned: ``check_case``'s reading of one ``quality_score`` cell (whitespace, empty, not a number,
not finite, the 40-character excerpt in each message), ``score_case``'s (prediction, truth) pair
read from ``test_labels.csv`` (ids kept as zero-padded strings), the labels cache, and
``aggregate``: |PLCC| + |SROCC| + |KROCC| pooled over all rows, worked out by hand.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from rexmle import challenge
from rexmle.errors import InvalidSubmission

# the registry loads the hyphenated folder's grade.py (no importable package name)
grade = challenge.get("ldct-iqa").module("grade")
PUBLIC = Path("unused-public")  # check_case reads nothing from the public folder


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("2.5", 2.5),
        (" 2.5\t", 2.5),  # surrounding whitespace is stripped
        ("3", 3.0),
        ("-1e-3", -0.001),
        ("0", 0.0),
        (1.25, 1.25),  # a cell that is already a number
    ],
)
def test_a_finite_number_is_returned_as_a_float(raw: Any, value: float) -> None:
    out = grade.check_case("0003", {"quality_score": raw}, PUBLIC)
    assert out == value and type(out) is float


@pytest.mark.parametrize(
    "files", [{}, {"quality_score": None}, {"quality_score": ""}, {"quality_score": " \t "}]
)
def test_an_empty_or_missing_cell_is_refused(files: dict[str, Any]) -> None:
    """No value (absent, None, blank): "is empty", not a float("None") error."""
    with pytest.raises(InvalidSubmission) as exc:
        grade.check_case("0003", files, PUBLIC)
    assert str(exc.value) == "case 0003: quality_score is empty"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", "case 0007: quality_score 'abc' is not a number"),
        (" 1,5 ", "case 0007: quality_score '1,5' is not a number"),
        # the excerpt is the first 40 characters of the stripped text: 40 x's, not 41 or 39
        ("x" * 50, f"case 0007: quality_score {'x' * 40!r} is not a number"),
        ("nan", "case 0007: quality_score 'nan' is not a finite number"),
        ("inf", "case 0007: quality_score 'inf' is not a finite number"),
        ("-inf", "case 0007: quality_score '-inf' is not a finite number"),
        ("1e999", "case 0007: quality_score '1e999' is not a finite number"),
        # 1 followed by 400 zeros parses to inf: again a 40-character excerpt
        ("1" + "0" * 400, f"case 0007: quality_score {'1' + '0' * 39!r} is not a finite number"),
    ],
)
def test_bad_values_are_refused_with_an_excerpt(raw: str, message: str) -> None:
    with pytest.raises(InvalidSubmission) as exc:
        grade.check_case("0007", {"quality_score": raw}, PUBLIC)
    assert str(exc.value) == message


def _labels(folder: Path, rows: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{k},{v}\n" for k, v in rows.items())
    (folder / "test_labels.csv").write_text("image_id,quality_score\n" + body)
    return folder


def test_score_case_pairs_the_prediction_with_the_radiologists_score(tmp_path: Path) -> None:
    """The truth is looked up by the id as written ("0001", zero-padded), as a float."""
    private = _labels(tmp_path, {"0000": "1.4", "0001": "2.2", "1": "9.9"})
    assert grade.score_case("0001", 3.5, private) == {"prediction": 3.5, "truth": 2.2}
    assert grade.score_case("0000", -1.0, private) == {"prediction": -1.0, "truth": 1.4}
    assert grade.score_case("1", 0.0, private) == {"prediction": 0.0, "truth": 9.9}
    out = grade.score_case("0000", 2, private)
    assert type(out["prediction"]) is float and type(out["truth"]) is float


def test_the_labels_are_read_once_per_file_and_four_files_are_kept() -> None:
    """A grading worker scores many cases against one labels file: it is parsed once (an LRU
    cache of the four most recently used files bounds the memory)."""
    assert grade._truth.cache_info().maxsize == 4


def test_the_cache_keeps_the_four_most_recent_label_files(tmp_path: Path) -> None:
    """Five files read in turn: the first falls out of a four-file cache (a rewritten file is
    read again), the second stays (a rewritten one still gives the cached value)."""
    grade._truth.cache_clear()
    folders = [_labels(tmp_path / str(i), {"0000": str(i)}) for i in range(5)]
    assert [grade.score_case("0000", 0.0, f)["truth"] for f in folders] == [0.0, 1.0, 2.0, 3.0, 4.0]
    _labels(folders[1], {"0000": "11"})
    _labels(folders[0], {"0000": "10"})
    assert grade.score_case("0000", 0.0, folders[1])["truth"] == 1.0  # still cached
    assert grade.score_case("0000", 0.0, folders[0])["truth"] == 10.0  # evicted: read again
    grade._truth.cache_clear()


def _rows(pred: list[float], truth: list[float]) -> list[dict[str, float]]:
    return [{"prediction": p, "truth": t} for p, t in zip(pred, truth, strict=True)]


def test_aggregate_pools_the_three_correlations_by_hand() -> None:
    """p = (1, 2, 4), t = (1, 3, 2).
    PLCC: deviations p - 7/3 = (-4/3, -1/3, 5/3), t - 2 = (-1, 1, 0); sum of products
    4/3 - 1/3 = 1; sums of squares 42/9 and 2 -> r = 1 / sqrt(84/9) = 3 / sqrt(84).
    SROCC: ranks (1, 2, 3) and (1, 3, 2): deviations (-1, 0, 1), (-1, 1, 0) -> 1 / 2.
    KROCC (tau-b, no ties): pairs (1,2) C, (1,3) C, (2,3) D -> (2 - 1) / 3 = 1/3.
    score = |PLCC| + |SROCC| + |KROCC| (the organisers' definition)."""
    r = 3 / math.sqrt(84)
    out = grade.aggregate(_rows([1.0, 2.0, 4.0], [1.0, 3.0, 2.0]))
    assert list(out) == ["score", "plcc", "srocc", "krocc"]
    assert out == pytest.approx({"score": r + 1 / 2 + 1 / 3, "plcc": r, "srocc": 0.5, "krocc": 1 / 3})


def test_aggregate_of_a_reversed_ranking_is_the_same_in_absolute_value() -> None:
    """p = -(1, 2, 4) against t = (1, 3, 2): every coefficient only changes sign, and |.| is kept."""
    r = 3 / math.sqrt(84)
    out = grade.aggregate(_rows([-1.0, -2.0, -4.0], [1.0, 3.0, 2.0]))
    assert out == pytest.approx({"score": r + 1 / 2 + 1 / 3, "plcc": r, "srocc": 0.5, "krocc": 1 / 3})


def test_aggregate_of_a_constant_prediction_is_zero() -> None:
    """Every coefficient is undefined for a constant side: 0, and the score 0."""
    out = grade.aggregate(_rows([2.0, 2.0, 2.0], [1.0, 3.0, 2.0]))
    assert out == {"score": 0.0, "plcc": 0.0, "srocc": 0.0, "krocc": 0.0}
