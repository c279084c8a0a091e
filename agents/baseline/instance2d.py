"""Baseline for 2-D cell instance segmentation (NeurIPS Cell Seg): a pixel classifier + watershed.

No LLM, no GPU. Every image becomes grayscale (the mean of its colour channels), normalised by
its median (the background) and its 0.5-99.5 percentile range. Each pixel gets 12 features:
the normalised intensity and its absolute value, smoothed at three scales, and the gradient
magnitude and Laplacian at those scales (absolute values work for bright-on-dark and
dark-on-bright modalities alike). A random forest is fitted on pixels sampled from the training
images against three classes taken from the instance labels: background, cell interior and cell
boundary (the outermost pixel ring of each cell, which separates touching cells).

Prediction: the interior probability's connected blobs are the markers, and a watershed on the
inverted interior probability, restricted to pixels not classed as background, grows them into
cells. Objects smaller than a fifth of the smallest typical training cell are dropped. Very large
images are classified in 1024 x 1024 tiles (with a margin for the filters), and tiles with no
signal (a flat image) are skipped as background, which keeps whole-slide images cheap. Training
reads every training image (or the first ``max_train_images``: work done, not wall-clock time;
the deadline only cuts reading short, loudly: work.py); big training images contribute a
1024 x 1024 window around one of their cells.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries, watershed
from sklearn.ensemble import RandomForestClassifier
from split import load_sample, load_split
from work import Guard, threads, train_images

Image.MAX_IMAGE_PIXELS = None
SIGMAS = (1.0, 2.0, 4.0)
TILE, MARGIN = 1024, 16
SAMPLES_PER_IMAGE = 6000
SEED = 0


def read_gray(path: Path) -> np.ndarray:
    """Any of the release's formats as a 2-D float32 image (colour channels averaged)."""
    if path.suffix.lower() in (".tif", ".tiff"):
        arr = np.asarray(tifffile.imread(path))
    else:
        with Image.open(path) as im:
            arr = np.asarray(im)
    arr = np.squeeze(arr).astype(np.float32)
    if arr.ndim == 3:
        axis = 0 if arr.shape[0] in (2, 3, 4) and arr.shape[-1] not in (2, 3, 4) else -1
        arr = arr.mean(axis=axis)
    if arr.ndim != 2:
        raise ValueError(f"{path.name}: cannot read shape {arr.shape} as a 2-D image")
    return arr


def normalise(img: np.ndarray) -> np.ndarray:
    step = max(1, int(np.sqrt(img.size / 1e6)))
    sample = img[::step, ::step]
    lo, med, hi = np.percentile(sample, (0.5, 50, 99.5))
    return (img - med) / max(float(hi - lo), 1e-6)


def features(norm: np.ndarray) -> np.ndarray:
    """(pixels, 12) float32 features of a normalised image."""
    out = []
    for s in SIGMAS:
        g = ndi.gaussian_filter(norm, s)
        out += [g, np.abs(g), ndi.gaussian_gradient_magnitude(norm, s), ndi.gaussian_laplace(norm, s)]
    return np.stack(out, axis=-1).reshape(-1, len(out)).astype(np.float32)


def classes(labels: np.ndarray) -> np.ndarray:
    """0 background, 1 interior, 2 boundary of a cell."""
    out = (labels > 0).astype(np.uint8)
    out[find_boundaries(labels, mode="inner") & (labels > 0)] = 2
    return out


def read_labels(path: Path) -> np.ndarray:
    return np.squeeze(np.asarray(tifffile.imread(path))).astype(np.int64)


