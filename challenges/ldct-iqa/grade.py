"""LDCT-IQA 2023 grader: |PLCC| + |SROCC| + |KROCC| between the predicted quality scores and the
radiologists' mean scores, pooled over the whole test set (rexmle.graders.correlation).

A submission has no files: ``submission.csv`` holds ``image_id, quality_score``. Each case
checks its value is a finite number; ``score_case`` pairs it with the truth, and the
correlations are computed once over all pairs in ``aggregate``.
"""

from __future__ import annotations

import csv
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

from rexmle.graders.correlation import iqa_score

from rexmle.challenge_api import InvalidSubmission, SubmissionFormat

FORMAT = SubmissionFormat(id_column="image_id", value_columns=("quality_score",))


def check_case(case_id: str, files: dict[str, Any], public_dir: Path) -> float:
    raw = files.get("quality_score")
    text = "" if raw is None else str(raw).strip()
    if not text:
        raise InvalidSubmission(f"case {case_id}: quality_score is empty")
    try:
        value = float(text)
    except ValueError:
        raise InvalidSubmission(f"case {case_id}: quality_score {text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise InvalidSubmission(f"case {case_id}: quality_score {text[:40]!r} is not a finite number")
    return value


@lru_cache(maxsize=4)
def _truth(labels: Path) -> dict[str, float]:
    with labels.open(newline="") as f:
        return {row["image_id"]: float(row["quality_score"]) for row in csv.DictReader(f)}


def score_case(case_id: str, value: float, private_dir: Path) -> dict[str, float]:
    """The pair (prediction, truth); the correlations need every pair (see ``aggregate``)."""
    return {"prediction": float(value), "truth": _truth(private_dir / "test_labels.csv")[case_id]}


def aggregate(rows: list[dict[str, float]]) -> dict[str, float]:
    out = iqa_score([r["prediction"] for r in rows], [r["truth"] for r in rows])
    return {"score": out["score"], "plcc": out["plcc"], "srocc": out["srocc"], "krocc": out["krocc"]}
