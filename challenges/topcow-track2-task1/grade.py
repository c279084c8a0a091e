"""TopCoW track 2 task 1 grader: per case the union-class Dice, HD95, Betti-0 error, clDice, Group-2 detection and variant/topology
matching; aggregated as the organisers do (CoWBenchmark/TopCoW_Eval_Metrics)."""

from __future__ import annotations

from rexmle.challenges._topcow.grading import SegmentationGrader, expected_ids

FORMAT = SegmentationGrader.FORMAT
METRICS = SegmentationGrader.METRICS
check_case = SegmentationGrader.check_case
score_case = SegmentationGrader.score_case
aggregate = SegmentationGrader.aggregate

__all__ = ["FORMAT", "METRICS", "aggregate", "check_case", "expected_ids", "score_case"]
