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


@pytest.mark.parametrize(
    ("g_shape", "p_shape"),
    [((9, 3, 3), (9, 3, 4)), ((9, 3, 4), (9, 3, 3)), ((9, 9), (9, 9)), ((2, 9, 3, 3), (2, 9, 3, 3))],
)
def test_masks_of_two_shapes_or_not_3d_are_refused(
    g_shape: tuple[int, ...], p_shape: tuple[int, ...]
) -> None:
    g, p = np.ones(g_shape, dtype=bool), np.ones(p_shape, dtype=bool)
    with pytest.raises(ValueError, match="need two 3-D masks of one shape"):
        surfel_scores(g, p, (1.0,) * len(g_shape), 1.0)


def _robust_hausdorff(distances: np.ndarray, areas: np.ndarray, percent: float) -> float:
    """The definition, written out: the smallest distance d with at least ``percent`` % of the
    surfel area at distance <= d (DeepMind's compute_robust_hausdorff, one direction)."""
    order = np.argsort(distances)
    cum = np.cumsum(areas[order]) / np.sum(areas)
    return float(distances[order][np.searchsorted(cum, percent / 100.0)])


def test_hd95_is_the_95th_percentile_of_the_surfel_distances() -> None:
    """A sphere against an offset ellipsoid on an anisotropic grid: surfels at many distances, so the
    94th, 95th and 96th percentiles differ and only the 95th matches."""
    from surface_distance import metrics as sd_lib

    z, y, x = np.mgrid[:20, :20, :20]
    g = (z - 10) ** 2 + (y - 10) ** 2 + (x - 10) ** 2 <= 36
    p = (z - 10) ** 2 / 2.0 + (y - 9) ** 2 + (x - 11) ** 2 * 0.5 <= 40
    spacing = (0.7, 0.9, 1.3)
    sd = sd_lib.compute_surface_distances(g, p, spacing_mm=spacing)
    expected = {
        q: max(
            _robust_hausdorff(sd["distances_gt_to_pred"], sd["surfel_areas_gt"], q),
            _robust_hausdorff(sd["distances_pred_to_gt"], sd["surfel_areas_pred"], q),
        )
        for q in (94, 95, 96)
    }
    assert len(set(expected.values())) == 3, expected  # the case tells the three apart
    assert surfel_scores(g, p, spacing, 1.0).hd95 == pytest.approx(expected[95], abs=1e-9)
    assert expected[95] == pytest.approx(3.9, abs=1e-9)  # pinned once from the definition above


def test_scores_are_frozen() -> None:
    s = surfel_scores(_voxels(1), _voxels(6), (1.0, 1.0, 1.0), 4.0)
    with pytest.raises(ValueError):
        s.hd95 = 0.0  # type: ignore[misc]
