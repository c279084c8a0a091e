"""A synthetic AVT collection in the download's form: the three Figshare files ``Dongyang.zip``,
``KiTS.zip`` and ``Rider.zip``, each with ``<Institution>/<case folder>/<case>.nrrd`` (int16 CTA,
HU) and ``<case>.seg.nrrd`` (uint8 0/1), gzip-compressed NRRD as 3D Slicer writes them. Rider's
case folders carry a suffix with a space, as the real ones do (``Rider/R1 (AD)/R1.nrrd``).

Each case is an aortic vessel tree: a descending aorta (a tube along z) that splits into two
iliac arteries near the bottom, bright (contrast) in a noisy body. Institutions differ in voxel
spacing (all anisotropic), as the real ones do. Deterministic for a seed.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk

from rexmle.challenge_api import ChallengeSpec

SHAPE_ZYX = (28, 40, 40)
#: institution -> (case prefix, number of cases, spacing (x, y, z) in mm)
INSTITUTIONS = {
    "Dongyang": ("D", 4, (0.9, 0.9, 2.0)),
    "KiTS": ("K", 3, (0.8, 0.8, 1.5)),
    "Rider": ("R", 3, (0.7, 0.7, 2.5)),
}


def draw_tree(rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """Aorta from the top down to the bifurcation, then two iliacs diverging to the bottom."""
    z, y, x = np.indices(SHAPE_ZYX)
    cy, cx = rng.uniform(16, 24, 2)
    r = rng.uniform(3.0, 4.5)
    split = int(rng.integers(15, 20))
    aorta = (z < split) & ((y - cy) ** 2 + (x - cx) ** 2 <= r**2)
    t = np.clip(z - split, 0, None)
    spread = rng.uniform(0.5, 0.8)
    left = (z >= split - 1) & ((y - cy) ** 2 + (x - (cx - spread * t)) ** 2 <= (0.6 * r) ** 2)
    right = (z >= split - 1) & ((y - cy) ** 2 + (x - (cx + spread * t)) ** 2 <= (0.6 * r) ** 2)
    return (aorta | left | right).astype(np.uint8)


def _nrrd(arr: npt.NDArray[Any], spacing: tuple[float, float, float], tmp: Path) -> bytes:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin((-0.5 * SHAPE_ZYX[2] * spacing[0], -0.5 * SHAPE_ZYX[1] * spacing[1], 0.0))
    path = tmp / "x.nrrd"
    sitk.WriteImage(img, str(path), useCompression=True)
    return path.read_bytes()


def generate(raw_dir: Path, spec: ChallengeSpec, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    raw_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for inst, (prefix, n, spacing) in INSTITUTIONS.items():
            with zipfile.ZipFile(raw_dir / f"{inst}.zip", "w", zipfile.ZIP_STORED) as zi:
                for k in range(1, n + 1):
                    case = f"{prefix}{k}"
                    folder = f"{case} (AD)" if inst == "Rider" else case
                    seg = draw_tree(rng)
                    ct = rng.normal(40.0, 25.0, SHAPE_ZYX)
                    ct[seg > 0] += 320.0
                    zi.writestr(f"{inst}/{folder}/{case}.nrrd", _nrrd(ct.astype(np.int16), spacing, tmp))
                    zi.writestr(f"{inst}/{folder}/{case}.seg.nrrd", _nrrd(seg, spacing, tmp))
    return raw_dir
