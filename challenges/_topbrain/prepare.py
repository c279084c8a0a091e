"""Prepare one TopBrain track from the 2025 data release (zipped or extracted).

The release (``TopBrain_Data_Release_Batches1n2_081425.zip``) has TopCoW's shape: one top
folder, ``imagesTr_topbrain_{ct|mr}/topcow_{ct|mr}_NNN_0000.nii.gz`` and
``labelsTr_topbrain_{ct|mr}/topcow_{ct|mr}_NNN.nii.gz``. The public/private layout, the split
(sorted ids, 20% test, seed 42) and the sample submission are TopCoW task 1's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rexmle.challenges._topbrain.labels import Modality
from rexmle.challenges._topcow.prepare import Layout, prepare_task

from rexmle.challenge_api import ChallengeSpec, Release

ARCHIVE = "TopBrain_Data_Release_Batches1n2_081425.zip"
TOP = "TopBrain_Data_Release_Batches1n2_081425"


def layout(modality: Modality) -> Layout:
    return Layout(
        images=f"imagesTr_topbrain_{modality}", labels=f"labelsTr_topbrain_{modality}", dataset="topbrain"
    )


def prepare_track(
    raw_dir: Path,
    public_dir: Path,
    private_dir: Path,
    spec: ChallengeSpec,
    modality: Modality,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    return prepare_task(
        raw_dir,
        public_dir,
        private_dir,
        spec,
        modality,
        "seg",
        progress,
        release=Release(raw_dir, ARCHIVE, top=TOP),
        where=layout(modality),
    )
