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
