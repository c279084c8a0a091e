"""clDice, Betti-0, detection and balanced accuracy against hand-computed and organiser values."""

from __future__ import annotations

import numpy as np
import pytest
from rexmle.graders.topology import (
    DetectionCounts,
    balanced_accuracy,
    betti0,
    betti0_error,
    cldice,
    detection_outcome,
    iou,
    labels_present,
    union_labels,
)


def tube(shape: tuple[int, int, int], y: int, z: int, x0: int, x1: int) -> np.ndarray:
    a = np.zeros(shape, dtype=bool)
    a[x0:x1, y, z] = True
    return a


def test_cldice_of_identical_tubes_is_one_and_of_disjoint_is_zero() -> None:
    t = tube((20, 7, 7), 3, 3, 2, 18)
    assert cldice(t, t) == 1.0
    assert cldice(t, tube((20, 7, 7), 0, 0, 2, 18)) == 0.0
    assert cldice(np.zeros((4, 4, 4)), np.zeros((4, 4, 4))) == 0.0


def test_cldice_hand_computed_for_a_half_vessel() -> None:
    # GT: a 1-voxel-thick line of 16 voxels (its own skeleton); prediction: its first 8 voxels.
    gt = tube((20, 5, 5), 2, 2, 2, 18)
    pred = tube((20, 5, 5), 2, 2, 2, 10)
    # tprec: skel(pred) (8 voxels) all inside GT -> 1; tsens: 8 of GT's 16 skeleton voxels in pred
    assert cldice(pred, gt) == pytest.approx(2 * 1.0 * 0.5 / 1.5)


def test_betti0_counts_26_connected_components() -> None:
    a = np.zeros((5, 5, 5), dtype=bool)
    a[0, 0, 0] = a[1, 1, 1] = True  # diagonal neighbours: one component under 26-connectivity
    a[4, 4, 4] = True
    assert betti0(a) == 2
    assert betti0(np.zeros((3, 3, 3))) == 0
    # a vessel broken in two: Betti-0 error 1 against the intact one
    gt = tube((20, 5, 5), 2, 2, 2, 18)
    broken = gt.copy()
    broken[9:11] = False
    assert betti0_error(broken, gt) == 1


def test_organisers_blank_slice_case_betti_errors() -> None:
    # TopCoW_Eval_Metrics test_cls_avg_b0: 3x3x3, indices (x, y, z)
    pred = np.zeros((3, 3, 3), dtype=np.uint8)
    gt = np.zeros((3, 3, 3), dtype=np.uint8)
    pred[:, :, 0] = 7
    gt[2, 0, 1] = gt[0, 2, 1] = 8
    assert betti0_error(pred == 7, gt == 7) == 1
    assert betti0_error(pred == 8, gt == 8) == 2
    assert union_labels(pred, gt) == [7, 8]


def test_detection_pooled_f1_matches_the_organisers_aggregation() -> None:
    # case A: 8 TN, 9 TN, 10 TP, 15 TP; case B: 8 TP, 9 FN, 10 TP, 15 FP -> F1 [1, 0, 1, 2/3]
    counts = {label: DetectionCounts() for label in (8, 9, 10, 15)}
    for outcomes in ({8: "tn", 9: "tn", 10: "tp", 15: "tp"}, {8: "tp", 9: "fn", 10: "tp", 15: "fp"}):
        for label, o in outcomes.items():
            counts[label].add(o)
    f1 = [counts[k].f1 for k in (8, 9, 10, 15)]
    assert f1 == pytest.approx([1.0, 0.0, 1.0, 2 / 3])
    assert np.mean(f1) == pytest.approx(0.6667, abs=1e-4)


def test_detection_outcome_uses_the_iou_threshold() -> None:
    gt = tube((20, 5, 5), 2, 2, 0, 20)
    assert detection_outcome(tube((20, 5, 5), 2, 2, 0, 5), gt) == "tp"  # IoU 0.25 counts
    assert detection_outcome(tube((20, 5, 5), 2, 2, 0, 4), gt) == "fn"  # IoU 0.2
    assert detection_outcome(np.zeros_like(gt), gt) == "fn"
    assert detection_outcome(gt, np.zeros_like(gt)) == "fp"
    assert detection_outcome(np.zeros_like(gt), np.zeros_like(gt)) == "tn"
    assert iou(tube((20, 5, 5), 2, 2, 0, 5), gt) == 0.25


