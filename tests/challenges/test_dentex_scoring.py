"""DENTEX 2023 grade module (challenges/dentex/grade.py), fast unit tests.

Pinned: ``parse_detections`` / ``check_case`` (the list and ``{"annotations": [...]}`` forms, the
tuple each detection becomes, every refusal with its message and boundary: box sides exactly 0,
10,000 detections, an 8 MiB file, booleans and NaN where numbers are due), and
``score_detections`` / ``score_pooled``: one COCO evaluation per label aspect with that aspect's
``category_id_k`` and ``categories_k``, the AP / AP50 / AP75 / AR@100 statistics and their means
over the three aspects, worked out by hand with COCOeval's rules (101 recall points, greedy
matching by score, categories without ground truth left out), and the refusal of detections for
images without ground truth.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rexmle import challenge
from rexmle.errors import InvalidSubmission

grade = challenge.get("dentex").module("grade")
PUBLIC = Path("unused-public")  # check_case reads nothing from the public folder

GOOD: dict[str, Any] = {
    "bbox": [1, 2, 3, 4],
    "category_id_1": 0,
    "category_id_2": 5,
    "category_id_3": 3,
    "score": 0.5,
}


def _refused(obj: Any) -> str:
    with pytest.raises(InvalidSubmission) as exc:
        grade.parse_detections(obj, "case c")
    return str(exc.value)


# ---------------------------------------------------------------- structure of a prediction


def test_a_detection_becomes_a_tuple_of_floats_ids_and_score() -> None:
    """(x, y, w, h, quadrant, tooth, diagnosis, score): box and score as floats, ids as given."""
    det = {**GOOD, "bbox": [1, 2.5, 3, 4], "score": 1, "extra": "ignored"}
    out = grade.parse_detections([det], "case c")
    assert out == [(1.0, 2.5, 3.0, 4.0, 0, 5, 3, 1.0)]
    assert [type(v) for v in out[0]] == [float] * 4 + [int] * 3 + [float]


def test_the_annotations_wrapper_and_empty_lists_are_accepted() -> None:
    det = {**GOOD, "category_id_1": 2, "category_id_2": 7, "category_id_3": 1, "score": 0.25}
    wrapped = {"annotations": [GOOD, det], "images": []}
    assert grade.parse_detections(wrapped, "case c") == [
        (1.0, 2.0, 3.0, 4.0, 0, 5, 3, 0.5),
        (1.0, 2.0, 3.0, 4.0, 2, 7, 1, 0.25),
    ]
    assert grade.parse_detections([], "case c") == []
    assert grade.parse_detections({"annotations": []}, "case c") == []


@pytest.mark.parametrize(
    ("obj", "kind"),
    [
        ({"boxes": []}, "dict"),  # a dict without "annotations"
        ({"annotations": {"bbox": [1, 2, 3, 4]}}, "dict"),  # "annotations" that is not a list
        ("detections", "str"),
        (None, "NoneType"),
        (7, "int"),
    ],
)
def test_anything_but_a_list_is_refused(obj: Any, kind: str) -> None:
    assert _refused(obj) == f"case c: expected a JSON list of detections, got {kind}"


def test_at_most_ten_thousand_detections_per_image() -> None:
    """MAX_DETECTIONS = 10,000: exactly that many pass, one more is refused."""
    assert len(grade.parse_detections([GOOD] * 10_000, "case c")) == 10_000
    assert _refused([GOOD] * 10_001) == "case c: 10001 detections (at most 10000 per image)"
    assert _refused({"annotations": [GOOD] * 10_001}).startswith("case c: 10001 detections")


def test_a_detection_that_is_not_an_object_is_refused() -> None:
    assert _refused(["x"]) == "case c: detection 0 is not an object"
    assert _refused([GOOD, [1, 2, 3, 4]]) == "case c: detection 1 is not an object"


@pytest.mark.parametrize(
    "bbox",
    [
        None,
        [1, 2, 3],
        [1, 2, 3, 4, 5],
        [],
        "1234",  # four characters are not four numbers
        {"x": 1, "y": 2, "w": 3, "h": 4},
        [1, 2, "3", 4],
        [1, 2, 3, None],
        [True, 2, 3, 4],  # a boolean is not a coordinate
        [1, 2, float("nan"), 4],
        [1, float("inf"), 3, 4],
        [1, 2, 3, float("-inf")],
    ],
)
def test_a_bbox_must_be_four_finite_numbers(bbox: Any) -> None:
    assert _refused([GOOD, {**GOOD, "bbox": bbox}]) == (
        f"case c: detection 1: bbox must be 4 finite numbers [x, y, w, h], got {bbox!r}"
    )


def test_a_missing_bbox_is_refused() -> None:
    det = {k: v for k, v in GOOD.items() if k != "bbox"}
    assert _refused([det]) == "case c: detection 0: bbox must be 4 finite numbers [x, y, w, h], got None"


@pytest.mark.parametrize("bbox", [[10, 10, -0.5, 4], [10, 10, 3, -0.5], [0, 0, -1, -1], [0, 0, -5, 0]])
def test_a_negative_width_or_height_is_refused(bbox: list[float]) -> None:
    assert _refused([{**GOOD, "bbox": bbox}]) == (
        f"case c: detection 0: bbox width and height must be >= 0 ([x, y, w, h]), got {bbox!r}"
    )


@pytest.mark.parametrize(
    "bbox", [[10, 10, 0, 4], [10, 10, 3, 0], [0, 0, 0, 0], [-5, -7, 3, 4], [-0.5, 2, 1, 1]]
)
def test_zero_sides_and_negative_corners_are_accepted(bbox: list[float]) -> None:
    """Only w and h must be >= 0 (boundary 0 included); x and y may lie left of / above the image."""
    out = grade.parse_detections([{**GOOD, "bbox": bbox}], "case c")
    assert out == [(*(float(v) for v in bbox), 0, 5, 3, 0.5)]


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("value", ["missing", None, 1.0, "1", True, False, [1]])
def test_each_category_id_must_be_an_integer(k: int, value: Any) -> None:
    det = {key: v for key, v in GOOD.items() if key != f"category_id_{k}"}
    if value != "missing":
        det[f"category_id_{k}"] = value
    shown = None if value == "missing" else value
    assert _refused([det]) == f"case c: detection 0: category_id_{k} must be an integer, got {shown!r}"


def test_any_integer_category_id_is_accepted() -> None:
    """Ids are not range-checked here: an undeclared id is simply never evaluated (COCO)."""
    det = {**GOOD, "category_id_1": -1, "category_id_2": 0, "category_id_3": 99}
    assert grade.parse_detections([det], "case c") == [(1.0, 2.0, 3.0, 4.0, -1, 0, 99, 0.5)]


@pytest.mark.parametrize("score", ["missing", None, "0.5", True, float("nan"), float("inf"), [0.5]])
def test_the_score_must_be_a_finite_number(score: Any) -> None:
    det = {k: v for k, v in GOOD.items() if k != "score"}
    if score != "missing":
        det["score"] = score
    shown = None if score == "missing" else score
    assert _refused([det]) == f"case c: detection 0: score must be a finite number, got {shown!r}"


# ---------------------------------------------------------------- check_case: reading the file


def _write(tmp_path: Path, text: str, name: str = "img7.json") -> dict[str, Path]:
    path = tmp_path / name
    path.write_text(text)
    return {"predictions_json": path}


def test_check_case_reads_the_json_file(tmp_path: Path) -> None:
    files = _write(tmp_path, json.dumps({"annotations": [GOOD]}))
    assert grade.check_case("img7", files, PUBLIC) == [(1.0, 2.0, 3.0, 4.0, 0, 5, 3, 0.5)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "case img7: img7.json is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        ('{"boxes": []}', "case img7: expected a JSON list of detections, got dict"),
        # JSON's NaN literal parses to a float: still refused as a coordinate
        (
            '[{"bbox": [NaN, 0, 1, 1], "category_id_1": 0, "category_id_2": 0, "category_id_3": 0, "score": 1}]',
            "case img7: detection 0: bbox must be 4 finite numbers [x, y, w, h], got [nan, 0, 1, 1]",
        ),
    ],
)
def test_check_case_refusals_name_the_case(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidSubmission) as exc:
        grade.check_case("img7", _write(tmp_path, text), PUBLIC)
    assert str(exc.value) == message


def test_a_prediction_file_may_hold_at_most_8_mib(tmp_path: Path) -> None:
    """MAX_BYTES = 8 * 1024 * 1024: a file of exactly that size is read, one byte more is not."""
    cap = 8 * 1024 * 1024
    body = json.dumps([GOOD])
    exact = _write(tmp_path, body + " " * (cap - len(body)), "exact.json")
    assert exact["predictions_json"].stat().st_size == cap
    assert grade.check_case("exact", exact, PUBLIC) == [(1.0, 2.0, 3.0, 4.0, 0, 5, 3, 0.5)]
    over = _write(tmp_path, body + " " * (cap + 1 - len(body)), "over.json")
    with pytest.raises(InvalidSubmission) as exc:
        grade.check_case("over", over, PUBLIC)
    assert str(exc.value).startswith("case over: over.json is larger than")


# ---------------------------------------------------------------- scoring


def _ann(i: int, bbox: list[float], q: int, t: int, d: int, image_id: int = 1) -> dict[str, Any]:
    return {
        "id": i,
        "image_id": image_id,
        "bbox": bbox,
        "area": bbox[2] * bbox[3],
        "iscrowd": 0,
        "category_id_1": q,
        "category_id_2": t,
        "category_id_3": d,
    }


def _gt(annotations: list[dict[str, Any]], n_cats: tuple[int, int, int]) -> dict[str, Any]:
    """A COCO ground truth of images a (id 1) and b (id 2), in a subfolder as in the release,
    with 0-based categories 0 .. n-1 declared per aspect."""
    images = [
        {"id": 1, "file_name": "xrays/a.png", "width": 100, "height": 100},
        {"id": 2, "file_name": "xrays/b.png", "width": 100, "height": 100},
    ]
    gt: dict[str, Any] = {"images": images, "annotations": annotations}
    for k, n in zip((1, 2, 3), n_cats, strict=True):
        gt[f"categories_{k}"] = [{"id": c, "name": f"{k}-{c}"} for c in range(n)]
    return gt


def _keys() -> list[str]:
    return [
        f"{m}_{a}" for a in ("quadrant", "enumeration", "diagnosis") for m in ("ap", "ap50", "ap75", "ar")
    ] + [f"{m}_mean" for m in ("ap", "ap50", "ap75", "ar")]


def test_each_aspect_is_evaluated_with_its_own_labels() -> None:
    """Image a: G1 [0,0,10,10] (quadrant 0, tooth 0, diagnosis 0), G2 [20,0,10,10] (1, 0, 1).
    One detection D on G1's box, labelled (0, 0, 1).
    quadrant: class 0 found (AP 1, recall 1), class 1 missed (AP 0, recall 0): AP = AR = 1/2 at
      every IoU threshold.
    enumeration: class 0 has G1 and G2, D finds G1: precision 1 up to recall 1/2, i.e. on 51 of
      the 101 recall points -> AP = 51/101 at every threshold, AR = 1/2 (class 1: no ground truth,
      left out).
    diagnosis: class 0 (G1) has no detection, class 1's D does not touch G2: AP = AR = 0.
    means over the three aspects: AP (1/2 + 51/101 + 0) / 3, AR (1/2 + 1/2 + 0) / 3 = 1/3."""
    gt = _gt([_ann(1, [0, 0, 10, 10], 0, 0, 0), _ann(2, [20, 0, 10, 10], 1, 0, 1)], (2, 2, 2))
    out = grade.score_detections(gt, {"a": [(0.0, 0.0, 10.0, 10.0, 0, 0, 1, 0.9)], "b": []})
    ap_t = 51 / 101
    ap_mean = (1 / 2 + ap_t + 0) / 3
    want = {
        **dict.fromkeys(("ap_quadrant", "ap50_quadrant", "ap75_quadrant", "ar_quadrant"), 0.5),
        **dict.fromkeys(("ap_enumeration", "ap50_enumeration", "ap75_enumeration"), ap_t),
        "ar_enumeration": 0.5,
        **dict.fromkeys(("ap_diagnosis", "ap50_diagnosis", "ap75_diagnosis", "ar_diagnosis"), 0.0),
        **dict.fromkeys(("ap_mean", "ap50_mean", "ap75_mean"), ap_mean),
        "ar_mean": 1 / 3,
    }
    assert list(out) == _keys()
    assert out == pytest.approx(want, abs=1e-12)


def test_iou_thresholds_and_score_order_by_hand() -> None:
    """Image a: one tooth G [0,0,10,10], every label 0. Detections, in file order:
    T [0,0,10,15] score 0.2 (IoU 100 / 150 = 2/3: a hit at t = 0.50, 0.55, 0.60, 0.65 only) and
    F [50,50,10,10] score 0.8 (no overlap). Ranked by score F comes first: precision 0 then 1/2
    at recall 1, so the interpolated precision is 1/2 at all 101 recall points where T hits.
    AP50 = 1/2, AP75 = 0, AP (mean over the 10 thresholds) = 4 * 1/2 / 10 = 0.2,
    AR = 4 hits / 10 thresholds = 0.4; the same in every aspect and so in the means.
    (Ranked in file order instead, T first, AP50 would be 1.)"""
    gt = _gt([_ann(1, [0, 0, 10, 10], 0, 0, 0)], (1, 1, 1))
    dets = [(0.0, 0.0, 10.0, 15.0, 0, 0, 0, 0.2), (50.0, 50.0, 10.0, 10.0, 0, 0, 0, 0.8)]
    out = grade.score_detections(gt, {"a": dets})
    per = {"ap": 0.2, "ap50": 0.5, "ap75": 0.0, "ar": 0.4}
    assert out == pytest.approx({k: per[k.split("_")[0]] for k in _keys()}, abs=1e-12)


def test_a_wrong_label_counts_against_its_own_aspect_only() -> None:
    """Image b, three teeth G1, G2, G3 at x = 0, 20, 40 (10 x 10), labelled (q, t, d) = (0, 1, 2),
    (1, 2, 0), (2, 0, 1). One exact detection per tooth, scores 0.9, 0.8, 0.7, labelled
    (0, 1, 2), (1, 2, 1) (diagnosis wrong), (2, 2, 1) (tooth wrong). Exact boxes: AP = AP50 = AP75.
    quadrant: each class one tooth, one hit -> AP = AR = 1.
    enumeration: class 0 (G3) has no detection -> 0; class 1: G1 hit -> 1; class 2: G2 hit at
      0.8, then G3's detection a false positive at 0.7 -> precision 1 up to recall 1 -> 1.
      AP = AR = (0 + 1 + 1) / 3 = 2/3.
    diagnosis: class 0 (G2) has no detection -> 0; class 1: G2's detection a false positive at
      0.8 before G3's hit at 0.7 -> precision 1/2 at recall 1 -> AP 1/2, recall 1; class 2: G1
      hit -> 1. AP = (0 + 1/2 + 1) / 3 = 1/2, AR = (0 + 1 + 1) / 3 = 2/3."""
    gt = _gt(
        [
            _ann(1, [0, 0, 10, 10], 0, 1, 2, image_id=2),
            _ann(2, [20, 0, 10, 10], 1, 2, 0, image_id=2),
            _ann(3, [40, 0, 10, 10], 2, 0, 1, image_id=2),
        ],
        (3, 3, 3),
    )
    dets = [
        (0.0, 0.0, 10.0, 10.0, 0, 1, 2, 0.9),
        (20.0, 0.0, 10.0, 10.0, 1, 2, 1, 0.8),
        (40.0, 0.0, 10.0, 10.0, 2, 2, 1, 0.7),
    ]
    out = grade.score_detections(gt, {"b": dets})
    ap = {"quadrant": 1.0, "enumeration": 2 / 3, "diagnosis": 1 / 2}
    ar = {"quadrant": 1.0, "enumeration": 2 / 3, "diagnosis": 2 / 3}
    want = {f"{m}_{a}": ap[a] for a in ap for m in ("ap", "ap50", "ap75")}
    want |= {f"ar_{a}": ar[a] for a in ar}
    want |= {f"{m}_mean": (1 + 2 / 3 + 1 / 2) / 3 for m in ("ap", "ap50", "ap75")}
    want["ar_mean"] = (1 + 2 / 3 + 2 / 3) / 3
    assert out == pytest.approx(want, abs=1e-12)


def test_no_detections_score_zero_everywhere() -> None:
    """Ground truth in every aspect and nothing predicted: every statistic 0 (not -1)."""
    gt = _gt([_ann(1, [0, 0, 10, 10], 0, 0, 0)], (1, 1, 1))
    assert grade.score_detections(gt, {"a": [], "b": []}) == dict.fromkeys(_keys(), 0.0)
    assert grade.score_detections(gt, {}) == dict.fromkeys(_keys(), 0.0)


def test_an_image_left_out_of_the_predictions_is_not_an_error() -> None:
    """Only predictions for unknown images are refused; b (no prediction) costs nothing here
    (the harness checks that every test image has a row)."""
    gt = _gt([_ann(1, [0, 0, 10, 10], 0, 0, 0)], (1, 1, 1))
    out = grade.score_detections(gt, {"a": [(0.0, 0.0, 10.0, 10.0, 0, 0, 0, 0.5)]})
    assert out == pytest.approx(dict.fromkeys(_keys(), 1.0), abs=1e-12)


def test_detections_for_images_without_ground_truth_are_refused() -> None:
    """The unknown stems, sorted, at most three named."""
    gt = _gt([], (1, 1, 1))
    loaded: dict[str, list[Any]] = {s: [] for s in ("a", "zz", "yy", "ww", "xx")}
    with pytest.raises(InvalidSubmission) as exc:
        grade.score_detections(gt, loaded)
    assert str(exc.value) == "no ground truth for image(s) ww, xx, yy"
    with pytest.raises(InvalidSubmission) as exc:
        grade.score_detections(gt, {"a": [], "xrays/b": []})
    assert str(exc.value) == "no ground truth for image(s) xrays/b"


def test_score_pooled_reads_the_private_ground_truth(tmp_path: Path) -> None:
    """test_ground_truth.json in the private folder; a perfect detection scores 1 everywhere."""
    gt = _gt([_ann(1, [5, 5, 20, 10], 0, 0, 0, image_id=2)], (1, 1, 1))
    (tmp_path / "test_ground_truth.json").write_text(json.dumps(gt))
    out = grade.score_pooled({"a": [], "b": [(5.0, 5.0, 20.0, 10.0, 0, 0, 0, 0.3)]}, tmp_path)
    assert out == pytest.approx(dict.fromkeys(_keys(), 1.0), abs=1e-12)
