"""TopCoW label map, ROI boxes and variant edge lists: constants and strict readers.

Readers raise ``InvalidSubmission`` with one line naming the file and the problem, because the
same readers check an agent's predictions.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml
from pydantic import ValidationError
from rexmle.graders import Box, class_boxes, touches
from rexmle.graders.topology import Boxes

from rexmle.challenge_api import InvalidSubmission, load_json, read_text

#: Circle of Willis labels (TopCoW 2024 release, ``constants.py``).
LABELS: dict[int, str] = {
    1: "BA",
    2: "R-PCA",
    3: "L-PCA",
    4: "R-ICA",
    5: "R-MCA",
    6: "L-ICA",
    7: "L-MCA",
    8: "R-Pcom",
    9: "L-Pcom",
    10: "Acom",
    11: "R-ACA",
    12: "L-ACA",
    15: "3rd-A2",
}
GROUP2 = (8, 9, 10, 15)  # communicating arteries and the 3rd A2: the detection task
ANTERIOR_LABELS = (10, 11, 12, 15)
POSTERIOR_LABELS = (2, 3, 8, 9)
ANTERIOR_EDGES = ("L-A1", "Acom", "3rd-A2", "R-A1")
POSTERIOR_EDGES = ("L-Pcom", "L-P1", "R-P1", "R-Pcom")
EDGES = {"anterior": ANTERIOR_EDGES, "posterior": POSTERIOR_EDGES}

_INT = re.compile(r"\b\d+\b")
#: A box or edge-list answer is a few hundred bytes; files beyond this are refused unread.
MAX_ANSWER_BYTES = 64 * 1024


def read_roi_txt(text: str, what: str = "ROI file") -> Box:
    """The release's ``roi_loc_labelsTr/*.txt``: line 1 spacing, line 2 size, line 3 location
    (voxels). As in the organisers' reader only the unsigned integers of lines 2 and 3 count."""
    lines = text.splitlines()
    if len(lines) < 3:
        raise InvalidSubmission(f"{what}: expected 3 lines (spacing, size, location), found {len(lines)}")
    size, loc = (_INT.findall(lines[i]) for i in (1, 2))
    if len(size) != 3 or len(loc) != 3 or any(len(v) > 18 for v in size + loc):
        raise InvalidSubmission(f"{what}: lines 2 and 3 must hold three integers each (size, location)")
    return _box([int(v) for v in size], [int(v) for v in loc], what)


def _box(size: Any, location: Any, what: str) -> Box:
    try:
        return Box(size=tuple(size), location=tuple(location))
    except ValidationError as exc:
        raise InvalidSubmission(f"{what}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None


def read_box(path: Path, what: str) -> Box:
    """A predicted or ground-truth box: ``{"size": [sx, sy, sz], "location": [x, y, z]}`` as JSON
    (integers; the organisers cast with int()), or the release's .txt form. At most
    ``MAX_ANSWER_BYTES`` (``rexmle.safe_io``: size, nesting and integer caps)."""
    if path.suffix == ".txt":
        return read_roi_txt(read_text(path, what, MAX_ANSWER_BYTES), what)
    obj = load_json(path, what, MAX_ANSWER_BYTES)
    if not isinstance(obj, dict) or set(obj) != {"size", "location"}:
        raise InvalidSubmission(f'{what}: expected exactly the keys "size" and "location"')
    for key in ("size", "location"):
        v = obj[key]
        if not (isinstance(v, list) and len(v) == 3 and all(_is_number(x) for x in v)):
            raise InvalidSubmission(f'{what}: "{key}" must be a list of three numbers')
    return _box([int(x) for x in obj["size"]], [int(x) for x in obj["location"]], what)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and np.isfinite(x)


def read_edges(path: Path, what: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A variant edge list (.yml/.yaml/.json): ``anterior`` and ``posterior`` mappings with exactly
    their four edges, each 0 or 1. Returns the two vectors in TopCoW's edge order.

    Stricter than the research code, which accepts any YAML and compares stringified values
    (JSON true/false then never match): here booleans and other values are refused. At most
    ``MAX_ANSWER_BYTES``; YAML nested past the recursion limit or holding an integer too long
    to convert is refused too."""
    if path.suffix == ".json":
        obj = load_json(path, what, MAX_ANSWER_BYTES)
    else:
        try:
            obj = yaml.safe_load(read_text(path, what, MAX_ANSWER_BYTES))
        except (yaml.YAMLError, RecursionError, ValueError):
            raise InvalidSubmission(f"{what}: not valid YAML") from None
    if not isinstance(obj, dict) or set(obj) != set(EDGES):
        raise InvalidSubmission(f'{what}: expected exactly the keys "anterior" and "posterior"')
    out = []
    for region, names in EDGES.items():
        part = obj[region]
        if not isinstance(part, dict) or set(part) != set(names):
            raise InvalidSubmission(f"{what}: {region} must have exactly the edges {', '.join(names)}")
        bad = [n for n in names if isinstance(part[n], bool) or part[n] not in (0, 1)]
        if bad:
            raise InvalidSubmission(f"{what}: {region}.{bad[0]} must be 0 or 1, not {part[bad[0]]!r}")
        out.append(tuple(int(part[n]) for n in names))
    return out[0], out[1]


def edges_from_segmentation(
    label_map: npt.NDArray[np.integer], boxes: Boxes | None = None
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The variant edges a CoW segmentation implies (``generate_edgelist``/``edge_criteria``):

    - L-A1: label 12 (L-ACA) touches 6 (L-ICA); R-A1: 11 (R-ACA) touches 4 (R-ICA);
    - Acom, 3rd-A2, L-Pcom, R-Pcom: labels 10, 15, 9, 8 present;
    - L-P1: 3 (L-PCA) touches 1 (BA); R-P1: 2 (R-PCA) touches 1;

    "touches" is 26-adjacency; there is no size threshold. ``boxes``: the map's class boxes,
    if the caller has them.
    """
    boxes = class_boxes(label_map) if boxes is None else boxes

    def touch(a: int, b: int) -> int:
        return int(a in boxes and b in boxes and touches(label_map, a, b, boxes[a]))

    present = {label: int(label in boxes) for label in (8, 9, 10, 15)}
    anterior = (touch(12, 6), present[10], present[15], touch(11, 4))
    posterior = (present[9], touch(3, 1), touch(2, 1), present[8])
    return anterior, posterior


def variant_code(edges: tuple[int, ...]) -> int:
    """An edge vector as one integer (first edge = highest bit), so per-case rows stay numeric."""
    code = 0
    for e in edges:
        code = 2 * code + int(e)
    return code
