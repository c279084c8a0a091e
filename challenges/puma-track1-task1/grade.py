"""PUMA track 1 task 1 grader: the organisers' micro Dice per tissue class and its mean (see
_puma/grading.py)."""

from __future__ import annotations

from rexmle.challenges._puma.grading import TISSUE_FORMAT as FORMAT
from rexmle.challenges._puma.grading import TISSUE_METRICS as METRICS
from rexmle.challenges._puma.grading import aggregate_tissue as aggregate
from rexmle.challenges._puma.grading import check_tissue as check_case
from rexmle.challenges._puma.grading import score_tissue as score_case

__all__ = ["FORMAT", "METRICS", "aggregate", "check_case", "score_case"]
