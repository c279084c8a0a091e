"""The NeurIPS-CellSeg cell F1 (rexmle.graders.instances) on cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from rexmle.graders import instances
from rexmle.graders.instances import MatchCounts, cell_f1, f1_at_thresholds, image_counts

ALL = (0.5, 0.6, 0.7, 0.8, 0.9)


def _box(img: np.ndarray, label: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    img[y0:y1, x0:x1] = label
    return img


def test_iou_thresholds_of_one_cell() -> None:
    gt = _box(np.zeros((30, 30), np.uint16), 1, 10, 20, 10, 20)  # 100 pixels
    pred = _box(np.zeros((30, 30), np.int32), 7, 10, 20, 10, 18)  # 80 pixels inside: IoU 0.8
    assert image_counts(gt, pred) == MatchCounts(1, 1, (1, 1, 1, 1, 0))
    assert cell_f1(gt, pred) == {0.5: 1.0, 0.6: 1.0, 0.7: 1.0, 0.8: 1.0, 0.9: 0.0}
    # a second, unmatched predicted cell: P = 1/2, R = 1, F1 = 2/3 -> rounded to 4 decimals
    _box(pred, 9, 22, 26, 22, 26)
    assert cell_f1(gt, pred)[0.5] == 0.6667
    assert cell_f1(gt, pred, decimals=None)[0.5] == pytest.approx(2 / 3, abs=1e-15)


def test_border_cells_are_removed_within_two_pixels() -> None:
    gt = np.zeros((20, 20), np.uint16)
    _box(gt, 1, 1, 5, 5, 9)  # touches row 1: inside the 2-pixel frame, removed
    _box(gt, 2, 2, 6, 12, 16)  # starts at row 2: kept
    _box(gt, 3, 10, 18, 2, 6)  # touches column 2 only: kept
    _box(gt, 4, 12, 19, 12, 16)  # reaches row 18 of 20: removed
    pred = gt.astype(np.int32)
    assert image_counts(gt, pred) == MatchCounts(2, 2, (2,) * 5)
    # a prediction that misses only the border cells is perfect
    pred[pred == 1] = 0
    pred[pred == 4] = 0
    assert cell_f1(gt, pred) == dict.fromkeys(ALL, 1.0)
    # a predicted border cell where there is none counts nothing either
    _box(pred, 50, 0, 3, 0, 3)
    assert image_counts(gt, pred) == MatchCounts(2, 2, (2,) * 5)


def test_empty_images() -> None:
    gt = _box(np.zeros((20, 20), np.uint16), 1, 5, 10, 5, 10)
    empty = np.zeros_like(gt)
    # no prediction: TP = FP = FN = 0 (the official rule), F1 0
    assert image_counts(gt, empty) == MatchCounts(1, 0, (0,) * 5)
    assert cell_f1(gt, empty) == dict.fromkeys(ALL, 0.0)
    # no ground truth: every prediction is a false positive, F1 0
    assert image_counts(empty, gt) == MatchCounts(0, 1, (0,) * 5)
    assert cell_f1(empty, gt) == dict.fromkeys(ALL, 0.0)
    # both empty: TP = 0 gives F1 = 0 (not 1)
    assert cell_f1(empty, empty) == dict.fromkeys(ALL, 0.0)
    # only border cells left: as empty
    only_border = _box(np.zeros((20, 20), np.uint16), 3, 0, 4, 0, 4)
    assert cell_f1(only_border, only_border) == dict.fromkeys(ALL, 0.0)


def test_split_cell_matches_only_one_half() -> None:
    gt = _box(np.zeros((30, 40), np.uint16), 1, 10, 20, 10, 30)  # 200 pixels
    pred = np.zeros((30, 40), np.int32)
    _box(pred, 1, 10, 20, 10, 20)
    _box(pred, 2, 10, 20, 20, 30)  # two halves, each IoU exactly 0.5 with the cell
    # Hungarian matching pairs the cell with one half only: TP 1, FP 1 -> P 1/2, R 1, F1 2/3
    assert image_counts(gt, pred) == MatchCounts(1, 2, (1, 0, 0, 0, 0))
    assert cell_f1(gt, pred) == {0.5: 0.6667, 0.6: 0.0, 0.7: 0.0, 0.8: 0.0, 0.9: 0.0}
    # and the mirror image: two true halves merged into one prediction
    assert image_counts(pred, gt) == MatchCounts(2, 1, (1, 0, 0, 0, 0))


def test_labels_need_not_be_sequential_nor_one_type() -> None:
    gt = np.zeros((30, 30), np.uint16)
    _box(gt, 3, 5, 10, 5, 10)
    _box(gt, 9, 15, 25, 15, 25)
    pred = np.zeros((30, 30), np.int64)
    _box(pred, 70_000, 5, 10, 5, 10)
    _box(pred, 2**31 - 1, 15, 25, 15, 24)  # IoU 90 / 100
    assert image_counts(gt, pred) == MatchCounts(2, 2, (2, 2, 2, 2, 2))


def test_large_images_are_scored_in_2000_pixel_tiles() -> None:
    # 5000 x 5000 = 25e6 pixels: padded to 6000 x 6000, nine tiles
    gt = np.zeros((5000, 5000), np.uint16)
    _box(gt, 1, 100, 120, 1990, 2010)  # cut by the tile line x = 2000: a border cell of two tiles
    _box(gt, 2, 3000, 3020, 3000, 3020)  # inside the centre tile
    _box(gt, 3, 4985, 4995, 100, 120)  # 3 px from the image's edge, deep inside its padded tile
    pred = gt.astype(np.int32)
    pred[pred == 1] = 0  # missing the cut cell costs nothing
    assert image_counts(gt, pred) == MatchCounts(2, 2, (2,) * 5)
    assert cell_f1(gt, pred) == dict.fromkeys(ALL, 1.0)
    # the same scene shrunk 100x with the limits shrunk alike: 2500 pixels or more are tiled
    # (here in 20 x 20 tiles), 49 x 49 = 2401 pixels are not, and then the cut cell counts
    small_gt = np.zeros((50, 50), np.uint16)
    _box(small_gt, 1, 5, 9, 17, 23)  # cut by the tile line x = 20
    _box(small_gt, 2, 25, 30, 25, 30)
    small_pred = small_gt.astype(np.int32)
    small_pred[small_pred == 1] = 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(instances, "TILE", 20)
        mp.setattr(instances, "LARGE_IMAGE_PIXELS", 2500)
        assert image_counts(small_gt, small_pred) == MatchCounts(1, 1, (1,) * 5)
        assert image_counts(small_gt[:49, :49], small_pred[:49, :49]) == MatchCounts(2, 1, (1,) * 5)
        assert cell_f1(small_gt[:49, :49], small_pred[:49, :49])[0.5] == 0.6667


def test_f1_at_thresholds() -> None:
    assert f1_at_thresholds(MatchCounts(4, 2, (2, 1, 0, 0, 0))) == (0.6667, 0.3333, 0.0, 0.0, 0.0)
    assert f1_at_thresholds(MatchCounts(3, 3, (3,) * 5)) == (1.0,) * 5


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="one shape"):
        image_counts(np.zeros((4, 4), np.uint16), np.zeros((4, 5), np.uint16))
