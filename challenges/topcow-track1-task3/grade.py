"""TopCoW track 1 task 3 grader: per region, the variant-balanced accuracy of the predicted
edge lists (CoWBenchmark/TopCoW_Eval_Metrics, ``aggregate_all_graph_dicts``)."""

from __future__ import annotations

from rexmle.challenges._topcow.grading import EdgesGrader, expected_ids

FORMAT = EdgesGrader.FORMAT
METRICS = EdgesGrader.METRICS
check_case = EdgesGrader.check_case
score_case = EdgesGrader.score_case
aggregate = EdgesGrader.aggregate

__all__ = ["FORMAT", "METRICS", "aggregate", "check_case", "expected_ids", "score_case"]
