"""TopBrain track 2 grader (MRA): per case the union-class Dice, clDice, Betti-0 error and HD95, the
prediction's neighbour error and side-road detection; aggregated as the organisers do
(CoWBenchmark/TopBrain_Eval_Metrics)."""

from __future__ import annotations

from rexmle.challenges._topbrain.grading import FORMAT, METRICS, Grader, expected_ids

_grader = Grader("mr")
check_case = _grader.check_case
score_case = _grader.score_case
aggregate = _grader.aggregate

__all__ = ["FORMAT", "METRICS", "aggregate", "check_case", "expected_ids", "score_case"]