def fit(data: Path, train: list[dict[str, str]], guard: Guard) -> tuple[RandomForestClassifier, float]:
    rng = np.random.default_rng(SEED)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    areas: list[float] = []
    rows = train_images(train)
    for n, row in enumerate(rows):
        if xs and guard.out_of_time():
            guard.cut("baseline", n, len(rows), "training images")
            break
        img = read_gray(data / row["image_path"])
        lab = read_labels(data / row["label_path"])
        if lab.shape != img.shape:
            continue
        if img.size > 4 * TILE * TILE:  # a big image: learn from a window around one of its cells
            cells = np.flatnonzero(lab.ravel() > 0)
            cy, cx = np.unravel_index(rng.choice(cells), lab.shape) if cells.size else (0, 0)
            y0 = int(np.clip(cy - TILE // 2, 0, lab.shape[0] - TILE))
            x0 = int(np.clip(cx - TILE // 2, 0, lab.shape[1] - TILE))
            img, lab = img[y0 : y0 + TILE, x0 : x0 + TILE], lab[y0 : y0 + TILE, x0 : x0 + TILE]
        sizes = np.bincount(lab.ravel())[1:]
        areas += list(sizes[sizes > 0])
        # half the samples anywhere, half inside cells (cells can be rare)
        idx = rng.choice(lab.size, SAMPLES_PER_IMAGE // 2)
        inside = np.flatnonzero(lab.ravel() > 0)
        if inside.size:
            idx = np.concatenate([idx, rng.choice(inside, SAMPLES_PER_IMAGE // 2)])
        xs.append(features(normalise(img))[idx])
        ys.append(classes(lab).ravel()[idx])
    model = RandomForestClassifier(
        n_estimators=20, max_depth=12, min_samples_leaf=5, n_jobs=threads(), random_state=SEED
    )
    model.fit(np.concatenate(xs), np.concatenate(ys))
    min_area = 0.2 * float(np.percentile(areas, 10)) if areas else 10.0
    return model, min_area


def probabilities(model: RandomForestClassifier, img: np.ndarray) -> np.ndarray:
    """(H, W, 3) class probabilities; big images tile by tile, flat tiles left as background."""
    norm = normalise(img)
    h, w = norm.shape
    prob = np.zeros((h, w, 3), dtype=np.float32)
    prob[..., 0] = 1.0
    if h * w <= 4 * TILE * TILE:
        prob[:] = model.predict_proba(features(norm)).reshape(h, w, -1)
        return prob
    for y in range(0, h, TILE):
        for x in range(0, w, TILE):
            y0, x0 = max(0, y - MARGIN), max(0, x - MARGIN)
            y1, x1 = min(h, y + TILE + MARGIN), min(w, x + TILE + MARGIN)
            tile = norm[y0:y1, x0:x1]
            if float(tile.max() - tile.min()) < 0.05:
                continue
            p = model.predict_proba(features(tile)).reshape(y1 - y0, x1 - x0, -1)
            ty, tx = min(TILE, h - y), min(TILE, w - x)
            prob[y : y + ty, x : x + tx] = p[y - y0 : y - y0 + ty, x - x0 : x - x0 + tx]
    return prob


def segment(prob: np.ndarray, min_area: float) -> np.ndarray:
    fg = prob[..., 0] < 0.5
    markers, _ = ndi.label(ndi.binary_opening(prob[..., 1] > 0.5, iterations=1))
    if markers.max() == 0:
        return np.zeros(fg.shape, dtype=np.int32)
    labels = watershed(-prob[..., 1], markers, mask=fg)
    sizes = np.bincount(labels.ravel())
    small = np.flatnonzero(sizes < min_area)
    labels[np.isin(labels, small[small > 0])] = 0
    return labels.astype(np.int32)


def _sample_paths(data: Path) -> dict[str, str]:
    return {r["image_id"]: r["predicted_mask_path"] for r in load_sample(data).rows}


def main() -> None:
    data, out, train, test = load_split()
    start = time.time()
    model, min_area = fit(data, train, Guard(reserve_share=0.6))
    print(
        f"baseline: fitted a pixel random forest on {len(train)} images in {time.time() - start:.1f}s",
        flush=True,
    )
    paths = _sample_paths(data)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[list[Any]] = []
    for row in test:
        case = row["image_id"]
        img = read_gray(data / row["image_path"])
        shape = (int(row["height"]), int(row["width"])) if row.get("height") else img.shape
        labels = (
            segment(probabilities(model, img), min_area) if img.shape == shape else np.zeros(shape, np.int32)
        )
        rel = paths.get(case, f"predictions/{case}_label.tiff")
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(out / rel, labels, compression="zlib")
        rows.append([case, rel])
        print(f"baseline: {case} {shape[0]}x{shape[1]}: {int(labels.max())} cells", flush=True)
    with (out / "submission.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "predicted_mask_path"])
        w.writerows(rows)