def test_balanced_accuracy_matches_the_organisers_three_class_case() -> None:
    y_true = ["0001"] * 2 + ["0110"] * 4 + ["0100"]
    y_pred = ["0001", "x", "0110", "0110", "y", "y", "z"]  # 1/2, 2/4, 0/1 correct
    assert balanced_accuracy(y_true, y_pred) == pytest.approx(1 / 3)
    assert balanced_accuracy(["a", "a"], ["a", "b"]) == 0.5


def test_labels_present_counts_without_sorting() -> None:
    a = np.zeros((4, 4), dtype=np.uint8)
    a[0, 0], a[1, 1] = 15, 3
    assert labels_present(a) == {3, 15}
    assert labels_present(a.astype(np.int32)) == {3, 15}


def test_neighbour_labels_use_the_full_neighbourhood_and_skip_self_and_background() -> None:
    from rexmle.graders.topology import neighbour_labels, touches

    a = np.zeros((5, 5, 5), dtype=np.uint8)
    a[1, 1, 1] = 4
    a[2, 2, 2] = 6  # diagonal neighbour of label 4: adjacent under 26-connectivity
    a[4, 4, 4] = 12  # two voxels away from label 6: not adjacent
    assert neighbour_labels(a, 4) == [6]
    assert neighbour_labels(a, 6) == [4]
    assert neighbour_labels(a, 12) == [] and neighbour_labels(a, 9) == []
    assert touches(a, 4, 6) and not touches(a, 6, 12)


def test_left_right_flip_on_median_x() -> None:
    from rexmle.graders.topology import left_right_flipped

    a = np.zeros((3, 3, 10), dtype=np.uint8)  # (z, y, x)
    a[1, 1, 7:9] = 6  # L-ICA at larger x (LPS+)
    a[1, 1, 1:3] = 4  # R-ICA
    assert left_right_flipped(a, left=6, right=4, x_axis=2) is False
    assert left_right_flipped(np.flip(a, axis=2), left=6, right=4, x_axis=2) is True
    assert left_right_flipped(a, left=6, right=5, x_axis=2) is None


def test_region_matching_requires_detection_neighbours_and_components() -> None:
    from rexmle.graders.topology import region_matches, variant_string

    gt = np.zeros((3, 3, 12), dtype=np.uint8)
    gt[1, 1, 0:4] = 11
    gt[1, 1, 4:8] = 10
    gt[1, 1, 8:12] = 12
    assert region_matches(gt, gt, (10, 11, 12, 15))
    broken = gt.copy()
    broken[1, 1, 9] = 0  # label 12 in two pieces: Betti-0 differs
    assert not region_matches(broken, gt, (10, 11, 12, 15))
    detached = gt.copy()
    detached[1, 1, 4] = 0  # Acom no longer touches label 11: neighbour lists differ
    assert not region_matches(detached, gt, (10,))
    extra = gt.copy()
    extra[0, 0, 0] = 15  # a label the ground truth lacks: FP
    assert not region_matches(extra, gt, (15,))
    assert variant_string("Ant", [1, 1, 0, 1]) == "Var_Ant_1_1_0_1"


@pytest.mark.parametrize("axes", [None, (2, 1, 0)])
def test_skeleton_per_component_equals_thinning_the_whole_mask(axes: tuple[int, ...] | None) -> None:
    """Thinning each 26-connected piece on its own box gives skimage's skeleton of the whole."""
    from rexmle.graders.topology import skeleton
    from scipy import ndimage
    from skimage.morphology import skeletonize

    rng = np.random.default_rng(3)
    for _ in range(8):
        m = ndimage.binary_dilation(rng.random((26, 30, 22)) < 0.006, iterations=2)
        whole = np.pad(m, 1) if axes is None else np.transpose(np.pad(m, 1), axes)
        ref = np.asarray(skeletonize(whole), dtype=bool)
        if axes is not None:
            ref = np.transpose(ref, np.argsort(axes))
        assert np.array_equal(skeleton(m, axes), ref[1:-1, 1:-1, 1:-1])


