"""A multiclass case scored the TopCoW way, against the organisers' end-to-end expected values."""

from __future__ import annotations

import numpy as np
import pytest
from rexmle.graders.multiclass import class_boxes, score_case, separated_regions


def eight_cubes() -> tuple[np.ndarray, np.ndarray]:
    """TopCoW_Eval_Metrics' 8-cube case: an 8x8x8 volume of eight 4x4x4 cubes labelled 1-8. In
    the prediction label 2 has a central 2x2x2 hole, label 4 is missing, and labels 6 and 8
    are 'solid donuts' (a 2x2 column through the cube removed: 48 voxels)."""
    gt = np.zeros((8, 8, 8), dtype=np.uint8)
    label = 1
    for i in (0, 4):
        for j in (0, 4):
            for k in (0, 4):
                gt[i : i + 4, j : j + 4, k : k + 4] = label
                label += 1
    pred = gt.copy()
    ((x2, y2, z2),) = [tuple(s.start for s in class_boxes(gt)[2])]
    pred[x2 + 1 : x2 + 3, y2 + 1 : y2 + 3, z2 + 1 : z2 + 3] = 0
    pred[pred == 4] = 0
    for lab in (6, 8):
        x, y, z = (s.start for s in class_boxes(gt)[lab])
        pred[x + 1 : x + 3, y + 1 : y + 3, z : z + 4] = 0
    return pred, gt


def test_eight_cube_case_matches_the_organisers_values() -> None:
    pred, gt = eight_cubes()
    s = score_case(pred, gt, spacing=(1.0, 1.0, 1.0))
    assert s.classes[2].dice == pytest.approx(0.9333, abs=1e-4)
    assert s.classes[4].dice == 0.0 and s.classes[4].hd95 == 90.0
    assert s.classes[6].dice == pytest.approx(0.857142857142857) and s.classes[6].hd95 == pytest.approx(1.0)
    assert s.classes[2].hd95 == 0.0
    assert s.dice == pytest.approx(0.8309523809523809, abs=1e-12)
    assert s.hd95 == pytest.approx(11.5)
    assert s.b0_error == pytest.approx(0.125)
    assert s.merged_dice == pytest.approx(0.8869565217391304, abs=1e-12)
    assert s.merged_hd95 == pytest.approx(2.0) and s.merged_hd == pytest.approx(4.0)


def test_union_class_set_penalises_a_label_only_in_the_prediction() -> None:
    gt = np.zeros((10, 10, 10), dtype=np.uint8)
    gt[2:5, 2:5, 2:5] = 1
    pred = gt.copy()
    pred[7:9, 7:9, 7:9] = 5  # a label the ground truth does not have
    s = score_case(pred, gt)
    assert sorted(s.classes) == [1, 5]
    assert s.classes[5].dice == 0.0 and s.classes[5].hd95 == 90.0 and s.classes[5].b0_error == 1
    assert s.dice == pytest.approx(0.5) and s.hd95 == pytest.approx(45.0)


def test_empty_case_and_empty_prediction() -> None:
    z = np.zeros((6, 6, 6), dtype=np.uint8)
    s = score_case(z, z)
    assert (s.dice, s.hd95, s.b0_error, s.merged_dice, s.cldice) == (0.0, 0.0, 0.0, 0.0, 0.0)
    gt = z.copy()
    gt[1:4, 1:4, 1:4] = 3
    s = score_case(z, gt)
    assert s.dice == 0.0 and s.hd95 == 90.0 and s.merged_hd95 == 90.0 and s.cldice == 0.0


def test_anisotropic_spacing_reaches_hd95() -> None:
    gt = np.zeros((5, 6, 7), dtype=np.uint8)
    gt[2, 1:5, 1:6] = 1
    pred = np.zeros_like(gt)
    pred[3, 1:5, 1:6] = 1  # shifted one voxel along axis 0, whose spacing is 2.5 mm
    assert score_case(pred, gt, spacing=(2.5, 0.5, 0.5)).classes[1].hd95 == pytest.approx(2.5)


