"""A multiclass case scored the TopCoW way, against the organisers' end-to-end expected values."""

from __future__ import annotations

import numpy as np
import pytest
from rexmle.graders.multiclass import class_boxes, score_case


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
    from rexmle.graders.multiclass import separated_regions
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
