"""Metric unit tests against hand-computed cases."""

import math

import numpy as np
import pytest
from rexmle.graders import (
    LesionCounts,
    abs_volume_difference_ml,
    count_components,
    dice,
    lesion_count_difference,
    lesion_counts,
    lesion_counts_f1,
    lesion_f1,
)


def vol(*boxes: tuple[slice, slice, slice], shape: tuple[int, int, int] = (10, 10, 10)) -> np.ndarray:
    m = np.zeros(shape, dtype=np.uint8)
    for b in boxes:
        m[b] = 1
    return m


def test_dice_hand_computed() -> None:
    p = vol((slice(0, 2), slice(0, 2), slice(0, 2)))  # 8 voxels
    g = vol((slice(1, 3), slice(0, 2), slice(0, 2)))  # 8 voxels, 4 shared
    assert dice(p, g) == pytest.approx(2 * 4 / 16)
    assert dice(g, p) == dice(p, g)


def test_dice_empty_conventions() -> None:
    z = np.zeros((4, 4, 4))
    one = z.copy()
    one[0, 0, 0] = 1
    assert dice(z, z) == 1.0
    assert dice(z, z, empty_value=0.0) == 0.0
    assert dice(one, z) == 0.0
    assert dice(z, one) == 0.0


def test_any_nonzero_is_foreground_and_shape_mismatch_raises() -> None:
    a = np.array([[[0, 2, 5]]])
    b = np.array([[[0, 1, 1]]])
    assert dice(a, b) == 1.0
    with pytest.raises(ValueError, match="shape mismatch"):
        dice(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)))


def test_volume_difference_ml() -> None:
    p = vol((slice(0, 2), slice(0, 2), slice(0, 2)))  # 8 voxels
    g = vol((slice(0, 3), slice(0, 3), slice(0, 3)))  # 27 voxels
    # 19 voxels of 2 x 2 x 5 mm = 20 mm^3 = 0.02 ml each -> 0.38 ml
    assert abs_volume_difference_ml(p, g, 2 * 2 * 5 / 1000) == pytest.approx(0.38)
    assert abs_volume_difference_ml(g, g, 1.0) == 0.0


def test_corner_touching_lesions_are_one_under_26_connectivity() -> None:
    m = np.zeros((4, 4, 4), dtype=bool)
    m[0, 0, 0] = True
    m[1, 1, 1] = True  # shares only a corner with (0,0,0)
    assert count_components(m, 26) == 1
    assert count_components(m, 18) == 2
    assert count_components(m, 6) == 2
    e = np.zeros((4, 4, 4), dtype=bool)
    e[0, 0, 0] = e[1, 1, 0] = True  # shares an edge
    assert count_components(e, 18) == 1 and count_components(e, 6) == 2


def test_lesion_counts_and_f1_hand_computed() -> None:
    # GT: three lesions A, B, C. Prediction hits A (partially), hits B with a blob that also
    # spills outside, misses C, and adds two false positives D, E.
    g = vol(
        (slice(0, 2), slice(0, 2), slice(0, 2)),  # A
        (slice(5, 7), slice(0, 2), slice(0, 2)),  # B
        (slice(0, 2), slice(6, 8), slice(6, 8)),  # C
    )
    p = vol(
        (slice(1, 2), slice(1, 2), slice(1, 2)),  # inside A
        (slice(6, 9), slice(0, 1), slice(0, 1)),  # overlaps B
        (slice(8, 10), slice(8, 10), slice(8, 10)),  # D
        (slice(4, 5), slice(5, 6), slice(0, 1)),  # E
    )
    c = lesion_counts(p, g)
    assert c == LesionCounts(tp=2, fp=2, fn=1, n_gt=3, n_pred=4)
    assert lesion_f1(p, g) == pytest.approx(2 / (2 + (2 + 1) / 2))
    assert lesion_count_difference(p, g) == 1


def test_one_predicted_component_spanning_two_gt_lesions() -> None:
    g = vol((slice(0, 1), slice(0, 1), slice(0, 1)), (slice(0, 1), slice(2, 3), slice(0, 1)))
    p = vol((slice(0, 1), slice(0, 3), slice(0, 1)))  # bridges both
    c = lesion_counts(p, g)
    assert (c.tp, c.fp, c.fn) == (2, 0, 0)
    assert lesion_f1(p, g) == 1.0
    assert lesion_count_difference(p, g) == 1


