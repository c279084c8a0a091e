"""ISLES'22 grading benchmark: wall time and peak memory of ``rexmle.grading.grade`` against the
time it takes merely to load the files the grader reads.

Scenarios (generated once under ``bench/data/``, fixed seed, reused while their ``meta.json``
matches this script's generation parameters):

- ``isles22``: 12 cases at approximate sizes of the real multi-centre ISLES'22 DWI volumes
  (112x112x73, 192x192x64 and 256x256x72, four of each, interleaved);
- ``ct-large``: 2 cases of 512x512x300 (CT-sized), to show that peak memory is bounded by one case
  per worker, not by the test set.

Each case is written in the prepared layout: ``public/test.csv`` + ``public/test/<id>_dwi.nii.gz``
(float32), ``private/test/<id>_msk.nii.gz`` (uint8, several ellipsoid lesions) and
``submission/submission.csv`` + ``submission/predictions/<id>_pred.nii.gz`` (uint8; shifted and
resized copies of most lesions, some missed, some false positives), all on one affine.

Measured in one run, per scenario:

- ``load_s``: the floor. One fresh process (made like the grading ones below) loads, sequentially,
  for every case: prediction and ground-truth voxels (``np.asanyarray(nib.load(p).dataobj)``) and
  the DWI header. One untimed pass warms the page cache (for the gradings too) and the allocator;
  the median of five passes. A fresh process, because the floor depends on the allocator's state:
  in a process that has freed large arrays before (this one, after generating data) glibc keeps
  buffers on its heap and the small ``isles22`` cases load about twice as fast.
- ``grade_s_workers{1,2}``: wall time of the first ``grade(..., workers=N)`` call in a fresh
  process (``forkserver`` child: it starts from a small, clean process, so its ``ru_maxrss`` is
  its own). Imports (rexmle, nibabel, cc3d, the grader module) happen before the clock starts
  and are reported as ``startup_s``; ``grade_s_workers{N}_warm`` is a second call in that process.
  The pool inside uses the default start method (``fork`` on Linux, as the CLI does).
- ``peak_rss_mib_workers{N}``: in that fresh process, after the first call,
  ``getrusage(RUSAGE_SELF).ru_maxrss`` (``parent``) and ``getrusage(RUSAGE_CHILDREN).ru_maxrss``
  (``max_child``: the largest pool worker; 0 with one worker, which grades in-process);
  ``before_grade`` is the parent's peak after imports, before grading.
- ``one_case_mib``: the largest case's prediction + ground truth at one byte per voxel.

Run: ``.venv/bin/python bench/grading_bench.py`` (or ``make bench``); writes ``bench/results.json``.
``--profile`` additionally prints a cProfile of ``grade(..., workers=1)`` per scenario.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import json
import multiprocessing as mp
import os
import platform
import pstats
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import nibabel as nib
import numpy as np
import numpy.typing as npt

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "results.json"
CHALLENGE = "isles22"
SEED = 2022
LOAD_PASSES = 5
GEN_VERSION = 2  # bump whenever generation changes: cached data of another version is regenerated

Shape = tuple[int, int, int]
Spacing = tuple[float, float, float]

# Approximate DWI grids of the ISLES'22 centres (shape, voxel spacing in mm); spacings are
# assumptions that only affect the absolute volume difference.
ISLES_GRIDS: list[tuple[Shape, Spacing]] = [
    ((112, 112, 73), (2.0, 2.0, 2.0)),
    ((192, 192, 64), (1.2, 1.2, 2.2)),
    ((256, 256, 72), (0.9, 0.9, 2.0)),
]
SCENARIOS: dict[str, list[tuple[Shape, Spacing]]] = {
    "isles22": [ISLES_GRIDS[i % 3] for i in range(12)],
    "ct-large": [((512, 512, 300), (0.45, 0.45, 0.5))] * 2,
}


# --- synthetic data ----------------------------------------------------------------------


def _affine(shape: Shape, spacing: Spacing) -> npt.NDArray[np.float64]:
    """RAS affine with the given spacing, centred on the volume."""
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = [-(n - 1) * s / 2 for n, s in zip(shape, spacing, strict=True)]
    return aff


def _paint_ellipsoid(
    mask: npt.NDArray[np.uint8], centre: npt.NDArray[np.float64], radii: npt.NDArray[np.float64]
) -> None:
    """Set the voxels of one axis-aligned ellipsoid to 1, in place, touching only its bounding box."""
    lo = np.maximum(np.floor(centre - radii).astype(int), 0)
    hi = np.minimum(np.ceil(centre + radii).astype(int) + 1, mask.shape)
    if np.any(hi <= lo):
        return
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    grids = np.ogrid[box]
    dist = sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii, strict=True))
    mask[box][np.asarray(dist) <= 1.0] = 1


def _case_masks(
    shape: Shape, spacing: Spacing, rng: np.random.Generator
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Ground truth with 3-7 lesions; a prediction that finds ~75% of them, misplaced and
    resized (partial overlap), plus 1-2 false positives."""
    dims, mm = np.array(shape, dtype=float), np.array(spacing)
    gt = np.zeros(shape, dtype=np.uint8)
    pred = np.zeros(shape, dtype=np.uint8)
    for _ in range(int(rng.integers(3, 8))):
        centre = rng.uniform(0.2, 0.8, 3) * dims
        radii = np.maximum(rng.uniform(2.0, 14.0) * rng.uniform(0.7, 1.3, 3) / mm, 1.0)  # 2-14 mm
        _paint_ellipsoid(gt, centre, radii)
        if rng.random() < 0.75:
            _paint_ellipsoid(pred, centre + rng.normal(0.0, 0.4, 3) * radii, radii * rng.uniform(0.6, 1.4, 3))
    for _ in range(int(rng.integers(1, 3))):
        radii = np.maximum(rng.uniform(2.0, 8.0) * rng.uniform(0.7, 1.3, 3) / mm, 1.0)
        _paint_ellipsoid(pred, rng.uniform(0.2, 0.8, 3) * dims, radii)
    return gt, pred


