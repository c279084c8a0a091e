"""A synthetic TopCoW 2024 release: ``TopCoW2024_Data_Release.zip`` in the real archive's layout.

The zip holds one top folder ``TopCoW2024_Data_Release/`` with, per modality (``ct``, ``mr``)
and case ``NNN``:

    imagesTr/topcow_{ct|mr}_NNN_0000.nii.gz          the angiography volume (float32)
    cow_seg_labelsTr/topcow_{ct|mr}_NNN.nii.gz       the multiclass CoW label map (uint8)
    roi_loc_labelsTr/topcow_{ct|mr}_NNN.txt          spacing / size / location of the CoW ROI
    antpos_edges_labelsTr/topcow_{ct|mr}_NNN.yml     the variant's anterior and posterior edges

Each case draws a CoW variant (every edge present with probability 0.75) and draws the
vessels so that the segmentation implies exactly that variant (the edge yml and
``edges_from_segmentation`` agree). Vessels are bright in the image, so a model can learn
both the labels and the variant. Volumes are small (12 x 40 x 48, anisotropic spacing) and
oriented as the real data are (LPS+: the patient's left at larger x).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import numpy.typing as npt
from rexmle.challenges._topcow.formats import ANTERIOR_EDGES, POSTERIOR_EDGES

ARCHIVE = "TopCoW2024_Data_Release.zip"
TOP = "TopCoW2024_Data_Release"
SHAPE_ZYX = (12, 40, 48)
SPACING_XYZ = {"ct": (0.45, 0.45, 0.6), "mr": (0.3, 0.3, 0.6)}
CASES_PER_MODALITY = 60


def draw_cow(edges: dict[str, int], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """A label map (z, y, x) whose variant is ``edges``; optional vessels are drawn only when
    their edge is present, and A1/P1 segments touch their parent only when theirs is."""
    a = np.zeros(SHAPE_ZYX, dtype=np.uint8)
    z = 5 + int(rng.integers(0, 3))
    jitter = int(rng.integers(-2, 3))
    a[z, 2:10, 34 + jitter : 37 + jitter] = 6  # L-ICA (patient's left: larger x)
    a[z, 2:10, 10 + jitter : 13 + jitter] = 4  # R-ICA
    a[z, 2:10, 38 + jitter : 41 + jitter] = 7  # L-MCA beside it
    a[z, 2:10, 6 + jitter : 9 + jitter] = 5  # R-MCA
    # ACAs start right after the ICA when the A1 is there, two voxels further when it is not
    a[z, 10 + (1 - edges["L-A1"]) * 2 : 16, 34 + jitter : 37 + jitter] = 12
    a[z, 10 + (1 - edges["R-A1"]) * 2 : 16, 10 + jitter : 13 + jitter] = 11
    if edges["Acom"]:
        a[z, 14, 14 + jitter : 33 + jitter] = 10
    if edges["3rd-A2"]:
        a[z, 17:20, 23 + jitter : 25 + jitter] = 15
    a[z, 30:33, 22 + jitter : 26 + jitter] = 1  # BA
    a[z, 31, 26 + (1 - edges["L-P1"]) * 2 + jitter : 40 + jitter] = 3  # L-PCA, from the BA's end
    a[z, 31, 8 + jitter : 22 - (1 - edges["R-P1"]) * 2 + jitter] = 2  # R-PCA
    if edges["L-Pcom"]:
        a[z, 19:30, 41 + jitter] = 9
    if edges["R-Pcom"]:
        a[z, 19:30, 7 + jitter] = 8
    return a


def generate(raw_dir: Path, seed: int = 0) -> Path:
    """Write ``raw_dir/TopCoW2024_Data_Release.zip``."""
    rng = np.random.default_rng(seed)
    raw_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for modality in ("ct", "mr"):
            spacing = SPACING_XYZ[modality]
            for n in range(1, CASES_PER_MODALITY + 1):
                case = f"topcow_{modality}_{n:03d}"
                edges = {e: int(rng.random() < 0.75) for e in ANTERIOR_EDGES + POSTERIOR_EDGES}
                seg = draw_cow(edges, rng)
                base = 80.0 if modality == "ct" else 40.0
                image = rng.normal(base, 15.0, SHAPE_ZYX).astype(np.float32)
                image[seg > 0] += 300.0 if modality == "ct" else 200.0
                zf.writestr(f"{TOP}/imagesTr/{case}_0000.nii.gz", gzip_nifti(image, spacing))
                zf.writestr(f"{TOP}/cow_seg_labelsTr/{case}.nii.gz", gzip_nifti(seg, spacing))
                zf.writestr(f"{TOP}/roi_loc_labelsTr/{case}.txt", _roi_text(seg, spacing))
                yml = "anterior:\n" + "".join(f"  {e}: {edges[e]}\n" for e in ANTERIOR_EDGES)
                yml += "posterior:\n" + "".join(f"  {e}: {edges[e]}\n" for e in POSTERIOR_EDGES)
                zf.writestr(f"{TOP}/antpos_edges_labelsTr/{case}.yml", yml)
    (raw_dir / ARCHIVE).write_bytes(buf.getvalue())
    return raw_dir / ARCHIVE


def gzip_nifti(data: npt.NDArray[np.generic], spacing_xyz: tuple[float, float, float]) -> bytes:
    import gzip

    xyz = np.ascontiguousarray(np.transpose(data, (2, 1, 0)))
    img = nib.Nifti1Image(xyz, np.diag([-spacing_xyz[0], -spacing_xyz[1], spacing_xyz[2], 1.0]))
    img.header.set_zooms(spacing_xyz)
    return gzip.compress(img.to_bytes(), compresslevel=1, mtime=0)


def _roi_text(seg: npt.NDArray[np.uint8], spacing_xyz: tuple[float, float, float]) -> str:
    """The CoW ROI as the release writes it: the labels' box (x, y, z) grown by 2 voxels."""
    zs, ys, xs = np.nonzero(seg)
    lo = [max(0, int(v.min()) - 2) for v in (xs, ys, zs)]
    hi = [min(n - 1, int(v.max()) + 2) for v, n in zip((xs, ys, zs), SHAPE_ZYX[::-1], strict=True)]
    size = [h - lo_ + 1 for lo_, h in zip(lo, hi, strict=True)]
    return (
        f"Spacing (mm): {spacing_xyz[0]} {spacing_xyz[1]} {spacing_xyz[2]}\n"
        f"Size (Voxels): {size[0]} {size[1]} {size[2]}\n"
        f"Location (Voxels): {lo[0]} {lo[1]} {lo[2]}\n"
    )
