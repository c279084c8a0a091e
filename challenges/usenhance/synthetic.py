"""A synthetic USenhance release in the download's form: ``train_dataset.zip`` holding
``train_datasets/<organ>/low_quality/<n>.png`` and ``.../high_quality/<n>.png`` (8-bit
grayscale PNGs, a pair shares its name) for the five organs, each organ at its own image size.

A high-quality image is a sector-shaped ultrasound field (black outside the fan) of smooth
tissue texture with a few bright or dark (vessel-like) ellipses. Its low-quality partner is
what a cheaper probe might give: blurred (Gaussian, sigma 1.2), with less contrast
(0.75 x + 25), multiplicative speckle and additive noise, rounded to 8 bits. A linear filter
learned on pairs undoes much of that. Deterministic for a seed.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage

from rexmle.challenge_api import ChallengeSpec

ARCHIVE = "train_dataset.zip"
ROOT = "train_datasets"
#: organ -> (height, width) of its images
ORGANS = {"breast": (64, 72), "carotid": (56, 64), "kidney": (64, 64), "liver": (72, 64), "thyroid": (56, 72)}
PER_ORGAN = 6


def high_quality(shape: tuple[int, int], rng: np.random.Generator) -> npt.NDArray[np.float64]:
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    tissue = ndimage.gaussian_filter(rng.normal(0, 1, shape), 2.0)
    img = 110 + 180 * tissue + 25 * np.sin(y / rng.uniform(4, 9))
    for _ in range(int(rng.integers(2, 5))):
        cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
        ry, rx = rng.uniform(3, 10, 2)
        inside = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1
        img[inside] = rng.choice([25.0, 210.0]) + 10 * tissue[inside]
    # the fan: an annular sector below a virtual apex above the image
    apex_y, apex_x = -0.3 * h, w / 2
    r = np.hypot(y - apex_y, x - apex_x)
    angle = np.abs(np.arctan2(x - apex_x, y - apex_y))
    fan = (angle <= 0.55) & (r >= 0.35 * h)
    return np.where(fan, img, 0.0)


def low_quality(hq: npt.NDArray[np.float64], rng: np.random.Generator) -> npt.NDArray[np.float64]:
    blurred = ndimage.gaussian_filter(hq, 1.2)
    speckle = rng.gamma(16.0, 1 / 16.0, hq.shape)
    lq = (0.75 * blurred + 25) * speckle + rng.normal(0, 6, hq.shape)
    return np.where(hq > 0, lq, 0.0)


def _put(zf: zipfile.ZipFile, name: str, data: bytes | str) -> None:
    """A member with a fixed timestamp, so the archive's bytes depend on the seed only."""
    info = zipfile.ZipInfo(name, date_time=(2023, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    zf.writestr(info, data)


def _png(arr: npt.NDArray[np.float64]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def generate(raw_dir: Path, spec: ChallengeSpec, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    raw_dir.mkdir(parents=True, exist_ok=True)
    out = raw_dir / ARCHIVE
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for organ, shape in ORGANS.items():
            for k in range(1, PER_ORGAN + 1):
                hq = high_quality(shape, rng)
                _put(zf, f"{ROOT}/{organ}/high_quality/{k:03d}.png", _png(hq))
                _put(zf, f"{ROOT}/{organ}/low_quality/{k:03d}.png", _png(low_quality(hq, rng)))
    return out
