"""A synthetic LDCT-IQA release in the organisers' two zips.

``LDCTIQAG2023_train.zip``: ``LDCTIQAG2023_train/train.json`` ({"0000.tif": 2.6, ...}) and
``LDCTIQAG2023_train/image/0000.tif ...`` (float32 TIFF slices); ``test_dataset.zip``:
``LDCTIQAC_test/test.json`` and ``LDCTIQAC_test/images/0000.tiff ...``. Names are zero-padded
numbers, as in the release.

Each slice is an abdomen-like phantom (a soft-tissue ellipse with a few organs, in windowed
[0, 1]-ish intensities) degraded by Gaussian noise and sparse-view streaks (an angular cosine
pattern) of random strengths. Five simulated readers each give round(4 - 2.2 noise - 1.5 streak
+ N(0, 0.35)) clipped to 0..4; the score is their mean, in steps of 0.2 (so many scores tie), as
in the release. A model that measures the noise and streak energy can learn the scores.
Deterministic for a seed.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import tifffile

from rexmle.challenge_api import ChallengeSpec

SIZE = 64
N_TRAIN, N_TEST = 60, 20
READERS = 5


def phantom(rng: np.random.Generator) -> npt.NDArray[np.float64]:
    y, x = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1) * 2 - 1
    img = np.zeros((SIZE, SIZE))
    a, b = rng.uniform(0.75, 0.9), rng.uniform(0.55, 0.7)
    img[(x / a) ** 2 + (y / b) ** 2 <= 1] = 0.5
    for _ in range(3):
        cx, cy = rng.uniform(-0.4, 0.4, 2)
        r = rng.uniform(0.1, 0.25)
        img[((x - cx) ** 2 + (y - cy) ** 2) <= r**2] = rng.uniform(0.3, 0.75)
    return img


def degrade(
    img: npt.NDArray[np.float64], noise: float, streak: float, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    y, x = np.mgrid[0:SIZE, 0:SIZE] - (SIZE - 1) / 2
    theta = np.arctan2(y, x)
    views = int(rng.integers(8, 17))
    streaks = 0.15 * streak * np.cos(views * theta + rng.uniform(0, np.pi)) * (img > 0)
    out = img + streaks + rng.normal(0.0, 0.12 * noise, img.shape)
    return out.astype(np.float32)


def reader_score(noise: float, streak: float, rng: np.random.Generator) -> float:
    q = 4.0 - 2.2 * noise - 1.5 * streak
    votes = np.clip(np.round(q + rng.normal(0.0, 0.35, READERS)), 0, 4)
    return round(float(votes.mean()), 1)


def _put(zf: zipfile.ZipFile, name: str, data: bytes | str) -> None:
    """A member with a fixed timestamp, so the archive's bytes depend on the seed only."""
    info = zipfile.ZipInfo(name, date_time=(2023, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def _tiff(arr: npt.NDArray[np.float32]) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr)
    return buf.getvalue()


def _release(
    path: Path, folder: str, json_name: str, image_dir: str, suffix: str, n: int, rng: np.random.Generator
) -> None:
    scores: dict[str, float] = {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(n):
            name = f"{i:04d}{suffix}"
            noise, streak = rng.uniform(0, 1), rng.uniform(0, 1)
            _put(zf, f"{folder}/{image_dir}/{name}", _tiff(degrade(phantom(rng), noise, streak, rng)))
            scores[name] = reader_score(noise, streak, rng)
        _put(zf, f"{folder}/{json_name}", json.dumps(scores, indent=1))


def generate(raw_dir: Path, spec: ChallengeSpec, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    raw_dir.mkdir(parents=True, exist_ok=True)
    _release(
        raw_dir / "LDCTIQAG2023_train.zip", "LDCTIQAG2023_train", "train.json", "image", ".tif", N_TRAIN, rng
    )
    _release(raw_dir / "test_dataset.zip", "LDCTIQAC_test", "test.json", "images", ".tiff", N_TEST, rng)
    return raw_dir
