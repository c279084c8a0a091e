"""ISLES'22: the Zenodo BIDS zip -> public (train images+masks, test images) / private (test masks).

Reads members straight out of ``ISLES-2022.zip`` (or an already-extracted ``ISLES-2022/``
tree) and streams each one to its destination, so nothing is extracted twice and memory
stays at one file buffer. Cases are every subject with a mask and all three modalities;
the split follows the ReX-MLE reference (sorted ids, 20% test, seed 42).
"""

from __future__ import annotations

import csv
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import nibabel as nib
import numpy as np

from rexmle.data import held_out_tables, train_test_split_ids
from rexmle.errors import DataError
from rexmle.imaging import load_nifti

MEMBER = re.compile(r"(?:^|/)(sub-strokecase\d+)_ses-\d+_(dwi|adc|flair|msk)\.nii\.gz$", re.IGNORECASE)
MODALITIES = ("dwi", "adc", "flair")


class _Source:
    """The raw data, zipped or extracted, as name -> opener."""

    def __init__(self, raw_dir: Path) -> None:
        archive = raw_dir / "ISLES-2022.zip"
        extracted = raw_dir / "ISLES-2022"
        self.zip: zipfile.ZipFile | None = None
        if archive.is_file():
            try:
                self.zip = zipfile.ZipFile(archive)
            except zipfile.BadZipFile:
                raise DataError(f"{archive} is not a valid zip; delete it and run prepare again") from None
            self.names = [n for n in self.zip.namelist() if not n.endswith("/")]
        elif extracted.is_dir():
            self.names = [str(p.relative_to(raw_dir)) for p in extracted.rglob("*.nii.gz")]
        else:
            raise DataError(f"neither {archive.name} nor {extracted.name}/ found in {raw_dir}")
        self.raw_dir = raw_dir

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        if self.zip is not None:
            with self.zip.open(name) as f:
                yield f
        else:
            with (self.raw_dir / name).open("rb") as f:
                yield f

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def index_cases(names: list[str]) -> dict[str, dict[str, str]]:
    cases: dict[str, dict[str, str]] = {}
    for name in names:
        m = MEMBER.search(name)
        if m and ("/derivatives/" in f"/{name}") == (m.group(2).lower() == "msk"):
            cases.setdefault(m.group(1), {})[m.group(2).lower()] = name
    return {cid: files for cid, files in cases.items() if all(k in files for k in (*MODALITIES, "msk"))}


def _copy(src: _Source, member: str, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with src.open(member) as fin, dst.open("wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)


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
    spec: Any,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    src = _Source(raw_dir)
    try:
        cases = index_cases(src.names)
        if len(cases) < 2:
            raise DataError(
                f"found {len(cases)} complete ISLES'22 case(s) in {raw_dir}; the download looks incomplete"
            )
        train, test = train_test_split_ids(cases, spec.split.test_fraction, spec.split.seed)
        total, done = len(cases), 0
        with (public_dir / "train.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["case_id", "dwi", "adc", "flair", "mask"])
            for cid in train:
                for mod in (*MODALITIES, "msk"):
                    _copy(src, cases[cid][mod], public_dir / "train" / f"{cid}_{mod}.nii.gz")
                w.writerow([cid, *(f"train/{cid}_{m}.nii.gz" for m in (*MODALITIES, "msk"))])
                done += 1
                if progress:
                    progress("prepare isles22", done, total)
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
                    _copy(src, cases[cid][mod], public_dir / "test" / f"{cid}_{mod}.nii.gz")
                _copy(src, cases[cid]["msk"], private_dir / "test" / f"{cid}_msk.nii.gz")
                _zero_mask_like(
                    public_dir / "test" / f"{cid}_dwi.nii.gz", sub / "predictions" / f"{cid}_pred.nii.gz"
                )
                wt.writerow([cid, *(f"test/{cid}_{m}.nii.gz" for m in MODALITIES)])
                wl.writerow([cid, f"test/{cid}_msk.nii.gz"])
                ws.writerow([cid, f"predictions/{cid}_pred.nii.gz"])
                done += 1
                if progress:
                    progress("prepare isles22", done, total)
    finally:
        src.close()
    return {"train": len(train), "test": len(test)}
