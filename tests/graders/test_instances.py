"""The NeurIPS-CellSeg cell F1 (rexmle.graders.instances) on cases worked out by hand."""

from __future__ import annotations

import dataclasses

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


def test_an_image_of_no_pixels_has_no_cells() -> None:
    # a 0 x 0 image: no label at all (the largest label is taken as 0), nothing to count
    none = np.zeros((0, 0), np.int64)
    assert image_counts(none, none) == MatchCounts(0, 0, (0,) * 5)


def test_huge_label_values_are_renumbered_in_order() -> None:
    # labels far beyond any look-up table (2**62): renumbered 1..n in the order of their values
    mask = np.zeros((8, 8), np.int64)
    mask[2:4, 2:4] = 2**62  # inside the 2-pixel frame (rows/cols 2..5 are inside)
    mask[4:6, 4:6] = 1
    mask[2, 5] = 5  # one pixel, still inside
    mask[0:3, 6:8] = 70_000  # reaches into the frame: dropped
    expected = np.zeros((8, 8), np.int32)
    expected[2:4, 2:4] = 3  # values kept 1 < 5 < 2**62 -> 1, 2, 3 (three: an odd count)
    expected[4:6, 4:6] = 1
    expected[2, 5] = 2
    relabelled, n = instances._relabel_without_border(mask)
    assert n == 3
    assert relabelled.tolist() == expected.tolist()
    # without a frame 70_000 stays (1 < 5 < 70_000 < 2**62 -> 1..4) and the background stays 0
    expected[0:3, 6:8] = 3
    expected[2:4, 2:4] = 4
    relabelled, n = instances._relabel_without_border(mask, 0)
    assert n == 4
    assert relabelled.tolist() == expected.tolist()
    # the same mask as ground truth and prediction: three perfect matches
    assert image_counts(mask, mask) == MatchCounts(3, 3, (3,) * 5)


def test_background_inside_a_frame_filling_cell_is_no_cell() -> None:
    # a ring cell fills the whole 2-pixel frame, so no background pixel lies in the frame; the
    # background inside the ring is still no instance: one cell (label 4) remains
    mask = np.full((8, 8), 9, np.uint16)
    mask[2:6, 2:6] = 0
    mask[3:5, 3:5] = 4
    relabelled, n = instances._relabel_without_border(mask)
    assert n == 1
    assert relabelled.tolist() == (mask == 4).astype(int).tolist()
    assert image_counts(mask, mask) == MatchCounts(1, 1, (1,) * 5)


def test_a_one_pixel_cell_is_a_cell() -> None:
    gt = np.zeros((10, 10), np.uint16)
    gt[5, 5] = 3  # a single pixel: IoU 1 with the identical prediction
    assert image_counts(gt, gt) == MatchCounts(1, 1, (1,) * 5)


def test_tile_counts_without_border_removal() -> None:
    gt = np.zeros((10, 10), np.uint16)
    _box(gt, 1, 0, 2, 0, 3)  # touches the image's corner
    _box(gt, 2, 4, 6, 4, 6)  # 2 pixels from every edge
    # remove_border=False keeps the corner cell: two perfect matches; the default removes it
    assert instances.tile_counts(gt, gt, remove_border=False) == MatchCounts(2, 2, (2,) * 5)
    assert instances.tile_counts(gt, gt) == MatchCounts(1, 1, (1,) * 5)


def test_many_cells() -> None:
    # 8 x 9 = 72 cells of 2 x 2 pixels on a 4-pixel grid, none in the frame; identical prediction:
    # 72 disjoint perfect matches (the overlap table has 73 * 73 entries)
    gt = np.zeros((40, 40), np.uint16)
    for i in range(8):
        for j in range(9):
            _box(gt, 1 + 9 * i + j, 3 + 4 * i, 5 + 4 * i, 2 + 4 * j, 4 + 4 * j)
    assert image_counts(gt, gt) == MatchCounts(72, 72, (72,) * 5)
    # each predicted cell loses its right column: 2 of 4 pixels, IoU 2 / 4 = 0.5 each
    pred = gt.copy()
    pred[:, 3::4] = 0
    assert image_counts(gt, pred) == MatchCounts(72, 72, (72, 0, 0, 0, 0))


