"""Prepare SEG.A. 2023 from the AVT collection (Figshare article 14806362).

The download is one zip per institution (``Dongyang.zip``, ``KiTS.zip``, ``Rider.zip``; taken out
of the whole-article zip by ``rexmle.data.fetch`` when a user downloaded that instead); each holds
``<Institution>/<case folder>/<case>.nrrd`` (the CTA) and ``<case>.seg.nrrd`` (the aortic vessel
tree, any value > 0), where case folders may carry spaces (``Rider/R1 (AD)/``). The zips are
read member by member; folders a user unpacked by hand (any depth) work too. Case ids are the
image stems (``D1``, ``K1``, ``R1``...); the split follows the ReX-MLE reference (ids sorted as
strings, 20% test, seed 42: 44 train / 12 test of the 56 cases).

Public: ``train/images/<case>.nrrd``, ``train/labels/<case>.seg.nrrd``, ``test/images/``,
``train.csv``, ``test.csv``, ``sample_submission/`` (an empty mask per test case). Private:
``test/labels/<case>.seg.nrrd`` and ``test_labels.csv``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from rexmle.challenge_api import (
    ChallengeSpec,
    DataError,
    RawFile,
    held_out_tables,
    ticker,
    train_test_split_ids,
    write_empty_mask_like,
    zip_members,
)

#: The whole-article zip a user may have saved instead of the three institution zips.
ARTICLE = "avt_dataset.zip"
LABEL = ".seg.nrrd"
SAMPLE_HEADER = ["image_id", "predicted_mask_path"]


def find_cases(raw_dir: Path) -> dict[str, tuple[RawFile, RawFile]]:
    """case id -> (image, label), from the institution zips and from unpacked folders."""
    found: dict[str, tuple[RawFile, RawFile]] = {}

    def add(case: str, image: RawFile, label: RawFile) -> None:
        if case in found:
            raise DataError(f"case {case} appears twice in {raw_dir}")
        found[case] = (image, label)

    for inst in sorted(p for p in raw_dir.glob("*.zip") if p.name != ARTICLE):
        names = set(zip_members(inst))
        for n in sorted(names):
            if n.endswith(LABEL):
                case = Path(n).name[: -len(LABEL)]
                image = n[: -len(LABEL)] + ".nrrd"
                if image in names:
                    add(case, RawFile(inst, image), RawFile(inst, n))
    for label in sorted(raw_dir.rglob(f"*{LABEL}")):
        on_disk = label.with_name(label.name[: -len(LABEL)] + ".nrrd")
        if on_disk.exists():
            add(label.name[: -len(LABEL)], RawFile(None, str(on_disk)), RawFile(None, str(label)))
    return found


def prepare(
    raw_dir: Path,
    public_dir: Path,
    private_dir: Path,
    spec: ChallengeSpec,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    cases = find_cases(raw_dir)
    if len(cases) < 2:
        raise DataError(f"found {len(cases)} SEG.A case(s) (<case>.nrrd + <case>.seg.nrrd) in {raw_dir}")
    train, test = train_test_split_ids(cases, spec.split.test_fraction, spec.split.seed)
    tick = ticker(progress, "prepare seg_a", len(cases))

    with (public_dir / "train.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "image_path", "label_path"])
        for c in train:
            image, label = cases[c]
            image.copy(public_dir / "train" / "images" / f"{c}.nrrd")
            label.copy(public_dir / "train" / "labels" / f"{c}{LABEL}")
            w.writerow([c, f"train/images/{c}.nrrd", f"train/labels/{c}{LABEL}"])
            tick()
    with held_out_tables(
        public_dir, private_dir, ["image_id", "image_path"], ["image_id", "label_path"], SAMPLE_HEADER
    ) as tables:
        wt, wl, ws, sub = tables
        for c in test:
            image, label = cases[c]
            dst = public_dir / "test" / "images" / f"{c}.nrrd"
            image.copy(dst)
            label.copy(private_dir / "test" / "labels" / f"{c}{LABEL}")
            write_empty_mask_like(dst, sub / "predictions" / f"{c}{LABEL}")
            wt.writerow([c, f"test/images/{c}.nrrd"])
            wl.writerow([c, f"test/labels/{c}{LABEL}"])
            ws.writerow([c, f"predictions/{c}{LABEL}"])
            tick()
    return {"train": len(train), "test": len(test)}