def test_invalid_neighbour_error_counts_forbidden_contacts_per_predicted_label() -> None:
    """Labels 1-2 may touch, 3 may touch nothing: 1 touches 2 and 3, 2 touches 1, 3 touches 1,
    4 stands alone -> invalid counts 1 (3), 0, 1 (1), 0 -> mean 0.5; an empty map scores 0."""
    from rexmle.graders import invalid_neighbour_error

    a = np.zeros((3, 5, 12), dtype=np.uint8)
    a[1, 2, 0:3], a[1, 2, 3:5], a[1, 1, 1], a[1, 2, 9:11] = 1, 2, 3, 4
    valid = {1: [2], 2: [1], 3: [], 4: []}
    assert invalid_neighbour_error(a, valid) == pytest.approx(0.5)
    assert invalid_neighbour_error(np.zeros_like(a), valid) == 0.0


# ------------------------------------------------------------------ hand-computed edge cases


def test_cldice_of_half_overlapping_lines_is_one_half() -> None:
    # GT x 2..9, prediction x 6..13 on one 1-voxel line (each its own skeleton): 4 of the
    # prediction's 8 skeleton voxels lie in GT (tprec 1/2) and 4 of GT's 8 in the prediction
    # (tsens 1/2) -> clDice = 2 * 1/4 / 1 = 1/2 (tprec + tsens = 1 exactly, still > 0).
    gt = tube((16, 5, 5), 2, 2, 2, 10)
    pred = tube((16, 5, 5), 2, 2, 6, 14)
    assert cldice(pred, gt) == 0.5
    assert cldice(gt, pred) == 0.5
    # the half vessel of the test above, arguments swapped: tprec 8/16 = 1/2, tsens 1 -> 2/3
    assert cldice(tube((20, 5, 5), 2, 2, 2, 18), tube((20, 5, 5), 2, 2, 2, 10)) == pytest.approx(2 / 3)


def test_cldice_of_a_mask_whose_skeleton_vanishes_is_zero() -> None:
    """skimage's 3-D (Lee) thinning deletes every voxel of a 2x2x2 block (asserted below), so a
    prediction that is one small block has an empty skeleton: tprec = 0 by definition, even
    though the block holds 2 of GT's 12 centreline voxels (x 5, 6; tsens 2/12) -> clDice 0."""
    from rexmle.graders.topology import skeleton

    gt = tube((12, 4, 4), 1, 1, 0, 12)
    block = np.zeros_like(gt)
    block[5:7, 1:3, 1:3] = True
    assert not skeleton(block).any()
    assert cldice(block, gt) == 0.0
    # roles swapped: tprec 2/12, tsens 0 because the reference (the block) has no skeleton
    assert cldice(gt, block) == 0.0


def test_skeleton_and_betti0_in_two_dimensions_use_8_connectivity() -> None:
    from rexmle.graders.topology import skeleton

    # 1-pixel lines are their own skeletons: a row of 6 and a diagonal of 3 (8-connected)
    a = np.zeros((6, 8), dtype=bool)
    a[1, 1:7] = True
    a[3, 1] = a[4, 2] = a[5, 3] = True
    assert np.array_equal(skeleton(a), a)
    # row and diagonal are two pieces; the diagonal is one piece under 8-connectivity
    assert betti0(a) == 2
    assert betti0(a.astype(np.uint8)) == 2
    # a 1-D mask is outside the 2-D/3-D contract: cc3d has no 8-connectivity there
    with pytest.raises(ValueError):
        betti0(np.array([1, 0, 1]))


def test_detection_counts_add_compare_and_f1() -> None:
    c = DetectionCounts()
    assert c == DetectionCounts(0, 0, 0, 0)
    for outcome in ["tp"] * 3 + ["fp"] + ["fn"] * 2 + ["tn"] * 2:
        c.add(outcome)
    assert c == DetectionCounts(tp=3, fp=1, fn=2, tn=2)
    # F1 = 2*3 / (2*3 + 1 + 2) = 6/9
    assert c.f1 == pytest.approx(2 / 3)
    # only TN: 2TP + FP + FN = 0 -> 0 (a label never present scores 0)
    assert DetectionCounts(tn=4).f1 == 0.0


