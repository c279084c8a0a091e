"""Prepare the NeurIPS 2022 Cell Segmentation Challenge from its Zenodo release (record 10719375).

Only the two labelled archives are used, as in the ReX-MLE reference: ``Training-labeled.zip``
(``Training-labeled/images/cell_NNNNN.<bmp|png|tif|tiff|jpg>`` and
``Training-labeled/labels/cell_NNNNN_label.tiff``) and ``Tuning.zip`` (``Tuning/images/``,
``Tuning/labels/``, same names). Members are read straight from the zips; folders unpacked by
hand (``raw/Training-labeled/...``, at any depth) work too. An image pairs with the label
``<stem>.tif``, ``<stem>.tiff``, ``<stem>_label.tif`` or ``<stem>_label.tiff`` (the reference's
order) in the sibling ``labels`` folder.

The Tuning set numbers its images from ``cell_00001`` again, so its stems collide with the
Training set's. The reference pools both lists, sorts them by stem (stably: Training first on a
tie) and splits the pooled *list* with scikit-learn (20 % test, seed 42). We split the same list
in the same order (``train_test_split_ids`` over keys ``<stem>\\t<set>``), so every pair lands on
the side the reference puts it, but name Tuning pairs ``tuning_<stem>`` so that no file
overwrites another and every ``image_id`` is unique.

Public: ``train/images/<id><ext>``, ``train/labels/<id>_label.tiff``, ``train.csv``,
``test/images/<id><ext>``, ``test.csv`` (with each image's height and width),
``sample_submission/`` (an empty uint16 instance map per test image). Private:
``test/labels/<id>_label.tiff`` and ``test_labels.csv``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import tifffile

from rexmle.challenge_api import (
    ChallengeSpec,
    DataError,
    RawFile,
    held_out_tables,
    ticker,
    train_test_split_ids,
    zip_members,
)

#: (archive, folder inside it, id prefix)
SOURCES = (("Training-labeled.zip", "Training-labeled", ""), ("Tuning.zip", "Tuning", "tuning_"))
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")
LABEL_PATTERNS = ("{}.tif", "{}.tiff", "{}_label.tif", "{}_label.tiff")
SAMPLE_HEADER = ["image_id", "predicted_mask_path"]


@dataclass(frozen=True)
class Pair:
    """One labelled image: its source, original stem and where its two files live."""

    source: int
    stem: str
    image: str  # a zip member name, or a path on disk
    label: str
    archive: Path | None  # None: files on disk

    @property
    def image_id(self) -> str:
        return SOURCES[self.source][2] + self.stem

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.image).suffix.lower()

    def copy(self, member: str, dst: Path) -> None:
        RawFile(self.archive, member).copy(dst)


def _pairs_in(names: list[str], folder: str) -> list[tuple[str, str, str]]:
    """(stem, image, label) for every image under ``<...>/<folder>/images/`` with a label."""
    by_dir: dict[str, set[str]] = {}
    for n in names:
        p = PurePosixPath(n)
        by_dir.setdefault(str(p.parent), set()).add(p.name)
    out = []
    for d in sorted(by_dir):
        parts = PurePosixPath(d).parts
        if len(parts) < 2 or parts[-1] != "images" or parts[-2] != folder:
            continue
        label_dir = str(PurePosixPath(d).parent / "labels")
        labels = by_dir.get(label_dir, set())
        for name in sorted(by_dir[d]):
            p = PurePosixPath(name)
            if p.suffix.lower() not in IMAGE_SUFFIXES or name.startswith("."):
                continue
            for pattern in LABEL_PATTERNS:
                if pattern.format(p.stem) in labels:
                    out.append((p.stem, f"{d}/{name}", f"{label_dir}/{pattern.format(p.stem)}"))
                    break
    return out


def find_pairs(raw_dir: Path) -> list[Pair]:
    pairs: list[Pair] = []
    for k, (archive, folder, _) in enumerate(SOURCES):
        zpath = raw_dir / archive
        found: list[Pair] = []
        if zpath.is_file():
            names = zip_members(zpath)
            found = [Pair(k, s, i, lab, zpath) for s, i, lab in _pairs_in(names, folder)]
        if not found:  # unpacked by hand
            files = [str(p.relative_to(raw_dir).as_posix()) for p in raw_dir.rglob("*") if p.is_file()]
            found = [
                Pair(k, s, str(raw_dir / i), str(raw_dir / lab), None)
                for s, i, lab in _pairs_in(files, folder)
            ]
        stems = [p.stem for p in found]
        if len(set(stems)) != len(stems):
            raise DataError(f"{archive}: an image stem appears twice")
        pairs += found
    return pairs


def split_pairs(pairs: list[Pair], test_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """The reference's split of the pooled list (sorted by stem, Training first on a tie)."""
    by_key = {f"{p.stem}\t{p.source}": p for p in pairs}
    train, test = train_test_split_ids(by_key, test_fraction, seed)
    return (
        sorted((by_key[k] for k in train), key=lambda p: p.image_id),
        sorted((by_key[k] for k in test), key=lambda p: p.image_id),
    )


def label_shape(path: Path) -> tuple[int, int]:
    """(height, width) of an instance map, from the TIFF header when it can."""
    with tifffile.TiffFile(path) as tf:
        shape = tuple(n for n in tf.pages[0].shape if n != 1)
    if len(shape) != 2:
        raise DataError(f"{path.name}: label image of shape {shape} is not 2-D")
    return int(shape[0]), int(shape[1])


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
            f"found {len(pairs)} labelled image(s) in {raw_dir} (Training-labeled.zip, Tuning.zip with "
            "<set>/images/<stem>.<ext> and <set>/labels/<stem>_label.tiff)"
        )
    train, test = split_pairs(pairs, spec.split.test_fraction, spec.split.seed)
    tick = ticker(progress, "prepare neurips-cellseg", len(pairs))

    with (public_dir / "train.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "image_path", "label_path"])
        for p in train:
            img, lab = f"train/images/{p.image_id}{p.suffix}", f"train/labels/{p.image_id}_label.tiff"
            p.copy(p.image, public_dir / img)
            p.copy(p.label, public_dir / lab)
            w.writerow([p.image_id, img, lab])
            tick()
    with held_out_tables(
        public_dir,
        private_dir,
        ["image_id", "image_path", "height", "width"],
        ["image_id", "label_path"],
        SAMPLE_HEADER,
    ) as tables:
        wt, wl, ws, sub = tables
        for p in test:
            img, lab = f"test/images/{p.image_id}{p.suffix}", f"test/labels/{p.image_id}_label.tiff"
            p.copy(p.image, public_dir / img)
            p.copy(p.label, private_dir / lab)
            h, w_ = label_shape(private_dir / lab)
            pred = f"predictions/{p.image_id}_label.tiff"
            (sub / pred).parent.mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(sub / pred, np.zeros((h, w_), dtype=np.uint16), compression="zlib")
            wt.writerow([p.image_id, img, h, w_])
            wl.writerow([p.image_id, lab])
            ws.writerow([p.image_id, pred])
            tick()
    return {"train": len(train), "test": len(test)}
