"""A synthetic NeurIPS-CellSeg release in the download's form: ``Training-labeled.zip`` holding
``Training-labeled/images/cell_NNNNN.<bmp|png|tif|tiff|jpg>`` and
``Training-labeled/labels/cell_NNNNN_label.tiff``, and ``Tuning.zip`` holding ``Tuning/images/``
and ``Tuning/labels/`` numbered from ``cell_00001`` again (the real stems collide too).

Images mix the real formats and modalities: grayscale fluorescence (bright cells on a dark
background) as uint8 ``.tif`` / uint16 ``.tiff``, and RGB brightfield (dark, tinted cells on a
bright background) as ``.png``, ``.bmp`` and ``.jpg``. Cells are disks clipped against their
neighbours (a Voronoi partition, so many touch), brighter at the centre; seeds are uniform over
the image, so some cells touch the border (the grader ignores those). Labels are uint16 instance
maps (one per archive int32). 14 Training and 2 Tuning images, so the reference's split
(computed here with prepare's own function) puts in the test set: one 5000 x 5000 image (25e6
pixels, the grader's tiling rule; mostly empty background with four clusters of cells, two of
them across the 2000-pixel tile lines; zlib-compressed TIFFs so the archives stay small), a
Tuning image whose stem clashes with a Training one (``cell_00001``), and an RGB ``.png``, a
``.jpg`` and a 16-bit ``.tiff``. Deterministic for a seed.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tifffile
from PIL import Image
from scipy import ndimage as ndi

from rexmle.challenge_api import ChallengeSpec, sibling_module

N_TRAINING, N_TUNING = 14, 2
FORMATS = (".tif", ".png", ".tiff", ".bmp", ".jpg", ".png")
#: formats of the test images other than the large one (in id order), so the test set mixes them
TEST_FORMATS = (".png", ".jpg", ".tiff", ".bmp")
LARGE_SHAPE = (5000, 5000)


def _prepare_module() -> Any:
    return sibling_module(__file__, "prepare")


def draw_cells(
    rng: np.random.Generator, shape: tuple[int, int], n: int, rmin: float, rmax: float
) -> npt.NDArray[np.int32]:
    """``n`` touching cells: pixels within each seed's radius, split between seeds by nearness."""
    seeds = np.zeros(shape, dtype=np.int32)
    ys, xs = rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)
    seeds[ys, xs] = np.arange(1, n + 1)
    dist, (iy, ix) = ndi.distance_transform_edt(seeds == 0, return_indices=True)
    near = seeds[iy, ix]
    radius = rng.uniform(rmin, rmax, n + 1)
    labels = np.where(dist <= radius[near], near, 0).astype(np.int32)
    # renumber 1..k (a seed overwritten by a later one at the same pixel leaves a gap)
    present = np.unique(labels)
    lut = np.zeros(n + 1, dtype=np.int32)
    lut[present] = np.arange(present.size)
    return lut[labels]


def render(
    rng: np.random.Generator, labels: npt.NDArray[np.int32], rgb: bool, noise: float = 6.0
) -> npt.NDArray[np.float64]:
    """Intensity in [0, 255]: bright cells on dark (fluorescence) or dark tinted cells on bright (RGB)."""
    fg = labels > 0
    # brighter towards each cell's centre, dimmer at the boundaries between touching cells
    inner = ndi.distance_transform_edt(np.pad(labels, 1, constant_values=0) > 0)[1:-1, 1:-1]
    edges = ndi.morphological_gradient(labels, size=3) > 0
    profile = np.clip(inner / 6.0, 0.0, 1.0)
    profile[edges & fg] *= 0.4
    gain = rng.uniform(0.7, 1.0, int(labels.max()) + 1)[labels]
    if not rgb:
        img = 20.0 + fg * (60.0 + 140.0 * profile * gain)
        return np.clip(img + rng.normal(0.0, noise, labels.shape) * (noise > 0), 0, 255)
    tint = np.array([0.55, 0.35, 0.6])
    bg = np.array([215.0, 205.0, 195.0])
    img = bg - (fg * (50.0 + 120.0 * profile * gain))[..., None] * tint[None, None, :] * 1.6
    return np.clip(img + rng.normal(0.0, noise, (*labels.shape, 3)), 0, 255)


