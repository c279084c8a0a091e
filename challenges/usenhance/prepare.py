"""Prepare USenhance 2023 from the organisers' ``train_dataset.zip`` (Google Drive).

The zip holds ``train_datasets/<organ>/low_quality/<name>.png`` and
``train_datasets/<organ>/high_quality/<name>.png`` (five organs: breast, carotid, kidney, liver,
thyroid; a pair shares its file name). Members are read straight from the zip; a folder a user
unpacked by hand (any depth) works too. The image id is ``<organ>_<name stem>``; the split
follows the ReX-MLE research code's 80/20 with seed 42 over the ids, sorted (1500 pairs ->
1200 train / 300 test). The organisers' own test set has no high-quality images and is not used.

Public: ``train/low_quality/<id>.png``, ``train/high_quality/<id>.png``,
``test/low_quality/<id>.png``, ``train.csv`` (image_id, organ, low_quality_path,
high_quality_path), ``test.csv`` (image_id, organ, low_quality_path), and
``sample_submission/`` (``submission.csv`` + ``predictions/<id>.png``: the low-quality input
copied unchanged, i.e. "no enhancement"). Private: ``test/high_quality/<id>.png`` and
``test_labels.csv`` (image_id, ground_truth_path).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from rexmle.challenge_api import (
    ChallengeSpec,
    DataError,
    RawFile,
    held_out_tables,
    raw_files,
    ticker,
    train_test_split_ids,
)

LOW, HIGH = "low_quality", "high_quality"
SAMPLE_HEADER = ["image_id", "enhanced_image_path"]


def find_pairs(raw_dir: Path) -> dict[str, tuple[str, RawFile, RawFile]]:
    """image id -> (organ, low-quality image, high-quality image)."""
    files = raw_files(raw_dir)
    pairs: dict[str, tuple[str, RawFile, RawFile]] = {}
    for key in sorted(files):
        p = PurePosixPath(key)
        if p.parent.name != LOW or p.suffix.lower() != ".png" or "__MACOSX" in p.parts:
            continue
        organ = p.parent.parent.name
        partner = (p.parent.parent / HIGH / p.name).as_posix()
        if partner not in files:
            continue
        image_id = f"{organ}_{p.stem}"
        if image_id in pairs:
            raise DataError(f"image id {image_id} appears twice in {raw_dir}")
        pairs[image_id] = (organ, files[key], files[partner])
    return pairs


def prepare(
    raw_dir: Path,
    public_dir: Path,
    private_dir: Path,
    spec: ChallengeSpec,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    pairs = find_pairs(raw_dir)
    if len(pairs) < 2:
        raise DataError(
            f"found {len(pairs)} USenhance pair(s) (<organ>/{LOW}/<name>.png + <organ>/{HIGH}/<name>.png) in {raw_dir}"
        )
    train, test = train_test_split_ids(pairs, spec.split.test_fraction, spec.split.seed)
    tick = ticker(progress, "prepare usenhance", len(pairs))

    with (public_dir / "train.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "organ", "low_quality_path", "high_quality_path"])
        for c in train:
            organ, low, high = pairs[c]
            low.copy(public_dir / "train" / LOW / f"{c}.png")
            high.copy(public_dir / "train" / HIGH / f"{c}.png")
            w.writerow([c, organ, f"train/{LOW}/{c}.png", f"train/{HIGH}/{c}.png"])
            tick()
    with held_out_tables(
        public_dir,
        private_dir,
        ["image_id", "organ", "low_quality_path"],
        ["image_id", "ground_truth_path"],
        SAMPLE_HEADER,
    ) as tables:
        for c in test:
            organ, low, high = pairs[c]
            low.copy(public_dir / "test" / LOW / f"{c}.png")
            high.copy(private_dir / "test" / HIGH / f"{c}.png")
            low.copy(tables.sample_dir / "predictions" / f"{c}.png")
            tables.test.writerow([c, organ, f"test/{LOW}/{c}.png"])
            tables.labels.writerow([c, f"test/{HIGH}/{c}.png"])
            tables.sample.writerow([c, f"predictions/{c}.png"])
            tick()
    return {"train": len(train), "test": len(test)}