def test_lesion_f1_empty_conventions() -> None:
    z = np.zeros((3, 3, 3))
    one = z.copy()
    one[1, 1, 1] = 1
    assert lesion_f1(z, z) == 1.0
    assert lesion_f1(z, one) == 0.0  # missed lesion: fn=1
    assert lesion_f1(one, z) == 0.0  # false alarm: fp=1
    assert math.isnan(lesion_counts_f1(LesionCounts(0, 0, 0, 0, 0), empty_value=float("nan")))


def test_large_volume_is_vectorised() -> None:
    # 300 separate single-voxel lesions in a 128^3 volume: a per-component loop over the
    # full volume would take seconds; the vectorised counts take milliseconds.
    rng = np.random.default_rng(0)
    g = np.zeros((128, 128, 128), dtype=bool)
    idx = rng.choice(64**3, size=300, replace=False)
    z, y, x = np.unravel_index(idx, (64, 64, 64))
    g[2 * z, 2 * y, 2 * x] = True
    c = lesion_counts(g, g)
    assert (c.tp, c.fp, c.fn, c.n_gt) == (300, 0, 0, 300)


@pytest.mark.parametrize("layout", ["C", "F", "mixed"])
def test_lesion_counts_match_the_per_component_definition(layout: str) -> None:
    """The vectorised, cropped counts equal the official loop (one comparison per component),
    whatever the arrays' memory order (NIfTI data loads column-major)."""
    import cc3d

    rng = np.random.default_rng({"C": 1, "F": 2, "mixed": 3}[layout])
    for _ in range(10):
        shape = tuple(int(s) for s in rng.integers(5, 30, 3))
        g, p = rng.random(shape) < 0.05, rng.random(shape) < 0.05
        if layout != "C":
            p = np.asfortranarray(p)
        if layout == "F":
            g = np.asfortranarray(g)
        gl, ng = cc3d.connected_components(g.astype(np.uint8), connectivity=26, return_N=True)
        pl, npd = cc3d.connected_components(p.astype(np.uint8), connectivity=26, return_N=True)
        tp = sum(1 for i in range(1, ng + 1) if (p & (gl == i)).any())
        fp = sum(1 for i in range(1, npd + 1) if not (g & (pl == i)).any())
        assert lesion_counts(p, g) == LesionCounts(tp=tp, fp=fp, fn=ng - tp, n_gt=ng, n_pred=npd)


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.uint16, np.int16, np.float32])
def test_nonzero_indices_equals_argwhere(dtype: type) -> None:
    """The row-skipping search finds exactly argwhere's voxels, in its order, on views too."""
    from rexmle.graders.segmentation import nonzero_indices

    rng = np.random.default_rng(0)
    a = np.where(rng.random((13, 17, 19)) < 0.01, rng.integers(-3, 4, (13, 17, 19)), 0).astype(dtype)
    for arr in (a, a[2:11, 3:, ::2], a[5], a[5, 3], np.zeros((4, 5), dtype)):
        assert np.array_equal(nonzero_indices(arr), np.argwhere(arr))


def test_jaccard_hand_computed() -> None:
    from rexmle.graders.segmentation import jaccard

    p = vol((slice(0, 2), slice(0, 2), slice(0, 2)))  # 8 voxels
    g = vol((slice(1, 3), slice(0, 2), slice(0, 2)))  # 8 voxels, 4 shared, union 12
    assert jaccard(p, g) == pytest.approx(4 / 12)
    assert jaccard(g, p) == jaccard(p, g)
    d = dice(p, g)
    assert jaccard(p, g) == pytest.approx(d / (2 - d))
    empty = np.zeros_like(p)
    assert jaccard(empty, g) == 0.0 and jaccard(p, empty) == 0.0
    assert jaccard(empty, empty) == 1.0 and jaccard(empty, empty, empty_value=0.0) == 0.0
    assert jaccard(p, p) == 1.0
    with pytest.raises(ValueError, match="shape mismatch"):
        jaccard(p, g[:5])
