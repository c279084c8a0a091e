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
    a: np.ndarray = np.where(rng.random((13, 17, 19)) < 0.01, rng.integers(-3, 4, (13, 17, 19)), 0).astype(
        dtype
    )
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


# --- hand-computed cases for the paths the tests above leave open (mutation testing) ---------


def line(*values: float, dtype: type = np.int16) -> np.ndarray:
    """A (1, 1, N) volume: one row of voxels along the last axis, so components are runs."""
    return np.array(values, dtype=dtype).reshape(1, 1, -1)


def test_negative_values_are_foreground() -> None:
    # Any non-zero voxel is foreground, negative ones too: P = {0, 4}, G = {0, 4} -> Dice 1.
    # (Were only positive values foreground, P = {4}: Dice 2*1/3.)
    p, g = line(-1, 0, 0, 0, 2), line(1, 0, 0, 0, 1)
    assert dice(p, g) == 1.0
    # P has two components {0} and {4} (values -1 and -3), G one ({0}): tp 1, fp 1 ({4}), fn 0.
    assert lesion_counts(line(-1, 0, 0, 0, -3), line(1, 0, 0, 0, 0)) == LesionCounts(1, 1, 0, 1, 2)


def test_volume_difference_is_a_difference() -> None:
    # |G| = 2, |P| = 1: | 2 - 1 | = 1 voxel of 0.5 ml = 0.5 ml (2 XOR 1 would be 3 voxels, 1.5 ml).
    g, p = line(1, 1, 0), line(0, 0, 1)
    assert abs_volume_difference_ml(p, g, 0.5) == 0.5
    assert abs_volume_difference_ml(g, p, 0.5) == 0.5  # absolute: symmetric


def test_count_components_defaults_to_26_connectivity() -> None:
    m = np.zeros((2, 2, 2), dtype=bool)
    m[0, 0, 0] = m[1, 1, 1] = True  # only a corner shared: one component under 26, two under 18
    assert count_components(m) == 1
    assert lesion_count_difference(m, m) == 0


def test_connectivity_type_admits_exactly_what_cc3d_accepts() -> None:
    """Each value the ``Connectivity`` type lets a caller pass is a connectivity cc3d labels
    with (4 and 8 in 2-D; 6, 18 and 26 in 3-D), and counts as documented."""
    from typing import get_args

    from rexmle.graders.segmentation import Connectivity

    diag2 = np.eye(2, dtype=bool)  # two pixels sharing a corner: 2 under 4-, 1 under 8-connectivity
    corner3 = np.zeros((2, 2, 2), dtype=bool)
    corner3[0, 0, 0] = corner3[1, 1, 1] = True  # shares a vertex only: 1 under 26, else 2
    expected = {4: (diag2, 2), 8: (diag2, 1), 6: (corner3, 2), 18: (corner3, 2), 26: (corner3, 1)}
    admitted = get_args(Connectivity)
    assert sorted(admitted) == sorted(expected)
    for c in admitted:
        mask, n = expected[c]
        assert count_components(mask, c) == n


def test_lesion_counts_is_a_frozen_hashable_value() -> None:
    import dataclasses

    c = LesionCounts(tp=1, fp=0, fn=0, n_gt=1, n_pred=1)
    assert {c, LesionCounts(1, 0, 0, 1, 1)} == {c}  # equal values hash alike
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(c, "tp", 2)  # noqa: B010 (the assignment a caller would write)


def test_lesion_counts_f1_hand_computed() -> None:
    # F1 = TP / (TP + (FP + FN) / 2); the fallback only when TP + FP + FN = 0.
    assert lesion_counts_f1(LesionCounts(0, 0, 0, 0, 0)) == 1.0  # default: "no lesion" is right
    assert lesion_counts_f1(LesionCounts(tp=1, fp=1, fn=1, n_gt=2, n_pred=2)) == 0.5  # 1 / (1 + 1)
    assert lesion_counts_f1(LesionCounts(tp=1, fp=0, fn=1, n_gt=2, n_pred=1)) == 1 / 1.5  # 2/3
    assert lesion_counts_f1(LesionCounts(tp=1, fp=1, fn=0, n_gt=1, n_pred=2)) == 1 / 1.5  # 2/3
    assert lesion_counts_f1(LesionCounts(tp=0, fp=1, fn=1, n_gt=1, n_pred=1)) == 0.0  # 0 / 1
    # The same from masks: G runs {0,1} and {4}; P runs {1} (hits G's first) and {6} (hits none):
    # tp 1, fn 1 ({4}), fp 1 ({6}) -> F1 = 1 / (1 + 2/2) = 0.5.
    g, p = line(1, 1, 0, 0, 1, 0, 0, 0), line(0, 1, 0, 0, 0, 0, 1, 0)
    assert lesion_counts(p, g) == LesionCounts(tp=1, fp=1, fn=1, n_gt=2, n_pred=2)
    assert lesion_f1(p, g) == 0.5


