"""A synthetic RAVIR release in the download's form: ``RAVIR_Dataset.zip`` holding a folder
``RAVIR Dataset`` with ``train/training_images/IR_Case_NNN.png`` (8-bit grey), the matching
``train/training_masks/IR_Case_NNN.png`` (8-bit grey, 0 background / 128 artery / 255 vein) and
``test/IR_Case_NNN.png`` (unlabelled), under the real release's 23 training ids.

Each image is a small (128 x 128 instead of 768 x 768) infrared fundus: a bright optic disc,
a vignetted noisy background and vessel trees branching out of the disc: veins thick and dark,
arteries thin, less dark and with a bright central reflex, so a per-pixel classifier can tell
them apart. Edge case: the first held-out case (under the challenge's split) has arteries only,
so a prediction can hold a class its ground truth lacks. Deterministic for a seed.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw
from rexmle.challenges.ravir.prepare import ARCHIVE
from scipy.ndimage import gaussian_filter

from rexmle.challenge_api import ChallengeSpec, train_test_split_ids

SIDE = 128
ROOT = "RAVIR Dataset"
#: The real release's labelled training ids.
TRAIN_IDS = [
    f"IR_Case_{n:03d}"
    for n in (11, 17, 19, 20, 21, 22, 23, 26, 34, 35, 36, 38, 40, 41, 43, 44, 49, 51, 52, 53, 55, 56, 58)
]
TEST_IDS = ["IR_Case_006", "IR_Case_024", "IR_Case_060"]
ARTERY, VEIN = 128, 255


def _tree(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, start: tuple[float, float], width: int
) -> None:
    """Three to four vessels leaving the disc, each a smooth random walk with one branch."""
    for _ in range(int(rng.integers(3, 5))):
        x, y = start
        angle = rng.uniform(0, 2 * np.pi)
        pts = [(x, y)]
        for step in range(30):
            angle += rng.normal(0, 0.15)
            x, y = x + 4 * np.cos(angle), y + 4 * np.sin(angle)
            pts.append((x, y))
            if step == 12:
                bx, by, ba = x, y, angle + rng.choice([-0.8, 0.8])
                branch = [(bx, by)]
                for _ in range(15):
                    ba += rng.normal(0, 0.15)
                    bx, by = bx + 4 * np.cos(ba), by + 4 * np.sin(ba)
                    branch.append((bx, by))
                draw.line(branch, fill=1, width=max(1, width - 1))
        draw.line(pts, fill=1, width=width)


def draw_case(
    rng: np.random.Generator, veins: bool = True
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """(image, mask): uint8 grey image and the mask in the release's values (0/128/255)."""
    disc = (float(rng.uniform(30, 98)), float(rng.uniform(40, 88)))
    layers = {}
    for name, width, on in (("vein", 4, veins), ("artery", 2, True)):
        canvas = Image.new("L", (SIDE, SIDE), 0)
        if on:
            _tree(ImageDraw.Draw(canvas), rng, disc, width)
        layers[name] = np.asarray(canvas) > 0
    artery = layers["artery"]
    vein = layers["vein"] & ~artery  # arteries drawn over veins at crossings
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    r2 = ((xx - SIDE / 2) ** 2 + (yy - SIDE / 2) ** 2) / (SIDE / 2) ** 2
    img = 150 - 40 * r2 + 60 * np.exp(-((xx - disc[0]) ** 2 + (yy - disc[1]) ** 2) / 60.0)
    img = img + gaussian_filter(rng.normal(0, 12, (SIDE, SIDE)), 2)
    img[vein] = 45
    img[artery] = 95
    # the central light reflex along arteries
    core = gaussian_filter(artery.astype(float), 0.6) > 0.8
    img[core] = 120
    img = gaussian_filter(img, 0.7) + rng.normal(0, 4, (SIDE, SIDE))
    mask = np.zeros((SIDE, SIDE), dtype=np.uint8)
    mask[artery] = ARTERY
    mask[vein] = VEIN
    return np.clip(img, 0, 255).astype(np.uint8), mask


def _png(arr: npt.NDArray[np.uint8]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def generate(raw_dir: Path, spec: ChallengeSpec, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    raw_dir.mkdir(parents=True, exist_ok=True)
    _, held_out = train_test_split_ids(TRAIN_IDS, spec.split.test_fraction, spec.split.seed)
    no_vein = held_out[0]
    out = raw_dir / ARCHIVE
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for case in TRAIN_IDS:
            image, mask = draw_case(rng, veins=case != no_vein)
            zf.writestr(f"{ROOT}/train/training_images/{case}.png", _png(image))
            zf.writestr(f"{ROOT}/train/training_masks/{case}.png", _png(mask))
        for case in TEST_IDS:
            image, _ = draw_case(rng)
            zf.writestr(f"{ROOT}/test/{case}.png", _png(image))
    return out
