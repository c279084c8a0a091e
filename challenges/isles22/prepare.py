"""ISLES'22: the Zenodo BIDS zip -> public (train images+masks, test images) / private (test masks).

Reads members straight out of ``ISLES-2022.zip`` (or an already-extracted ``ISLES-2022/``
tree) and streams each one to its destination, so nothing is extracted twice and memory
stays at one file buffer. Cases are every subject with a mask and all three modalities;
the split follows the ReX-MLE reference (sorted ids, 20% test, seed 42).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np

from rexmle.challenge_api import (
    ChallengeSpec,
    DataError,
    Release,
    held_out_tables,
    load_nifti,
    ticker,
    train_test_split_ids,
)

MEMBER = re.compile(r"(?:^|/)(sub-strokecase\d+)_ses-\d+_(dwi|adc|flair|msk)\.nii\.gz$", re.IGNORECASE)
MODALITIES = ("dwi", "adc", "flair")
ARCHIVE, FOLDER = "ISLES-2022.zip", "ISLES-2022"  # the release, zipped or unpacked by hand


def index_cases(names: list[str]) -> dict[str, dict[str, str]]:
    cases: dict[str, dict[str, str]] = {}
    for name in names:
        m = MEMBER.search(name)
        if m and ("/derivatives/" in f"/{name}") == (m.group(2).lower() == "msk"):
            cases.setdefault(m.group(1), {})[m.group(2).lower()] = name
    return {cid: files for cid, files in cases.items() if all(k in files for k in (*MODALITIES, "msk"))}


def _zero_mask_like(image_path: Path, dst: Path) -> None:
    ref = load_nifti(image_path)
    shape = ref.shape[:3]
    img = nib.Nifti1Image(np.zeros(shape, dtype=np.uint8), ref.affine)
    img.set_qform(ref.affine, code=1)
    img.set_sform(ref.affine, code=1)
    dst.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(dst))


def prepare(
    raw_dir: Path,
    public_dir: Path,
    private_dir: Path,
    spec: ChallengeSpec,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    src = Release(raw_dir, ARCHIVE, folder=FOLDER)
    try:
        cases = index_cases(list(src.names))
        if len(cases) < 2:
            raise DataError(
                f"found {len(cases)} complete ISLES'22 case(s) in {raw_dir}; the download looks incomplete"
            )
        train, test = train_test_split_ids(cases, spec.split.test_fraction, spec.split.seed)
        tick = ticker(progress, "prepare isles22", len(cases))
        with (public_dir / "train.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["case_id", "dwi", "adc", "flair", "mask"])
            for cid in train:
                for mod in (*MODALITIES, "msk"):
                    src.copy(cases[cid][mod], public_dir / "train" / f"{cid}_{mod}.nii.gz")
                w.writerow([cid, *(f"train/{cid}_{m}.nii.gz" for m in (*MODALITIES, "msk"))])
                tick()
        with held_out_tables(
            public_dir,
            private_dir,
            ["case_id", "dwi", "adc", "flair"],
            ["case_id", "mask_path"],
            ["case_id", "predicted_mask_path"],
        ) as tables:
            wt, wl, ws, sub = tables
            for cid in test:
                for mod in MODALITIES:
                    src.copy(cases[cid][mod], public_dir / "test" / f"{cid}_{mod}.nii.gz")
                src.copy(cases[cid]["msk"], private_dir / "test" / f"{cid}_msk.nii.gz")
                _zero_mask_like(
                    public_dir / "test" / f"{cid}_dwi.nii.gz", sub / "predictions" / f"{cid}_pred.nii.gz"
                )
                wt.writerow([cid, *(f"test/{cid}_{m}.nii.gz" for m in MODALITIES)])
                wl.writerow([cid, f"test/{cid}_msk.nii.gz"])
                ws.writerow([cid, f"predictions/{cid}_pred.nii.gz"])
                tick()
    finally:
        src.close()
    return {"train": len(train), "test": len(test)}
