"""The sandbox's folders and the challenge's case tables, as every baseline solution reads them."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import NamedTuple


class Split(NamedTuple):
    data: Path
    out: Path
    train: list[dict[str, str]]
    test: list[dict[str, str]]


def load_split() -> Split:
    """``REXMLE_DATA_DIR``'s ``train.csv`` and ``test.csv`` rows, and the submission folder."""
    data = Path(os.environ["REXMLE_DATA_DIR"])
    rows = []
    for name in ("train.csv", "test.csv"):
        with (data / name).open(newline="") as f:
            rows.append(list(csv.DictReader(f)))
    return Split(data, Path(os.environ["REXMLE_SUBMISSION_DIR"]), rows[0], rows[1])


class Sample(NamedTuple):
    columns: list[str]
    rows: list[dict[str, str]]


def load_sample(data: Path) -> Sample:
    """The sample submission's columns and rows: a baseline writes its own submission with the
    same columns and the same file paths, so it never has to know a challenge's naming."""
    with (data / "sample_submission" / "submission.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return Sample(list(reader.fieldnames or []), rows)
