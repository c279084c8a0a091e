"""Nuclei detection and classification baseline (PUMA task 2 of both tracks): a per-pixel
nucleus/background random forest, connected components, and a per-nucleus class random forest.
No GPU, no LLM.

Interface:

- ``REXMLE_DATA_DIR/train.csv`` (``image_id, image_path, label_path``): H&E ROIs (TIF, RGB or
  RGBA) and QuPath GeoJSON nuclei (one Polygon/MultiPolygon feature per nucleus, class in
  ``properties.classification.name``); ``test.csv`` (``image_id, image_path``).
- ``REXMLE_DATA_DIR/nuclei_classes.json``: ``{"classes": [...graded names...], "label_map":
  {release name: graded name}}`` (track 1 merges the release's ten classes into three); without
  it the release names are used as they are.
- ``sample_submission/submission.csv``: ``image_id`` and one ``predicted_*`` column with each
  JSON's path. Writes that CSV to ``REXMLE_SUBMISSION_DIR`` and, at each path, the organisers'
  "Multiple polygons" JSON: ``{"type": "Multiple polygons", "polygons": [{"name", "path_points",
  "score"}, ...]}``.

Method: training nuclei are rasterised (exteriors) into a foreground mask and an instance map.
Pixels: scikit-image multiscale features (sigmas 1-4) on RGB, a class-balanced sample, a random
forest for nucleus vs background. Nuclei: per training instance, colour statistics and size; a
random forest over the graded classes. At test time the foreground is predicted, opened, split
into connected components (small ones dropped), each component classified (the class
probability is the score) and written as an 8-point polygon around its centroid (radius from its
area), so the polygon's mean point is the component's centroid.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from seg2d import read_image
from skimage.feature import multiscale_basic_features
from sklearn.ensemble import RandomForestClassifier
from split import load_sample, load_split
from work import Guard, threads, train_images

PIXELS = 30000  # per class (nucleus / background)


def pixel_features(img: np.ndarray) -> np.ndarray:
    f = multiscale_basic_features(img, channel_axis=-1, sigma_min=1, sigma_max=4, num_sigma=3, texture=False)
    return np.asarray(f, dtype=np.float32)


def instances(path: Path, shape: tuple[int, int], label_map: dict[str, str]) -> tuple[np.ndarray, list[str]]:
    """Instance map (0 background, k+1 the k-th nucleus) and each nucleus's graded class."""
    obj = json.loads(path.read_text())
    feats = obj.get("features", []) if isinstance(obj, dict) else obj
    canvas = Image.new("I", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(canvas)
    names: list[str] = []
    for feat in feats:
        cls = ((feat.get("properties") or {}).get("classification") or {}).get("name")
        if cls not in label_map:
            continue
        geom = feat.get("geometry") or {}
        parts = [geom.get("coordinates")] if geom.get("type") == "Polygon" else geom.get("coordinates") or []
        rings = [
            [(float(p[0]), float(p[1])) for p in part[0]] for part in parts if part and len(part[0]) >= 3
        ]
        if not rings:
            continue
        names.append(label_map[cls])
        for ring in rings:
            draw.polygon(ring, fill=len(names), outline=len(names))
    return np.asarray(canvas, dtype=np.int64), names


def object_features(img: np.ndarray, inst: np.ndarray, n: int) -> np.ndarray:
    """Per instance 1..n: mean and std of each channel, and log area."""
    idx = np.arange(1, n + 1)
    cols = []
    for c in range(img.shape[-1]):
        ch = img[..., c]
        cols.append(ndimage.mean(ch, inst, idx))
        cols.append(ndimage.standard_deviation(ch, inst, idx))
    area = ndimage.sum(np.ones_like(inst), inst, idx)
    cols.append(np.log1p(area))
    return np.nan_to_num(np.stack(cols, axis=1).astype(np.float32))


def polygon(cx: float, cy: float, area: float) -> list[list[float]]:
    r = max(1.0, float(np.sqrt(area / np.pi)))
    t = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    return [[cx + r * float(np.cos(a)), cy + r * float(np.sin(a))] for a in t]


def main() -> None:
    seed = int(os.environ.get("REXMLE_SEED", "0"))
    start = time.time()
    guard = Guard(reserve_share=0.5)  # fitting two forests and predicting come after reading
    cpus = threads()
    rng = np.random.default_rng(seed)
    data, out, train, test = load_split()
    info_file = data / "nuclei_classes.json"
    label_map: dict[str, str] = json.loads(info_file.read_text())["label_map"] if info_file.exists() else {}

    px_x, px_y, obj_x, obj_y, areas = [], [], [], [], []
    rows = train_images(train)
    for i, row in enumerate(rows):
        if i > 0 and guard.out_of_time():
            guard.cut("nuclei2d", i, len(rows), "training images")
            break
        img = read_image(data / row["image_path"])
        if not label_map:  # no class file: the release's names as they are
            obj = json.loads((data / row["label_path"]).read_text())
            for feat in obj.get("features", []):
                name = ((feat.get("properties") or {}).get("classification") or {}).get("name")
                if isinstance(name, str):
                    label_map[name] = name
        inst, names = instances(data / row["label_path"], img.shape[:2], label_map)
        f = pixel_features(img)
        fg = inst > 0
        for mask in (fg, ~fg):
            idx = np.flatnonzero(mask.ravel())
            take = rng.choice(idx, size=min(idx.size, PIXELS // max(1, len(train))), replace=False)
            px_x.append(f.reshape(-1, f.shape[-1])[take])
            px_y.append(mask.ravel()[take] if mask is fg else np.zeros(take.size, bool))
        if names:
            obj_x.append(object_features(img, inst, len(names)))
            obj_y.extend(names)
            areas.extend(np.bincount(inst.ravel())[1:].tolist())
    pixel_model: Any = RandomForestClassifier(n_estimators=40, max_depth=14, n_jobs=cpus, random_state=seed)
    pixel_model.fit(np.concatenate(px_x), np.concatenate(px_y))
    class_model: Any = RandomForestClassifier(
        n_estimators=100, min_samples_leaf=1, n_jobs=cpus, random_state=seed
    )
    class_model.fit(np.concatenate(obj_x), np.asarray(obj_y))
    min_area = max(3.0, 0.3 * float(np.percentile(areas, 5))) if areas else 3.0
    print(
        f"nuclei2d: {len(obj_y)} training nuclei, classes {sorted(set(obj_y))}, min area {min_area:.1f}",
        flush=True,
    )

    header, sample = load_sample(data)
    column = next(c for c in header if c.startswith("predicted_"))
    id_column = next(c for c in header if c in ("image_id", "case_id"))
    images = {row["image_id"]: row["image_path"] for row in test}
    for row in sample:
        img = read_image(data / images[row[id_column]])
        f = pixel_features(img)
        fg = pixel_model.predict(f.reshape(-1, f.shape[-1])).reshape(img.shape[:2]).astype(bool)
        fg = ndimage.binary_opening(fg, iterations=1)
        lab, n = ndimage.label(fg)
        polys = []
        if n:
            area = np.bincount(lab.ravel(), minlength=n + 1)[1:].astype(np.float64)
            keep = np.flatnonzero(area >= min_area) + 1
            if keep.size:
                remap = np.zeros(n + 1, dtype=np.int64)
                remap[keep] = np.arange(1, keep.size + 1)
                lab = remap[lab]
                feats = object_features(img, lab, keep.size)
                proba = class_model.predict_proba(feats)
                centres = ndimage.center_of_mass(np.ones_like(lab), lab, np.arange(1, keep.size + 1))
                for k, (cy, cx) in enumerate(centres):
                    j = int(np.argmax(proba[k]))
                    polys.append({
                        "name": str(class_model.classes_[j]),
                        "path_points": polygon(float(cx), float(cy), float(area[keep[k] - 1])),
                        "score": float(proba[k, j]),
                    })  # fmt: skip
        dst = out / row[column]
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(json.dumps({"type": "Multiple polygons", "polygons": polys}))
    with (out / "submission.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(sample)
    print(f"nuclei2d: wrote {len(sample)} JSON files to {out} in {time.time() - start:.0f}s", flush=True)