def _encode_image(img: npt.NDArray[np.float64], suffix: str) -> bytes:
    buf = io.BytesIO()
    if suffix == ".tiff":  # 16-bit grayscale
        tifffile.imwrite(buf, (img * 256).astype(np.uint16))
    elif suffix == ".tif":
        tifffile.imwrite(buf, img.astype(np.uint8), compression="zlib")
    else:
        fmt = {".png": "PNG", ".bmp": "BMP", ".jpg": "JPEG"}[suffix]
        kwargs: dict[str, Any] = {"quality": 95} if fmt == "JPEG" else {}
        Image.fromarray(img.astype(np.uint8)).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _encode_label(labels: npt.NDArray[np.int32], dtype: type) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, labels.astype(dtype), compression="zlib" if labels.size > 4_000_000 else None)
    return buf.getvalue()


def large_case(rng: np.random.Generator) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """5000 x 5000 with four 500 x 500 clusters of cells (two across tile lines), rest empty."""
    labels = np.zeros(LARGE_SHAPE, dtype=np.int32)
    image = np.full(LARGE_SHAPE, 20.0)
    for cy, cx in ((2000, 2000), (800, 3600), (3900, 1000), (4000, 4000)):
        patch = draw_cells(rng, (500, 500), 90, 14, 22)
        y0, x0 = cy - 250, cx - 250
        patch = np.where(patch > 0, patch + int(labels.max()), 0)
        labels[y0 : y0 + 500, x0 : x0 + 500] = patch
        image[y0 : y0 + 500, x0 : x0 + 500] = render(rng, patch, rgb=False, noise=0.0)
    return labels, image


def generate(raw_dir: Path, spec: ChallengeSpec, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    raw_dir.mkdir(parents=True, exist_ok=True)
    prep = _prepare_module()
    plan: list[list[tuple[str, str]]] = [
        [(f"cell_{k:05d}", FORMATS[(k - 1) % len(FORMATS)]) for k in range(1, N_TRAINING + 1)],
        [(f"cell_{k:05d}", FORMATS[(k + 2) % len(FORMATS)]) for k in range(1, N_TUNING + 1)],
    ]
    # the first test image of a Training stem is the large one: the split decides which that is
    pairs = [prep.Pair(s, stem, stem + sfx, "", None) for s, items in enumerate(plan) for stem, sfx in items]
    _, test = prep.split_pairs(pairs, spec.split.test_fraction, spec.split.seed)
    large = next(p.stem for p in test if p.source == 0)
    fmt = {(0, large): ".tif"}
    others = [(p.source, p.stem) for p in test if (p.source, p.stem) != (0, large)]
    fmt.update(zip(others, TEST_FORMATS[: len(others)], strict=True))
    plan = [[(stem, fmt.get((s, stem), sfx)) for stem, sfx in items] for s, items in enumerate(plan)]
    for (archive, folder, _), items in zip(prep.SOURCES, plan, strict=True):
        with zipfile.ZipFile(raw_dir / archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for k, (stem, sfx) in enumerate(items):
                if folder == "Training-labeled" and stem == large:
                    labels, image = large_case(rng)
                else:
                    shape = (int(rng.integers(180, 260)), int(rng.integers(200, 300)))
                    labels = draw_cells(rng, shape, int(rng.integers(14, 26)), 9, 16)
                    image = render(rng, labels, rgb=sfx in (".png", ".bmp", ".jpg"))
                zf.writestr(f"{folder}/images/{stem}{sfx}", _encode_image(image, sfx))
                dtype = np.int32 if k == 1 else np.uint16
                zf.writestr(f"{folder}/labels/{stem}_label.tiff", _encode_label(labels, dtype))
    return raw_dir / prep.SOURCES[0][0]
