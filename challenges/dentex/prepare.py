"""Prepare DENTEX 2023 from the Zenodo release (record 7812323, ``training_data.zip``).

The archive holds ``training_data/quadrant/``, ``training_data/quadrant_enumeration/`` (the
partially labelled sets) and ``training_data/quadrant-enumeration-disease/`` with
``xrays/*.png`` and ``train_quadrant_enumeration_disease.json``: a COCO file whose
annotations carry ``category_id_1`` (quadrant), ``category_id_2`` (tooth) and
``category_id_3`` (diagnosis), declared in ``categories_1/2/3``. Only the fully labelled set is
used (705 X-rays). Members are read straight from the zip (where the subset's JSON sits if the
zip's top folder differs); a folder unpacked by hand, at any depth, works too.

Split as the ReX-MLE reference: the COCO image ids in the file's order, ``random.seed(42);
random.shuffle(ids)``, the first ``int(0.8 n)`` are train (705 -> 564 / 141). Case ids are the
image file stems (``train_12``).

Public: ``train/xrays/*.png`` and ``train/train_quadrant_enumeration_disease.json`` (the COCO
file restricted to the train images), ``train.csv``, ``test/xrays/*.png``, ``test.csv`` (with
the COCO image id, width and height), ``sample_submission/`` (an empty detection list per test
image). Private: ``test_ground_truth.json`` (the COCO file restricted to the test images) and
``test_labels.csv``.
"""

from __future__ import annotations

import csv
import json
import random
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rexmle.challenge_api import ChallengeSpec, DataError, held_out_tables, ticker

ARCHIVE = "training_data.zip"
SUBSET = "training_data/quadrant-enumeration-disease"
JSON_NAME = "train_quadrant_enumeration_disease.json"
GT_NAME = "test_ground_truth.json"
SAMPLE_HEADER = ["image_id", "predictions_json"]
ASPECTS = ("categories_1", "categories_2", "categories_3")


class _Source:
    """The fully labelled subset, in the zip or unpacked on disk."""

    def __init__(self, raw_dir: Path) -> None:
        self.zip: zipfile.ZipFile | None = None
        self.root: Path | None = None
        self.prefix = SUBSET
        archive = raw_dir / ARCHIVE
        on_disk = sorted(raw_dir.rglob(JSON_NAME))
        if on_disk:  # unpacked by hand (the release's folders, at any depth)
            self.root = on_disk[0].parent
        elif archive.is_file():
            try:
                self.zip = zipfile.ZipFile(archive)
            except zipfile.BadZipFile:
                raise DataError(f"{archive} is not a valid zip; delete it and prepare again") from None
            # the expected layout first; otherwise wherever the subset's JSON sits in the zip
            names = [n for n in self.zip.namelist() if n.endswith(f"/{JSON_NAME}") or n == JSON_NAME]
            if f"{SUBSET}/{JSON_NAME}" not in names:
                if not names:
                    raise DataError(f"{ARCHIVE} holds no {JSON_NAME}")
                self.prefix = names[0][: -len(JSON_NAME)].rstrip("/")
        else:
            raise DataError(f"neither {archive} nor an unpacked {JSON_NAME} found in {raw_dir}")

    def read(self, rel: str) -> bytes:
        if self.root is not None:
            path = self.root / rel
            if not path.is_file():
                raise DataError(f"{path} is missing")
            return path.read_bytes()
        assert self.zip is not None
        try:
            return self.zip.read(f"{self.prefix}/{rel}" if self.prefix else rel)
        except KeyError:
            raise DataError(f"{ARCHIVE} lacks {self.prefix}/{rel}") from None

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def split_image_ids(ids: list[int], train_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """The reference split: ``random.seed(seed)``, shuffle the ids, the first ``int(f n)`` train."""
    shuffled = list(ids)
    random.seed(seed)
    random.shuffle(shuffled)
    n_train = int(train_fraction * len(shuffled))
    return shuffled[:n_train], shuffled[n_train:]


def subset(coco: dict[str, Any], image_ids: set[int]) -> dict[str, Any]:
    """The COCO file restricted to ``image_ids`` (categories and every other key kept)."""
    out = {k: v for k, v in coco.items() if k not in ("images", "annotations")}
    out["images"] = [im for im in coco["images"] if im["id"] in image_ids]
    out["annotations"] = [a for a in coco["annotations"] if a["image_id"] in image_ids]
    return out


def prepare(
    raw_dir: Path,
    public_dir: Path,
    private_dir: Path,
    spec: ChallengeSpec,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    src = _Source(raw_dir)
    try:
        try:
            coco = json.loads(src.read(JSON_NAME))
        except json.JSONDecodeError as exc:
            raise DataError(f"{JSON_NAME} is not valid JSON: {exc}") from None
        missing = [k for k in ("images", "annotations", *ASPECTS) if k not in coco]
        if missing:
            raise DataError(f"{JSON_NAME} lacks {', '.join(missing)}")
        images = {im["id"]: im for im in coco["images"]}
        stems = [Path(im["file_name"]).stem for im in coco["images"]]
        if len(set(stems)) != len(stems):
            raise DataError(f"{JSON_NAME} repeats an image file name")
        if len(images) < 2:
            raise DataError(f"{JSON_NAME} lists {len(images)} image(s)")
        train, test = split_image_ids(list(images), 1.0 - spec.split.test_fraction, spec.split.seed)
        tick = ticker(progress, "prepare dentex", len(images))

        def copy_image(im: dict[str, Any], dst: Path) -> None:
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read(f"xrays/{im['file_name']}"))
            tick()

        counts: dict[int, int] = {}
        for a in coco["annotations"]:
            counts[a["image_id"]] = counts.get(a["image_id"], 0) + 1
        (public_dir / "train").mkdir(parents=True, exist_ok=True)
        with (public_dir / "train.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image_id", "image_path", "coco_image_id", "width", "height", "n_boxes"])
            for i in sorted(train, key=lambda i: Path(images[i]["file_name"]).stem):
                im = images[i]
                stem = Path(im["file_name"]).stem
                copy_image(im, public_dir / "train" / "xrays" / im["file_name"])
                w.writerow(
                    [
                        stem,
                        f"train/xrays/{im['file_name']}",
                        i,
                        im.get("width"),
                        im.get("height"),
                        counts.get(i, 0),
                    ]
                )
        (public_dir / "train" / JSON_NAME).write_text(json.dumps(subset(coco, set(train))))
        (private_dir / GT_NAME).write_text(json.dumps(subset(coco, set(test))))
        with held_out_tables(
            public_dir,
            private_dir,
            ["image_id", "image_path", "coco_image_id", "width", "height"],
            ["image_id", "coco_image_id", "n_boxes"],
            SAMPLE_HEADER,
        ) as tables:
            wt, wl, ws, sub = tables
            (sub / "predictions").mkdir(parents=True, exist_ok=True)
            for i in sorted(test, key=lambda i: Path(images[i]["file_name"]).stem):
                im = images[i]
                stem = Path(im["file_name"]).stem
                copy_image(im, public_dir / "test" / "xrays" / im["file_name"])
                (sub / "predictions" / f"{stem}.json").write_text("[]\n")
                wt.writerow([stem, f"test/xrays/{im['file_name']}", i, im.get("width"), im.get("height")])
                wl.writerow([stem, i, counts.get(i, 0)])
                ws.writerow([stem, f"predictions/{stem}.json"])
    finally:
        src.close()
    return {"train": len(train), "test": len(test)}
