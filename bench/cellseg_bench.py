"""NeurIPS-CellSeg grading speed: 100 microscopy-sized images (1000 x 1000, ~300 cells each)
through the challenge's grader itself (``check_case`` then ``score_case``, as the grading pool
runs them: reading and validating the predicted TIFF against ``test.csv``, reading the ground
truth, the cell F1 at five IoU thresholds), next to the time it takes merely to load the two
TIFFs of each image.

The data are generated once under ``bench/data/cellseg/`` (fixed seed) with the challenge's own
synthetic cell drawing (touching disks clipped against each other): uint16 ground truth; the
prediction is the ground truth shifted by one pixel with 10 % of the cells missing, 5 % merged
into a neighbour's label, 5 % split in two and 30 small false-positive blobs.

Both measurements run in fresh processes (forkserver, see grading_bench.in_fresh_process), so the
reported ``ru_maxrss`` is that of grading: ``load_s_per_image`` is tifffile reading both files
(median over images, after a warm pass); ``grade_s_per_image`` is check + score per image
(median, and the total over the 100 images).

Run: ``.venv/bin/python bench/cellseg_bench.py`` (or ``make bench``); writes the ``cellseg`` entry.
"""

from __future__ import annotations

import csv
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from grading_bench import in_fresh_process, maxrss_mib
from results_file import header, save_entry

DATA = Path(__file__).parent / "data" / "cellseg"
N_IMAGES, SHAPE, N_CELLS = 100, (1000, 1000), 300
SEED = 11
META = {"n": N_IMAGES, "shape": SHAPE, "cells": N_CELLS, "seed": SEED, "version": 1}
CID = "neurips-cellseg"


def _challenge_module(name: str):  # type: ignore[no-untyped-def]
    from rexmle import challenge

    return challenge.get(CID).module(name)  # type: ignore[arg-type]


def _aggregate(rows: list[dict[str, float]]) -> dict[str, float]:
    """The submission's metrics as the harness computes them (challenge.yaml's aggregations)."""
    from rexmle import challenge, grading

    return grading.aggregate(challenge.get(CID).spec.metrics, rows, {})


def perturb(rng: np.random.Generator, gt: np.ndarray, draw_cells) -> np.ndarray:  # type: ignore[no-untyped-def]
    n = int(gt.max())
    ids = rng.permutation(np.arange(1, n + 1))
    k = n // 20
    lut = np.arange(n + 1, dtype=np.int32)
    lut[ids[: 2 * k]] = 0  # 10 % missing
    lut[ids[2 * k : 3 * k]] = ids[3 * k : 4 * k]  # 5 % take another cell's label (merged)
    pred = lut[np.roll(gt, (1, 1), axis=(0, 1))]
    # 5 % split: the upper half of each (rows above its centroid) becomes a new cell
    split = ids[4 * k : 5 * k]
    rows = np.arange(gt.shape[0])[:, None]
    counts = np.bincount(pred.ravel(), minlength=n + 1)
    row_sums = np.bincount(pred.ravel(), weights=np.broadcast_to(rows, gt.shape).ravel(), minlength=n + 1)
    centre = row_sums / np.maximum(counts, 1)
    upper = np.isin(pred, split) & (rows < centre[pred])
    pred = np.where(upper, pred + n, pred)
    blobs = draw_cells(rng, gt.shape, 30, 3, 6)
    return np.where((pred == 0) & (blobs > 0), blobs + 2 * n, pred).astype(np.uint16)


def generate() -> Path:
    meta_path = DATA / "meta.json"
    if meta_path.is_file() and json.loads(meta_path.read_text()) == json.loads(json.dumps(META)):
        return DATA
    draw_cells = _challenge_module("synthetic").draw_cells
    rng = np.random.default_rng(SEED)
    for d in ("public", "private/test/labels", "submission/predictions"):
        (DATA / d).mkdir(parents=True, exist_ok=True)
    with (DATA / "public" / "test.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "image_path", "height", "width"])
        for i in range(N_IMAGES):
            case = f"cell_{i + 1:05d}"
            gt = draw_cells(rng, SHAPE, N_CELLS, 12, 24).astype(np.uint16)
            tifffile.imwrite(DATA / "private" / "test" / "labels" / f"{case}_label.tiff", gt)
            pred = perturb(rng, gt, draw_cells)
            tifffile.imwrite(DATA / "submission" / "predictions" / f"{case}_label.tiff", pred)
            w.writerow([case, f"test/images/{case}.tif", *SHAPE])
    meta_path.write_text(json.dumps(META))
    return DATA


def _cases(root: Path) -> list[str]:
    with (root / "public" / "test.csv").open() as f:
        return [r["image_id"] for r in csv.DictReader(f)]


def _load_in_child(root: str) -> dict[str, Any]:
    base = Path(root)
    cases = _cases(base)
    times = []
    for warm in (True, False):
        for c in cases:
            t0 = time.perf_counter()
            tifffile.imread(base / "submission" / "predictions" / f"{c}_label.tiff")
            tifffile.imread(base / "private" / "test" / "labels" / f"{c}_label.tiff")
            if not warm:
                times.append(time.perf_counter() - t0)
    return {"load_s": statistics.median(times), "rss_mib": maxrss_mib()}


def _grade_in_child(root: str) -> dict[str, Any]:
    grader = _challenge_module("grade")
    base = Path(root)
    before = maxrss_mib()
    times, checks, rows = [], [], []
    for c in _cases(base):
        t0 = time.perf_counter()
        pred = grader.check_case(
            c,
            {"predicted_mask_path": base / "submission" / "predictions" / f"{c}_label.tiff"},
            base / "public",
        )
        t1 = time.perf_counter()
        rows.append(grader.score_case(c, pred, base / "private"))
        t2 = time.perf_counter()
        times.append(t2 - t0)
        checks.append(t1 - t0)
    return {
        "grade_s": statistics.median(times),
        "check_s": statistics.median(checks),
        "total_s": sum(times),
        "rss_before_mib": before,
        "rss_mib": maxrss_mib(),
        "metrics": _aggregate(rows),
    }


def main() -> None:
    root = generate()
    load = in_fresh_process("loading", _load_in_child, str(root))
    runs = [in_fresh_process("grading", _grade_in_child, str(root)) for _ in range(2)]
    best = min(runs, key=lambda r: r["grade_s"])
    entry = {
        **header(),
        "case": {"images": N_IMAGES, "shape": SHAPE, "cells_per_image": N_CELLS},
        "load_s_per_image": round(load["load_s"], 4),
        "grade_s_per_image": round(best["grade_s"], 4),
        "check_s_per_image": round(best["check_s"], 4),
        "score_s_per_image": round(best["grade_s"] - best["check_s"], 4),
        "grade_s_total": round(best["total_s"], 2),
        "peak_rss_mib": round(max(r["rss_mib"] for r in runs), 1),
        "load_only_peak_rss_mib": round(load["rss_mib"], 1),
        "rss_after_imports_mib": round(best["rss_before_mib"], 1),
        "metrics": {k: round(v, 4) for k, v in best["metrics"].items()},
        "targets": {"score_s_per_image": 0.05},
    }
    save_entry("cellseg", entry)
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
