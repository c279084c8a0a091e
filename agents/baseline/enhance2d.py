"""Paired 2-D image enhancement baseline (USenhance): a learned linear filter.

No LLM, no GPU, seconds of CPU. Each output pixel is a linear function of the 7 x 7
neighbourhood of the same pixel in the low-quality input (plus a bias), fitted by ridge
regression (lambda = 1e-3 per pixel sample, inputs scaled to [0, 1]) on pixels sampled from
every training pair: it learns the contrast mapping, a deblurring and a denoising kernel at
once. Pixels black in the input (outside the ultrasound fan) stay black. The predictions are
rounded to 8-bit grayscale PNGs of the input's size and written where the sample submission
puts them (its columns and paths).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image
from split import load_sample, load_split

K = 7
LAMBDA = 1e-3
SAMPLES_PER_IMAGE = 4000


def read_gray(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    with Image.open(path) as img:
        g = img.convert("L")
        if size is not None and g.size != size:
            g = g.resize(size, Image.Resampling.BILINEAR)
        return np.asarray(g, dtype=np.float64) / 255.0


def patches(x: np.ndarray) -> np.ndarray:
    """(H * W, K * K + 1): every pixel's K x K neighbourhood (reflected border) and a 1."""
    r = K // 2
    win = sliding_window_view(np.pad(x, r, mode="reflect"), (K, K)).reshape(-1, K * K)
    return np.hstack([win, np.ones((win.shape[0], 1))])


def main() -> None:
    data, out, train, test = load_split()
    rng = np.random.default_rng(int(os.environ.get("REXMLE_SEED", "0")))
    d = K * K + 1
    xtx, xty, n = np.zeros((d, d)), np.zeros(d), 0
    for row in train:
        low = read_gray(data / row["low_quality_path"])
        high = read_gray(data / row["high_quality_path"], (low.shape[1], low.shape[0]))
        X, y = patches(low), high.ravel()
        keep = np.flatnonzero(low.ravel() > 0)
        if keep.size > SAMPLES_PER_IMAGE:
            keep = rng.choice(keep, SAMPLES_PER_IMAGE, replace=False)
        xtx += X[keep].T @ X[keep]
        xty += X[keep].T @ y[keep]
        n += keep.size
    w = np.linalg.solve(xtx + LAMBDA * n * np.eye(d), xty)
    print(f"baseline: fitted a {K}x{K} linear filter on {n} pixels of {len(train)} pairs", flush=True)
    inputs = {r["image_id"]: r["low_quality_path"] for r in test}
    columns, sample = load_sample(data)
    path_col = next(c for c in columns if c != "image_id")
    out.mkdir(parents=True, exist_ok=True)
    with (out / "submission.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in sample:
            low = read_gray(data / inputs[row["image_id"]])
            pred = (patches(low) @ w).reshape(low.shape)
            pred[low == 0] = 0.0
            dst = out / row[path_col]
            dst.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.clip(np.round(pred * 255), 0, 255).astype(np.uint8), mode="L").save(dst)
            writer.writerow(row)
    print(f"baseline: wrote {len(sample)} enhanced images", flush=True)
