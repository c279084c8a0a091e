"""Fast unit tests of the PUMA graders (``challenges/_puma/grading.py``), shared by the four tasks.

Pinned, with every expected number worked out by hand from the organisers' evaluation
(``tueimage/PUMA-challenge-eval-track2`` at cb847d1: ``evaluate_tissue.py``, ``eval_nuclei.py``,
``evaluate.py``):

- tissue: the label-map checks (header pixel cap, PIL modes, values 0-5, unreadable files) with
  their exact messages, the 1024 x 1024 nearest resize, the per-case counts and smoothed Dice
  (1 when a class is in neither mask), and the pooled micro Dice and its five-class mean;
- nuclei: every check of the "Multiple polygons" JSON (object, polygon, name, path points,
  score, the 64 MiB cap) with its exact message, the centroid (mean of x, y; z ignored), the
  skipping of polygons of fewer than 3 points, the default score, the strict 15 px match
  radius, per-case F1 and presence flags, and the macro F1 over the classes seen;
- the graders the four tasks use (``TISSUE``, ``nuclei_grader``) run on tiny files.
"""

from __future__ import annotations

import json
import math
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from rexmle.challenges._puma import grading
from rexmle.graders.points import Point

from rexmle.challenge_api import InvalidSubmission

T1 = ("nuclei_tumor", "nuclei_lymphocyte", "nuclei_other")  # track 1's graded classes
NOT_ONE_OF = "is not one of nuclei_tumor, nuclei_lymphocyte, nuclei_other"
PATH_POINTS = "path_points must be a list of [x, y] or [x, y, z] numbers"
E = 1e-5  # the organisers' eps (evaluate_tissue.py)
#: grading must not trip numpy's warnings (a divide by zero there is wrong arithmetic)
pytestmark = pytest.mark.filterwarnings("error")


def _refusal(fn: Any, *args: Any) -> str:
    with pytest.raises(InvalidSubmission) as info:
        fn(*args)
    return str(info.value)


def _save(arr: np.ndarray, path: Path) -> Path:
    Image.fromarray(arr).save(path)
    return path


# --- tissue: reading a label map -------------------------------------------------------------


def test_label_map_is_resized_to_1024_nearest(tmp_path: Path) -> None:
    """A 2 x 2 map becomes 1024 x 1024, each pixel a 512 x 512 block (PIL nearest), as uint8."""
    p = _save(np.array([[1, 2], [3, 5]], np.uint8), tmp_path / "m.png")
    arr = grading.load_label_map(p, "case c")
    assert arr.shape == (1024, 1024) and arr.dtype == np.uint8
    assert (arr[0, 0], arr[511, 511], arr[0, 512], arr[512, 0], arr[1023, 1023]) == (1, 1, 2, 3, 5)
    assert int(np.count_nonzero(arr == 5)) == 512 * 512  # 262144


@pytest.mark.parametrize(
    ("arr", "name", "value"),
    [
        (np.array([[0, 3]], np.uint8), "l.png", 3),  # mode L
        (np.array([[0, 4]], np.uint16), "i16.png", 4),  # mode I;16
        (np.array([[0, 5]], np.int32), "i.tif", 5),  # mode I, the top label 5 accepted
        (np.array([[False, True]]), "one.png", 1),  # mode 1: a bool array, read as 0/1
    ],
)
def test_single_channel_modes_are_accepted(tmp_path: Path, arr: np.ndarray, name: str, value: int) -> None:
    out = grading.load_label_map(_save(arr, tmp_path / name), "case c")
    assert out.dtype == np.uint8 and out.shape == (1024, 1024)
    # 1 x 2 -> each pixel a 1024 x 512 half
    assert int(out.min()) == 0 and int(out.max()) == value and int(np.count_nonzero(out)) == 1024 * 512


def test_palette_mode_reads_the_indices(tmp_path: Path) -> None:
    """A palette PNG is read as its indices, not its colours (np.array of a PIL "P" image)."""
    im = Image.new("P", (2, 1))
    im.putpalette([255, 255, 255] * 256)  # every index white: only the indices tell them apart
    im.putdata([0, 2])
    im.save(tmp_path / "p.png")
    out = grading.load_label_map(tmp_path / "p.png", "case c")
    assert int(np.count_nonzero(out == 2)) == 1024 * 512 and int(np.count_nonzero(out == 0)) == 1024 * 512