def _dwi(shape: Shape, gt: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """A DWI-like float32 volume: noisy head ellipsoid on a zero background, bright lesions.
    Built slab by slab so a CT-sized volume needs no float64 temporaries."""
    out = np.zeros(shape, dtype=np.float32)
    c = (np.array(shape, dtype=np.float32) - 1) / 2
    r = np.array(shape, dtype=np.float32) * 0.45
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    inplane = ((yy - c[0]) / r[0]) ** 2 + ((xx - c[1]) / r[1]) ** 2
    for z in range(shape[2]):
        head = inplane + ((z - c[2]) / r[2]) ** 2 <= 1.0
        n = int(head.sum())
        if n:
            vals = 400.0 + 40.0 * rng.standard_normal(n, dtype=np.float32)
            out[:, :, z][head] = np.round(vals)
    out += 300.0 * gt  # float32 += uint8 -> float32
    return out


def _save(data: npt.NDArray[Any], affine: npt.NDArray[np.float64], path: Path) -> None:
    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    nib.save(img, str(path))


def generate(name: str) -> Path:
    """Write (or reuse) one scenario's public/private/submission folders under bench/data/<name>."""
    grids = SCENARIOS[name]
    meta = {"version": GEN_VERSION, "seed": SEED, "grids": [[list(s), list(sp)] for s, sp in grids]}
    root = DATA / name
    meta_path = root / "meta.json"
    if meta_path.is_file() and json.loads(meta_path.read_text()) == meta:
        return root
    print(f"generating {name} ({len(grids)} cases) under {root} ...", flush=True)
    t0 = time.perf_counter()
    tmp = DATA / f"{name}.tmp"
    for stale in (tmp, root):
        if stale.exists():
            shutil.rmtree(stale)
    pub, priv, sub = tmp / "public", tmp / "private", tmp / "submission"
    for d in (pub / "test", priv / "test", sub / "predictions"):
        d.mkdir(parents=True)
    rng = np.random.default_rng([SEED, list(SCENARIOS).index(name)])
    ids = [f"case{i:03d}" for i in range(len(grids))]
    for cid, (shape, spacing) in zip(ids, grids, strict=True):
        affine = _affine(shape, spacing)
        gt, pred = _case_masks(shape, spacing, rng)
        _save(_dwi(shape, gt, rng), affine, pub / "test" / f"{cid}_dwi.nii.gz")
        _save(gt, affine, priv / "test" / f"{cid}_msk.nii.gz")
        _save(pred, affine, sub / "predictions" / f"{cid}_pred.nii.gz")
        del gt, pred
    # adc/flair are listed as prepare writes them but not generated: grading never reads them.
    with (pub / "test.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case_id", "dwi", "adc", "flair"])
        w.writerows(
            [c, f"test/{c}_dwi.nii.gz", f"test/{c}_adc.nii.gz", f"test/{c}_flair.nii.gz"] for c in ids
        )
    with (sub / "submission.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case_id", "predicted_mask_path"])
        w.writerows([c, f"predictions/{c}_pred.nii.gz"] for c in ids)
    (tmp / "meta.json").write_text(json.dumps(meta) + "\n")
    tmp.rename(root)
    print(f"  done in {time.perf_counter() - t0:.1f}s", flush=True)
    return root


