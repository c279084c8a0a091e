"""Submission formats and per-case loading shared by the TopCoW graders (one per task)."""

from __future__ import annotations

import csv
from pathlib import Path

from rexmle.challenges._topcow.formats import read_edges
from rexmle.challenges._topcow.scoring import aggregate_edges, edges_case

from rexmle.grading import SubmissionFormat

EDGES_FORMAT = SubmissionFormat(
    id_column="image_id",
    file_columns={"predicted_edges_path": (".json", ".yml", ".yaml")},
    value_columns=("modality",),
)


def expected_ids(public_dir: Path) -> list[str]:
    with (public_dir / "test.csv").open(newline="") as f:
        return [row["image_id"] for row in csv.DictReader(f)]


class EdgesGrader:
    """Task 3: a variant edge list per case; variant-balanced accuracy per region."""

    FORMAT = EDGES_FORMAT
    METRICS = ("anterior_acc", "posterior_acc")

    @staticmethod
    def check_case(case_id: str, files: dict[str, Path], public_dir: Path) -> object:
        return read_edges(files["predicted_edges_path"], f"case {case_id}")

    @staticmethod
    def score_case(case_id: str, pred: object, private_dir: Path) -> dict[str, float]:
        gt = read_edges(private_dir / "test" / "labels" / f"{case_id}.yml", f"ground truth of {case_id}")
        return edges_case(pred, gt)

    aggregate = staticmethod(aggregate_edges)
