"""Prepare one TopCoW task for one modality from the 2024 release (zipped or extracted).

Cases are the release's ``topcow_{ct|mr}_NNN`` of the task's modality that have the task's
label file; the split follows the ReX-MLE reference (sorted ids, 20% test, seed 42), so the
three tasks of a track share their test cases. Members are streamed from the zip straight to
their destination (nothing is extracted twice).

Public: ``train/images/<case>_0000.nii.gz``, ``train/labels/<label file>``, ``test/images/``,
``train.csv``, ``test.csv`` and ``sample_submission/`` (``submission.csv`` + a valid placeholder
prediction per test case). Private: ``test/labels/`` (task 2: the ROI as JSON) and
``test_labels.csv``.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import nibabel as nib
from pydantic import BaseModel, ConfigDict
from rexmle.challenges._topcow.formats import ANTERIOR_EDGES, POSTERIOR_EDGES, read_roi_txt

from rexmle.challenge_api import (
    ChallengeSpec,
    DataError,
    InvalidSubmission,
    Release,
    held_out_tables,
    ticker,
    train_test_split_ids,
    write_empty_mask_like,
)

Task = Literal["seg", "box", "edges"]
ARCHIVE = "TopCoW2024_Data_Release.zip"
TOP = "TopCoW2024_Data_Release"
LABEL_FOLDER = {"seg": "cow_seg_labelsTr", "box": "roi_loc_labelsTr", "edges": "antpos_edges_labelsTr"}
LABEL_SUFFIX = {"seg": ".nii.gz", "box": ".txt", "edges": ".yml"}
PREDICTION = {"seg": ("predicted_mask_path", "_0000.nii.gz"), "box": ("predicted_bbox_path", "_bbox.json"),
              "edges": ("predicted_edges_path", "_edges.json")}  # fmt: skip
MODALITY_NAME = {"ct": "CTA", "mr": "MRA"}


class Layout(BaseModel):
    """Where one task's images and labels sit in a release, and how its progress is named."""

    model_config = ConfigDict(frozen=True)
    images: str = "imagesTr"
    labels: str
    dataset: str = "topcow"


def layout(task: Task) -> Layout:
    return Layout(labels=LABEL_FOLDER[task])


def cases(release: Release, modality: str, task: Task, where: Layout | None = None) -> list[str]:
    where = where or layout(task)
    pattern = re.compile(rf"^{where.labels}/(topcow_{modality}_\d{{3}}){re.escape(LABEL_SUFFIX[task])}$")
    found = sorted(m.group(1) for n in release.names if (m := pattern.match(n)))
    return [c for c in found if f"{where.images}/{c}_0000.nii.gz" in release.names]


def _placeholder(task: Task, image: Path, dst: Path) -> None:
    """A valid prediction that knows nothing: an empty label map, the whole image as the box,
    every edge present (the complete circle)."""
    if task == "seg":
        write_empty_mask_like(image, dst)
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    ref: Any = nib.load(str(image))
    if task == "box":
        dst.write_text(json.dumps({"size": [int(s) for s in ref.shape[:3]], "location": [0, 0, 0]}) + "\n")
    else:
        edges = {"anterior": dict.fromkeys(ANTERIOR_EDGES, 1), "posterior": dict.fromkeys(POSTERIOR_EDGES, 1)}
        dst.write_text(json.dumps(edges, indent=1) + "\n")


def prepare_task(
    raw_dir: Path,
    public_dir: Path,
    private_dir: Path,
    spec: ChallengeSpec,
    modality: Literal["ct", "mr"],
    task: Task,
    progress: Callable[[str, int, int], None] | None = None,
    release: Release | None = None,
    where: Layout | None = None,
) -> dict[str, int]:
    """Write the public and private parts of one task; ``release``/``where``: another release
    of the same shape (TopBrain's), by default TopCoW's from ``raw_dir``."""
    release = release or Release(raw_dir, ARCHIVE, top=TOP)
    where = where or layout(task)
    step = f"prepare {where.dataset} {modality} {task}"
    try:
        ids = cases(release, modality, task, where)
        if len(ids) < 2:
            raise DataError(f"found {len(ids)} topcow_{modality} case(s) with {where.labels} in {raw_dir}")
        train, test = train_test_split_ids(ids, spec.split.test_fraction, spec.split.seed)
        tick = ticker(progress, step, len(ids))
        label_name = {c: f"{c}{LABEL_SUFFIX[task]}" for c in ids}
        with (public_dir / "train.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image_id", "modality", "image_path", "label_path"])
            for c in train:
                release.copy(
                    f"{where.images}/{c}_0000.nii.gz", public_dir / "train" / "images" / f"{c}_0000.nii.gz"
                )
                release.copy(
                    f"{where.labels}/{label_name[c]}", public_dir / "train" / "labels" / label_name[c]
                )
                w.writerow(
                    [
                        c,
                        MODALITY_NAME[modality],
                        f"train/images/{c}_0000.nii.gz",
                        f"train/labels/{label_name[c]}",
                    ]
                )
                tick()
        column, suffix = PREDICTION[task]
        with held_out_tables(
            public_dir,
            private_dir,
            ["image_id", "modality", "image_path"],
            ["image_id", "modality", "label_path"],
            ["image_id", "modality", column],
        ) as tables:
            wt, wl, ws, sub = tables
            for c in test:
                image = public_dir / "test" / "images" / f"{c}_0000.nii.gz"
                release.copy(f"{where.images}/{c}_0000.nii.gz", image)
                label = _private_label(release, task, c, label_name[c], private_dir, where)
                _placeholder(task, image, sub / "predictions" / f"{c}{suffix}")
                wt.writerow([c, MODALITY_NAME[modality], f"test/images/{c}_0000.nii.gz"])
                wl.writerow([c, MODALITY_NAME[modality], label])
                ws.writerow([c, MODALITY_NAME[modality], f"predictions/{c}{suffix}"])
                tick()
    finally:
        release.close()
    return {"train": len(train), "test": len(test)}


def _private_label(
    release: Release, task: Task, case: str, name: str, private_dir: Path, where: Layout
) -> str:
    if task == "box":  # the ROI text becomes the JSON form predictions use
        try:
            box = read_roi_txt(release.read_text(f"{where.labels}/{name}"), name)
        except InvalidSubmission as exc:
            raise DataError(f"release file {name}: {exc}") from None
        rel = f"test/labels/{case}_bbox.json"
        (private_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (private_dir / rel).write_text(
            json.dumps({"size": list(box.size), "location": list(box.location)}) + "\n"
        )
        return rel
    rel = f"test/labels/{name}"
    release.copy(f"{where.labels}/{name}", private_dir / rel)
    return rel