def case_ids(root: Path) -> list[str]:
    with (root / "public" / "test.csv").open(newline="") as f:
        return [row["case_id"] for row in csv.DictReader(f)]


# --- measurements ------------------------------------------------------------------------


def _nib_load(path: Path) -> nib.Nifti1Image:
    return cast(nib.Nifti1Image, nib.load(path))  # nibabel's stubs return the base class


def load_floor(root: Path, ids: list[str]) -> float:
    """Seconds to load what the grader reads, sequentially in this process."""
    t0 = time.perf_counter()
    for cid in ids:
        pred = np.asanyarray(_nib_load(root / "submission" / "predictions" / f"{cid}_pred.nii.gz").dataobj)
        gt = np.asanyarray(_nib_load(root / "private" / "test" / f"{cid}_msk.nii.gz").dataobj)
        header = _nib_load(root / "public" / "test" / f"{cid}_dwi.nii.gz").header
        del pred, gt, header
    return time.perf_counter() - t0


def maxrss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory of this process (or of its largest reaped child), in MiB."""
    kib = resource.getrusage(who).ru_maxrss  # KiB on Linux, bytes on macOS
    return kib / 2**20 if sys.platform == "darwin" else kib / 1024


def _grade_in_child(root: str, workers: int, start_method: str) -> dict[str, Any]:
    """Runs in a fresh process: imports, one timed grading (peak RSS read right after), one warm."""
    # A multiprocessing child takes its own start method (forkserver) as the default; give
    # the grader's pool the default a plain process (the CLI) gets, or its workers would be
    # forkserver's children, not ours, and RUSAGE_CHILDREN would not see them.
    mp.set_start_method(start_method, force=True)
    t0 = time.perf_counter()
    from rexmle import challenge, grading

    ch = challenge.get(CHALLENGE)
    ch.module("grade")
    startup_s = time.perf_counter() - t0
    before = maxrss_mib(resource.RUSAGE_SELF)
    r = Path(root)
    t0 = time.perf_counter()
    report = grading.grade(ch, r / "submission", r / "public", r / "private", workers=workers)
    seconds = time.perf_counter() - t0
    parent = maxrss_mib(resource.RUSAGE_SELF)
    max_child = maxrss_mib(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    warm = grading.grade(ch, r / "submission", r / "public", r / "private", workers=workers)
    warm_s = time.perf_counter() - t0
    return {
        "startup_s": startup_s,
        "seconds": seconds,
        "warm_seconds": warm_s,
        "valid": report.valid and warm.valid,
        "reason": report.reason or warm.reason,
        "n_cases": report.n_cases,
        "metrics": report.metrics,
        "rss_before_mib": before,
        "rss_parent_mib": parent,
        "rss_max_child_mib": max_child,
        "pool_start_method": mp.get_start_method(),
    }


def _load_in_child(root: str, passes: int) -> dict[str, Any]:
    """Runs in a fresh process: one untimed pass (page cache, allocator), then ``passes`` timed."""
    r = Path(root)
    ids = case_ids(r)
    load_floor(r, ids)
    return {"passes_s": [load_floor(r, ids) for _ in range(passes)]}


def _child(target: Callable[..., dict[str, Any]], args: tuple[Any, ...], conn: Connection) -> None:
    """The fresh process: send ``target(*args)`` back, or the one-line error that stopped it."""
    try:
        conn.send(target(*args))
    except BaseException as exc:
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        conn.close()


def in_fresh_process(what: str, target: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``target(*args)`` in a fresh process and return the dict it returns.

    forkserver: children fork from a small server process, so ru_maxrss starts near zero and
    the allocator state is that of a new process, whatever this one did before (generation).
    spawn or subprocess would not do: on Linux exec keeps the parent's peak RSS in the
    child's ru_maxrss, and this process has held whole CT volumes."""
    ctx = mp.get_context("forkserver")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(target, args, send))
    proc.start()
    send.close()
    try:
        res: dict[str, Any] = recv.recv()
    except EOFError:
        res = {"error": "process died without a result"}
    proc.join()
    if "error" in res:
        raise RuntimeError(f"{what} failed: {res['error']}")
    return res