def test_iou_is_zero_when_either_mask_is_empty() -> None:
    gt = tube((6, 3, 3), 1, 1, 0, 6)
    empty = np.zeros_like(gt)
    assert iou(empty, gt) == 0.0
    assert iou(gt, empty) == 0.0
    assert iou(empty, empty) == 0.0
    assert iou(gt, tube((6, 3, 3), 1, 1, 3, 6)) == 0.5  # 3 shared of 6


def variant_string_of(i: int) -> str:
    from rexmle.graders.topology import variant_string

    return variant_string("Ant", [i % 2, 1, 0, 1])


def test_balanced_accuracy_edge_cases() -> None:
    # unequal lengths are refused up front, whichever side is longer (an empty y_true too)
    for y_true, y_pred in ((["a", "b"], ["a"]), (["a"], ["a", "b"]), ([], ["a"]), (["a"], [])):
        with pytest.raises(ValueError, match="differ in length"):
            balanced_accuracy(y_true, y_pred)
    assert balanced_accuracy([], []) == 0.0
    # "b" predicted as "a": recall of class "b" is 0 (no ordering of labels is involved)
    assert balanced_accuracy(["b"], ["a"]) == 0.0
    # equal strings built separately (not the same objects) still count as hits
    y_true = [variant_string_of(i) for i in range(4)]
    y_pred = [variant_string_of(i) for i in range(4)]
    assert y_true[0] is not y_pred[0]
    assert balanced_accuracy(y_true, y_pred) == 1.0
    # equal lengths above 256 (ints Python does not cache): 300 items, classes 0, 1, 2 (100 each); class 0 all right,
    # class 1 (i = 1, 4, ..., 298, odd and even in turn) half right, class 2 all wrong -> (1 + 1/2 + 0) / 3
    t = [i % 3 for i in range(300)]
    p = [c if c == 0 or (c == 1 and i % 2 == 0) else 0 for i, c in enumerate(t)]
    assert balanced_accuracy(t, p) == pytest.approx(0.5)


def test_labels_present_for_signed_and_wide_label_maps() -> None:
    # negative values are non-zero labels too (the counting pass is for small unsigned only)
    assert labels_present(np.array([[-1, 0, 3]], dtype=np.int16)) == {-1, 3}
    assert labels_present(np.array([-2, 0, 5], dtype=np.int8)) == {-2, 5}
    # wide unsigned maps with huge label ids: no counting array of 2**62 entries
    assert labels_present(np.array([0, 7, 2**62], dtype=np.uint64)) == {7, 2**62}
    assert labels_present(np.array([0, 7, 2**33], dtype=np.uint64)) == {7, 2**33}
    assert labels_present(np.array([0, 9, 60000], dtype=np.uint16)) == {9, 60000}
    assert labels_present(np.zeros((2, 2), dtype=np.uint8)) == set()
    # a label on both sides appears once in the union
    pred = np.array([0, 3, 5], dtype=np.uint8)
    gt = np.array([5, 0, 8], dtype=np.uint8)
    assert union_labels(pred, gt) == [3, 5, 8]


def test_class_boxes_are_exact_half_open_boxes() -> None:
    from rexmle.graders.topology import class_boxes

    a = np.zeros((4, 6), dtype=np.uint8)
    a[0, 0] = 3  # one voxel at the origin: rows 0:1, cols 0:1
    a[1:3, 2:5] = 7  # rows 1..2, cols 2..4 -> 1:3, 2:5
    a[3, 1] = 9
    assert class_boxes(a) == {
        3: (slice(0, 1), slice(0, 1)),
        7: (slice(1, 3), slice(2, 5)),
        9: (slice(3, 4), slice(1, 2)),
    }
    # a 1-D map with a single labelled voxel
    assert class_boxes(np.array([0, 3, 0], dtype=np.uint8)) == {3: (slice(1, 2),)}
    # negative values are not classes here (only labels > 0 get a box)
    assert class_boxes(np.array([[-2, 0, 4]], dtype=np.int16)) == {4: (slice(0, 1), slice(2, 3))}
    assert class_boxes(np.zeros((3, 3), dtype=np.int32)) == {}
    with pytest.raises(ValueError):
        class_boxes(np.zeros((2, 2), dtype=np.float32))


