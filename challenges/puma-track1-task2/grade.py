"""PUMA track 1 task 2 grader: nuclei matched by centroid within 15 px, per-class F1 averaged over
cases, and their macro mean (see _puma/grading.py)."""

from __future__ import annotations

from pathlib import Path

from rexmle.challenges._puma import grading
from rexmle.challenges._puma.classes import nuclei_classes
from rexmle.challenges._puma.grading import NUCLEI_FORMAT as FORMAT
from rexmle.graders.points import Point

CLASSES = nuclei_classes(1)
METRICS = ("f1", *(f"f1_{c}" for c in CLASSES))


def check_case(case_id: str, files: dict[str, Path], public_dir: Path) -> list[Point]:
    return grading.check_nuclei(case_id, files, CLASSES)


def score_case(case_id: str, pred: list[Point], private_dir: Path) -> dict[str, float]:
    return grading.score_nuclei(case_id, pred, private_dir, CLASSES)


def aggregate(rows: list[dict[str, float]]) -> dict[str, float]:
    return grading.aggregate_nuclei(rows, CLASSES)


__all__ = ["FORMAT", "METRICS", "aggregate", "check_case", "score_case"]