def test_crop_to_union_hand_computed() -> None:
    from rexmle.graders.segmentation import crop_to_union

    p = np.zeros((4, 5, 6), dtype=bool)
    g = np.zeros((4, 5, 6), dtype=bool)
    p[1, 2, 3] = True
    g[2, 1, 3] = True
    # Union {(1,2,3), (2,1,3)}: box rows 1..2, columns 1..2, slice 3 only -> shape (2, 2, 1),
    # with P at (1-1, 2-1, 0) = (0, 1, 0) and G at (1, 0, 0).
    cp, cg = crop_to_union(p, g)
    assert cp.shape == cg.shape == (2, 2, 1)
    assert np.argwhere(cp).tolist() == [[0, 1, 0]] and np.argwhere(cg).tolist() == [[1, 0, 0]]
    assert np.shares_memory(cp, p) and np.shares_memory(cg, g)  # views, not copies
    # Both empty: both crops are empty, shape (0, 0, 0).
    ep, eg = crop_to_union(np.zeros((3, 4, 5), bool), np.zeros((3, 4, 5), bool))
    assert ep.shape == eg.shape == (0, 0, 0)
    # G fills the whole first plane and P is absent there: the box must still start at plane 0
    # (P at (2, 0, 0)), so the crop is the whole (3, 2, 2) volume.
    g2 = np.zeros((3, 2, 2), dtype=bool)
    g2[0] = True
    p2 = np.zeros((3, 2, 2), dtype=bool)
    p2[2, 0, 0] = True
    cp2, cg2 = crop_to_union(p2, g2)
    assert cp2.shape == cg2.shape == (3, 2, 2) and int(cg2.sum()) == 4


def test_lesion_counts_keep_a_ground_truth_plane_at_the_border() -> None:
    # G: the whole plane x = 0 (one lesion of 4 voxels); P: the voxel (2, 0, 0), not touching it.
    # tp 0, fn 1, fp 1, F1 = 0 / (0 + 2/2) = 0; the empty-union fallback must not apply.
    g = np.zeros((3, 2, 2), dtype=bool)
    g[0] = True
    p = np.zeros((3, 2, 2), dtype=bool)
    p[2, 0, 0] = True
    assert lesion_counts(p, g) == LesionCounts(tp=0, fp=1, fn=1, n_gt=1, n_pred=1)
    assert lesion_f1(p, g) == 0.0
    assert lesion_counts(np.zeros_like(p), g) == LesionCounts(tp=0, fp=0, fn=1, n_gt=1, n_pred=0)


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_nonzero_indices_rows_full_or_negative(dtype: type) -> None:
    """Rows with no zero at all, or only negative values, hold foreground too."""
    from rexmle.graders.segmentation import nonzero_indices

    a: np.ndarray = np.array([[1, 1], [0, 0], [-1, -1], [0, 2]], dtype=dtype)
    # row 0: both; row 1: none; row 2: both (negative); row 3: column 1.
    want = [[0, 0], [0, 1], [2, 0], [2, 1], [3, 1]]
    assert nonzero_indices(a).tolist() == want
    assert nonzero_indices(a[None]).tolist() == [[0, *w] for w in want]  # the same in 3-D


def test_overlap_metrics_emit_no_warnings() -> None:
    """Voxels predicted where the ground truth is empty (and vice versa) are ordinary input:
    no division by zero or invalid-value warning on the way (they would flood grading logs)."""
    import warnings

    from rexmle.graders.segmentation import jaccard

    p, g = line(1, 1, 0, 0), line(0, 1, 1, 0)  # |P| = |G| = 2, one shared voxel
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dice(p, g) == 0.5  # 2 * 1 / 4
        assert jaccard(p, g) == 1 / 3  # 1 / |{0, 1, 2}|
        assert lesion_counts(p, g) == LesionCounts(tp=1, fp=0, fn=0, n_gt=1, n_pred=1)


def test_empty_scalar_masks() -> None:
    # A 0-d mask (a scalar "no lesion" call) is empty: no component, nothing to count, F1 falls
    # back to empty_value; the memory-order check must not look for strides a scalar lacks.
    z = np.zeros((), dtype=bool)
    assert count_components(z) == 0
    assert lesion_counts(z, z) == LesionCounts(0, 0, 0, 0, 0)
    assert lesion_f1(False, False) == 1.0
    assert dice(z, z) == 1.0


@pytest.mark.parametrize("layout", ["C", "F", "reversed", "transposed"])
def test_lesion_counts_hand_computed_in_any_memory_order(layout: str) -> None:
    # G: lesions A = [0:2, 0:2, 0] and B = (3, 4, 2); P: (1, 1, 0) inside A, and C = (3, 0, 2).
    # tp 1 (A), fn 1 (B), fp 1 (C). Each view changes strides only, never which voxel is where,
    # and the same view of both masks keeps them aligned.
    g = np.zeros((4, 5, 3), dtype=bool)
    g[0:2, 0:2, 0] = True
    g[3, 4, 2] = True
    p = np.zeros((4, 5, 3), dtype=bool)
    p[1, 1, 0] = True
    p[3, 0, 2] = True

    def view(a: np.ndarray) -> np.ndarray:
        if layout == "F":
            return np.asfortranarray(a)
        if layout == "reversed":
            return np.asfortranarray(a)[::-1, :, ::-1]
        return a.T if layout == "transposed" else a

    assert lesion_counts(view(p), view(g)) == LesionCounts(tp=1, fp=1, fn=1, n_gt=2, n_pred=2)
    # Mixed: the prediction column-major, the ground truth C-ordered.
    assert lesion_counts(np.asfortranarray(view(p)), np.ascontiguousarray(view(g))).tp == 1