def test_label_box_ignores_smaller_and_larger_labels() -> None:
    from rexmle.graders.topology import class_boxes, label_box

    a = np.array(
        [
            [2, 0, 0, 0, 0],
            [0, 0, 5, 5, 0],
            [0, 0, 5, 0, 9],
        ],
        dtype=np.uint8,
    )
    # label 5 spans rows 1..2, cols 2..3
    assert label_box(a, 5) == (slice(1, 3), slice(2, 4))
    assert label_box(a, 5, class_boxes(a)) == (slice(1, 3), slice(2, 4))
    assert label_box(a, 2) == (slice(0, 1), slice(0, 1))
    assert label_box(a, 4) is None and label_box(a, 4, class_boxes(a)) is None


def test_neighbour_labels_read_only_the_labels_own_voxels() -> None:
    """An L-shaped label 5 whose box (rows 0:3, cols 0:3, grown to 0:4) also holds labels 2 and
    9 that touch no voxel of it; label 7 touches its end (0, 2) -> neighbours [7] only."""
    from rexmle.graders.topology import class_boxes, neighbour_labels, touches

    a = np.array(
        [
            [5, 5, 5, 7, 0],
            [5, 0, 0, 0, 0],
            [5, 0, 2, 0, 0],
            [0, 0, 0, 9, 0],
            [0, 0, 0, 0, 0],
        ],
        dtype=np.uint8,
    )
    assert neighbour_labels(a, 5) == [7]
    assert neighbour_labels(a, 5, class_boxes(a)[5]) == [7]
    assert touches(a, 5, 7) and not touches(a, 5, 2) and not touches(a, 5, 9)
    assert neighbour_labels(a, 2) == [9] and neighbour_labels(a, 9) == [2]
    # 1-D map: label 3 is a single voxel next to 4; 6 has only background beside it
    line = np.array([0, 3, 4, 0, 6], dtype=np.uint8)
    assert neighbour_labels(line, 3) == [4]
    assert neighbour_labels(line, 4) == [3]
    assert neighbour_labels(line, 6) == []


def test_invalid_neighbour_error_counts_only_forbidden_contacts() -> None:
    """Chain 1-2-3 (1 touches 2, 2 touches 3): N = {1: {2}, 2: {1, 3}, 3: {2}}. Allowed
    V = {1: {2}, 2: {1, 3}, 3: {1}}: only 3's contact with 2 is forbidden -> (0 + 0 + 1) / 3.
    Allowed labels that are not touched (3 may touch 1) cost nothing."""
    from rexmle.graders import invalid_neighbour_error
    from rexmle.graders.topology import class_boxes

    a = np.zeros((3, 3, 8), dtype=np.uint8)
    a[1, 1, 0:2], a[1, 1, 2:4], a[1, 1, 4:6] = 1, 2, 3
    valid = {1: [2], 2: [1, 3], 3: [1]}
    assert invalid_neighbour_error(a, valid) == pytest.approx(1 / 3)
    assert invalid_neighbour_error(a, valid, class_boxes(a)) == pytest.approx(1 / 3)
    # every contact allowed -> 0
    assert invalid_neighbour_error(a, {1: [2, 3], 2: [1, 3], 3: [1, 2]}) == 0.0


