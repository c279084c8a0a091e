"""A synthetic DENTEX release in the download's form: ``training_data.zip`` holding
``training_data/quadrant-enumeration-disease/xrays/train_<k>.png`` (8-bit grayscale PNG) and
``train_quadrant_enumeration_disease.json`` (COCO with ``categories_1/2/3`` and 0-based
``category_id_1/2/3`` as in the release), plus a small ``training_data/quadrant/`` set (quadrant
labels only, ``categories``) that prepare must leave alone.

Each X-ray is a jaw: two rows of 16 teeth (FDI: quadrant 1 upper image-left, 2 upper
image-right, 3 lower image-right, 4 lower image-left; tooth 1 next to the midline, 8 at the
back), shifted a little per image. Normal teeth are mid-grey; an abnormal tooth is brighter,
the brightness coding its diagnosis (Impacted < Caries < Periapical Lesion < Deep Caries), and
gets one box per diagnosis. Edge cases: one image with no abnormal tooth, one tooth with two
diagnoses (two identical boxes), images listed in the JSON out of id order. Deterministic.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image
from rexmle.challenges.dentex.prepare import ARCHIVE, JSON_NAME, SUBSET

from rexmle.challenge_api import ChallengeSpec

W, H = 256, 128
N_IMAGES = 24
TOOTH_W, GAP = 12, 2
ROWS = {"upper": (18, 58), "lower": (70, 110)}
CATEGORIES_1 = [{"id": i, "name": str(i + 1)} for i in range(4)]
CATEGORIES_2 = [{"id": i, "name": str(i + 1)} for i in range(8)]
CATEGORIES_3 = [
    {"id": 0, "name": "Impacted", "supercategory": "Impacted"},
    {"id": 1, "name": "Caries", "supercategory": "Caries"},
    {"id": 2, "name": "Periapical Lesion", "supercategory": "Periapical Lesion"},
    {"id": 3, "name": "Deep Caries", "supercategory": "Deep Caries"},
]
NO_FINDINGS, TWO_DIAGNOSES = 17, 15  # image indices of the edge cases


def tooth_box(q: int, k: int, shift: int) -> list[int]:
    """[x, y, w, h] of tooth ``k`` (1..8) of quadrant ``q`` (1..4)."""
    mid = W // 2 + shift
    left = q in (1, 4)
    x = mid - k * (TOOTH_W + GAP) + GAP // 2 if left else mid + (k - 1) * (TOOTH_W + GAP) + GAP // 2
    y0, y1 = ROWS["upper"] if q in (1, 2) else ROWS["lower"]
    return [x, y0, TOOTH_W, y1 - y0]


def intensity(diagnosis: int | None) -> float:
    return 100.0 if diagnosis is None else 150.0 + 30.0 * diagnosis


def draw(
    rng: np.random.Generator, findings: dict[tuple[int, int], list[int]], shift: int
) -> npt.NDArray[np.uint8]:
    img = np.full((H, W), 40.0)
    for q in range(1, 5):
        for k in range(1, 9):
            x, y, w, h = tooth_box(q, k, shift)
            d = findings.get((q, k))
            img[y : y + h, x : x + w] = intensity(d[0] if d else None)
    img += rng.normal(0.0, 6.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def png(arr: npt.NDArray[np.uint8]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def generate(raw_dir: Path, spec: ChallengeSpec, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    raw_dir.mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    out = raw_dir / ARCHIVE
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for n in range(N_IMAGES):
            shift = int(rng.integers(-6, 7))
            findings: dict[tuple[int, int], list[int]] = {}
            if n != NO_FINDINGS:
                for _ in range(int(rng.integers(1, 4))):
                    q, k = int(rng.integers(1, 5)), int(rng.integers(1, 9))
                    findings[(q, k)] = [int(rng.integers(0, 4))]
            if n == TWO_DIAGNOSES:
                first = next(iter(findings))
                findings[first] = [findings[first][0], (findings[first][0] + 2) % 4]
            name = f"train_{n}.png"
            zf.writestr(f"{SUBSET}/xrays/{name}", png(draw(rng, findings, shift)))
            images.append({"height": H, "width": W, "id": n + 1, "file_name": name})
            for (q, k), diagnoses in findings.items():
                for d in diagnoses:
                    x, y, w, h = tooth_box(q, k, shift)
                    annotations.append(
                        {
                            "iscrowd": 0,
                            "image_id": n + 1,
                            "bbox": [x, y, w, h],
                            "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                            "area": w * h,
                            "id": len(annotations) + 1,
                            "category_id_1": q - 1,
                            "category_id_2": k - 1,
                            "category_id_3": d,
                        }
                    )
        order = [int(i) for i in np.random.default_rng(seed + 1).permutation(N_IMAGES)]  # split: fixed
        coco = {
            "images": [images[i] for i in order],
            "annotations": annotations,
            "categories_1": CATEGORIES_1,
            "categories_2": CATEGORIES_2,
            "categories_3": CATEGORIES_3,
        }
        zf.writestr(f"{SUBSET}/{JSON_NAME}", json.dumps(coco))
        # the quadrant-only set: other images, another JSON, never used
        quad = {
            "images": [{"height": H, "width": W, "id": 1, "file_name": "train_0.png"}],
            "annotations": [],
            "categories": CATEGORIES_1,
        }
        zf.writestr("training_data/quadrant/xrays/train_0.png", png(draw(rng, {}, 0)))
        zf.writestr("training_data/quadrant/train_quadrant.json", json.dumps(quad))
    return out
