"""Prepare RAVIR from the organisers' zip (``RAVIR_Dataset.zip``, Google Drive after registration).

The zip holds ``RAVIR Dataset/train/training_images/IR_Case_NNN.png`` (768x768 infrared
reflectance images), ``RAVIR Dataset/train/training_masks/IR_Case_NNN.png`` (single-channel masks:
0 background, 128 artery, 255 vein; the challenge page writes the vein value as 256, which an 8-bit
PNG stores as 255, so 256 is accepted too) and ``RAVIR Dataset/test/IR_Case_NNN.png`` (the
challenge's unlabelled test images, not used here). The zip is read member by member; a folder a
user unpacked by hand (anywhere under ``raw/``) works too.

Only the 23 labelled training images can be graded, so they are split (ids sorted, 20% test,
seed 42: 18 train / 5 test). Masks are rewritten with class ids (0 background, 1 artery, 2 vein)
so that every 2-D segmentation baseline reads them as class maps.

Public: ``train/images/<id>.png`` (the original bytes), ``train/labels/<id>.png`` (uint8 class
ids), ``test/images/<id>.png``, ``train.csv``, ``test.csv``, ``sample_submission/`` (an
all-background mask per test image). Private: ``test/labels/<id>.png`` (class ids) and
``test_labels.csv``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from rexmle.challenge_api import (
    ChallengeSpec,
    DataError,
    RawFile,
    held_out_tables,
    ticker,
    train_test_split_ids,
    zip_members,
)

ARCHIVE = "RAVIR_Dataset.zip"
#: Pixel value in the organisers' masks -> class id here (256 is how the challenge page writes
#: the vein value; an 8-bit PNG holds it as 255).
RAW_VALUES = {0: 0, 128: 1, 255: 2, 256: 2}
CLASSES = {0: "background", 1: "artery", 2: "vein"}
SAMPLE_HEADER = ["image_id", "predicted_mask_path"]
_MEMBER = re.compile(r"(?:^|/)train/(training_images|training_masks)/([^/]+)\.png$", re.IGNORECASE)


def find_cases(raw_dir: Path) -> dict[str, tuple[RawFile, RawFile]]:
    """Case id -> (image, mask) for every labelled training case, from the zip or folders."""
    images: dict[str, RawFile] = {}
    masks: dict[str, RawFile] = {}

    def add(kind: str, case: str, src: RawFile) -> None:
        table = images if kind.lower() == "training_images" else masks
        if case in table:
            raise DataError(f"{case}.png appears twice among the RAVIR {kind} in {raw_dir}")
        table[case] = src

    archive = raw_dir / ARCHIVE
    if archive.exists():
        for n in sorted(zip_members(archive)):
            m = _MEMBER.search(n)
            if m and not Path(n).name.startswith("._"):
                add(m.group(1), m.group(2), RawFile(archive, n))
    if not images:
        for p in sorted(raw_dir.rglob("*.png")):
            m = _MEMBER.search(p.relative_to(raw_dir).as_posix())
            if m and not p.name.startswith("._"):
                add(m.group(1), m.group(2), RawFile(None, str(p)))
    unpaired = sorted(set(images) ^ set(masks))
    if unpaired:
        raise DataError(f"RAVIR image without mask or mask without image: {', '.join(unpaired[:3])}")
    return {c: (images[c], masks[c]) for c in sorted(images)}


def class_ids(mask: npt.NDArray[Any], what: str) -> npt.NDArray[np.uint8]:
    """The organisers' mask values (0/128/255) as class ids (0/1/2); other values are refused."""
    a = np.asarray(mask)
    if a.ndim == 3 and a.shape[-1] in (3, 4) and (a[..., :3] == a[..., :1]).all():
        a = a[..., 0]  # a grey mask saved as RGB(A)
    if a.ndim != 2:
        raise DataError(f"{what}: expected a single-channel mask, got shape {a.shape}")
    values = np.unique(a)
    bad = [int(v) for v in values if int(v) not in RAW_VALUES]
    if bad:
        raise DataError(f"{what}: mask value(s) {bad[:5]} are not 0, 128 or 255 (background, artery, vein)")
    out = np.zeros(a.shape, dtype=np.uint8)
    for raw, cid in RAW_VALUES.items():
        if cid:
            out[a == raw] = cid
    return out


def _size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as im:
        return im.size


def prepare(
    raw_dir: Path,
    public_dir: Path,
    private_dir: Path,
    spec: ChallengeSpec,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    cases = find_cases(raw_dir)
    if len(cases) < 2:
        raise DataError(
            f"found {len(cases)} RAVIR training case(s) (train/training_images + train/training_masks) in {raw_dir}"
        )
    train, test = train_test_split_ids(cases, spec.split.test_fraction, spec.split.seed)
    tick = ticker(progress, "prepare ravir", len(cases))

    def load(case: str) -> tuple[bytes, npt.NDArray[np.uint8]]:
        image_src, mask_src = cases[case]
        image = image_src.read()
        with Image.open(io.BytesIO(mask_src.read())) as im:
            mask = class_ids(np.asarray(im), f"mask {case}.png")
        width, height = _size(image)
        if mask.shape != (height, width):
            raise DataError(f"mask {case}.png is {mask.shape[::-1]} but its image is {(width, height)}")
        tick()
        return image, mask

    def write(path: Path, data: bytes | npt.NDArray[np.uint8]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            Image.fromarray(data, mode="L").save(path, optimize=True)

    with (public_dir / "train.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "image_path", "label_path"])
        for c in train:
            image, mask = load(c)
            write(public_dir / "train" / "images" / f"{c}.png", image)
            write(public_dir / "train" / "labels" / f"{c}.png", mask)
            w.writerow([c, f"train/images/{c}.png", f"train/labels/{c}.png"])
    with held_out_tables(
        public_dir, private_dir, ["image_id", "image_path"], ["image_id", "label_path"], SAMPLE_HEADER
    ) as tables:
        wt, wl, ws, sub = tables
        for c in test:
            image, mask = load(c)
            write(public_dir / "test" / "images" / f"{c}.png", image)
            write(private_dir / "test" / "labels" / f"{c}.png", mask)
            write(sub / "predictions" / f"{c}.png", np.zeros_like(mask))
            wt.writerow([c, f"test/images/{c}.png"])
            wl.writerow([c, f"test/labels/{c}.png"])
            ws.writerow([c, f"predictions/{c}.png"])
    return {"train": len(train), "test": len(test)}