def test_clDice_by_separated_regions_equals_clDice_on_the_whole_volume() -> None:
    from rexmle.graders.topology import cldice

    rng = np.random.default_rng(5)
    gt = np.zeros((40, 50, 60), dtype=np.uint8)
    gt[2:12, 3:30, 5:9] = 1  # a slab, a tube and a far-away blob (the stray-label case)
    gt[20:23, 10:45, 30:33] = 2
    gt[35:39, 45:49, 55:59] = 3
    pred = np.where(rng.random(gt.shape) < 0.9, gt, 0).astype(np.uint8)
    pred[0:2, 0:2, 58:60] = 7
    boxes = list(class_boxes(pred).values()) + list(class_boxes(gt).values())
    regions = separated_regions(gt.shape, boxes)
    assert len(regions) >= 3  # the far blob and the stray label stay apart
    whole = cldice(pred > 0, gt > 0, axes=(2, 1, 0))
    assert cldice(pred > 0, gt > 0, regions=regions, axes=(2, 1, 0)) == pytest.approx(whole, abs=1e-12)
    assert score_case(pred, gt).cldice == pytest.approx(whole, abs=1e-12)


def test_class_cldice_is_averaged_over_the_union_with_zero_for_one_sided_labels() -> None:
    """Label 1 identical (clDice 1), label 2 only predicted (0): class average 0.5."""
    gt = np.zeros((5, 7, 20), dtype=np.uint8)
    gt[2, 3, 2:18] = 1
    pred = gt.copy()
    pred[2, 5, 2:10] = 2
    s = score_case(pred, gt, with_class_cldice=True)
    assert s.classes[1].cldice == 1.0 and s.classes[2].cldice == 0.0 and s.class_cldice == 0.5
    assert score_case(pred, gt).class_cldice is None


# ---------------------------------------------------------------- hand-worked cases, a behaviour each

SHAPE = (10, 10, 10)


def box(*spans: tuple[int, int]) -> tuple[slice, ...]:
    return tuple(slice(a, b) for a, b in spans)


def spans(regions: list[tuple[slice, ...]]) -> list[tuple[tuple[int, int], ...]]:
    """The regions as sorted (start, stop) tuples: the comparison does not depend on their order."""
    return sorted(tuple((s.start, s.stop) for s in r) for r in regions)


def test_separated_regions_merges_overlapping_boxes_into_their_enclosing_box() -> None:
    # [0,3)^3 and [1,4)^3 share the voxels [1,3)^3: one region, exactly their enclosing [0,4)^3
    # (no padding: the regions only have to hold the boxes' voxels), whichever comes first
    a, b = box((0, 3), (0, 3), (0, 3)), box((1, 4), (1, 4), (1, 4))
    assert separated_regions(SHAPE, [a, b]) == [box((0, 4), (0, 4), (0, 4))]
    assert separated_regions(SHAPE, [b, a]) == [box((0, 4), (0, 4), (0, 4))]
    # a box inside another: the outer one
    outer, inner = box((0, 5), (0, 5), (0, 5)), box((1, 2), (2, 3), (3, 4))
    assert separated_regions(SHAPE, [outer, inner]) == [outer]
    assert separated_regions(SHAPE, [inner, outer]) == [outer]


def test_separated_regions_merges_boxes_that_touch() -> None:
    # [0,2) and [2,4) on axis 0 share no voxel, but voxels 1 and 2 are neighbours: one region,
    # with the later box either above or below the earlier one
    a, b = box((0, 2), (0, 2), (0, 2)), box((2, 4), (0, 2), (0, 2))
    assert separated_regions(SHAPE, [a, b]) == [box((0, 4), (0, 2), (0, 2))]
    assert separated_regions(SHAPE, [b, a]) == [box((0, 4), (0, 2), (0, 2))]
    # corner to corner: voxels (1, 1, 1) and (2, 2, 2) are 26-neighbours
    c = box((2, 4), (2, 4), (2, 4))
    assert separated_regions(SHAPE, [a, c]) == [box((0, 4), (0, 4), (0, 4))]
    assert separated_regions(SHAPE, [c, a]) == [box((0, 4), (0, 4), (0, 4))]


def test_separated_regions_keeps_boxes_one_voxel_apart_as_they_are() -> None:
    # [0,2) and [3,5) on axis 0 leave voxel 2 between them: two regions, each its box unchanged
    a, b = box((0, 2), (0, 2), (0, 2)), box((3, 5), (0, 2), (0, 2))
    assert spans(separated_regions(SHAPE, [a, b])) == [((0, 2), (0, 2), (0, 2)), ((3, 5), (0, 2), (0, 2))]
    # apart on one axis is enough, even overlapping on the other two
    c = box((0, 2), (0, 2), (3, 5))
    assert spans(separated_regions(SHAPE, [a, c])) == [((0, 2), (0, 2), (0, 2)), ((0, 2), (0, 2), (3, 5))]


