"""The one volume writer of the challenges' fast scoring tests (imported without conftest: pytest
puts this folder on ``sys.path``, and ``make mutate`` runs those tests with ``--noconftest``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk


def write_volume(
    arr: np.ndarray, path: Path, spacing: tuple[float, ...] = (1.0, 1.0, 1.0), *, compress: bool = False
) -> Path:
    """``arr`` in SimpleITK's (z, y, x) order, saved at ``path`` (its format from the suffix) with
    ``spacing`` in SimpleITK's (x, y, z) order; parent folders are made."""
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(path), useCompression=compress)
    return path
