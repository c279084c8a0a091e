"""TopCoW track 1 task 2 grader: IoU and boundary IoU of the ROI box, means over cases
(CoWBenchmark/TopCoW_Eval_Metrics, ``utils_box.py``)."""

from __future__ import annotations

from rexmle.challenges._topcow.grading import BoxGrader, expected_ids

FORMAT = BoxGrader.FORMAT
METRICS = BoxGrader.METRICS
check_case = BoxGrader.check_case
score_case = BoxGrader.score_case
aggregate = BoxGrader.aggregate

__all__ = ["FORMAT", "METRICS", "aggregate", "check_case", "expected_ids", "score_case"]
