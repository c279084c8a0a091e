"""3-D region-of-interest box baseline (TopCoW task 2): ridge regression from where the bright
voxels are to where the box is.

No LLM, no GPU, seconds of CPU. Each volume is summarised by the 2nd, 10th, 50th, 90th and 98th
percentiles of the voxel indices (per axis) of its brightest voxels (above the mean + 3 standard
deviations: contrast-filled vessels in an angiogram) and by its size. One ridge regression per
box corner coordinate (standardised features, lambda = 1) is fitted on the training boxes; the
predicted corners are rounded and clipped into the image. Boxes are in the release's convention:
``size`` and ``location`` (first voxel) in the image's (i, j, k) = ITK (x, y, z) index order.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from split import load_split

QUANTILES = (2, 10, 50, 90, 98)
LAMBDA = 1.0


def features(path: Path) -> tuple[np.ndarray, tuple[int, ...]]:
    img: Any = nib.load(str(path))
    x = np.asarray(img.dataobj, dtype=np.float32)
    idx = np.nonzero(x > x.mean() + 3 * x.std())
    if not idx[0].size:
        idx = np.nonzero(x >= x.max())
    f = [np.percentile(a, QUANTILES) for a in idx]
    return np.concatenate([*f, np.asarray(x.shape, dtype=np.float64)]), tuple(int(n) for n in x.shape)


def read_box(path: Path) -> np.ndarray:
    """The release's ROI text: line 2 ``Size (Voxels): sx sy sz``, line 3 the location."""
    lines = path.read_text().splitlines()
    size, loc = ([int(v) for v in re.findall(r"\b\d+\b", lines[i])] for i in (1, 2))
    return np.array([*loc, *(lo + s - 1 for lo, s in zip(loc, size, strict=True))], dtype=np.float64)


def main() -> None:
    data, out, train, test = load_split()
    X = np.stack([features(data / r["image_path"])[0] for r in train])
    Y = np.stack([read_box(data / r["label_path"]) for r in train])
    mu, sd = X.mean(axis=0), X.std(axis=0) + 1e-6
    Z = (X - mu) / sd
    W = np.linalg.solve(Z.T @ Z + LAMBDA * np.eye(Z.shape[1]), Z.T @ (Y - Y.mean(axis=0)))
    print(f"baseline: fitted box corners on {len(train)} volumes ({X.shape[1]} features)", flush=True)
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    with (out / "submission.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "modality", "predicted_bbox_path"])
        for r in test:
            feats, shape = features(data / r["image_path"])
            corners = ((feats - mu) / sd) @ W + Y.mean(axis=0)
            lo = [int(np.clip(round(v), 0, n - 1)) for v, n in zip(corners[:3], shape, strict=True)]
            hi = [int(np.clip(round(v), a, n - 1)) for v, a, n in zip(corners[3:], lo, shape, strict=True)]
            box = {"size": [h - a + 1 for a, h in zip(lo, hi, strict=True)], "location": lo}
            rel = f"predictions/{r['image_id']}_bbox.json"
            (out / rel).write_text(json.dumps(box) + "\n")
            w.writerow([r["image_id"], r["modality"], rel])
    print(f"baseline: wrote {len(test)} boxes", flush=True)
