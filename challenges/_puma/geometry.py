"""Reading the release's QuPath GeoJSON: tissue polygons to a label map, nuclei to centroids."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

Ring = list[tuple[float, float]]


def features(text: str | bytes) -> list[dict[str, Any]]:
    obj = json.loads(text)
    if isinstance(obj, dict):
        return list(obj.get("features", []))
    return list(obj)  # some QuPath exports are a bare list of features


def class_name(feature: dict[str, Any]) -> str | None:
    cls = (feature.get("properties") or {}).get("classification") or {}
    name = cls.get("name") if isinstance(cls, dict) else None
    return name if isinstance(name, str) else None


def polygons(feature: dict[str, Any]) -> list[list[Ring]]:
    """The feature's polygons, each a list of rings (exterior first, then holes)."""
    geom = feature.get("geometry") or {}
    coords = geom.get("coordinates") or []
    parts = (
        [coords] if geom.get("type") == "Polygon" else coords if geom.get("type") == "MultiPolygon" else []
    )
    return [[[(float(p[0]), float(p[1])) for p in ring] for ring in poly] for poly in parts if poly]


def rasterise_tissue(text: str | bytes, shape: tuple[int, int], ids: dict[str, int]) -> npt.NDArray[np.uint8]:
    """uint8 label map: each feature of a known class, in file order (later on top), is filled with its
    id: the exterior ring filled (outline included, PIL's polygon rule), its holes cleared."""
    canvas = Image.new("L", (shape[1], shape[0]), 0)
    for feat in features(text):
        name = class_name(feat)
        if name not in ids:
            continue
        for poly in polygons(feat):
            layer = Image.new("1", canvas.size, 0)
            draw = ImageDraw.Draw(layer)
            if len(poly[0]) >= 3:
                draw.polygon(poly[0], fill=1, outline=1)
            for hole in poly[1:]:
                if len(hole) >= 3:
                    draw.polygon(hole, fill=0, outline=0)
            canvas.paste(ids[name], (0, 0), layer)
    return np.asarray(canvas, dtype=np.uint8)


def ring_area(ring: Ring) -> float:
    a = np.asarray(ring, dtype=np.float64)
    x, y = a[:, 0], a[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def nuclei_polygons(text: str | bytes, label_map: dict[str, str]) -> list[dict[str, Any]]:
    """The official "Multiple polygons" entries of a nuclei GeoJSON: one per nucleus of a known class,
    ``path_points`` = the exterior ring as released (a MultiPolygon: its largest part's exterior)."""
    out = []
    for feat in features(text):
        name = class_name(feat)
        if name not in label_map:
            continue
        parts = polygons(feat)
        if not parts:
            continue
        ext = max((p[0] for p in parts), key=ring_area)
        if len(ext) < 3:
            continue
        out.append({"name": label_map[name], "path_points": [[x, y] for x, y in ext], "score": 1.0})
    return out