@pytest.mark.parametrize(
    ("arr", "name", "mode"),
    [
        (np.zeros((2, 2, 3), np.uint8), "rgb.png", "RGB"),
        (np.zeros((2, 2, 2), np.uint8), "la.png", "LA"),
        (np.zeros((2, 2), np.float32), "f.tif", "F"),
    ],
)
def test_multi_channel_or_float_modes_are_refused(
    tmp_path: Path, arr: np.ndarray, name: str, mode: str
) -> None:
    # exact: the message is not re-wrapped as "cannot read" (the `except InvalidSubmission: raise`)
    assert _refusal(grading.load_label_map, _save(arr, tmp_path / name), "case c") == (
        f"case c: a single-channel label map is expected, found PIL mode {mode}"
    )


@pytest.mark.parametrize(
    ("arr", "name", "found"),
    [
        (np.array([[0, 6]], np.uint8), "six.png", "0..6"),  # just above the top label 5
        (np.array([[-1, 0]], np.int32), "neg.tif", "-1..0"),  # just below 0 (mode I is signed)
        (np.array([[-1, 7]], np.int32), "both.tif", "-1..7"),
        (np.array([[300, 400]], np.int32), "big.tif", "300..400"),
    ],
)
def test_label_values_outside_0_to_5_are_refused(
    tmp_path: Path, arr: np.ndarray, name: str, found: str
) -> None:
    assert _refusal(grading.load_label_map, _save(arr, tmp_path / name), "case c") == (
        f"case c: label values must be 0-5, found {found}"
    )