def test_separated_regions_merges_transitively() -> None:
    # along axis 0: a = [2,4) touches b = [0,2) and c = [4,6); b and c are two voxels apart.
    # Merging a with b must not end the search: the merged [0,4) still touches c -> one region [0,6)
    a, b, c = (box(s, (0, 1), (0, 1)) for s in ((2, 4), (0, 2), (4, 6)))
    assert separated_regions(SHAPE, [a, b, c]) == [box((0, 6), (0, 1), (0, 1))]
    # a = [0,2) touches only b = [2,5), listed last; c = [5,7) touches only b: a ∪ b = [0,5) meets c
    # on a second pass -> [0,7)
    a, b, c = (box(s, (0, 1), (0, 1)) for s in ((0, 2), (2, 5), (5, 7)))
    assert separated_regions(SHAPE, [a, c, b]) == [box((0, 7), (0, 1), (0, 1))]


def test_separated_regions_looks_past_a_first_box_that_touches_nothing() -> None:
    # d = [8,10) touches neither b = [0,2) nor c = [2,4), which touch each other: {d, [0,4)}
    d, b, c = (box(s, (0, 1), (0, 1)) for s in ((8, 10), (0, 2), (2, 4)))
    assert spans(separated_regions(SHAPE, [d, b, c])) == [((0, 4), (0, 1), (0, 1)), ((8, 10), (0, 1), (0, 1))]


def test_hd95_is_numpys_linear_95th_percentile_and_hd_the_maximum() -> None:
    """A 19-voxel line (z = 1..19), predicted with two more voxels past its end (z = 21, 22).

    Every voxel of a one-voxel-thick line is a surface voxel, so pred->gt is 19 zeros, then 2 and
    3 (z = 21 and 22 to the line's end z = 19); gt->pred is all 0 (gt lies inside pred). numpy's
    linear percentile of 21 sorted values at q sits at rank q/100 * 20: q = 95 is rank 19 exactly,
    the value 2.0 (94 would give 0.8 * 2 = 1.6, 96 gives 2 + 0.2 * 1 = 2.2). HD is the maximum, 3.
    Dice 2 * 19 / (21 + 19) = 0.95; Betti-0: pred has 2 pieces (the gap at z = 20), gt 1."""
    gt = np.zeros((3, 3, 26), dtype=np.uint8)
    gt[1, 1, 1:20] = 1
    pred = gt.copy()
    pred[1, 1, 21:23] = 1
    s = score_case(pred, gt)
    c = s.classes[1]
    assert c.hd95 == pytest.approx(2.0) and c.hd == pytest.approx(3.0)
    assert c.dice == pytest.approx(0.95) and c.b0_error == 1
    # one label: the merged mask is the same pair of masks
    assert (s.merged_hd95, s.merged_hd, s.merged_b0_error) == (pytest.approx(2.0), pytest.approx(3.0), 1)


def test_betti0_error_is_the_absolute_difference_of_component_counts() -> None:
    """Label 1: gt one line, pred the line cut in two (2 vs 1: error 1, not 2 XOR 1 = 3).
    Label 2: the other way round (1 vs 2: error 1). Class average 1.0. Merged: 2 + 1 pieces in
    pred, 1 + 2 in gt (the rows y = 1 and y = 5 never touch): error 0."""
    gt = np.zeros((3, 7, 12), dtype=np.uint8)
    pred = np.zeros_like(gt)
    gt[1, 1, 1:10] = 1
    pred[1, 1, 1:4] = pred[1, 1, 6:10] = 1
    gt[1, 5, 1:4] = gt[1, 5, 6:10] = 2
    pred[1, 5, 1:10] = 2
    s = score_case(pred, gt)
    assert (s.classes[1].b0_error, s.classes[2].b0_error) == (1, 1)
    assert s.b0_error == 1.0 and s.merged_b0_error == 0


def test_a_case_without_any_label_scores_zero_on_every_merged_value() -> None:
    # no label on either side: no class, and the merged mask scores 0 everywhere (HD95 and HD 0,
    # not the 90 mm bound of a missing label; Betti-0 error 0)
    z = np.zeros((4, 4, 4), dtype=np.uint8)
    s = score_case(z, z, hd_missing=90.0)
    assert s.classes == {} and (s.dice, s.hd95, s.hd, s.b0_error) == (0.0, 0.0, 0.0, 0.0)
    assert (s.merged_dice, s.merged_hd95, s.merged_hd, s.merged_b0_error) == (0.0, 0.0, 0.0, 0)


