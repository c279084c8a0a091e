"""The optional pooled hook of the grader contract: ``score_pooled(loaded, private_dir)`` gets every
case's ``check_case`` result at once, in one grading worker, instead of ``score_case`` + ``aggregate``."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import fake_challenge

from rexmle import grading
from rexmle.challenge import Challenge

GRADE_PY = """
from pathlib import Path
from rexmle.challenge_api import InvalidSubmission, SubmissionFormat

FORMAT = SubmissionFormat(id_column="case_id", value_columns=("value",))


def check_case(case_id, files, public_dir):
    try:
        return (case_id, float(files["value"]))
    except ValueError:
        raise InvalidSubmission(f"case {case_id}: value {files['value']!r} is not a number") from None


def score_pooled(loaded, private_dir):
    if any(v < 0 for _, v in loaded.values()):
        raise InvalidSubmission("negative values cannot be pooled")
    offset = float((private_dir / "offset.txt").read_text())
    return {"total": sum(v for _, v in loaded.values()) + offset, "n": len(loaded),
            "order": float("".join(c[-1] for c in loaded))}
"""


METRICS = [
    {"name": n, "direction": "higher_better", "aggregation": "pooled"} for n in ("total", "n", "order")
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Challenge, Path, Path]:
    root = tmp_path_factory.mktemp("pooled")
    ch = fake_challenge(root / "pooled_fake", GRADE_PY, METRICS)
    (root / "public").mkdir()
    (root / "public" / "test.csv").write_text("case_id\nc3\nc1\nc2\n")
    (root / "private").mkdir()
    (root / "private" / "offset.txt").write_text("0.5")
    return ch, root / "public", root / "private"


def submit(folder: Path, values: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{k},{v}\n" for k, v in values.items())
    (folder / "submission.csv").write_text("case_id,value\n" + rows)
    return folder


@pytest.mark.parametrize("workers", [1, 2])
def test_pooled_hook_sees_every_case_once_in_id_order(
    setup: tuple[Challenge, Path, Path], tmp_path: Path, workers: int
) -> None:
    ch, public, private = setup
    sub = submit(tmp_path / "sub", {"c2": "2", "c3": "4", "c1": "1.25"})
    report = grading.grade(ch, sub, public, private, workers=workers)  # type: ignore[arg-type]
    assert report.valid and report.n_cases == 3
    # 1.25 + 2 + 4 + offset 0.5; the cases arrive sorted by id (c1, c2, c3 -> "123")
    assert report.metrics == {"total": 7.75, "n": 3.0, "order": 123.0}
    assert report.per_case == [{"case_id": "c1"}, {"case_id": "c2"}, {"case_id": "c3"}]


def test_validate_never_calls_the_pooled_hook(setup: tuple[Challenge, Path, Path], tmp_path: Path) -> None:
    ch, public, _ = setup
    sub = submit(tmp_path / "sub", {"c1": "-1", "c2": "2", "c3": "4"})
    report = grading.validate(ch, sub, public)  # type: ignore[arg-type]
    assert report.valid and report.metrics == {} and report.n_cases == 3


def test_failures_in_check_and_in_the_hook_are_one_line_reasons(
    setup: tuple[Challenge, Path, Path], tmp_path: Path
) -> None:
    ch, public, private = setup
    bad = grading.grade(
        ch, submit(tmp_path / "a", {"c1": "x", "c2": "2", "c3": "4"}), public, private, workers=1
    )  # type: ignore[arg-type]
    assert not bad.valid and bad.reason == "case c1: value 'x' is not a number"
    neg = grading.grade(
        ch, submit(tmp_path / "b", {"c1": "-1", "c2": "2", "c3": "4"}), public, private, workers=1
    )  # type: ignore[arg-type]
    assert not neg.valid and neg.reason == "negative values cannot be pooled" and neg.n_cases == 3