def test_one_pixel_per_cell_uses_the_sparse_overlap_table() -> None:
    # 20 x 20 pixels, each its own cell, no frame removed: 400 cells; (400 + 1)**2 table entries
    # exceed 4 * 400 + 65536, so the overlaps come from np.unique on the pair keys
    gt = np.arange(1, 401, dtype=np.int32).reshape(20, 20)
    assert instances.tile_counts(gt, gt, remove_border=False) == MatchCounts(400, 400, (400,) * 5)
    # prediction: horizontal dominoes (200 cells of 2 pixels); each pixel has IoU 1 / 2 with its
    # domino, each domino can take one of its two pixels: TP 200 at 0.5, none above
    dominoes = (np.arange(400, dtype=np.int32) // 2 + 1).reshape(20, 20)
    assert instances.tile_counts(gt, dominoes, remove_border=False) == MatchCounts(
        400, 200, (200, 0, 0, 0, 0)
    )


def test_background_is_never_matched() -> None:
    # a big true cell (16 x 16 = 256 px, rows/cols 2..17) and a 1-pixel predicted cell inside it:
    # IoU 1 / 256, no match. (The cell against the predicted background, 399 px, would have
    # IoU 255 / (256 + 399 - 255) = 0.6375, but background is no instance.)
    big = _box(np.zeros((20, 20), np.uint16), 1, 2, 18, 2, 18)
    dot = np.zeros((20, 20), np.uint16)
    dot[9, 9] = 1
    assert image_counts(big, dot) == MatchCounts(1, 1, (0,) * 5)
    assert image_counts(dot, big) == MatchCounts(1, 1, (0,) * 5)


def test_images_must_be_2d_of_one_shape() -> None:
    with pytest.raises(ValueError, match="one shape"):
        image_counts(np.zeros((4, 5), np.uint16), np.zeros((4, 4), np.uint16))
    with pytest.raises(ValueError, match="one shape"):
        image_counts(np.zeros((2, 4, 4), np.uint16), np.zeros((2, 4, 4), np.uint16))
    with pytest.raises(ValueError, match="one shape"):
        image_counts(np.zeros(4, np.uint16), np.zeros(4, np.uint16))


def test_match_counts_add_and_are_frozen() -> None:
    total = MatchCounts(1, 2, (1, 0)) + MatchCounts(3, 4, (2, 1))
    assert total == MatchCounts(4, 6, (3, 1))
    with pytest.raises(ValueError):  # one TP per threshold on both sides
        MatchCounts(1, 1, (1,)) + MatchCounts(1, 1, (1, 1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        total.n_true = 0


def test_official_constants() -> None:
    # the official code: 2-pixel boundary, 2000-pixel tiles from 25e6 pixels on
    assert instances.BORDER == 2
    assert instances.TILE == 2000
    assert instances.LARGE_IMAGE_PIXELS == 25_000_000
    assert instances.THRESHOLDS == ALL


def test_tiles_start_at_the_origin_and_count_one_sided_tiles() -> None:
    # 60 x 60 = 3600 >= 2500 pixels with the limits shrunk 100x: 3 x 3 tiles of 20 x 20
    gt = np.zeros((60, 60), np.uint16)
    _box(gt, 1, 2, 5, 2, 5)  # rows/cols 2..4 of tile (0, 0): just inside its frame
    _box(gt, 2, 25, 30, 25, 30)  # inside tile (1, 1), which has no predicted pixel
    _box(gt, 3, 45, 50, 17, 23)  # cut by the tile line x = 20: a border cell of both tiles
    pred = gt.astype(np.int32)
    pred[pred == 2] = 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(instances, "TILE", 20)
        mp.setattr(instances, "LARGE_IMAGE_PIXELS", 2500)
        # true cells 1 and 2 (a miss), predicted cell 1 (cell 3 is cut): TP 1
        assert image_counts(gt, pred) == MatchCounts(2, 1, (1,) * 5)
