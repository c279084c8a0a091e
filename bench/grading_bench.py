"""Grading benchmark: ISLES'22 grading time and peak memory vs the time to merely load the files.

Scenarios (data generated once under bench/data/, fixed seed):
- ``isles22``: 12 cases at approximate real ISLES'22 DWI sizes (112x112x73, 192x192x64, 256x256x72).
- ``ct-large``: 2 cases of 512x512x300 (CT-sized) to show memory stays bounded by one case.

For each: ``load_s`` = the floor (best of 2, page cache warm), one process loading exactly what the grader reads (prediction
and ground-truth voxels, the test DWI header); ``grade_s`` with 1 and 2 workers; their ratios; and
peak RSS of a fresh process doing the grading (itself + its pool workers). Python imports in
that fresh process (nibabel, cc3d, the grader module) are start-up, timed apart as
``startup_imports_s``. Writes bench/results.json.
Run: ``make bench``.
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from rexmle.imaging import load_nifti

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SCENARIOS: dict[str, list[tuple[int, int, int]]] = {
    "isles22": [(112, 112, 73)] * 4 + [(192, 192, 64)] * 4 + [(256, 256, 72)] * 4,
    "ct-large": [(512, 512, 300)] * 2,
}


def _blobs(shape: tuple[int, int, int], rng: np.random.Generator, n: int) -> np.ndarray:
    m = np.zeros(shape, dtype=np.uint8)
    for _ in range(n):
        c = rng.uniform(0.2, 0.8, 3) * np.array(shape)
        r = rng.uniform(0.02, 0.06, 3) * np.array(shape)
        lo = np.maximum((c - r).astype(int), 0)
        hi = np.minimum((c + r).astype(int) + 1, shape)
        sl = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        grid = np.ogrid[sl]
        d = sum(((g - cc) / rr) ** 2 for g, cc, rr in zip(grid, c, r, strict=True))
        m[sl] |= (d <= 1).astype(np.uint8)
    return m


def generate(name: str) -> Path:
    root = DATA / name
    if (root / "done").exists():
        return root
    rng = np.random.default_rng(0)
    pub, priv, sub = root / "public", root / "private", root / "submission"
    for d in (pub / "test", priv / "test", sub / "predictions"):
        d.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, shape in enumerate(SCENARIOS[name]):
        cid = f"case{i:03d}"
        aff = np.diag([1.0, 1.0, 2.0, 1.0])
        gt = _blobs(shape, rng, 6)
        pred = gt.copy()
        pred[:, : shape[1] // 2] = 0  # loses some lesions
        pred |= _blobs(shape, rng, 3)  # adds false positives
        dwi = (rng.normal(100, 10, shape) + 80 * gt).astype(np.float32)
        nib.save(nib.Nifti1Image(dwi, aff), str(pub / "test" / f"{cid}_dwi.nii.gz"))
        nib.save(nib.Nifti1Image(gt, aff), str(priv / "test" / f"{cid}_msk.nii.gz"))
        nib.save(nib.Nifti1Image(pred, aff), str(sub / "predictions" / f"{cid}_pred.nii.gz"))
        rows.append(cid)
    with (pub / "test.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case_id", "dwi", "adc", "flair"])
        w.writerows([[c, f"test/{c}_dwi.nii.gz", "", ""] for c in rows])
    with (sub / "submission.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case_id", "predicted_mask_path"])
        w.writerows([[c, f"predictions/{c}_pred.nii.gz"] for c in rows])
    (root / "done").write_text("")
    return root


def load_floor(root: Path) -> float:
    t0 = time.perf_counter()
    for p in sorted((root / "submission" / "predictions").glob("*.nii.gz")):
        cid = p.name.removesuffix("_pred.nii.gz")
        np.asanyarray(load_nifti(p).dataobj)
        np.asanyarray(load_nifti(root / "private" / "test" / f"{cid}_msk.nii.gz").dataobj)
        load_nifti(root / "public" / "test" / f"{cid}_dwi.nii.gz").header  # noqa: B018
    return time.perf_counter() - t0


def _grade_child(root: str, workers: int, out: Any) -> None:
    t_import = time.perf_counter()
    from rexmle import challenge, grading

    ch = challenge.get("isles22")
    ch.module("grade")  # imports (nibabel, cc3d, the grader) are start-up, reported apart
    import_s = time.perf_counter() - t_import
    r = Path(root)
    t0 = time.perf_counter()
    rep = grading.grade(ch, r / "submission", r / "public", r / "private", workers=workers)
    dt = time.perf_counter() - t0
    t1 = time.perf_counter()  # steady state: a second grading in the same process (as in a sweep)
    grading.grade(ch, r / "submission", r / "public", r / "private", workers=workers)
    warm = time.perf_counter() - t1
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    out.send(
        {
            "import_s": import_s,
            "seconds": dt,
            "warm_seconds": warm,
            "valid": rep.valid,
            "reason": rep.reason,
            "metrics": rep.metrics,
            "rss_self_mib": own,
            "rss_max_worker_mib": kids,
        }
    )


def grade_in_fresh_process(root: Path, workers: int) -> dict[str, Any]:
    # fork, as the CLI's pool does on Linux (a spawned child would make its pool spawn too and
    # charge every worker's imports to grading); the child still starts with fresh rusage.
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    p = ctx.Process(target=_grade_child, args=(str(root), workers, b))
    p.start()
    res: dict[str, Any] = a.recv()
    p.join()
    return res


def main() -> None:
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
        "pool_start_method": mp.get_start_method(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "scenarios": {},
    }
    for name, shapes in SCENARIOS.items():
        root = generate(name)
        load_floor(root)  # warm the page cache so both sides read from memory
        load_s = min(load_floor(root) for _ in range(2))
        g1 = grade_in_fresh_process(root, 1)
        g2 = grade_in_fresh_process(root, 2)
        assert g1["valid"] and g2["valid"], (g1["reason"], g2["reason"])
        one_case = max(int(np.prod(s)) * 2 for s in shapes) / 2**20  # pred + gt as 1 byte/voxel
        results["scenarios"][name] = {
            "n_cases": len(shapes),
            "shapes": sorted({"x".join(map(str, s)) for s in shapes}),
            "load_s": round(load_s, 3),
            "grade_s_workers1": round(g1["seconds"], 3),
            "grade_s_workers2": round(g2["seconds"], 3),
            "ratio_workers1_to_load": round(g1["seconds"] / load_s, 3),
            "ratio_workers2_to_load": round(g2["seconds"] / load_s, 3),
            "grade_s_workers2_warm": round(g2["warm_seconds"], 3),
            "ratio_workers2_warm_to_load": round(g2["warm_seconds"] / load_s, 3),
            "peak_rss_mib_workers1": round(g1["rss_self_mib"], 1),
            "peak_rss_mib_workers2": {
                "parent": round(g2["rss_self_mib"], 1),
                "max_worker": round(g2["rss_max_worker_mib"], 1),
            },
            "one_case_mib": round(one_case, 1),
            "startup_imports_s": round(g2["import_s"], 3),
            "metrics": g2["metrics"],
        }
        s = results["scenarios"][name]
        print(
            f"{name:9s} {s['n_cases']:3d} cases  load {s['load_s']:.2f}s  grade w1 {s['grade_s_workers1']:.2f}s "
            f"(x{s['ratio_workers1_to_load']:.2f})  w2 {s['grade_s_workers2']:.2f}s (x{s['ratio_workers2_to_load']:.2f}; "
            f"warm {s['grade_s_workers2_warm']:.2f}s x{s['ratio_workers2_warm_to_load']:.2f})  "
            f"peak RSS w1 {s['peak_rss_mib_workers1']:.0f} MiB, w2 worker {s['peak_rss_mib_workers2']['max_worker']:.0f} MiB "
            f"(one case {s['one_case_mib']:.0f} MiB)"
        )
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {HERE / 'results.json'}")


if __name__ == "__main__":
    main()
