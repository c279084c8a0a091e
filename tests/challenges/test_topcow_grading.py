"""The three TopCoW graders (``challenges/_topcow/grading.py``) on tiny files in tmp_path, fast.

Pinned: where each grader reads the prediction's grid (``test/images/<case>_0000.nii.gz``) and the
ground truth (``test/labels/<case>.nii.gz``, ``<case>_bbox.json``, ``<case>.yml``), the TopCoW label
set (0-12 and 15) of task 1 and its refusals, SimpleITK's (x, y, z) spacing reversed onto the
(z, y, x) array for task 1's distances, task 2's box scores and task 3's variant codes from the
files, and which per-case function and aggregation each grader uses with its submission format.
The metric formulas themselves are pinned in test_topcow_scoring.py and tests/graders/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from rexmle.challenges._topcow import grading, scoring
from rexmle.graders import Box
from sitk_io import write_volume

from rexmle.errors import InvalidSubmission

CASE = "topcow_mr_007"
#: SimpleITK (x, y, z) spacing: z is 3 mm, so the (z, y, x) array's axis 0 is 3 mm once reversed
SPACING_XYZ = (0.5, 0.5, 3.0)


def _write(arr: np.ndarray, path: Path, spacing: tuple[float, float, float] = SPACING_XYZ) -> Path:
    return write_volume(arr, path, spacing)


def _map() -> np.ndarray:
    """(z, y, x): BA (1) as a 5-voxel line on z = 1, and the 3rd-A2 (15) 4 rows away."""
    a = np.zeros((3, 8, 10), np.uint8)
    a[1, 1, 2:7] = 1
    a[1, 5, 2:7] = 15
    return a


def _dirs(tmp_path: Path, gt: np.ndarray) -> tuple[Path, Path]:
    public, private = tmp_path / "public", tmp_path / "private"
    _write(np.zeros(gt.shape, np.int16), public / "test" / "images" / f"{CASE}_0000.nii.gz")
    _write(gt, private / "test" / "labels" / f"{CASE}.nii.gz")
    return public, private


def test_the_test_image_path() -> None:
    assert grading.test_image(Path("/pub"), CASE) == Path("/pub/test/images/topcow_mr_007_0000.nii.gz")


# --- task 1: segmentation ---------------------------------------------------------------------


def test_check_segmentation_accepts_every_topcow_label(tmp_path: Path) -> None:
    """Labels 0-12 and 15 (``constants.py`` of the TopCoW release), background included."""
    public, _ = _dirs(tmp_path, _map())
    pred = np.zeros((3, 8, 10), np.uint8)
    pred.flat[:14] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15]
    f = _write(pred, tmp_path / "p.nii.gz")
    got = grading.check_segmentation(CASE, {"predicted_mask_path": f}, public)
    assert got.dtype == np.uint8 and np.array_equal(got, pred)
    # an all-background map is a valid answer too
    f = _write(np.zeros((3, 8, 10), np.uint8), tmp_path / "e.nii.gz")
    assert not grading.check_segmentation(CASE, {"predicted_mask_path": f}, public).any()


@pytest.mark.parametrize("bad", [13, 14, 16, 255])
def test_check_segmentation_refuses_other_labels(tmp_path: Path, bad: int) -> None:
    public, _ = _dirs(tmp_path, _map())
    pred = _map()
    pred[0, 0, 0] = bad
    f = _write(pred, tmp_path / "p.nii.gz")
    msg = f"case {CASE}: label {bad} is not a TopCoW label (0-12, 15)"
    with pytest.raises(InvalidSubmission, match="^" + re.escape(msg) + "$"):
        grading.check_segmentation(CASE, {"predicted_mask_path": f}, public)


def test_check_segmentation_refuses_another_grid(tmp_path: Path) -> None:
    public, _ = _dirs(tmp_path, _map())
    f = _write(_map(), tmp_path / "p.nii.gz", (0.5, 0.5, 1.0))  # the test image's z spacing is 3
    with pytest.raises(InvalidSubmission, match=f"^case {CASE}: spacing differs"):
        grading.check_segmentation(CASE, {"predicted_mask_path": f}, public)


def test_score_segmentation_reads_the_truth_and_reverses_the_spacing(tmp_path: Path) -> None:
    gt = _map()
    _, private = _dirs(tmp_path, gt)
    same = grading.score_segmentation(CASE, gt.copy(), private)
    assert (same["dice"], same["cldice"], same["b0_error"], same["hd95"]) == (1.0, 1.0, 0.0, 0.0)
    assert same["det15_tp"] == 1.0 and same["det8_tn"] == 1.0
    # both lines one slice deeper: each voxel of a one-voxel line is its own surface and its
    # nearest voxel of the other line is straight along z, 3 mm (the file's z spacing) away:
    # HD95 3 for both labels, mean 3; with the spacing unreversed it would be 0.5
    s = grading.score_segmentation(CASE, np.roll(gt, 1, axis=0), private)
    assert s["hd95"] == 3.0 and s["dice"] == 0.0 and s["det15_fn"] == 1.0
    # a label missed: L = {1, 15}, 15 on the truth side only -> HD95 (0 + 90) / 2 = 45 mm
    missed = gt.copy()
    missed[missed == 15] = 0
    s = grading.score_segmentation(CASE, missed, private)
    assert s["hd95"] == 45.0 and s["dice"] == 0.5


# --- task 2: the ROI box ----------------------------------------------------------------------


def _box_json(path: Path, size: list[int], location: list[int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"size": size, "location": location}))
    return path


def test_check_box_reads_the_predicted_box(tmp_path: Path) -> None:
    f = _box_json(tmp_path / "b.json", [1, 2, 3], [4, 5, 6])
    box = grading.check_box(CASE, {"predicted_bbox_path": f}, tmp_path)
    assert box == Box(size=(1, 2, 3), location=(4, 5, 6))
    # the release's .txt form: spacing line, size line, location line
    t = tmp_path / "b.txt"
    t.write_text("0.5 0.5 0.8\n1 2 3\n4 5 6\n")
    assert grading.check_box(CASE, {"predicted_bbox_path": t}, tmp_path) == box


def test_check_box_refuses_a_malformed_box(tmp_path: Path) -> None:
    f = tmp_path / "b.json"
    f.write_text(json.dumps({"size": [1, 2, 3]}))
    with pytest.raises(
        InvalidSubmission, match=f'^case {CASE}: expected exactly the keys "size" and "location"$'
    ):
        grading.check_box(CASE, {"predicted_bbox_path": f}, tmp_path)


def test_score_box_against_the_truth_file(tmp_path: Path) -> None:
    private = tmp_path / "private"
    _box_json(private / "test" / "labels" / f"{CASE}_bbox.json", [3, 3, 4], [0, 0, 0])
    s = grading.score_box(CASE, Box(size=(1, 2, 3), location=(0, 0, 0)), private)
    # IoU: the 1x2x3 = 6 voxels lie inside the 3x3x4 = 36: 6 / 36.
    # Boundary IoU (shell width ceil(0.2 * size) per axis): the small box's widths are all 1, so
    # its shell is itself (6); the big box's widths are 1, 1, 1, so its interior is 1x1x2 = 2 and
    # its shell 34; the small box sits at x = 0, outside that interior: 6 / 34
    assert s == pytest.approx({"boundary_iou": 6 / 34, "iou": 6 / 36})
    assert grading.score_box(CASE, Box(size=(3, 3, 4), location=(0, 0, 0)), private) == {
        "boundary_iou": 1.0,
        "iou": 1.0,
    }


def test_score_box_refuses_a_broken_truth_file(tmp_path: Path) -> None:
    private = tmp_path / "private"
    p = private / "test" / "labels" / f"{CASE}_bbox.json"
    p.parent.mkdir(parents=True)
    p.write_text("{}")
    with pytest.raises(InvalidSubmission, match=f"^ground truth of {CASE}: expected exactly the keys"):
        grading.score_box(CASE, Box(size=(1, 1, 1), location=(0, 0, 0)), private)


# --- task 3: the variant edge lists -----------------------------------------------------------

EDGES_JSON = {
    "anterior": {"L-A1": 1, "Acom": 1, "3rd-A2": 0, "R-A1": 1},
    "posterior": {"L-Pcom": 0, "L-P1": 1, "R-P1": 1, "R-Pcom": 0},
}
EDGES_YML = """anterior:
  L-A1: 1
  Acom: 0
  3rd-A2: 0
  R-A1: 1