def grade_in_fresh_process(root: Path, workers: int) -> dict[str, Any]:
    what = f"grading {root.name} with {workers} worker(s)"
    res = in_fresh_process(what, _grade_in_child, str(root), workers, mp.get_start_method())
    if not res["valid"]:
        raise RuntimeError(f"{what}: invalid submission: {res['reason']}")
    return res


def profile_grading(root: Path, top: int = 15) -> str:
    """cProfile of one in-process grade(workers=1) (imports done first); top functions by own time."""
    from rexmle import challenge, grading

    ch = challenge.get(CHALLENGE)
    ch.module("grade")
    prof = cProfile.Profile()
    prof.enable()
    grading.grade(ch, root / "submission", root / "public", root / "private", workers=1)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def run_scenario(name: str) -> dict[str, Any]:
    grids = SCENARIOS[name]
    root = generate(name)
    ids = case_ids(root)
    # First, so that its untimed pass also warms the page cache: both sides read from memory.
    load = in_fresh_process(f"loading {name}", _load_in_child, str(root), LOAD_PASSES)
    load_s = statistics.median(load["passes_s"])
    g = {w: grade_in_fresh_process(root, w) for w in (1, 2)}
    one_case = max(2 * int(np.prod(shape)) for shape, _ in grids) / 2**20
    out: dict[str, Any] = {
        "n_cases": len(ids),
        "shapes": sorted({"x".join(map(str, s)) for s, _ in grids}),
        "load_s": round(load_s, 3),
    }
    for w in (1, 2):
        out[f"grade_s_workers{w}"] = round(g[w]["seconds"], 3)
    for w in (1, 2):
        out[f"ratio_workers{w}_to_load"] = round(g[w]["seconds"] / load_s, 2)
    for w in (1, 2):
        out[f"grade_s_workers{w}_warm"] = round(g[w]["warm_seconds"], 3)
        out[f"ratio_workers{w}_warm_to_load"] = round(g[w]["warm_seconds"] / load_s, 2)
    for w in (1, 2):
        out[f"peak_rss_mib_workers{w}"] = {
            "parent": round(g[w]["rss_parent_mib"], 1),
            "max_child": round(g[w]["rss_max_child_mib"], 1),
            "before_grade": round(g[w]["rss_before_mib"], 1),
        }
    out["one_case_mib"] = round(one_case, 1)
    out["startup_s"] = round(statistics.median(g[w]["startup_s"] for w in (1, 2)), 3)
    out["pool_start_method"] = g[2]["pool_start_method"]
    if g[1]["metrics"] != g[2]["metrics"]:
        raise RuntimeError(
            f"{name}: metrics differ between 1 and 2 workers: {g[1]['metrics']} {g[2]['metrics']}"
        )
    out["metrics"] = g[1]["metrics"]
    return out


def summary_line(name: str, s: dict[str, Any]) -> str:
    p1, p2 = s["peak_rss_mib_workers1"], s["peak_rss_mib_workers2"]
    return (
        f"{name:9s} {s['n_cases']:2d} cases | load {s['load_s']:.2f}s | "
        f"grade w1 {s['grade_s_workers1']:.2f}s (x{s['ratio_workers1_to_load']:.2f}) "
        f"w2 {s['grade_s_workers2']:.2f}s (x{s['ratio_workers2_to_load']:.2f}) | "
        f"peak RSS w1 {p1['parent']:.0f} MiB (before {p1['before_grade']:.0f}), "
        f"w2 parent {p2['parent']:.0f} + worker {p2['max_child']:.0f} MiB | one case {s['one_case_mib']:.0f} MiB | "
        f"dice {s['metrics']['dice']:.3f} lesion_f1 {s['metrics']['lesion_f1']:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument(
        "--scenario", action="append", choices=list(SCENARIOS), help="run only these (repeatable)"
    )
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of grade(workers=1)")
    args = ap.parse_args(argv)
    names: list[str] = args.scenario or list(SCENARIOS)

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([])  # keep the server tiny; each child imports what it needs
    t_start = time.perf_counter()
    results: dict[str, Any] = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "numpy": np.__version__,
            "nibabel": nib.__version__,
        },
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "scenarios": {},
    }
    for name in names:
        results["scenarios"][name] = run_scenario(name)
        print(summary_line(name, results["scenarios"][name]), flush=True)
        if args.profile:
            print(profile_grading(DATA / name), flush=True)
    results["total_wall_s"] = round(time.perf_counter() - t_start, 1)
    if RESULTS.is_file():  # keep the other benchmarks' entries
        results = {**json.loads(RESULTS.read_text()), **results}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS} ({results['total_wall_s']}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