def test_median_coordinate_with_and_without_boxes() -> None:
    from rexmle.graders.topology import class_boxes, left_right_flipped, median_coordinate

    a = np.zeros((3, 10), dtype=np.uint8)  # (y, x)
    a[0, 7:9] = 6  # x 7, 8 -> median 7.5; all in row 0
    a[2, 1:4] = 4  # x 1, 2, 3 -> median 2
    boxes = class_boxes(a)
    for b in (None, boxes):
        assert median_coordinate(a, 6, axis=1, boxes=b) == 7.5
        assert median_coordinate(a, 6, axis=0, boxes=b) == 0.0
        assert median_coordinate(a, 4, axis=1, boxes=b) == 2.0
        assert median_coordinate(a, 4, axis=0, boxes=b) == 2.0
        assert median_coordinate(a, 5, axis=1, boxes=b) is None
    # equal medians (both at x = 2): not flipped, the test is a strict "<"
    same = np.zeros((2, 5), dtype=np.uint8)
    same[0, 1:4] = 6
    same[1, 2] = 4
    assert left_right_flipped(same, left=6, right=4, x_axis=1) is False
    assert left_right_flipped(same, left=6, right=4, x_axis=1, boxes=class_boxes(same)) is False


def test_label_pair_crops_to_the_union_of_the_label_boxes() -> None:
    from rexmle.graders.topology import class_boxes, label_pair

    pred = np.array([[0, 5, 5, 9, 0, 0], [2, 0, 0, 0, 0, 0]], dtype=np.uint8)
    gt = np.array([[0, 0, 9, 0, 5, 0], [0, 0, 2, 0, 0, 9]], dtype=np.uint8)
    bp, bg = class_boxes(pred), class_boxes(gt)
    # label 5: pred cols 1..2, gt col 4, both row 0 -> crop row 0, cols 1:5
    p, g = label_pair(pred, gt, 5, bp, bg)
    assert np.array_equal(p, [[True, True, False, False]])  # pred crop [5, 5, 9, 0]
    assert np.array_equal(g, [[False, False, False, True]])  # gt crop [0, 9, 0, 5]
    # pad 1 grows the crop to rows 0:2 (clipped), cols 0:6
    p1, g1 = label_pair(pred, gt, 5, bp, bg, pad=1)
    assert p1.shape == g1.shape == (2, 6)
    assert np.array_equal(p1, pred == 5) and np.array_equal(g1, gt == 5)
    # without both boxes: the whole volume
    for boxes in ((None, None), (bp, None), (None, bg)):
        pw, gw = label_pair(pred, gt, 5, *boxes)
        assert np.array_equal(pw, pred == 5) and np.array_equal(gw, gt == 5)
    # a label on neither side: two empty crops
    pe, ge = label_pair(pred, gt, 7, bp, bg)
    assert pe.shape == ge.shape == (0, 0)


def test_region_matching_edge_cases() -> None:
    from rexmle.graders.topology import class_boxes, region_matches

    gt = np.zeros((3, 3, 12), dtype=np.uint8)
    gt[1, 1, 0:4] = 11
    gt[1, 1, 4:8] = 10
    gt[1, 1, 8:12] = 12
    labels = (10, 11, 12, 15)
    assert region_matches(gt, gt, labels, boxes_pred=class_boxes(gt), boxes_gt=class_boxes(gt))
    # label 10 cut off from 12: its neighbours [11] against GT's [11, 12] (a shorter list)
    short = gt.copy()
    short[1, 1, 7] = 0
    assert not region_matches(short, gt, (10,))
    assert not region_matches(short, gt, (10,), boxes_pred=class_boxes(short), boxes_gt=class_boxes(gt))
    # GT's label 12 in two pieces, the prediction's in one: Betti-0 1 against 2
    broken = gt.copy()
    broken[1, 1, 9] = 0
    assert not region_matches(gt, broken, (12,))
    # default threshold 0.25: 1 voxel of GT's 8 is IoU 1/8 -> FN, though neighbours ([]) and
    # Betti-0 (1) agree
    g = np.zeros((1, 3, 10), dtype=np.uint8)
    g[0, 1, 0:8] = 10
    p = np.zeros_like(g)
    p[0, 1, 0] = 10
    assert not region_matches(p, g, (10,))
    assert region_matches(p, g, (10,), threshold=0.125)
    # 400 isolated voxels on both sides: Betti-0 400 = 400 (numbers, not objects, compared)
    many = np.zeros((1, 40, 40), dtype=np.uint8)
    many[0, ::2, ::2] = 3
    assert betti0(many == 3) == 400
    assert region_matches(many, many.copy(), (3,))
