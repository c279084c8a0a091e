"""Surface distances against hand-computed cases (and the organisers' own unit-test values)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rexmle.graders import surface as surface_module
from rexmle.graders.surface import (
    directed_surface_distances,
    enclosing_region,
    hausdorff,
    hd95,
    neighbour_steps,
    neighbour_values,
    surface,
    symmetric_percentile,
    union_box,
)


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


def test_enclosing_region_takes_the_union_without_padding_by_default() -> None:
    # one region, default pad 0: the region itself, unchanged
    assert enclosing_region((10, 10), [(slice(2, 4), slice(3, 5))]) == (slice(2, 4), slice(3, 5))
    assert enclosing_region((4,), [None, None]) is None
    assert enclosing_region((4,), []) is None


def test_enclosing_region_grows_by_pad_and_clips_to_the_shape() -> None:
    a = (slice(5, 6), slice(8, 11))
    b = (slice(7, 10), slice(9, 10))
    # axis 0: union 5:10, grown by 2 -> 3:12 (inside the 20 rows)
    # axis 1: union 8:11, grown by 2 -> 6:13, clipped to the 12 columns -> 6:12
    assert enclosing_region((20, 12), [None, a, None, b], pad=2) == (slice(3, 12), slice(6, 12))
    # start 1 - 2 = -1 clips to 0; stop 3 + 2 = 5 on axis 1, 2 + 2 = 4 on axis 0
    assert enclosing_region((20, 12), [(slice(1, 2), slice(0, 3))], pad=2) == (slice(0, 4), slice(0, 5))


def test_union_box_is_the_bounding_box_of_both_masks_plus_one_voxel() -> None:
    a, b = vol((10, 10), (3, 4)), vol((10, 10), (5, 2))
    # union: rows 3..5, columns 2..4 -> (3:6, 2:5); grown by the default pad of 1 -> (2:7, 1:6)
    assert union_box(a, b) == (slice(2, 7), slice(1, 6))
    assert union_box(a, b, pad=0) == (slice(3, 6), slice(2, 5))
    # an empty mask adds nothing: a alone, (3:4, 4:5) grown by 1
    assert union_box(a, np.zeros_like(a)) == (slice(2, 5), slice(3, 6))
    assert union_box(np.zeros_like(a), np.zeros_like(a)) is None
    # a corner voxel (0, 9): (0:1, 9:10) grown by 1 and clipped to the 10 x 10 array
    assert union_box(vol((10, 10), (0, 9)), np.zeros_like(a)) == (slice(0, 2), slice(8, 10))


def test_distances_are_computed_on_the_union_box_plus_one_voxel(monkeypatch: pytest.MonkeyPatch) -> None:
    """The crop the docstring promises, seen through the masks whose surfaces are taken (the
    distances do not depend on it, the cost does); ``crop=False`` takes the masks as given."""
    shapes: list[tuple[int, ...]] = []
    real = surface_module.surface_points

    def spy(mask: np.ndarray) -> np.ndarray:
        shapes.append(mask.shape)
        return real(mask)

    monkeypatch.setattr(surface_module, "surface_points", spy)
    pred, gt = vol((10, 12), (3, 4)), vol((10, 12), (5, 2))
    # union box (3:6, 2:5) grown by one voxel: (2:7, 1:6), 5 x 5
    to_g, to_p = directed_surface_distances(pred, gt)
    assert shapes == [(5, 5), (5, 5)]
    # (3, 4) to (5, 2): sqrt(2^2 + 2^2), both ways
    assert to_g.tolist() == to_p.tolist() == [pytest.approx(math.sqrt(8.0))]
    shapes.clear()
    to_g, to_p = directed_surface_distances(pred, gt, crop=False)
    assert shapes == [(10, 12), (10, 12)]
    assert to_g.tolist() == to_p.tolist() == [pytest.approx(math.sqrt(8.0))]


def test_neighbour_steps_are_the_full_neighbourhood_in_c_order() -> None:
    # np.ndindex order of {-1, 0, 1}^2 without the centre
    assert neighbour_steps(2).tolist() == [
        [-1, -1],
        [-1, 0],
        [-1, 1],
        [0, -1],
        [0, 1],
        [1, -1],
        [1, 0],
        [1, 1],
    ]
    assert len(neighbour_steps(3)) == 26


@pytest.mark.filterwarnings("error")  # reading the neighbours warns about nothing
def test_neighbour_values_of_inner_and_border_voxels_2d() -> None:
    """Labels (int64, as topology.py passes them) read row by row in :func:`neighbour_steps`
    order: (-1,-1) (-1,0) (-1,1) (0,-1) (0,1) (1,-1) (1,0) (1,1); F (the fill) outside."""
    arr = np.arange(1, 13, dtype=np.int64).reshape(3, 4)
    # [[ 1,  2,  3,  4],
    #  [ 5,  6,  7,  8],
    #  [ 9, 10, 11, 12]]
    f = -1
    idx = np.array([[1, 1], [1, 2], [0, 0], [2, 3], [0, 2]], dtype=np.intp)
    got = neighbour_values(arr, idx, f)
    assert got.shape == (8, 5)
    assert got.T.tolist() == [
        [1, 2, 3, 5, 7, 9, 10, 11],  # (1,1), value 6: its 3 x 3 block without the centre
        [2, 3, 4, 6, 8, 10, 11, 12],  # (1,2), value 7
        [f, f, f, f, 2, f, 5, 6],  # (0,0): only (0,1), (1,0), (1,1) are inside
        [7, 8, f, 11, f, f, f, f],  # (2,3): only (1,2), (1,3), (2,2) are inside
        [f, f, f, 2, 4, 6, 7, 8],  # (0,2): the row above is outside
    ]


@pytest.mark.filterwarnings("error")
def test_neighbour_values_3d_centre_and_corner() -> None:
    arr = np.arange(27, dtype=np.int32).reshape(3, 3, 3)  # value = 9 i + 3 j + k
    got = neighbour_values(arr, np.array([[1, 1, 1], [0, 0, 0]], dtype=np.intp), -1)
    # centre: the steps run in C order over the 3 x 3 x 3 block, so its neighbours are 0..26
    # without itself (13)
    assert got[:, 0].tolist() == [v for v in range(27) if v != 13]
    # corner (0,0,0): a step is inside when no component is -1; its value is 9 a + 3 b + c
    expected = [9 * a + 3 * b + c if min(a, b, c) >= 0 else -1 for a, b, c in neighbour_steps(3).tolist()]
    assert got[:, 1].tolist() == expected
    assert sorted(v for v in expected if v >= 0) == [1, 3, 4, 9, 10, 12, 13]


def test_symmetric_percentile_interpolates_below_100_and_is_the_maximum_from_100() -> None:
    a, b = np.array([0.0, 10.0]), np.array([0.0])
    # linear interpolation between the two sorted values: 0 + 0.99 * 10 = 9.9 (P99 is not the max)
    assert symmetric_percentile(a, b, 99.0) == pytest.approx(9.9)
    assert symmetric_percentile(a, b, 99.5) == pytest.approx(9.95)
    # 100 and anything above it give the maximum, 10 (np.percentile would refuse q > 100)
    assert symmetric_percentile(a, b, 100.0) == 10.0
    assert symmetric_percentile(a, b, 100.5) == 10.0
    assert symmetric_percentile(b, a, 150.0) == 10.0  # either direction may hold the maximum
