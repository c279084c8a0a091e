"""PANTHER task 2 grader: the organisers' Dice, 5 mm surface Dice, HD95, MASD and tumour-burden
RMSE (shared with the other task; see _panther/grading.py)."""

from __future__ import annotations

from rexmle.challenges._panther.grading import (
    FORMAT,
    METRICS,
    aggregate,
    check_case,
    expected_ids,
    score_case,
)

__all__ = ["FORMAT", "METRICS", "aggregate", "check_case", "expected_ids", "score_case"]
