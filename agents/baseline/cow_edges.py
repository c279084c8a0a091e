"""Baseline for Circle of Willis variant classification (TopCoW task 3): one linear classifier per edge.

No LLM, no GPU, seconds of CPU. Every volume becomes a coarse vessel map: voxels brighter than
the volume's mean + 3 standard deviations, averaged over 2x2x2 blocks. For each of the eight
edges a ridge-regression classifier (solved in its dual form, since there are far fewer cases
than features; lambda = 0.1) is fitted on the centred training maps against the 0/1 labels,
and an edge is predicted present when the score reaches 0.5. It learns which places in the
volume tell each edge apart and nothing else: the floor a learning agent should clear.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from split import load_split

REGIONS = {"anterior": ("L-A1", "Acom", "3rd-A2", "R-A1"), "posterior": ("L-Pcom", "L-P1", "R-P1", "R-Pcom")}
POOL = 2
LAMBDA = 0.1


def vessel_map(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    img: Any = nib.load(str(path))
    x = np.asarray(img.dataobj, dtype=np.float32)
    mask = (x > x.mean() + 3 * x.std()).astype(np.float32)
    if mask.shape != shape:  # another grid: compare on the common corner
        out = np.zeros(shape, dtype=np.float32)
        common = tuple(slice(0, min(a, b)) for a, b in zip(mask.shape, shape, strict=True))
        out[common] = mask[common]
        mask = out
    m = np.pad(mask, [(0, (-n) % POOL) for n in mask.shape])
    s = m.shape
    return m.reshape(s[0] // POOL, POOL, s[1] // POOL, POOL, s[2] // POOL, POOL).mean(axis=(1, 3, 5)).ravel()


def read_edges(path: Path) -> dict[str, dict[str, int]]:
    """The release's two-level YAML (``anterior:`` then ``  L-A1: 1`` lines), without a YAML library."""
    out: dict[str, dict[str, int]] = {}
    region = None
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, value = line.strip().partition(":")
        if not line.startswith((" ", "\t")):
            region = key.strip()
            out[region] = {}
            if value.strip().startswith("{"):  # flow style: anterior: {L-A1: 1, ...}
                for item in value.strip().strip("{}").split(","):
                    k, _, v = item.partition(":")
                    out[region][k.strip()] = int(v)
        elif region is not None:
            out[region][key.strip()] = int(value)
    return out


def main() -> None:
    data, out, train, test = load_split()
    first: Any = nib.load(str(data / train[0]["image_path"]))
    shape = tuple(first.shape[:3])
    X = np.stack([vessel_map(data / r["image_path"], shape) for r in train])
    mean = X.mean(axis=0)
    Xc = X - mean
    # dual ridge: w = Xc^T (Xc Xc^T + lambda I)^-1 (y - mean(y))
    dual = np.linalg.solve(Xc @ Xc.T + LAMBDA * np.eye(len(X)), np.eye(len(X)))
    labels = [read_edges(data / r["label_path"]) for r in train]
    weights: dict[tuple[str, str], tuple[np.ndarray, float]] = {}
    for region, edges in REGIONS.items():
        for e in edges:
            y = np.array([lab[region][e] for lab in labels], dtype=np.float64)
            weights[(region, e)] = (Xc.T @ (dual @ (y - y.mean())), float(y.mean()))
    print(f"baseline: fitted 8 edge classifiers on {len(train)} volumes ({X.shape[1]} features)", flush=True)
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    with (out / "submission.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "modality", "predicted_edges_path"])
        for r in test:
            x = vessel_map(data / r["image_path"], shape) - mean
            pred = {
                region: {e: int(x @ weights[(region, e)][0] + weights[(region, e)][1] >= 0.5) for e in edges}
                for region, edges in REGIONS.items()
            }
            rel = f"predictions/{r['image_id']}_edges.json"
            (out / rel).write_text(json.dumps(pred, indent=1) + "\n")
            w.writerow([r["image_id"], r["modality"], rel])
    print(f"baseline: wrote {len(test)} edge lists", flush=True)
