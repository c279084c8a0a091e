"""Surfel metrics (DeepMind's definitions) on cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from rexmle.graders import surfel_scores


def _voxels(*zs: int) -> np.ndarray:
    m = np.zeros((9, 3, 3), dtype=bool)
    for z in zs:
        m[z, 1, 1] = True
    return m


def test_two_single_voxels_five_apart() -> None:
    """A voxel's surfels sit on its 8 corners, all of one area. The corners of voxel z=1 are 4
    (its z=2 face) or 5 (its z=1 face) from the nearest corner of voxel z=6, so half the area is
    at 4 and half at 5: MASD 4.5, HD95 5, surface Dice 0.5 at 4 mm and 1 at 5 mm."""
    g, p = _voxels(1), _voxels(6)
    s = surfel_scores(g, p, (1.0, 1.0, 1.0), 4.0)
    assert (s.dice, s.surface_dice, s.hd95, s.masd) == (0.0, 0.5, 5.0, 4.5)
    assert surfel_scores(g, p, (1.0, 1.0, 1.0), 5.0).surface_dice == 1.0


def test_spacing_is_per_array_axis() -> None:
    s = surfel_scores(_voxels(1), _voxels(6), (2.0, 1.0, 1.0), 8.0)
    assert (s.surface_dice, s.hd95, s.masd) == (0.5, 10.0, 9.0)


def test_identical_masks_and_dice() -> None:
    m = _voxels(1, 2, 3)
    s = surfel_scores(m, m, (0.7, 0.5, 0.5), 0.0)
    assert (s.dice, s.surface_dice, s.hd95, s.masd) == (1.0, 1.0, 0.0, 0.0)
    assert surfel_scores(m, _voxels(3, 4), (1, 1, 1), 5.0).dice == pytest.approx(2 * 1 / 5)


def test_empty_masks_are_the_callers_convention() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        surfel_scores(_voxels(1), np.zeros((9, 3, 3), bool), (1, 1, 1), 5.0)
