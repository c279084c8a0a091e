"""Box IoU and boundary IoU against the organisers' unit-test values and a voxel count."""

from __future__ import annotations

import numpy as np
import pytest
from rexmle.graders.boxes import Box, boundary_iou, box_iou


def B(size: tuple[int, int, int], loc: tuple[int, int, int] = (0, 0, 0)) -> Box:
    return Box(size=size, location=loc)


@pytest.mark.parametrize(
    ("a", "b", "biou", "iou"),
    [
        (B((1, 2, 3)), B((3, 3, 4)), 6 / 34, 6 / 36),
        (B((6, 3, 3)), B((6, 3, 3), (3, 1, 1)), 10 / 94, 12 / 96),
        (B((6, 3, 3)), B((4, 3, 3), (1, 0, 0)), 34 / 52, 36 / 54),
        (B((9, 6, 4)), B((3, 8, 4), (3, 0, 0)), 56 / 228, 0.3),
    ],
)
def test_organisers_cases(a: Box, b: Box, biou: float, iou: float) -> None:
    assert boundary_iou(a, b) == pytest.approx(biou)
    assert box_iou(a, b) == pytest.approx(iou)


def shell(box: Box, ratio: float, shape: tuple[int, int, int]) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    (x0, x1), (y0, y1), (z0, z1) = box.intervals
    m[x0 : x1 + 1, y0 : y1 + 1, z0 : z1 + 1] = True
    (a0, a1), (b0, b1), (c0, c1) = box.core(ratio)
    if a1 >= a0 and b1 >= b0 and c1 >= c0:
        m[a0 : a1 + 1, b0 : b1 + 1, c0 : c1 + 1] = False
    return m


def test_closed_form_equals_voxel_count_on_random_boxes() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = B(tuple(rng.integers(1, 12, 3)), tuple(rng.integers(0, 8, 3)))  # type: ignore[arg-type]
        b = B(tuple(rng.integers(1, 12, 3)), tuple(rng.integers(0, 8, 3)))  # type: ignore[arg-type]
        for ratio in (0.2, 0.5):
            sa, sb = shell(a, ratio, (20, 20, 20)), shell(b, ratio, (20, 20, 20))
            union = (sa | sb).sum()
            expected = (sa & sb).sum() / union if union else 0.0
            assert boundary_iou(a, b, ratio) == pytest.approx(expected)


def test_disjoint_identical_and_bad_boxes() -> None:
    assert box_iou(B((2, 2, 2)), B((2, 2, 2), (5, 5, 5))) == 0.0
    assert boundary_iou(B((7, 8, 9), (1, 2, 3)), B((7, 8, 9), (1, 2, 3))) == 1.0
    with pytest.raises(ValueError, match="positive"):
        B((0, 2, 2))
    with pytest.raises(ValueError, match="positive"):
        B((2, -3, 2))
    with pytest.raises(ValueError):
        B((2, 2, 2)).size = (3, 3, 3)  # type: ignore[misc]  # frozen
