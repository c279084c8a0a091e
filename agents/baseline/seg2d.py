"""2-D multi-class semantic segmentation baseline (PUMA tissue, RAVIR): a scikit-learn per-pixel
classifier on colour/texture features, trained on downsampled images. No GPU, no LLM.

Interface (what a challenge must provide so this baseline works on it):

- ``REXMLE_DATA_DIR/train.csv`` with columns ``image_id, image_path, label_path`` (paths relative
  to the data folder), and ``test.csv`` with ``image_id, image_path``.
- Images: any 2-D image file Pillow or tifffile reads (PNG, TIF/TIFF, JPG, BMP): grey, RGB or RGBA
  (alpha is dropped; a grey image is used as one channel).
- Labels, either
  - an image mask (PNG/TIF/...; the file's pixel values are the class ids, 0 = background; a
    multi-channel mask uses its first channel), same height/width as the image; or
  - a QuPath GeoJSON ``FeatureCollection`` (``.geojson``/``.json``): each feature's
    ``properties.classification.name`` is looked up in the class map and its Polygon/MultiPolygon
    is filled with that id (exterior filled, holes cut out, features in file order, later ones on
    top); names not in the map are skipped. The class map is ``REXMLE_DATA_DIR/class_map.json``
    (``{"name": id}``) when that file exists, else the built-in PUMA tissue map (``tissue_stroma``
    1, ``tissue_blood_vessel`` 2, ``tissue_tumor`` 3, ``tissue_epidermis`` 4, ``tissue_necrosis`` 5,
    ``tissue_white_background`` 0).
- ``REXMLE_DATA_DIR/sample_submission/submission.csv``: an id column (``image_id`` or
  ``case_id``) that names test images, and one column whose name starts with ``predicted_``
  holding each mask's path relative to the submission folder. The baseline writes
  ``REXMLE_SUBMISSION_DIR/submission.csv`` with the sample's columns and rows, and a mask at each
  row's path: the file's extension picks the format (``.png`` 8-bit grey via Pillow, ``.tif`` /
  ``.tiff`` via tifffile), uint8 (uint16 if a class id exceeds 255), the test image's height and
  width, values = the class ids seen in the training labels.

Method: every image is shrunk so its longer side is at most ``SIDE`` pixels (area-averaged; labels
by nearest neighbour), scikit-image's multiscale basic features (intensity, edges, texture at
sigmas 1-8 on each channel) are computed, a few hundred pixels per class are sampled from each
training image (so memory stays small), then up to ``PIXELS`` per class overall (class-balanced),
and a random forest is fitted. Test images are classified
at the same scale and the label map is enlarged back (nearest neighbour) to the image size.
Deterministic for a seed (``REXMLE_SEED``). Reads every training image (or the first
``max_train_images``): work done, not wall-clock time; the deadline only cuts reading short,
loudly, to keep time for the submission (work.py).
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image, ImageDraw
from skimage.feature import multiscale_basic_features
from sklearn.ensemble import RandomForestClassifier
from split import load_sample, load_split
from work import Guard, threads, train_images

SIDE = 256
PIXELS = 20000  # training pixels sampled per class, over all training images
PUMA_TISSUE = {
    "tissue_white_background": 0,
    "tissue_stroma": 1,
    "tissue_blood_vessel": 2,
    "tissue_tumor": 3,
    "tissue_epidermis": 4,
    "tissue_necrosis": 5,
}


def read_image(path: Path) -> np.ndarray:
    """(H, W, C) float32 in [0, 1]-ish; RGBA loses alpha."""
    if path.suffix.lower() in (".tif", ".tiff"):
        a = np.asarray(tifffile.imread(str(path)))
    else:
        a = np.asarray(Image.open(path))
    a = np.squeeze(a)
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
        a = np.moveaxis(a, 0, -1)  # channels first
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[-1] == 4:
        a = a[..., :3]
    a = a.astype(np.float32)
    return a / 255.0 if a.max() > 1.5 else a


def rasterise(path: Path, shape: tuple[int, int], class_map: dict[str, int]) -> np.ndarray:
    """A QuPath GeoJSON FeatureCollection as a label map (exteriors filled, holes cleared)."""
    obj = json.loads(path.read_text())
    features = obj.get("features", []) if isinstance(obj, dict) else obj
    canvas = Image.new("I", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(canvas)
    for feat in features:
        props = feat.get("properties") or {}
        cls = props.get("classification") or {}
        name = cls.get("name") if isinstance(cls, dict) else None
        if name not in class_map:
            continue
        value = int(class_map[name])
        geom = feat.get("geometry") or {}
        polys = (
            [geom.get("coordinates", [])] if geom.get("type") == "Polygon" else geom.get("coordinates", [])
        )
        if geom.get("type") not in ("Polygon", "MultiPolygon"):
            continue
        for poly in polys:
            if not poly:
                continue
            # holes: fill the exterior on a scratch layer, clear the holes, paste it on top
            layer = Image.new("1", canvas.size, 0)
            ld = ImageDraw.Draw(layer)
            ext = [(float(p[0]), float(p[1])) for p in poly[0]]
            if len(ext) >= 3:
                ld.polygon(ext, fill=1, outline=1)
            for hole in poly[1:]:
                pts = [(float(p[0]), float(p[1])) for p in hole]
                if len(pts) >= 3:
                    ld.polygon(pts, fill=0, outline=0)
            draw.bitmap((0, 0), layer, fill=value)
    return np.asarray(canvas, dtype=np.int64)


def read_label(path: Path, shape: tuple[int, int], class_map: dict[str, int]) -> np.ndarray:
    if path.suffix.lower() in (".geojson", ".json"):
        return rasterise(path, shape, class_map)
    if path.suffix.lower() in (".tif", ".tiff"):
        a = np.asarray(tifffile.imread(str(path)))
    else:
        a = np.asarray(Image.open(path))
    a = np.squeeze(a)
    if a.ndim == 3:
        a = a[..., 0] if a.shape[-1] <= 4 else a[0]
    return a.astype(np.int64)


def scale_for(shape: tuple[int, ...]) -> tuple[int, int]:
    h, w = shape[:2]
    f = min(1.0, SIDE / max(h, w))
    return max(1, round(h * f)), max(1, round(w * f))


def shrink(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if img.shape[:2] == size:
        return img
    chans = [
        np.asarray(Image.fromarray(img[..., c]).resize((size[1], size[0]), Image.Resampling.BOX))
        for c in range(img.shape[-1])
    ]
    return np.stack(chans, axis=-1)


def shrink_label(lab: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if lab.shape == size:
        return lab
    return np.asarray(
        Image.fromarray(lab.astype(np.int32)).resize((size[1], size[0]), Image.Resampling.NEAREST)
    )


def features(img: np.ndarray) -> np.ndarray:
    f = multiscale_basic_features(img, channel_axis=-1, sigma_min=1, sigma_max=8, num_sigma=4)
    return np.asarray(f, dtype=np.float32)


def write_mask(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = np.uint8 if mask.max(initial=0) <= 255 else np.uint16
    m = mask.astype(dtype)
    if path.suffix.lower() in (".tif", ".tiff"):
        tifffile.imwrite(str(path), m, compression="zlib")
    else:
        Image.fromarray(m).save(path)


def main() -> None:
    seed = int(os.environ.get("REXMLE_SEED", "0"))
    start = time.time()
    guard = Guard(reserve_share=0.5)  # fitting the forest and predicting come after reading
    rng = np.random.default_rng(seed)
    data, out, train, test = load_split()
    map_file = data / "class_map.json"
    class_map: dict[str, int] = json.loads(map_file.read_text()) if map_file.exists() else dict(PUMA_TISSUE)

    feats: list[np.ndarray] = []
    labs: list[np.ndarray] = []
    n_read = 0
    rows = train_images(train)
    for i, row in enumerate(rows):
        if i > 0 and guard.out_of_time():
            guard.cut("seg2d", i, len(rows), "training images")
            break
        img = read_image(data / row["image_path"])
        lab = read_label(data / row["label_path"], img.shape[:2], class_map)
        size = scale_for(img.shape)
        f = features(shrink(img, size))
        f = f.reshape(-1, f.shape[-1])
        y = shrink_label(lab, size).ravel()
        per = max(500, 4 * PIXELS // max(1, len(train)))  # per class and image: memory stays small
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            take = rng.choice(idx, size=min(per, idx.size), replace=False)
            feats.append(f[take])
            labs.append(y[take])
        n_read += 1
    x_all = np.concatenate(feats)
    y_all = np.concatenate(labs)
    classes = np.unique(y_all)
    pick = []
    for c in classes:
        idx = np.flatnonzero(y_all == c)
        pick.append(rng.choice(idx, size=min(PIXELS, idx.size), replace=False))
    sel = np.concatenate(pick)
    print(f"seg2d: {n_read} images, classes {classes.tolist()}, {sel.size} training pixels", flush=True)
    model: Any = RandomForestClassifier(
        n_estimators=50,
        max_depth=16,
        min_samples_leaf=2,
        n_jobs=threads(),
        random_state=seed,
    )
    model.fit(x_all[sel], y_all[sel])
    del x_all, y_all, feats, labs
    print(f"seg2d: fitted in {time.time() - start:.0f}s", flush=True)

    header, sample = load_sample(data)
    column = next(c for c in header if c.startswith("predicted_"))
    id_column = next(c for c in header if c in ("image_id", "case_id"))
    images = {row["image_id"]: row["image_path"] for row in test}
    for row in sample:
        img = read_image(data / images[row[id_column]])
        size = scale_for(img.shape)
        f = features(shrink(img, size))
        pred = model.predict(f.reshape(-1, f.shape[-1])).reshape(size)
        full = np.asarray(
            Image.fromarray(pred.astype(np.int32)).resize(
                (img.shape[1], img.shape[0]), Image.Resampling.NEAREST
            )
        )
        write_mask(out / row[column], full)
    with (out / "submission.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(sample)
    print(f"seg2d: wrote {len(sample)} masks to {out} in {time.time() - start:.0f}s", flush=True)