def test_unreadable_masks_are_refused_cleanly(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_text("not an image")
    assert _refusal(grading.load_label_map, tmp_path / "x.png", "case c").startswith(
        "case c: cannot read the mask as TIF/PNG (UnidentifiedImageError: "
    )
    # a valid PNG whose compressed image data is overwritten: Pillow fails while decoding
    _save((np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64), tmp_path / "full.png")
    data = bytearray((tmp_path / "full.png").read_bytes())
    start = data.index(b"IDAT") + 6
    data[start : start + 34] = b"\xff" * 34
    (tmp_path / "bad.png").write_bytes(bytes(data))
    assert _refusal(grading.load_label_map, tmp_path / "bad.png", "case c") == (
        "case c: cannot read the mask as TIF/PNG (OSError: broken data stream when reading image file)"
    )


def _png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk only (8-bit grey): enough for the header check."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + ihdr + b"\x00\x00\x00\x00"


def test_pixel_cap_is_16_times_a_1024_roi(tmp_path: Path) -> None:
    """MAX_MASK_PIXELS = 16 * 1024 * 1024 = 16,777,216: one pixel more is refused from the header."""
    assert grading.MAX_MASK_PIXELS == 16_777_216
    (tmp_path / "huge.png").write_bytes(_png_header(16_777_217, 1))
    assert _refusal(grading.load_label_map, tmp_path / "huge.png", "case c") == (
        "case c: image is 16777217 x 1 pixels (width x height), far larger than the test image"
    )
    # exactly at the cap: 4096 x 4096 = 16,777,216 pixels, read and resized (4 x 4 -> 1)
    ok = grading.load_label_map(_save(np.ones((4096, 4096), np.uint8), tmp_path / "cap.tif"), "case c")
    assert ok.shape == (1024, 1024) and bool((ok == 1).all())


def test_pixel_cap_also_applies_to_other_formats(tmp_path: Path) -> None:
    """A BMP (which the header check does not parse) is capped from Pillow's header size."""
    _save(np.zeros((1, 2), np.uint8), tmp_path / "small.bmp")
    data = bytearray((tmp_path / "small.bmp").read_bytes())
    data[18:22] = struct.pack("<i", 16_777_217)  # BITMAPINFOHEADER width
    (tmp_path / "wide.png").write_bytes(bytes(data))
    assert _refusal(grading.load_label_map, tmp_path / "wide.png", "case c") == (
        "case c: image is 16777217 x 1 pixels (width x height), far larger than the test image"
    )


# --- tissue: per-case Dice and pooled micro Dice -----------------------------------------------


def _small_case() -> dict[str, float]:
    # GT:   1 1 1      pred: 1 1 0
    #       2 0 0            5 5 0
    gt = np.array([[1, 1, 1], [2, 0, 0]], np.uint8)
    pred = np.array([[1, 1, 0], [5, 5, 0]], np.uint8)
    return grading.tissue_case_scores(gt, pred)


def test_tissue_case_scores_by_hand() -> None:
    """evaluate_tissue.calculate_dice_score_with_masks: (2 I + eps) / (|G| + |P| + eps), 1.0 when
    the class is in neither mask."""
    row = _small_case()
    # stroma: |G| 3, |P| 2, I 2 -> s = 5; Dice (4 + eps) / (5 + eps)
    assert (row["i_stroma"], row["s_stroma"]) == (2.0, 5.0)
    assert row["case_dice_stroma"] == (2 * 2 + E) / (5 + E)
    # blood vessel missed: I 0, s 1 -> eps / (1 + eps)
    assert (row["i_blood_vessel"], row["s_blood_vessel"]) == (0.0, 1.0)
    assert row["case_dice_blood_vessel"] == E / (1 + E)
    # necrosis predicted where absent: I 0, s 2 -> eps / (2 + eps)
    assert (row["i_necrosis"], row["s_necrosis"]) == (0.0, 2.0)
    assert row["case_dice_necrosis"] == E / (2 + E)
    # tumour and epidermis in neither: 1.0 (the organisers' "perfect match")
    for name in ("tumor", "epidermis"):
        assert (row[f"i_{name}"], row[f"s_{name}"], row[f"case_dice_{name}"]) == (0.0, 0.0, 1.0)
    assert row["case_dice"] == pytest.approx(((4 + E) / (5 + E) + E / (1 + E) + 1 + 1 + E / (2 + E)) / 5)
    assert len(row) == 5 * 3 + 1


def test_tissue_case_scores_emit_no_warning() -> None:
    """The intersection is a logical and: no division of masks (whose 0 / 0 would warn)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row = grading.tissue_case_scores(np.array([[1, 0]], np.uint8), np.array([[1, 1]], np.uint8))
    # stroma: I 1, s 1 + 2 = 3 -> (2 + eps) / (3 + eps)
    assert row["case_dice_stroma"] == (2 + E) / (3 + E)


def test_tissue_case_perfect_and_empty() -> None:
    gt = np.array([[0, 1, 2, 3, 4, 5]], np.uint8)
    perfect = grading.tissue_case_scores(gt, gt.copy())
    assert all(
        perfect[f"case_dice_{n}"] == 1.0 for n in ("stroma", "blood_vessel", "tumor", "epidermis", "necrosis")
    )
    assert perfect["case_dice"] == 1.0 and perfect["s_tumor"] == 2.0 and perfect["i_tumor"] == 1.0
    # an all-background prediction: every class I 0, s 1 -> eps / (1 + eps)
    empty = grading.tissue_case_scores(gt, np.zeros_like(gt))
    assert empty["case_dice"] == pytest.approx(E / (1 + E)) and empty["s_necrosis"] == 1.0


def _tissue_files(tmp_path: Path) -> tuple[dict[str, Path], Path]:
    """GT 2 x 2 (each pixel 512 x 512 = 262144 px once resized), prediction 4 x 4 (65536 px each)."""
    labels = tmp_path / "private" / "test" / "labels"
    labels.mkdir(parents=True)
    _save(np.array([[1, 1], [3, 0]], np.uint8), labels / "c.tif")
    pred = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [3, 3, 0, 0], [3, 5, 0, 0]], np.uint8)
    return {"predicted_mask_path": _save(pred, tmp_path / "c.png")}, tmp_path / "private"


def test_score_tissue_resizes_both_to_1024(tmp_path: Path) -> None:
    files, private = _tissue_files(tmp_path)
    loaded = grading.check_tissue("c", files, tmp_path)
    row = grading.score_tissue("c", loaded, private)
    # stroma: the top half in both, 2 * 262144 = 524288 px each -> I 524288, s 1048576, Dice 1
    assert (row["i_stroma"], row["s_stroma"], row["case_dice_stroma"]) == (524288.0, 1048576.0, 1.0)
    # tumour: GT the bottom-left quadrant (262144), predicted on 3 of its 4 blocks (3 * 65536)
    assert (row["i_tumor"], row["s_tumor"]) == (196608.0, 262144.0 + 196608.0)
    assert row["case_dice_tumor"] == (2 * 196608 + E) / (458752 + E)
    # necrosis: one 65536-px block, absent from the GT
    assert (row["i_necrosis"], row["s_necrosis"], row["case_dice_necrosis"]) == (
        0.0,
        65536.0,
        E / (65536 + E),
    )
    assert row["case_dice_blood_vessel"] == row["case_dice_epidermis"] == 1.0


def test_aggregate_tissue_pools_counts_over_cases(tmp_path: Path) -> None:
    """evaluate_tissue.calculate_micro_dice_score_with_masks: counts pooled over ROIs, 0 when the
    pooled intersection is 0 (missed, predicted where absent, or in neither), then the mean."""
    files, private = _tissue_files(tmp_path)
    big = grading.score_tissue("c", grading.check_tissue("c", files, tmp_path), private)
    out = grading.aggregate_tissue([_small_case(), big])
    # stroma: I = 2 + 524288 = 524290, S = 5 + 1048576 = 1048581
    stroma = (2 * 524290 + E) / (1048581 + E)
    tumor = (2 * 196608 + E) / (458752 + E)  # only the second ROI has tumour
    assert out == {
        "dice_stroma": stroma,
        "dice_blood_vessel": 0.0,  # missed: I 0
        "dice_tumor": tumor,
        "dice_epidermis": 0.0,  # in neither anywhere: 0 (unlike the per-case 1)
        "dice_necrosis": 0.0,  # predicted where absent: I 0
        "dice": pytest.approx((stroma + tumor) / 5),
    }


def test_tissue_grader(tmp_path: Path) -> None:
    files, private = _tissue_files(tmp_path)
    g = grading.TISSUE
    assert g.format.id_column == "image_id"
    assert g.format.file_columns == {"predicted_mask_path": (".tif", ".tiff", ".png")}
    assert g.score_case is not None and g.aggregate is not None
    row = g.score_case("c", g.check_case("c", files, tmp_path), private)
    assert g.aggregate([row, row])["dice_tumor"] == (2 * 2 * 196608 + E) / (2 * 458752 + E)


# --- nuclei: reading the "Multiple polygons" JSON ----------------------------------------------


def _write(tmp_path: Path, obj: Any, name: str = "p.json") -> dict[str, Path]:
    (tmp_path / name).write_text(json.dumps(obj))
    return {"predicted_nuclei_path": tmp_path / name}


def test_read_polygons_centroids_scores_and_skips(tmp_path: Path) -> None:
    obj = {
        "polygons": [
            # centroid = the mean of the points: ((0+6+0)/3, (0+0+3)/3) = (2, 1)
            {"name": "nuclei_tumor", "path_points": [[0, 0], [6, 0], [0, 3]], "score": 0.5},
            # fewer than 3 points: skipped (the organisers' `continue`), later ones still read
            {"name": "nuclei_other", "path_points": [[1, 1], [2, 2]]},
            {"name": "nuclei_other", "path_points": []},
            # [x, y, z] points: z ignored (coord[:2]), even mixed with [x, y] or not a number
            {"name": "nuclei_lymphocyte", "path_points": [[0, 0], [3, 0, 9], [0, 6, "z"]]},
            # 4 points, an integer score: centroid (44/4, 84/4) = (11, 21)
            {"name": "nuclei_other", "path_points": [[10, 20], [12, 20], [10, 22], [12, 22]], "score": 2},
            {"name": "nuclei_tumor", "path_points": [[0, 0, 1], [3, 0, 1], [0, 6, 1]], "score": -0.5},
        ]
    }
    got = grading.check_nuclei("c", _write(tmp_path, obj), T1)
    assert got == [
        Point("nuclei_tumor", 2.0, 1.0, 0.5),
        Point("nuclei_lymphocyte", 1.0, 2.0, 1.0),  # no score: 1 (the organisers' default)
        Point("nuclei_other", 11.0, 21.0, 2.0),
        Point("nuclei_tumor", 1.0, 2.0, -0.5),
    ]
    assert all(type(v) is float for p in got for v in (p.x, p.y, p.score))


def test_grand_challenge_keys_are_allowed() -> None:
    """Grand Challenge's "Multiple polygons" files also carry "type" and "version": ignored."""
    obj = {
        "type": "Multiple polygons",
        "version": {"major": 1, "minor": 0},
        "polygons": [{"name": "nuclei_other", "path_points": [[0, 0, 0.5], [0, 6, 0.5], [6, 0, 0.5]]}],
    }
    assert grading.read_polygons(obj, T1, "case c") == [Point("nuclei_other", 2.0, 2.0, 1.0)]


def test_ground_truth_accepts_any_name() -> None:
    obj = {"polygons": [{"name": "whatever", "path_points": [[0, 0], [0, 3], [3, 0]]}]}
    assert grading.read_polygons(obj, None, "ground truth c") == [Point("whatever", 1.0, 1.0, 1.0)]
    assert grading.read_polygons({"polygons": []}, T1, "case c") == []


@pytest.mark.parametrize("obj", [[], "x", None, {"nuclei": []}, {"polygons": {}}, {"polygons": "[]"}])
def test_not_a_polygons_object(obj: Any) -> None:
    assert (
        _refusal(grading.read_polygons, obj, T1, "case c")
        == 'case c: expected a JSON object with a "polygons" list'
    )


def test_polygon_not_an_object() -> None:
    good = {"name": "nuclei_tumor", "path_points": [[0, 0], [1, 0], [0, 1]]}
    assert _refusal(grading.read_polygons, {"polygons": [good, 5]}, T1, "case c") == (
        "case c: polygons[1] is not an object"
    )
    assert _refusal(grading.read_polygons, {"polygons": [[good]]}, T1, "case c") == (
        "case c: polygons[0] is not an object"
    )


@pytest.mark.parametrize(("name", "shown"), [(None, "None"), (3, "3"), ("tumor", "'tumor'"), ("", "''")])
def test_unknown_class_names(name: Any, shown: str) -> None:
    poly: dict[str, Any] = {"path_points": [[0, 0], [1, 0], [0, 1]]}
    if name is not None:
        poly["name"] = name
    assert _refusal(grading.read_polygons, {"polygons": [poly]}, T1, "case c") == (
        f"case c: polygons[0]: name {shown} {NOT_ONE_OF}"
    )


def test_ground_truth_name_must_still_be_a_string() -> None:
    obj = {"polygons": [{"name": 7, "path_points": [[0, 0], [1, 0], [0, 1]]}]}
    assert _refusal(grading.read_polygons, obj, None, "ground truth c") == (
        "ground truth c: polygons[0]: name 7 is not one of "
    )


@pytest.mark.parametrize(
    "pts",
    [
        None,  # missing
        {"0": [0, 0]},
        [[0, 0], [1]],  # one coordinate
        [[]],
        [[0, 0], 3],  # not a list
        [[0, 0], "ab"],
        [["a", 0]],  # x not a number
        [[0, "a"]],  # y not a number
        [[0, "a", 0]],  # y not a number, z one
        [[None, 0, 0]],
        [[True, 0]],  # a JSON true is not a number
        [[0, False]],
        [[0, math.nan]],
        [[math.inf, 0]],
        [[0, -math.inf, 0]],
    ],
)
def test_bad_path_points(pts: Any) -> None:
    poly: dict[str, Any] = {"name": "nuclei_other"}
    if pts is not None:
        poly["path_points"] = pts
    assert _refusal(grading.read_polygons, {"polygons": [poly]}, T1, "case c") == (
        f"case c: polygons[0]: {PATH_POINTS}"
    )


@pytest.mark.parametrize("score", ["1", None, True, False, math.nan, math.inf, -math.inf, [1]])
def test_bad_scores(score: Any) -> None:
    poly = {"name": "nuclei_tumor", "path_points": [[0, 0], [1, 0], [0, 1]], "score": score}
    assert _refusal(grading.read_polygons, {"polygons": [poly]}, T1, "case c") == (
        "case c: polygons[0]: score must be a finite number"
    )


def test_polygons_of_fewer_than_3_points_are_still_checked() -> None:
    poly = {"name": "nuclei_tumor", "path_points": [[0, 0]], "score": "high"}
    assert _refusal(grading.read_polygons, {"polygons": [poly]}, T1, "case c") == (
        "case c: polygons[0]: score must be a finite number"
    )


def test_json_text_is_parsed_within_bounds(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text("{")
    assert _refusal(grading.check_nuclei, "c", {"predicted_nuclei_path": tmp_path / "p.json"}, T1).startswith(
        "case c: p.json is not valid JSON"
    )
    # JSON's NaN / 1e400 (inf) reach the finite-number checks
    (tmp_path / "n.json").write_text(
        '{"polygons": [{"name": "nuclei_tumor", "path_points": [[0, 0], [1, 0], [0, 1e400]]}]}'
    )
    assert _refusal(grading.check_nuclei, "c", {"predicted_nuclei_path": tmp_path / "n.json"}, T1) == (
        f"case c: polygons[0]: {PATH_POINTS}"
    )
    (tmp_path / "s.json").write_text(
        '{"polygons": [{"name": "nuclei_tumor", "path_points": [[0, 0], [1, 0], [0, 1]], "score": NaN}]}'
    )
    assert _refusal(grading.check_nuclei, "c", {"predicted_nuclei_path": tmp_path / "s.json"}, T1) == (
        "case c: polygons[0]: score must be a finite number"
    )


def test_json_size_cap_is_64_mib(tmp_path: Path) -> None:
    """MAX_JSON_BYTES = 64 * 1024 * 1024 = 67,108,864 bytes (sparse files: no disk used)."""
    assert grading.MAX_JSON_BYTES == 67_108_864
    path = tmp_path / "big.json"
    with path.open("wb") as f:
        f.truncate(67_108_865)  # one byte over
    assert _refusal(grading.check_nuclei, "c", {"predicted_nuclei_path": path}, T1) == (
        "case c: big.json is larger than 64 MiB"
    )
    with path.open("wb") as f:
        f.truncate(67_108_864)  # exactly at the cap: read, then refused as JSON (NUL bytes)
    assert _refusal(grading.check_nuclei, "c", {"predicted_nuclei_path": path}, T1).startswith(
        "case c: big.json is not valid JSON"
    )


# --- nuclei: per-case F1 and the macro F1 ------------------------------------------------------


def test_nuclei_case_scores_by_hand() -> None:
    """eval_nuclei: same-class centroids within a distance < 15 match; F1 per class of the case's
    ground truth or prediction; a class in neither is not present (F1 0)."""
    gt = [
        Point("nuclei_tumor", 0, 0),
        Point("nuclei_lymphocyte", 100, 100),
        Point("nuclei_lymphocyte", 200, 200),
    ]
    pred = [Point("nuclei_tumor", 14.9, 0), Point("nuclei_lymphocyte", 100, 101)]
    row = grading.nuclei_case_scores(gt, pred, T1)
    # tumour: d = 14.9 < 15 -> TP 1 -> F1 1; lymphocyte: TP 1, FP 0, FN 1 -> P 1, R 1/2,
    # F1 = 2 * 1 * 0.5 / 1.5 = 2/3; other: in neither -> 0, not present
    assert row == {
        "f1_nuclei_tumor": 1.0,
        "present_nuclei_tumor": 1.0,
        "f1_nuclei_lymphocyte": pytest.approx(2 / 3),
        "present_nuclei_lymphocyte": 1.0,
        "f1_nuclei_other": 0.0,
        "present_nuclei_other": 0.0,
    }


def test_match_radius_is_strictly_15_px() -> None:
    gt = [Point("nuclei_other", 0, 0)]
    # d = 15 exactly: no match (the organisers' `distance < 15`) -> TP 0, FP 1, FN 1 -> F1 0, present
    at = grading.nuclei_case_scores(gt, [Point("nuclei_other", 9, 12)], T1)  # sqrt(81 + 144) = 15
    assert (at["f1_nuclei_other"], at["present_nuclei_other"]) == (0.0, 1.0)
    assert grading.nuclei_case_scores(gt, [Point("nuclei_other", 0, 14.99)], T1)["f1_nuclei_other"] == 1.0
    # a prediction of a class absent from the GT is present with F1 0; the GT class gets F1 0
    fp = grading.nuclei_case_scores(gt, [Point("nuclei_tumor", 0, 0)], T1)
    assert fp["present_nuclei_tumor"] == fp["present_nuclei_other"] == 1.0
    assert fp["f1_nuclei_tumor"] == fp["f1_nuclei_other"] == 0.0 and fp["present_nuclei_lymphocyte"] == 0.0


def _row(**f1: float) -> dict[str, float]:
    """A case row: the classes given are present with that F1, the others absent."""
    out: dict[str, float] = {}
    for c in T1:
        short = c.removeprefix("nuclei_")
        out[f"f1_{c}"] = f1.get(short, 0.0)
        out[f"present_{c}"] = 1.0 if short in f1 else 0.0
    return out


def test_aggregate_nuclei_macro_over_seen_classes() -> None:
    """evaluate.py: per class, the F1 summed over ROIs / all ROIs; the mean over the classes that
    occur in some ROI."""
    rows = [_row(tumor=1.0, lymphocyte=0.5), _row(lymphocyte=1.0)]
    # tumour (1 + 0) / 2 = 0.5, lymphocyte (0.5 + 1) / 2 = 0.75, other never seen
    assert grading.aggregate_nuclei(rows, T1) == {"f1": (0.5 + 0.75) / 2}
    # other seen once with F1 0: it now counts, (0.5 + 0.75 + 0) / 3
    rows.append(_row(other=0.0))
    # three ROIs: tumour 1/3, lymphocyte 1.5/3 = 0.5, other 0
    assert grading.aggregate_nuclei(rows, T1) == {"f1": pytest.approx((1 / 3 + 0.5 + 0) / 3)}


def test_aggregate_nuclei_nothing_seen_is_zero() -> None:
    assert grading.aggregate_nuclei([_row(), _row()], T1) == {"f1": 0.0}
    assert grading.aggregate_nuclei([_row(other=0.0)], T1) == {"f1": 0.0}
    assert grading.aggregate_nuclei([_row(other=0.25)], T1) == {"f1": 0.25}


def test_score_nuclei_and_the_grader(tmp_path: Path) -> None:
    labels = tmp_path / "private" / "test" / "labels"
    labels.mkdir(parents=True)
    gt = {
        "polygons": [
            {"name": "nuclei_tumor", "path_points": [[0, 0], [6, 0], [0, 3]]},  # centroid (2, 1)
            {"name": "nuclei_lymphocyte", "path_points": [[50, 50], [53, 50], [50, 53]]},  # (51, 51)
            {"name": "nuclei_tumor", "path_points": [[0, 0], [1, 1]]},  # skipped: 2 points
        ]
    }
    (labels / "c.json").write_text(json.dumps(gt))
    pred = {
        "polygons": [
            {"name": "nuclei_tumor", "path_points": [[10, 1], [10, 2], [10, 0]]},  # (10, 1): d = 8
            {"name": "nuclei_lymphocyte", "path_points": [[90, 90], [90, 91], [90, 92]]},  # (90, 91): far
        ]
    }
    files = _write(tmp_path, pred)
    g = grading.nuclei_grader(T1)
    assert g.format.id_column == "image_id" and g.format.file_columns == {"predicted_nuclei_path": (".json",)}
    assert g.score_case is not None and g.aggregate is not None
    loaded = g.check_case("c", files, tmp_path)
    row = g.score_case("c", loaded, tmp_path / "private")
    # tumour TP 1 -> 1; lymphocyte TP 0, FP 1, FN 1 -> 0; other absent
    assert row == grading.score_nuclei("c", loaded, tmp_path / "private", T1)
    assert (row["f1_nuclei_tumor"], row["f1_nuclei_lymphocyte"], row["present_nuclei_other"]) == (
        1.0,
        0.0,
        0.0,
    )
    assert g.aggregate([row]) == {"f1": 0.5}  # (1 + 0) / 2 classes seen
    with pytest.raises(InvalidSubmission, match="name 'x' is not one of"):
        g.check_case(
            "c", _write(tmp_path, {"polygons": [{"name": "x", "path_points": []}]}, "q.json"), tmp_path
        )
