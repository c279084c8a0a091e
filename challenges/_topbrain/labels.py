"""TopBrain label maps, side-road labels and the neighbour tables, per modality."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Literal

Modality = Literal["ct", "mr"]

_COMMON = ["BA", "R-P1P2", "L-P1P2", "R-ICA", "R-M1", "L-ICA", "L-M1", "R-Pcom", "L-Pcom", "Acom", "R-A1A2", "L-A1A2", "R-A3", "L-A3", "3rd-A2", "3rd-A3", "R-M2", "R-M3", "L-M2", "L-M3", "R-P3P4", "L-P3P4", "R-VA", "L-VA", "R-SCA", "L-SCA", "R-AICA", "L-AICA", "R-PICA", "L-PICA", "R-AChA", "L-AChA", "R-OA", "L-OA"]  # fmt: skip
_EXTRA = {
    "ct": ["VoG", "StS", "ICVs", "R-BVR", "L-BVR", "SSS"],
    "mr": ["R-ECA", "L-ECA", "R-STA", "L-STA", "R-MaxA", "L-MaxA", "R-MMA", "L-MMA"],
}
#: label -> vessel name (1-40 on CTA, 1-42 on MRA; 0 is background)
LABELS: dict[Modality, dict[int, str]] = {
    m: dict(enumerate([*_COMMON, *_EXTRA[m]], start=1)) for m in ("ct", "mr")
}
_SIDE_COMMON = (8, 9, 10, 15, 16, *range(25, 35))
#: the "side road" vessels whose detection F1 is ranked (18 on CTA, 17 on MRA)
SIDE_ROADS: dict[Modality, tuple[int, ...]] = {
    "ct": (*_SIDE_COMMON, 37, 38, 39),
    "mr": (*_SIDE_COMMON, 41, 42),
}
HD95_MISSING_MM = 290.0  # the organisers' HD95_UPPER_BOUND
IOU_THRESHOLD = 0.25
MODALITY_NAME: dict[Modality, str] = {"ct": "CTA", "mr": "MRA"}


@cache
def valid_neighbours(modality: Modality) -> dict[int, frozenset[int]]:
    """The organisers' table of labels that may touch each label (symmetric)."""
    raw = json.loads((Path(__file__).parent / f"valid_neighbors_{modality}_all.json").read_text())
    return {int(k): frozenset(int(v) for v in vs) for k, vs in raw.items()}
