"""A synthetic PANTHER training release per task, in the real zip's form: ``PANTHER_Task1.zip``
(``ImagesTr/<pid>_0001_0000.mha``, ``LabelsTr/<pid>_0001.mha``, ``ImagesTr_unlabeled/*.mha``) and
``PANTHER_Task2.zip`` (``ImagesTr/<pid>_0000.mha``, ``LabelsTr/<pid>.mha``), MHA volumes with
labels 0 background, 1 tumour, 2 pancreas.

Each case is an elongated pancreas with a round tumour in it; on these T1/T2-like images the
pancreas is brighter than the background and the tumour darker than the pancreas, as a
hypo-enhancing adenocarcinoma. Spacing is in-plane isotropic and coarser through-plane (as the
real scans), so the organisers' swap of the z and x spacings changes distances. Deterministic
for a seed.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
from rexmle.challenges._panther.prepare import ARCHIVE, Task

SHAPE_ZYX = (20, 48, 48)
SPACING_XYZ: dict[Task, tuple[float, float, float]] = {1: (0.9, 0.9, 2.5), 2: (1.2, 1.2, 1.8)}
CASES: dict[Task, int] = {1: 12, 2: 10}
FIRST_PID: dict[Task, int] = {1: 10000, 2: 10303}


def draw(rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    z, y, x = np.indices(SHAPE_ZYX, dtype=np.float32)
    cz, cy, cx = rng.uniform(8, 12), rng.uniform(20, 28), rng.uniform(20, 28)
    pancreas = ((z - cz) / 4.0) ** 2 + ((y - cy) / 6.0) ** 2 + ((x - cx) / 14.0) ** 2 <= 1.0
    tz, ty, tx = cz + rng.uniform(-1, 1), cy + rng.uniform(-2, 2), cx + rng.uniform(-6, 6)
    r = rng.uniform(3.0, 4.5)
    tumour = pancreas & (((z - tz) * 2.0) ** 2 + (y - ty) ** 2 + (x - tx) ** 2 <= r**2)
    lab = np.zeros(SHAPE_ZYX, dtype=np.uint8)
    lab[pancreas] = 2
    lab[tumour] = 1
    return lab


def _mha(arr: npt.NDArray[np.generic], spacing: tuple[float, float, float], tmp: Path) -> bytes:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    path = tmp / "x.mha"
    sitk.WriteImage(img, str(path), useCompression=True)
    return path.read_bytes()


def generate(raw_dir: Path, task: Task, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed + task)
    raw_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    spacing = SPACING_XYZ[task]
    with tempfile.TemporaryDirectory() as t, zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        tmp = Path(t)
        for k in range(CASES[task]):
            pid = FIRST_PID[task] + k
            case = f"{pid}_0001" if task == 1 else f"{pid}"
            lab = draw(rng)
            img = rng.normal(100.0, 15.0, SHAPE_ZYX)
            img[lab == 2] += 120.0
            img[lab == 1] += 50.0
            zf.writestr(f"ImagesTr/{case}_0000.mha", _mha(img.astype(np.float32), spacing, tmp))
            zf.writestr(f"LabelsTr/{case}.mha", _mha(lab, spacing, tmp))
        if task == 1:  # other sequences of some patients, no labels
            for k in range(2):
                other = rng.normal(80.0, 15.0, SHAPE_ZYX).astype(np.float32)
                zf.writestr(f"ImagesTr_unlabeled/{FIRST_PID[1] + k}_0000_0000.mha", _mha(other, spacing, tmp))
    out = raw_dir / ARCHIVE[task]
    out.write_bytes(buf.getvalue())
    return out