posterior:
  L-Pcom: 1
  L-P1: 1
  R-P1: 1
  R-Pcom: 1
"""


def test_check_edges_reads_json_and_yaml(tmp_path: Path) -> None:
    f = tmp_path / "e.json"
    f.write_text(json.dumps(EDGES_JSON))
    assert grading.check_edges(CASE, {"predicted_edges_path": f}, tmp_path) == ((1, 1, 0, 1), (0, 1, 1, 0))
    y = tmp_path / "e.yml"
    y.write_text(EDGES_YML)
    assert grading.check_edges(CASE, {"predicted_edges_path": y}, tmp_path) == ((1, 0, 0, 1), (1, 1, 1, 1))


def test_check_edges_refuses_a_non_binary_edge(tmp_path: Path) -> None:
    f = tmp_path / "e.json"
    f.write_text(json.dumps({**EDGES_JSON, "posterior": {**EDGES_JSON["posterior"], "L-P1": 2}}))
    with pytest.raises(InvalidSubmission, match=f"^case {CASE}: posterior.L-P1 must be 0 or 1, not 2$"):
        grading.check_edges(CASE, {"predicted_edges_path": f}, tmp_path)


def test_score_edges_against_the_truth_file(tmp_path: Path) -> None:
    private = tmp_path / "private"
    (private / "test" / "labels").mkdir(parents=True)
    (private / "test" / "labels" / f"{CASE}.yml").write_text(EDGES_YML)
    row = grading.score_edges(CASE, ((1, 1, 0, 1), (0, 1, 1, 0)), private)
    # variant codes, first edge the highest bit: truth 1001 = 9 and 1111 = 15,
    # prediction 1101 = 13 and 0110 = 6
    assert row == {"ant_gt": 9, "ant_pred": 13, "pos_gt": 15, "pos_pred": 6}


def test_score_edges_refuses_a_broken_truth_file(tmp_path: Path) -> None:
    private = tmp_path / "private"
    (private / "test" / "labels").mkdir(parents=True)
    (private / "test" / "labels" / f"{CASE}.yml").write_text("anterior: {}\n")
    with pytest.raises(InvalidSubmission, match=f"^ground truth of {CASE}: expected exactly the keys"):
        grading.score_edges(CASE, ((0, 0, 0, 0), (0, 0, 0, 0)), private)


# --- the three graders --------------------------------------------------------------------------


def test_each_task_has_its_grader() -> None:
    seg, box, edges = grading.SEGMENTATION, grading.BOX, grading.EDGES
    by_task = grading.GRADERS
    assert by_task == {"seg": seg, "box": box, "edges": edges}
    assert (seg.check_case, seg.score_case, seg.aggregate) == (
        grading.check_segmentation,
        grading.score_segmentation,
        scoring.aggregate_segmentation,
    )
    assert (box.check_case, box.score_case, box.aggregate) == (grading.check_box, grading.score_box, None)
    assert (edges.check_case, edges.score_case, edges.aggregate) == (
        grading.check_edges,
        grading.score_edges,
        scoring.aggregate_edges,
    )
    for g, column, suffixes in (
        (seg, "predicted_mask_path", (".nii.gz", ".nii")),
        (box, "predicted_bbox_path", (".json", ".txt")),
        (edges, "predicted_edges_path", (".json", ".yml", ".yaml")),
    ):
        assert g.format.columns == ["image_id", column, "modality"]
        assert dict(g.format.file_columns) == {column: suffixes}
    allowed = grading.ALLOWED_LABELS
    assert allowed == frozenset({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15})
