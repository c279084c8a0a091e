"""A small synthetic ISLES'22 in the real download's form: ``ISLES-2022.zip`` with the BIDS tree.

Zip layout (as the Zenodo archive):
    ISLES-2022/dataset_description.json
    ISLES-2022/rawdata/sub-strokecaseNNNN/ses-0001/anat/sub-strokecaseNNNN_ses-0001_FLAIR.nii.gz (+ .json)
    ISLES-2022/rawdata/sub-strokecaseNNNN/ses-0001/dwi/sub-strokecaseNNNN_ses-0001_{dwi,adc}.nii.gz (+ .json)
    ISLES-2022/derivatives/sub-strokecaseNNNN/ses-0001/sub-strokecaseNNNN_ses-0001_msk.nii.gz

The images have learnable signal (a lesion is bright on DWI and dark on ADC, as an acute
infarct), and the held-out cases are chosen to exercise every metric branch: an empty ground
truth, a single lesion, several lesions, two lesions touching only by a corner (one lesion
under 26-connectivity, two under 6), and strongly anisotropic spacing. Deterministic for a seed.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np

from rexmle.challenge_api import ChallengeSpec, train_test_split_ids

N_CASES = 24
ARCHIVE = "ISLES-2022.zip"
TEST_KINDS = ["empty", "single", "several", "corner", "anisotropic"]
SPACINGS = [(2.0, 2.0, 2.0), (1.6, 1.6, 3.0), (0.9, 0.9, 4.0), (1.2, 1.2, 5.0)]


def _nifti_bytes(data: np.ndarray, affine: np.ndarray) -> bytes:
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    raw = img.to_bytes()
    buf = io.BytesIO()
    import gzip

    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(raw)
    return buf.getvalue()


def _affine(spacing: tuple[float, float, float], shape: tuple[int, ...]) -> np.ndarray:
    aff = np.diag([-spacing[0], spacing[1], spacing[2], 1.0])
    aff[:3, 3] = [spacing[0] * shape[0] / 2, -spacing[1] * shape[1] / 2, -spacing[2] * shape[2] / 2]
    return aff


def _blob(shape: tuple[int, int, int], center: np.ndarray, radii: np.ndarray) -> np.ndarray:
    grid = np.ogrid[: shape[0], : shape[1], : shape[2]]
    d = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, center, radii, strict=True))
    return np.asarray(d <= 1.0)


def _lesions(
    kind: str, shape: tuple[int, int, int], brain: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    if kind == "empty":
        return mask
    if kind == "corner":
        c = np.array(shape) // 2
        a = (slice(c[0] - 4, c[0]), slice(c[1] - 4, c[1]), slice(c[2] - 2, c[2]))
        b = (slice(c[0], c[0] + 4), slice(c[1], c[1] + 4), slice(c[2], c[2] + 2))
        mask[a] = True
        mask[b] = True
        return mask
    n = {"single": 1, "anisotropic": 1, "several": 4}.get(kind, int(rng.integers(1, 4)))
    for _ in range(n):
        for _attempt in range(20):
            center = rng.uniform(0.3, 0.7, size=3) * np.array(shape)
            radii = rng.uniform(1.5, 4.5, size=3) * np.array([1, 1, 0.6])
            radii = np.maximum(radii, 1.0)
            blob = _blob(shape, center, radii) & brain
            grown = blob.copy()
            # keep lesions of "several" apart so they stay separate components
            if not (grown & _dilate(mask, 2)).any() and blob.sum() >= 4:
                mask |= blob
                break
    return mask


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    from scipy.ndimage import binary_dilation

    return np.asarray(binary_dilation(mask, iterations=r)) if mask.any() else mask


def _case(case_id: str, kind: str, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    spacing = (0.9, 0.9, 4.0) if kind == "anisotropic" else SPACINGS[int(rng.integers(len(SPACINGS)))]
    shape = (int(rng.integers(40, 57)), int(rng.integers(40, 57)), int(rng.integers(18, 27)))
    aff = _affine(spacing, shape)
    c = np.array(shape) / 2
    brain = _blob(shape, c, np.array(shape) * 0.42)
    lesion = _lesions(kind, shape, brain, rng)
    noise = rng.normal(0, 1, size=shape)
    dwi = np.where(brain, 100 + 12 * noise, 0) + np.where(lesion, 90, 0)
    adc = np.where(brain, 800 + 60 * rng.normal(0, 1, size=shape), 0) - np.where(lesion, 380, 0)
    # FLAIR on its own (finer in-plane, coarser through-plane) grid, as in the real data.
    fshape = (shape[0] * 2, shape[1] * 2, max(8, shape[2] // 2))
    fspacing = (spacing[0] / 2, spacing[1] / 2, spacing[2] * 2)
    fbrain = _blob(fshape, np.array(fshape) / 2, np.array(fshape) * 0.42)
    flair = np.where(fbrain, 300 + 25 * rng.normal(0, 1, size=fshape), 0)
    return {
        "dwi": (np.clip(dwi, 0, None).astype(np.float32), aff),
        "adc": (np.clip(adc, 0, None).astype(np.float32), aff),
        "FLAIR": (np.clip(flair, 0, None).astype(np.float32), _affine(fspacing, fshape)),
        "msk": (lesion.astype(np.uint8), aff),
    }


def generate(raw_dir: Path, spec: ChallengeSpec, seed: int = 0) -> Path:
    """Write ``raw_dir/ISLES-2022.zip``; the held-out cases cover every metric branch."""
    ids = [f"sub-strokecase{i:04d}" for i in range(1, N_CASES + 1)]
    _, test = train_test_split_ids(ids, spec.split.test_fraction, spec.split.seed)
    kinds = {cid: TEST_KINDS[i % len(TEST_KINDS)] for i, cid in enumerate(test)}
    rng = np.random.default_rng(seed)
    out = raw_dir / ARCHIVE
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:

        def put(name: str, data: bytes | str) -> None:
            info = zipfile.ZipInfo(f"ISLES-2022/{name}", date_time=(2022, 1, 1, 0, 0, 0))
            zf.writestr(info, data)

        put(
            "dataset_description.json",
            json.dumps({"Name": "ISLES 2022 (synthetic stand-in)", "BIDSVersion": "1.6.0"}),
        )
        for cid in ids:
            kind = kinds.get(cid) or ["single", "several", "random", "random"][int(rng.integers(4))]
            vols = _case(cid, kind, rng)
            ses = f"{cid}/ses-0001"
            for mod, sub in (("dwi", "dwi"), ("adc", "dwi"), ("FLAIR", "anat")):
                data, aff = vols[mod]
                stem = f"rawdata/{ses}/{sub}/{cid}_ses-0001_{mod}"
                put(stem + ".nii.gz", _nifti_bytes(data, aff))
                put(stem + ".json", json.dumps({"Modality": "MR", "synthetic": True}))
            data, aff = vols["msk"]
            put(f"derivatives/{ses}/{cid}_ses-0001_msk.nii.gz", _nifti_bytes(data, aff))
    tmp.replace(out)
    return out
