"""Image I/O shared by challenge code: typed NIfTI access (nibabel's stubs return the base class)
and the strict reader of predicted label maps every segmentation grader uses."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import nibabel as nib
import numpy as np
import numpy.typing as npt
import SimpleITK as sitk

from rexmle.errors import InvalidSubmission
from rexmle.safe_io import check_volume

#: Grid agreement a prediction must have with its test image (mm, and direction cosines).
GRID_ATOL = 1e-3


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


def image_info(path: Path) -> sitk.ImageFileReader:
    """The header of an image (size, spacing, origin, direction) without reading its voxels."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return reader


def read_label_map(
    path: Path,
    reference: Path,
    what: str,
    allowed: Iterable[int],
    label_set: str,
) -> npt.NDArray[np.uint8]:
    """A predicted label map on the grid of the image ``reference``, as a (z, y, x) uint8 array.

    NIfTI, MHA or NRRD, by its suffix. The header is checked first (``rexmle.safe_io``: size,
    type, extensions, data length, data in the file itself), then read with the SimpleITK
    ImageIO of that format, and the grid compared before any voxel is decoded. Some
    organisers' evaluations resample a prediction of another size onto the ground truth; we
    refuse a different grid instead (a
    silent resampling would score something the agent never wrote). Labels must be integers in
    ``allowed`` (``label_set`` names them in the error): every organiser's code fails on others.
    """
    ref = image_info(reference)
    header = check_volume(path, what, ref.GetSize())
    reader = sitk.ImageFileReader()
    reader.SetImageIO(header.image_io)  # the format the header check was for, not a guess
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        raise InvalidSubmission(f"{what}: not a readable image (NIfTI, MHA or NRRD)") from None
    if reader.GetDimension() != 3 or reader.GetNumberOfComponents() != 1:
        raise InvalidSubmission(f"{what}: expected a 3-D single-channel label map")
    if tuple(reader.GetSize()) != tuple(ref.GetSize()):
        raise InvalidSubmission(
            f"{what}: size {tuple(reader.GetSize())} differs from the test image's {tuple(ref.GetSize())}"
        )
    for name, mine, theirs in (
        ("spacing", reader.GetSpacing(), ref.GetSpacing()),
        ("origin", reader.GetOrigin(), ref.GetOrigin()),
        ("direction", reader.GetDirection(), ref.GetDirection()),
    ):
        if not np.allclose(mine, theirs, atol=GRID_ATOL):
            raise InvalidSubmission(f"{what}: {name} differs from the test image's (same grid required)")
    try:
        img = reader.Execute()
    except RuntimeError:
        raise InvalidSubmission(f"{what}: not a readable image (NIfTI, MHA or NRRD)") from None
    arr = sitk.GetArrayViewFromImage(img)
    if arr.dtype.kind not in "iu" and (
        arr.dtype.kind != "f" or not np.isfinite(arr).all() or not np.array_equal(arr, np.round(arr))
    ):
        raise InvalidSubmission(f"{what}: a label map must hold integer labels, not {arr.dtype}")
    bad = first_label_outside(arr, allowed)
    if bad is not None:
        raise InvalidSubmission(f"{what}: label {bad} is not {label_set}")
    return np.asarray(arr, dtype=np.uint8).copy() if arr.dtype != np.uint8 else np.array(arr)


def first_label_outside(arr: npt.NDArray[Any], allowed: Iterable[int]) -> int | None:
    """The smallest value of ``arr`` not in ``allowed`` (None if all are), from its min, max and
    one comparison per gap in ``allowed``: a histogram of a 512x512x300 map needs a 600 MB
    int64 copy (``bincount``) or a sort (``unique``)."""
    ok = sorted(set(allowed))
    lo, hi = int(arr.min()), int(arr.max())
    if lo < ok[0]:
        return lo
    for v in range(ok[0], min(hi, ok[-1]) + 1):
        if v not in ok and (arr == v).any():
            return v
    return hi if hi > ok[-1] else None


def write_empty_mask_like(image: Path, dst: Path) -> None:
    """An all-background uint8 mask with the geometry of ``image`` (read from its header only),
    in the format ``dst``'s name implies: the placeholder prediction of a sample submission."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(image))
    reader.ReadImageInformation()
    mask = sitk.GetImageFromArray(np.zeros(tuple(reversed(reader.GetSize())), dtype=np.uint8))
    mask.SetSpacing(reader.GetSpacing())
    mask.SetOrigin(reader.GetOrigin())
    mask.SetDirection(reader.GetDirection())
    dst.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(mask, str(dst), useCompression=True)
