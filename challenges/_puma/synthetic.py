"""A synthetic PUMA training release in the real layout: the three zips
``01_training_dataset_tif_ROIs.zip`` (``01_training_dataset_tif_ROIs/<case>.tif``, RGBA uint8 TIFF),
``01_training_dataset_geojson_tissue.zip`` (``01_training_dataset_geojson_tissue/<case>_tissue.geojson``)
and ``01_training_dataset_geojson_nuclei.zip`` (``01_training_dataset_geojson_nuclei/<case>_nuclei.geojson``),
QuPath FeatureCollections with the release's class names in ``properties.classification.name``.

The ROIs are 256 x 256 instead of 1024 x 1024 (a 16th of the pixels); the tissue grader, like the
organisers', resizes ground truth and prediction to 1024 x 1024 (nearest neighbour) before
scoring, which for a 256 x 256 map is an exact 4 x 4 replication. Nuclei coordinates are in the
image's own pixels (15 px matching radius unchanged).

Each ROI is stroma with a tumour blob (some with a hole), an epidermis band, blood vessels (one
MultiPolygon feature), necrosis in some cases only, and a white-background corner; every tissue has
its own colour. About 50 nuclei per ROI, one colour and size per class, some stored as MultiPolygons.
Deterministic for a seed; the same 12 cases (6 primary, 6 metastatic) serve all four tasks.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from rexmle.challenges._puma.classes import NUCLEI_NAMES, TISSUE_IDS
from rexmle.challenges._puma.geometry import rasterise_tissue
from rexmle.challenges._puma.prepare import IMAGES, NUCLEI, TISSUE

SIZE = 256
N_CASES = 12
TISSUE_RGB = {
    "tissue_white_background": (244, 242, 246),
    "tissue_stroma": (232, 160, 200),
    "tissue_blood_vessel": (215, 55, 70),
    "tissue_tumor": (170, 110, 190),
    "tissue_epidermis": (205, 120, 160),
    "tissue_necrosis": (190, 185, 150),
}
#: class -> (RGB, radius in px)
NUCLEUS = {
    "nuclei_tumor": ((80, 30, 120), 6.0),
    "nuclei_lymphocyte": ((30, 15, 60), 3.0),
    "nuclei_plasma_cell": ((90, 20, 50), 4.0),
    "nuclei_histiocyte": ((120, 80, 150), 5.0),
    "nuclei_melanophage": ((110, 75, 20), 5.0),
    "nuclei_neutrophil": ((50, 60, 130), 3.5),
    "nuclei_stroma": ((140, 40, 110), 3.0),
    "nuclei_epithelium": ((60, 90, 150), 4.5),
    "nuclei_endothelium": ((150, 70, 60), 3.0),
    "nuclei_apoptosis": ((20, 70, 40), 2.5),
}
WEIGHTS = np.array([8, 5, 2, 2, 1, 1, 3, 2, 2, 1], dtype=np.float64)


def case_ids() -> list[str]:
    return [
        f"training_set_{kind}_roi_{k:03d}"
        for kind in ("primary", "metastatic")
        for k in range(1, N_CASES // 2 + 1)
    ]


def ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 24, phase: float = 0.0) -> list[list[float]]:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False) + phase
    ring = [[round(cx + rx * np.cos(a), 2), round(cy + ry * np.sin(a), 2)] for a in t]
    return [*ring, ring[0]]  # GeoJSON rings are closed


def feature(name: str, geom_type: str, coords: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": hashlib.md5(json.dumps(coords).encode()).hexdigest()[:12],
        "geometry": {"type": geom_type, "coordinates": coords},
        "properties": {"objectType": "annotation", "classification": {"name": name, "color": [0, 0, 0]}},
    }


def tissue_features(rng: np.random.Generator, k: int) -> list[dict[str, Any]]:
    s = SIZE
    full = [[0, 0], [s, 0], [s, s], [0, s], [0, 0]]
    feats = [feature("tissue_stroma", "Polygon", [full])]
    cx, cy = rng.uniform(0.4, 0.6) * s, rng.uniform(0.45, 0.65) * s
    rx, ry = rng.uniform(0.18, 0.26) * s, rng.uniform(0.14, 0.22) * s
    tumour = [ellipse(cx, cy, rx, ry)]
    if k % 2 == 0:  # a hole of stroma inside the tumour
        tumour.append(ellipse(cx, cy, rx * 0.35, ry * 0.35)[::-1])
    feats.append(feature("tissue_tumor", "Polygon", tumour))
    band = rng.uniform(0.08, 0.14) * s
    feats.append(feature("tissue_epidermis", "Polygon", [[[0, 0], [s, 0], [s, band], [0, band + 8], [0, 0]]]))
    vessels = [[ellipse(rng.uniform(0.1, 0.3) * s, rng.uniform(0.7, 0.9) * s, 10, 6)],
               [ellipse(rng.uniform(0.75, 0.9) * s, rng.uniform(0.3, 0.5) * s, 7, 9)]]  # fmt: skip
    feats.append(feature("tissue_blood_vessel", "MultiPolygon", vessels))
    if k % 3 != 1:  # some cases have no necrosis
        nx, ny = rng.uniform(0.6, 0.8) * s, rng.uniform(0.75, 0.9) * s
        feats.append(feature("tissue_necrosis", "Polygon", [ellipse(nx, ny, 18, 12)]))
    corner = rng.uniform(0.12, 0.2) * s
    feats.append(
        feature("tissue_white_background", "Polygon", [[[s, s], [s - corner, s], [s, s - corner], [s, s]]])
    )
    return feats


def nuclei_features(rng: np.random.Generator) -> list[dict[str, Any]]:
    feats: list[dict[str, Any]] = []
    placed: list[tuple[float, float]] = []
    p = WEIGHTS / WEIGHTS.sum()
    tries = 0
    while len(placed) < 50 and tries < 2000:
        tries += 1
        x, y = rng.uniform(10, SIZE - 10, 2)
        if any((x - a) ** 2 + (y - b) ** 2 < 16**2 for a, b in placed):
            continue
        placed.append((x, y))
        name = NUCLEI_NAMES[int(rng.choice(len(NUCLEI_NAMES), p=p))]
        r = NUCLEUS[name][1] * rng.uniform(0.9, 1.1)
        ring = ellipse(x, y, r, r * rng.uniform(0.8, 1.0), n=12, phase=rng.uniform(0, 1))
        if len(placed) % 9 == 0:  # a nucleus stored as a MultiPolygon (a large part and a speck)
            speck = ellipse(x + r + 1.5, y, 0.8, 0.8, n=4)
            feats.append(feature(name, "MultiPolygon", [[ring], [speck]]))
        else:
            feats.append(feature(name, "Polygon", [ring]))
    return feats


def paint(tissue: list[dict[str, Any]], nuclei: list[dict[str, Any]], rng: np.random.Generator) -> np.ndarray:
    fc = json.dumps({"type": "FeatureCollection", "features": tissue})
    lab = rasterise_tissue(fc, (SIZE, SIZE), TISSUE_IDS)
    img = np.zeros((SIZE, SIZE, 3), dtype=np.float64)
    for name, rgb in TISSUE_RGB.items():
        img[lab == TISSUE_IDS[name]] = rgb
    nuc_ids = {n: i + 1 for i, n in enumerate(NUCLEI_NAMES)}
    nmap = rasterise_tissue(
        json.dumps({"type": "FeatureCollection", "features": nuclei}), (SIZE, SIZE), nuc_ids
    )
    for name, i in nuc_ids.items():
        img[nmap == i] = NUCLEUS[name][0]
    img += rng.normal(0, 8, img.shape)
    rgba = np.concatenate(
        [np.clip(img, 0, 255).astype(np.uint8), np.full((SIZE, SIZE, 1), 255, np.uint8)], axis=2
    )
    return rgba


def _tif(rgba: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="TIFF", compression="tiff_deflate")
    return buf.getvalue()


def generate(raw_dir: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    raw_dir.mkdir(parents=True, exist_ok=True)
    zips = {
        name: zipfile.ZipFile(raw_dir / name, "w", zipfile.ZIP_DEFLATED) for name in (IMAGES, TISSUE, NUCLEI)
    }
    try:
        for k, case in enumerate(case_ids()):
            tissue, nuclei = tissue_features(rng, k), nuclei_features(rng)
            rgba = paint(tissue, nuclei, rng)
            zips[IMAGES].writestr(f"01_training_dataset_tif_ROIs/{case}.tif", _tif(rgba))
            for name, feats, kind in ((TISSUE, tissue, "tissue"), (NUCLEI, nuclei, "nuclei")):
                body = json.dumps({"type": "FeatureCollection", "features": feats}, indent=1)
                zips[name].writestr(f"{name.removesuffix('.zip')}/{case}_{kind}.geojson", body)
    finally:
        for z in zips.values():
            z.close()
    return raw_dir
