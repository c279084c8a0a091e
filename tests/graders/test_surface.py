"""Surface distances against hand-computed cases (and the organisers' own unit-test values)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rexmle.graders.surface import directed_surface_distances, hausdorff, hd95, surface


def vol(shape: tuple[int, ...], *points: tuple[int, ...]) -> np.ndarray:
    a = np.zeros(shape, dtype=bool)
    for p in points:
        a[p] = True
    return a


def test_surface_uses_the_full_neighbourhood() -> None:
    cube = np.pad(np.ones((3, 3, 3), dtype=bool), 1)
    s = surface(cube)
    assert s.sum() == 26  # only the centre voxel has all 26 neighbours inside
    assert not s[2, 2, 2]
    plus = np.zeros((5, 5), dtype=bool)
    plus[1:4, 2] = plus[2, 1:4] = True
    # with 8 neighbours the centre of a plus sign touches background diagonally
    assert surface(plus).sum() == 5


def test_single_voxels_with_spacing_match_the_organisers_cases() -> None:
    # TopCoW_Eval_Metrics test_hd95_single_label_3D_voxel_spacing, sitk spacing (3, 4, 5) for
    # (x, y, z); here arrays are (x, y, z) too, so spacing is given in the same order
    spacing = (3.0, 4.0, 5.0)
    a, b = vol((3, 3, 3), (2, 1, 1)), vol((3, 3, 3), (0, 1, 1))
    assert hausdorff(a, b, spacing) == pytest.approx(6.0) and hd95(a, b, spacing) == pytest.approx(6.0)
    a, b = vol((3, 3, 3), (0, 1, 0)), vol((3, 3, 3), (1, 0, 0))
    assert hd95(a, b, spacing) == pytest.approx(5.0)  # sqrt(3^2 + 4^2)
    a = np.zeros((3, 3, 3), dtype=bool)
    b = a.copy()
    a[:, :, 1] = True
    b[:, :, 2] = True
    assert hd95(a, b, spacing) == pytest.approx(5.0)
    full = np.ones((2, 2, 2), dtype=bool)  # a mask filling the whole image still has a surface
    assert hausdorff(full, full) == 0.0


def test_directed_lists_and_symmetric_percentile() -> None:
    # gt: one voxel at x=0; pred: voxels at x=0 and x=10 on a line (1-D spacing 1)
    gt = vol((1, 1, 12), (0, 0, 0))
    pred = vol((1, 1, 12), (0, 0, 0), (0, 0, 10))
    p_to_g, g_to_p = directed_surface_distances(pred, gt)
    assert sorted(p_to_g.tolist()) == [0.0, 10.0] and g_to_p.tolist() == [0.0]
    assert hausdorff(pred, gt) == 10.0
    # linear interpolation: P95 of [0, 10] is 9.5; the other direction is 0 -> max is 9.5
    assert hd95(pred, gt) == pytest.approx(9.5)


def test_anisotropic_spacing_scales_each_axis() -> None:
    a = vol((4, 4, 4), (0, 0, 0))
    b = vol((4, 4, 4), (3, 0, 0))
    assert hd95(a, b, (2.5, 1.0, 1.0)) == pytest.approx(7.5)
    b = vol((4, 4, 4), (0, 3, 2))
    assert hd95(a, b, (1.0, 0.5, 2.0)) == pytest.approx(math.hypot(1.5, 4.0))


def test_crop_does_not_change_the_value() -> None:
    rng = np.random.default_rng(3)
    small = rng.random((12, 14, 10)) > 0.7
    other = rng.random((12, 14, 10)) > 0.7
    big_a = np.zeros((60, 50, 40), dtype=bool)
    big_b = big_a.copy()
    big_a[20:32, 5:19, 30:40] = small
    big_b[20:32, 5:19, 30:40] = other
    assert hd95(big_a, big_b, (0.7, 0.8, 1.3)) == pytest.approx(hd95(small, other, (0.7, 0.8, 1.3)))


def test_empty_masks_are_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        hd95(np.zeros((3, 3)), vol((3, 3), (1, 1)))


@pytest.mark.parametrize("ndim", [2, 3])
def test_surface_equals_erosion_with_background_outside(ndim: int) -> None:
    """The neighbour-testing surface agrees with the textbook one (mask minus its full-
    neighbourhood erosion, outside = background) on random blobs touching the borders."""
    from scipy import ndimage

    rng = np.random.default_rng(ndim)
    for _ in range(10):
        shape = (23, 19, 17)[:ndim]
        m = ndimage.binary_dilation(rng.random(shape) < 0.02, iterations=int(rng.integers(1, 3)))
        m[(0,) * ndim] = True
        eroded = ndimage.binary_erosion(m, structure=np.ones((3,) * ndim, bool), border_value=0)
        assert np.array_equal(surface(m), m & ~eroded)