@pytest.mark.parametrize(("pred_shape", "gt_shape"), [((4, 4, 4), (4, 4, 5)), ((4, 4, 5), (4, 4, 4))])
def test_prediction_and_ground_truth_of_different_shapes_are_refused(
    pred_shape: tuple[int, ...], gt_shape: tuple[int, ...]
) -> None:
    # either way round (a smaller prediction and a larger one), refused before any metric: without
    # clDice (whose own check would also catch it) the boxes, clipped to one shape, would not
    pred, gt = np.ones(pred_shape, dtype=np.uint8), np.ones(gt_shape, dtype=np.uint8)
    with pytest.raises(ValueError, match="shape mismatch: prediction"):
        score_case(pred, gt, with_cldice=False)


def test_the_merged_mask_is_label_above_zero_whatever_the_label() -> None:
    """The same L of 6 voxels, labelled 2 in gt and 1 in pred. Per class each label is on one
    side only: Dice 0, HD95 = HD = 90, Betti-0 error 1 (averages the same). Merged (label > 0 on
    both sides, the background around the L included in its box) the masks are identical: Dice 1,
    HD95 = HD = 0, Betti-0 error 0, and clDice 1 (identical masks, non-empty skeletons: every
    skeleton voxel of one lies in the other)."""
    gt = np.zeros((3, 5, 6), dtype=np.uint8)
    gt[1, 1, 1:5] = 2
    gt[1, 2:4, 4] = 2
    pred = np.where(gt > 0, 1, 0).astype(np.uint8)
    s = score_case(pred, gt)
    for c in (1, 2):
        assert (s.classes[c].dice, s.classes[c].hd95, s.classes[c].hd, s.classes[c].b0_error) == (
            0.0,
            90.0,
            90.0,
            1,
        )
    assert (s.dice, s.hd95, s.hd, s.b0_error) == (0.0, 90.0, 90.0, 1.0)
    assert (s.merged_dice, s.merged_hd95, s.merged_hd, s.merged_b0_error) == (1.0, 0.0, 0.0, 0)
    assert s.cldice == 1.0


def test_negative_values_are_background_in_the_merged_mask_and_its_clDice() -> None:
    """Two parallel 5-voxel lines of label 1 (rows y = 1 and y = 3), identical on both sides, and
    a -1 between them (y = 2) on both sides. Label > 0 leaves the -1 out: one class, and merged
    masks that are identical (Dice 1, HD 0, clDice 1). Were the -1 foreground on one side it would
    join the lines into an H there (Dice 2 * 10 / 21, a skeleton voxel outside the other mask)."""
    gt = np.zeros((3, 5, 7), dtype=np.int8)
    gt[1, 1, 1:6] = gt[1, 3, 1:6] = 1
    gt[1, 2, 3] = -1
    pred = gt.copy()
    s = score_case(pred, gt)
    assert sorted(s.classes) == [1] and s.classes[1].dice == 1.0
    assert (s.merged_dice, s.merged_hd95, s.merged_hd, s.merged_b0_error) == (1.0, 0.0, 0.0, 0)
    assert s.cldice == 1.0


def test_each_class_is_scored_on_its_two_boxes_grown_by_one_voxel(monkeypatch: pytest.MonkeyPatch) -> None:
    """The crop the module doc promises ("the union of its two boxes, plus a voxel", clipped to the
    volume), seen through the masks :func:`score_class` receives. The metrics themselves do not
    depend on it (outside the crop counts as background); the cost does."""
    from rexmle.graders import multiclass

    shapes: list[tuple[int, ...]] = []
    real = multiclass.score_class

    def spy(p: np.ndarray, g: np.ndarray, *args: object, **kwargs: object) -> multiclass.ClassScores:
        shapes.append(p.shape)
        return real(p, g, *args, **kwargs)

    monkeypatch.setattr(multiclass, "score_class", spy)
    gt = np.zeros((6, 7, 8), dtype=np.uint8)
    pred = np.zeros_like(gt)
    gt[2, 2, 2:4] = 1  # box (2:3, 2:3, 2:4)
    pred[2, 3, 3] = 1  # box (2:3, 3:4, 3:4)
    gt[0, 0, 0] = 2  # box (0:1, 0:1, 0:1), in a corner
    score_case(pred, gt, with_cldice=False)
    # label 1: union (2:3, 2:4, 2:4), plus a voxel (1:4, 1:5, 1:5): 3 x 4 x 4
    # label 2: (0:1)^3 plus a voxel, clipped at 0: (0:2)^3, 2 x 2 x 2
    # merged: union of all (0:3, 0:4, 0:4), plus a voxel (0:4, 0:5, 0:5): 4 x 5 x 5
    assert shapes == [(3, 4, 4), (2, 2, 2), (4, 5, 5)]
