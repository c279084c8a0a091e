"""Prepare LDCT-IQA 2023 from the organisers' two zips (no re-split).

``LDCTIQAG2023_train.zip`` (Zenodo 7833096) holds ``LDCTIQAG2023_train/train.json`` (file name
-> mean radiologist score, 0-4 in steps of 0.2) and ``LDCTIQAG2023_train/image/<name>.tif``;
``test_dataset.zip`` (Google Drive) holds ``LDCTIQAC_test/test.json`` and
``LDCTIQAC_test/images/<name>.tiff``. Members are read straight from the zips (folders a user
unpacked by hand, at any depth, work too); a json key may name the file with or without its
extension. Image ids are the file stems (zero-padded digits: keep them as strings).

The official training set is the public training set and the official test set, whose
scores the organisers released, is the private test set, as in the ReX-MLE research code.
Images without a score are left out.

Public: ``train/images/<id>.tif``, ``train.csv`` (image_id, image_path, quality_score),
``test/images/<id>.tiff``, ``test.csv`` (image_id, image_path), ``sample_submission/submission.csv``
(image_id, quality_score = the training mean for every image). Private: ``test_labels.csv``
(image_id, quality_score).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from rexmle.challenge_api import ChallengeSpec, DataError, RawFile, held_out_tables, raw_files, ticker

TRAIN = ("LDCTIQAG2023_train", "train.json", "image")
TEST = ("LDCTIQAC_test", "test.json", "images")
SUFFIXES = (".tif", ".tiff")


def find_split(files: dict[str, RawFile], layout: tuple[str, str, str]) -> list[tuple[str, RawFile, float]]:
    """(id, image, score) of one split, from its json and its image folder, sorted by id."""
    folder, json_name, image_dir = layout
    jsons = sorted(k for k in files if PurePosixPath(k).name == json_name)
    if not jsons:
        raise DataError(f"no {folder}/{json_name} in the raw folder (expected from the {folder} release)")
    key = next((k for k in jsons if PurePosixPath(k).parent.name == folder), jsons[0])
    root = PurePosixPath(key).parent
    try:
        scores = json.loads(files[key].read())
    except ValueError as exc:
        raise DataError(f"{key} is not valid JSON: {exc}") from None
    if not isinstance(scores, dict):
        raise DataError(f"{key} is not a mapping of file name to score")
    by_stem: dict[str, float] = {}
    for name, value in scores.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise DataError(f"{key}: the score of {name!r} is not a number: {value!r}")
        stem = name[: -len(s)] if (s := next((x for x in SUFFIXES if name.endswith(x)), "")) else name
        by_stem[stem] = float(value)
    out = []
    for k in sorted(files):
        p = PurePosixPath(k)
        if p.parent == root / image_dir and p.suffix.lower() in SUFFIXES and p.stem in by_stem:
            out.append((p.stem, files[k], by_stem[p.stem]))
    if len({i for i, _, _ in out}) != len(out):
        raise DataError(f"{root / image_dir} holds two images with the same name stem")
    return out


def prepare(
    raw_dir: Path,
    public_dir: Path,
    private_dir: Path,
    spec: ChallengeSpec,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    files = raw_files(raw_dir)
    train, test = find_split(files, TRAIN), find_split(files, TEST)
    if len(train) < 2 or len(test) < 2:
        raise DataError(
            f"found {len(train)} scored training and {len(test)} scored test image(s) in {raw_dir}"
        )
    tick = ticker(progress, "prepare ldct-iqa", len(train) + len(test))

    with (public_dir / "train.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "image_path", "quality_score"])
        for image_id, member, score in train:
            rel = f"train/images/{image_id}.tif"
            member.copy(public_dir / rel)
            w.writerow([image_id, rel, repr(score)])
            tick()
    prior = round(sum(s for _, _, s in train) / len(train), 4)
    with held_out_tables(
        public_dir,
        private_dir,
        ["image_id", "image_path"],
        ["image_id", "quality_score"],
        ["image_id", "quality_score"],
    ) as tables:
        for image_id, member, score in test:
            rel = f"test/images/{image_id}.tiff"
            member.copy(public_dir / rel)
            tables.test.writerow([image_id, rel])
            tables.labels.writerow([image_id, repr(score)])
            tables.sample.writerow([image_id, repr(prior)])
            tick()
    return {"train": len(train), "test": len(test)}
