"""COCO bbox AP/AR (pycocotools) on cases small enough to work out by hand."""

from __future__ import annotations

import pytest
from rexmle.graders.coco import STAT_NAMES, coco_bbox_stats

CATS = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]
IMAGES = [{"id": 1, "width": 100, "height": 100}, {"id": 2, "width": 100, "height": 100}]


def gt(image_id: int, cat: int, bbox: list[float], ann_id: int) -> dict[str, object]:
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": cat,
        "bbox": bbox,
        "area": bbox[2] * bbox[3],
        "iscrowd": 0,
    }


def det(image_id: int, cat: int, bbox: list[float], score: float = 0.9) -> dict[str, object]:
    return {"image_id": image_id, "category_id": cat, "bbox": bbox, "score": score}


def main4(s: dict[str, float]) -> tuple[float, float, float, float]:
    return s["ap"], s["ap50"], s["ap75"], s["ar100"]


def test_perfect_detection_is_one() -> None:
    anns = [gt(1, 1, [10, 10, 20, 30], 1), gt(2, 2, [50, 40, 10, 10], 2)]
    dets = [det(1, 1, [10, 10, 20, 30]), det(2, 2, [50, 40, 10, 10], 0.3)]
    s = coco_bbox_stats(IMAGES, anns, CATS, dets)
    assert list(s) == list(STAT_NAMES)
    assert main4(s) == pytest.approx((1.0, 1.0, 1.0, 1.0), abs=1e-12)


def test_one_of_two_boxes_found() -> None:
    # recall reaches 0.5 at precision 1: 51 of the 101 recall points (0, 0.01, ..., 0.5)
    anns = [gt(1, 1, [10, 10, 20, 20], 1), gt(1, 1, [60, 60, 20, 20], 2)]
    s = coco_bbox_stats(IMAGES, anns, CATS, [det(1, 1, [10, 10, 20, 20])])
    assert main4(s) == pytest.approx((51 / 101, 51 / 101, 51 / 101, 0.5))


def test_iou_just_over_and_under_one_half() -> None:
    anns = [gt(1, 1, [0, 0, 10, 10], 1)]
    # IoU 51/100: matched at t = 0.50 only, one of the ten thresholds
    over = coco_bbox_stats(IMAGES, anns, CATS, [det(1, 1, [0, 0, 10, 5.1])])
    assert main4(over) == pytest.approx((0.1, 1.0, 0.0, 0.1))
    # IoU exactly 0.5 still matches at t = 0.5 (the test is iou >= t)
    exact = coco_bbox_stats(IMAGES, anns, CATS, [det(1, 1, [0, 0, 10, 5])])
    assert main4(exact) == pytest.approx((0.1, 1.0, 0.0, 0.1))
    under = coco_bbox_stats(IMAGES, anns, CATS, [det(1, 1, [0, 0, 10, 4.9])])
    assert main4(under) == (0.0, 0.0, 0.0, 0.0)


def test_categories_without_ground_truth_are_left_out() -> None:
    anns = [gt(1, 1, [10, 10, 20, 20], 1)]
    # category 2 is declared but has no box: its false positive is not averaged in (-1 entry);
    # category 9 is not declared at all: never evaluated
    dets = [det(1, 1, [10, 10, 20, 20]), det(1, 2, [50, 50, 10, 10]), det(2, 9, [0, 0, 5, 5])]
    assert main4(coco_bbox_stats(IMAGES, anns, CATS, dets)) == pytest.approx((1.0, 1.0, 1.0, 1.0), abs=1e-12)
    # a declared category with ground truth and no detection counts 0: mean over 2 categories
    anns2 = [*anns, gt(2, 3, [5, 5, 30, 30], 2)]
    assert main4(coco_bbox_stats(IMAGES, anns2, CATS, dets)) == pytest.approx((0.5, 0.5, 0.5, 0.5))
    # no category has ground truth: every statistic is -1
    assert main4(coco_bbox_stats(IMAGES, [], CATS, dets)) == (-1.0, -1.0, -1.0, -1.0)


def test_pooled_over_images_not_averaged() -> None:
    # a hit at score 0.9 in image 1 and a miss at 0.8 in image 2, one box in each image:
    # the pooled curve reaches recall 0.5 at precision 1 -> 51/101 (per-image mean would be 0.5)
    anns = [gt(1, 1, [10, 10, 20, 20], 1), gt(2, 1, [10, 10, 20, 20], 2)]
    dets = [det(1, 1, [10, 10, 20, 20], 0.9), det(2, 1, [70, 70, 20, 20], 0.8)]
    assert main4(coco_bbox_stats(IMAGES, anns, CATS, dets)) == pytest.approx(
        (51 / 101, 51 / 101, 51 / 101, 0.5)
    )
    # the miss ranked above the hit: precision 1/2 at recall 0.5 -> 51 * 0.5 / 101
    dets[1]["score"] = 0.95
    assert coco_bbox_stats(IMAGES, anns, CATS, dets)["ap50"] == pytest.approx(51 * 0.5 / 101)


def test_empty_detections_score_zero() -> None:
    anns = [gt(1, 1, [10, 10, 20, 20], 1)]
    assert main4(coco_bbox_stats(IMAGES, anns, CATS, [])) == (0.0, 0.0, 0.0, 0.0)


def test_detection_on_unknown_image_is_refused() -> None:
    with pytest.raises(ValueError, match="not in the ground truth"):
        coco_bbox_stats(IMAGES, [], CATS, [det(7, 1, [0, 0, 1, 1])])


def test_the_refusal_names_the_first_three_unknown_images() -> None:
    strays = [det(i, 1, [0, 0, 1, 1]) for i in (15, 11, 13, 12, 14)]
    with pytest.raises(ValueError) as e:
        coco_bbox_stats(IMAGES, [], CATS, strays)
    assert str(e.value) == "detections for image id(s) not in the ground truth: [11, 12, 13]"
