"""Full-size vessel grading: one TopCoW-sized CTA case (300x512x512, 13 vessel labels + background)
through the TopCoW task-1 grader itself (``SegmentationGrader.check_case`` then ``score_case``, as
the grading pool runs them: reading and validating the prediction against the test image's grid,
reading the ground truth, per-class Dice, HD95 and Betti-0 over the union class set, clDice,
Group-2 detection, the variant edges of both maps and the topology matching with the flip test),
next to the time it takes merely to load the two label maps.

The case is generated once under ``bench/data/vessels/`` (fixed seed): tortuous tubes of radius
1-3 voxels around the image centre, as in a CoW crop of a head CTA, saved as uint8 NIfTI (gzip)
with 0.45 x 0.45 x 0.6 mm spacing. The prediction is the ground truth shifted by one voxel, with
one Group-2 artery missing, one vessel broken in two and a stray blob of another label far from
the vessels (which stretches that label's box across the volume).

Both measurements run in fresh processes (forkserver, see grading_bench.in_fresh_process), so the
reported ``ru_maxrss`` is that of one case: ``load_s`` is SimpleITK reading both files to arrays
(median of 3 after a warm pass); ``grade_s`` is load plus scoring; ``score_s`` scoring alone.

Run: ``.venv/bin/python bench/vessel_bench.py`` (or ``make bench``); writes the ``vessels`` entry.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from grading_bench import in_fresh_process, maxrss_mib
from results_file import header, save_entry

DATA = Path(__file__).parent / "data" / "vessels"
SHAPE = (300, 512, 512)  # z, y, x as SimpleITK arrays
SPACING_XYZ = (0.45, 0.45, 0.6)
LABELS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15)
SEED = 7
META = {"shape": SHAPE, "spacing": SPACING_XYZ, "labels": LABELS, "seed": SEED, "version": 2}
CASE = "topcow_ct_001"


def _tube(vol: np.ndarray, label: int, rng: np.random.Generator, length: int, radius: int) -> None:
    centre = np.array(SHAPE) // 2
    pos = centre + rng.integers(-40, 40, 3) * np.array([1, 2, 2])
    direction = rng.normal(size=3)
    r = radius
    for _ in range(length):
        direction = direction / np.linalg.norm(direction) + rng.normal(scale=0.15, size=3)
        pos = np.clip(pos + direction / np.linalg.norm(direction), r, np.array(SHAPE) - r - 1)
        z, y, x = pos.astype(int)
        vol[z - r : z + r + 1, y - r : y + r + 1, x - r : x + r + 1] = label


def generate() -> Path:
    meta_path = DATA / "meta.json"
    if meta_path.is_file() and json.loads(meta_path.read_text()) == json.loads(json.dumps(META)):
        return DATA
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    gt = np.zeros(SHAPE, dtype=np.uint8)
    for label in LABELS:
        small = label in (8, 9, 10, 15)  # communicating arteries: short and thin
        _tube(gt, label, rng, length=40 if small else 160, radius=1 if small else 2 + int(rng.integers(0, 2)))
    pred = np.roll(gt, 1, axis=2)
    pred[pred == 9] = 0  # a missing Group-2 artery
    zs = np.nonzero(pred == 1)[0]
    cut = int(np.median(zs))
    pred[cut - 2 : cut + 2][pred[cut - 2 : cut + 2] == 1] = 0  # the basilar artery broken in two
    pred[10:14, 10:14, 10:14] = 8  # a stray R-Pcom blob in a corner
    # the grader's layout: the test image (only its header is read), the private label map
    for name, arr in (("gt", gt), ("pred", pred)):
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing(SPACING_XYZ)
        sitk.WriteImage(img, str(DATA / f"{name}.nii.gz"), useCompression=True)
    for rel in (f"public/test/images/{CASE}_0000.nii.gz", f"private/test/labels/{CASE}.nii.gz"):
        (DATA / rel).parent.mkdir(parents=True, exist_ok=True)
        (DATA / rel).unlink(missing_ok=True)
        (DATA / rel).hardlink_to(DATA / "gt.nii.gz")
    meta_path.write_text(json.dumps(META))
    return DATA


def _load(root: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    gt = sitk.ReadImage(str(root / "gt.nii.gz"))
    pred = sitk.ReadImage(str(root / "pred.nii.gz"))
    spacing_zyx = tuple(reversed(gt.GetSpacing()))
    return sitk.GetArrayFromImage(pred), sitk.GetArrayFromImage(gt), spacing_zyx


def _load_in_child(root: str) -> dict[str, Any]:
    _load(Path(root))
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        _load(Path(root))
        times.append(time.perf_counter() - t0)
    return {"load_s": statistics.median(times), "rss_mib": maxrss_mib()}


def _grade_in_child(root: str) -> dict[str, Any]:
    from rexmle.challenges._topcow.grading import SEGMENTATION as grader

    base = Path(root)
    before = maxrss_mib()
    t0 = time.perf_counter()
    pred = grader.check_case(CASE, {"predicted_mask_path": base / "pred.nii.gz"}, base / "public")
    t1 = time.perf_counter()
    row = grader.score_case(CASE, pred, base / "private")
    t2 = time.perf_counter()
    return {
        "grade_s": t2 - t0,
        "check_s": t1 - t0,
        "score_s": t2 - t1,
        "rss_before_mib": before,
        "rss_mib": maxrss_mib(),
        "metrics": row,
    }


def main() -> None:
    root = generate()
    load = in_fresh_process("loading", _load_in_child, str(root))
    runs = [in_fresh_process("grading", _grade_in_child, str(root)) for _ in range(3)]
    best = min(runs, key=lambda r: r["grade_s"])
    entry = {
        **header(),
        "case": {"shape_zyx": SHAPE, "labels": len(LABELS) + 1, "spacing_xyz_mm": SPACING_XYZ},
        "load_s": round(load["load_s"], 3),
        "grade_s_median": round(statistics.median(r["grade_s"] for r in runs), 3),
        "check_s_median": round(statistics.median(r["check_s"] for r in runs), 3),
        "score_s_median": round(statistics.median(r["score_s"] for r in runs), 3),
        "peak_rss_mib": round(max(r["rss_mib"] for r in runs), 1),
        "load_only_peak_rss_mib": round(load["rss_mib"], 1),
        "rss_after_imports_mib": round(best["rss_before_mib"], 1),
        "metrics": best["metrics"],
        "targets": {"grade_s": 4.0, "peak_rss_mib": 1024},
    }
    save_entry("vessels", entry)
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
