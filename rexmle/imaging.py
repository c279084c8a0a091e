"""Typed image I/O shared by challenge code (nibabel's stubs return the base class)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import nibabel as nib


def load_nifti(path: Path | str) -> nib.Nifti1Image:
    """Open a NIfTI-1/2 file lazily (header now, voxels on access)."""
    img = nib.load(str(path))
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise ValueError(f"{path} is a {type(img).__name__}, not NIfTI")
    return cast(nib.Nifti1Image, img)


def voxel_volume_ml(img: nib.Nifti1Image) -> float:
    """Volume of one voxel in ml: product of the first three header zooms (mm) / 1000."""
    zooms = img.header.get_zooms()[:3]
    vol = 1.0
    for z in zooms:
        vol *= abs(float(z))
    return vol / 1000.0
