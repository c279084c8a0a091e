"""Prepare one PANTHER task from its training release (Zenodo record 15192302).

Each task's zip (``PANTHER_Task1.zip``, ``PANTHER_Task2.zip``; a top folder of that name is
optional, as is unpacking by hand) holds ``ImagesTr/`` and ``LabelsTr/`` as MHA:

- task 1 (diagnostic T1 MRI): ``ImagesTr/<pid>_0001_0000.mha`` (arterial phase) and
  ``LabelsTr/<pid>_0001.mha``; case id ``<pid>_0001``; ``ImagesTr_unlabeled/*.mha`` (other
  sequences, no labels) goes to the public ``train_unlabeled/images/``;
- task 2 (MR-Linac T2): ``ImagesTr/<pid>_0000.mha`` and ``LabelsTr/<pid>.mha``; case id ``<pid>``.

Labels are 0 background, 1 tumour, 2 pancreas, kept as released (pancreas is useful for
training; the grader scores the tumour alone). Only images with a label are cases. The split
follows the ReX-MLE reference (sorted ids, 20% test, seed 42): 73/19 (task 1), 40/10 (task 2).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from rexmle.challenge_api import (
    ChallengeSpec,
    DataError,
    Release,
    held_out_tables,
    ticker,
    train_test_split_ids,
    write_empty_mask_like,
)

Task = Literal[1, 2]
ARCHIVE = {1: "PANTHER_Task1.zip", 2: "PANTHER_Task2.zip"}
#: task -> (image name pattern with the case id as group 1, label name for a case id)
IMAGE = {1: re.compile(r"^ImagesTr/(\d+_0001)_0000\.mha$"), 2: re.compile(r"^ImagesTr/(\d+)_0000\.mha$")}
UNLABELED = re.compile(r"^ImagesTr_unlabeled/([^/]+\.mha)$")
SAMPLE_HEADER = ["image_id", "predicted_mask_path"]


def release(raw_dir: Path, task: Task) -> Release:
    return Release(raw_dir, ARCHIVE[task], top=ARCHIVE[task].removesuffix(".zip"))


def cases(rel: Release, task: Task) -> list[str]:
    found = sorted(m.group(1) for n in rel.names if (m := IMAGE[task].match(n)))
    return [c for c in found if f"LabelsTr/{c}.mha" in rel.names]


def prepare_task(
    raw_dir: Path,
    public_dir: Path,
    private_dir: Path,
    spec: ChallengeSpec,
    task: Task,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    rel = release(raw_dir, task)
    step = f"prepare panther task {task}"
    try:
        ids = cases(rel, task)
        if len(ids) < 2:
            raise DataError(f"found {len(ids)} labelled PANTHER task {task} case(s) in {raw_dir}")
        train, test = train_test_split_ids(ids, spec.split.test_fraction, spec.split.seed)
        tick = ticker(progress, step, len(ids))
        with (public_dir / "train.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image_id", "image_path", "label_path"])
            for c in train:
                rel.copy(f"ImagesTr/{c}_0000.mha", public_dir / "train" / "images" / f"{c}_0000.mha")
                rel.copy(f"LabelsTr/{c}.mha", public_dir / "train" / "labels" / f"{c}.mha")
                w.writerow([c, f"train/images/{c}_0000.mha", f"train/labels/{c}.mha"])
                tick()
        for n in sorted(rel.names):
            if m := UNLABELED.match(n):
                rel.copy(n, public_dir / "train_unlabeled" / "images" / m.group(1))
        with held_out_tables(
            public_dir, private_dir, ["image_id", "image_path"], ["image_id", "label_path"], SAMPLE_HEADER
        ) as tables:
            wt, wl, ws, sub = tables
            for c in test:
                image = public_dir / "test" / "images" / f"{c}_0000.mha"
                rel.copy(f"ImagesTr/{c}_0000.mha", image)
                rel.copy(f"LabelsTr/{c}.mha", private_dir / "test" / "labels" / f"{c}.mha")
                write_empty_mask_like(image, sub / "predictions" / f"{c}.mha")
                wt.writerow([c, f"test/images/{c}_0000.mha"])
                wl.writerow([c, f"test/labels/{c}.mha"])
                ws.writerow([c, f"predictions/{c}.mha"])
                tick()
    finally:
        rel.close()
    return {"train": len(train), "test": len(test)}
