"""Prepare one PUMA task from the training release (Zenodo record 14869398), shared by the four tasks.

The release (downloaded once, ``shared: puma``) is three zips:

- ``01_training_dataset_tif_ROIs.zip``: ``01_training_dataset_tif_ROIs/<case>.tif``, RGBA H&E ROIs
  (1024 x 1024, 40x);
- ``01_training_dataset_geojson_tissue.zip``: ``<case>_tissue.geojson`` (QuPath FeatureCollection of
  tissue polygons);
- ``01_training_dataset_geojson_nuclei.zip``: ``<case>_nuclei.geojson`` (one polygon per nucleus).

Members are found by file name anywhere in a zip (a top folder is optional); a zip already unpacked
by hand in ``raw/`` (folder of the zip's name) works too. Case ids are ``training_set_{primary|
metastatic}_roi_NNN``. Cases are the ROIs with a label file of the task's kind; the split is the
ReX-MLE reference's (sorted ids, 20% test, seed 42). The public train labels are the released
GeoJSON files, unchanged. Private ground truth: tissue tasks, ``test/labels/<case>.tif`` (uint8 label
map rasterised from the GeoJSON, see geometry.py); nuclei tasks, ``test/labels/<case>.json`` in the
official "Multiple polygons" form with the track's class names.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image
from rexmle.challenges._puma.classes import TISSUE_IDS, Task, Track, nuclei_classes, nuclei_label_map
from rexmle.challenges._puma.geometry import nuclei_polygons, rasterise_tissue

from rexmle.challenge_api import (
    ChallengeSpec,
    DataError,
    Release,
    held_out_tables,
    ticker,
    train_test_split_ids,
)

IMAGES = "01_training_dataset_tif_ROIs.zip"
TISSUE = "01_training_dataset_geojson_tissue.zip"
NUCLEI = "01_training_dataset_geojson_nuclei.zip"
IMAGE_RE = re.compile(r"(?:^|/)(training_set_(?:primary|metastatic)_roi_\d+)\.tif$")
LABEL_RE = {1: re.compile(r"(?:^|/)(training_set_\w+?_roi_\d+)_tissue\.geojson$"),
            2: re.compile(r"(?:^|/)(training_set_\w+?_roi_\d+)_nuclei\.geojson$")}  # fmt: skip


class Archive:
    """The files of one release zip (or of the folder it was unpacked into), by case id."""

    def __init__(self, raw_dir: Path, name: str, pattern: re.Pattern[str]) -> None:
        if not (raw_dir / name).exists() and not (raw_dir / name.removesuffix(".zip")).is_dir():
            raise DataError(f"missing {raw_dir / name}: download the PUMA release (Zenodo record 14869398)")
        self.release = Release(raw_dir, name)
        self.files = {
            m.group(1): n for n in self.release.names if (m := pattern.search(n)) and "__MACOSX" not in n
        }

    def read(self, case: str) -> bytes:
        return self.release.read(self.files[case])

    def copy(self, case: str, dst: Path) -> None:
        self.release.copy(self.files[case], dst)

    def close(self) -> None:
        self.release.close()


@contextmanager
def archives(raw_dir: Path, task: Task) -> Iterator[tuple[Archive, Archive]]:
    opened: list[Archive] = []
    try:
        opened.append(Archive(raw_dir, IMAGES, IMAGE_RE))
        opened.append(Archive(raw_dir, TISSUE if task == 1 else NUCLEI, LABEL_RE[task]))
        yield opened[0], opened[1]
    finally:
        for a in opened:
            a.close()


def image_shape(data: bytes) -> tuple[int, int]:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.height, im.width
    except Exception:  # a TIFF codec Pillow lacks: tifffile reads the header
        with tifffile.TiffFile(io.BytesIO(data)) as tf:
            shape = tf.pages[0].shape
            return int(shape[0]), int(shape[1])


def write_empty_mask(path: Path, shape: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros(shape, dtype=np.uint8)).save(path, compression="tiff_deflate")


def prepare_task(
    raw_dir: Path,
    public_dir: Path,
    private_dir: Path,
    spec: ChallengeSpec,
    track: Track,
    task: Task,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    kind = "tissue" if task == 1 else "nuclei"
    column = "predicted_mask_path" if task == 1 else "predicted_nuclei_path"
    step = f"prepare puma track {track} task {task}"
    with archives(raw_dir, task) as (images, labels):
        ids = sorted(set(images.files) & set(labels.files))
        if len(ids) < 2:
            raise DataError(f"found {len(ids)} PUMA ROI(s) with a {kind} label in {raw_dir}")
        train, test = train_test_split_ids(ids, spec.split.test_fraction, spec.split.seed)
        if task == 1:
            (public_dir / "class_map.json").write_text(json.dumps(TISSUE_IDS, indent=1) + "\n")
        else:
            info = {"classes": list(nuclei_classes(track)), "label_map": nuclei_label_map(track)}
            (public_dir / "nuclei_classes.json").write_text(json.dumps(info, indent=1) + "\n")
        tick = ticker(progress, step, len(ids))
        with (public_dir / "train.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image_id", "image_path", "label_path"])
            for c in train:
                images.copy(c, public_dir / "train" / "images" / f"{c}.tif")
                labels.copy(c, public_dir / "train" / "labels" / f"{c}_{kind}.geojson")
                w.writerow([c, f"train/images/{c}.tif", f"train/labels/{c}_{kind}.geojson"])
                tick()
        with held_out_tables(
            public_dir,
            private_dir,
            ["image_id", "image_path"],
            ["image_id", "label_path"],
            ["image_id", column],
        ) as tables:
            wt, wl, ws, sub = tables
            for c in test:
                img = images.read(c)
                (public_dir / "test" / "images").mkdir(parents=True, exist_ok=True)
                (public_dir / "test" / "images" / f"{c}.tif").write_bytes(img)
                shape = image_shape(img)
                gt_dir = private_dir / "test" / "labels"
                gt_dir.mkdir(parents=True, exist_ok=True)
                if task == 1:
                    mask = rasterise_tissue(labels.read(c), shape, TISSUE_IDS)
                    Image.fromarray(mask).save(gt_dir / f"{c}.tif", compression="tiff_deflate")
                    write_empty_mask(sub / "predictions" / f"{c}.tif", shape)
                    wl.writerow([c, f"test/labels/{c}.tif"])
                    ws.writerow([c, f"predictions/{c}.tif"])
                else:
                    polys = nuclei_polygons(labels.read(c), nuclei_label_map(track))
                    gt = {"type": "Multiple polygons", "polygons": polys}
                    (gt_dir / f"{c}.json").write_text(json.dumps(gt))
                    (sub / "predictions").mkdir(parents=True, exist_ok=True)
                    empty = {"type": "Multiple polygons", "polygons": []}
                    (sub / "predictions" / f"{c}.json").write_text(json.dumps(empty))
                    wl.writerow([c, f"test/labels/{c}.json"])
                    ws.writerow([c, f"predictions/{c}.json"])
                wt.writerow([c, f"test/images/{c}.tif"])
                tick()
    return {"train": len(train), "test": len(test)}
