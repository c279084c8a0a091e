"""Axis-aligned 3-D boxes: IoU and boundary IoU, computed in closed form from the corners.

A box is ``size`` (voxels per axis) at ``location`` (its first voxel, 0-based), covering the
voxels ``location .. location + size - 1`` inclusive; this is TopCoW's ROI convention
(``roi_loc_labelsTr/*.txt``: size, then location).

Boundary IoU (TopCoW task 2, CoWBenchmark/TopCoW_Eval_Metrics ``boundary_iou_from_tuple.py``):
a box's boundary is the set of its voxels within ``d_a = ceil(r * size_a)`` of a face along
some axis a, i.e. the box minus its inner core ``[lo_a + d_a, hi_a - d_a]``; r = 0.2 for the
boundary IoU, and r = 0.5 makes the core empty so the same formula gives the plain IoU.
Voxel sets of boxes and cores are boxes, so every intersection is a product of interval
lengths and no volume is ever allocated:

    |B1 ∩ B2| = |X1 ∩ X2| - |C1 ∩ X2| - |X1 ∩ C2| + |C1 ∩ C2|     (X box, C core, B = X \\ C)
    IoU_B     = |B1 ∩ B2| / (|B1| + |B2| - |B1 ∩ B2|)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, field_validator

Interval = tuple[int, int]  # inclusive; empty when hi < lo


class Box(BaseModel):
    model_config = ConfigDict(frozen=True)

    size: tuple[int, int, int]
    location: tuple[int, int, int]

    @field_validator("size")
    @classmethod
    def _positive(cls, v: tuple[int, int, int]) -> tuple[int, int, int]:
        if any(s <= 0 for s in v):
            raise ValueError(f"box size must be positive on every axis, got {list(v)}")
        return v

    @property
    def intervals(self) -> list[Interval]:
        return [(lo, lo + s - 1) for lo, s in zip(self.location, self.size, strict=True)]

    def core(self, ratio: float) -> list[Interval]:
        return [
            (lo + math.ceil(ratio * s), hi - math.ceil(ratio * s))
            for (lo, hi), s in zip(self.intervals, self.size, strict=True)
        ]


def _volume(box: Sequence[Interval]) -> int:
    v = 1
    for lo, hi in box:
        if hi < lo:
            return 0
        v *= hi - lo + 1
    return v


def _meet(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    return [(max(x[0], y[0]), min(x[1], y[1])) for x, y in zip(a, b, strict=True)]


def boundary_iou(a: Box, b: Box, ratio: float = 0.2) -> float:
    """IoU of the two boxes' boundary shells of relative width ``ratio`` (see module doc)."""
    xa, xb, ca, cb = a.intervals, b.intervals, a.core(ratio), b.core(ratio)
    inter = _volume(_meet(xa, xb)) - _volume(_meet(ca, xb)) - _volume(_meet(xa, cb)) + _volume(_meet(ca, cb))
    size_a = _volume(xa) - _volume(ca)
    size_b = _volume(xb) - _volume(cb)
    union = size_a + size_b - inter
    return inter / union if union else 0.0


def box_iou(a: Box, b: Box) -> float:
    """Plain voxel IoU of two boxes (the boundary IoU with an empty core)."""
    return boundary_iou(a, b, 0.5)
