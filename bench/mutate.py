"""`make mutate`: mutation testing of the code that decides a result, with cosmic-ray.

Each target is one module and the tests that must catch a wrong number in it. cosmic-ray mutates
the module (one mutant at a time, restored after each), runs the tests, and records whether they
failed (killed) or passed (survived). An equivalent mutant (a change no test can see because it
changes no result) is named in :data:`EQUIVALENTS` with its reason: it still runs, and only when
it survives is it listed apart instead of counted; no line is skipped whole (cosmic-ray's
``# pragma: no mutate`` is not honoured: it would hide killable mutants of the line too).
Results: ``bench/mutation.json`` (score per module, every survivor with its line and diff).

Runs serially in a private copy of the working tree (the files git tracks or would track), so it
can run beside other work, and two runs on different modules do not meet; only the results file
is shared, and each module's entry is merged into it as it finishes.
Usage: python bench/mutate.py [MODULE ...]   (default: every target)
       python bench/mutate.py --reclassify [MODULE ...]   (apply EQUIVALENTS to recorded survivors)
       python bench/mutate.py --check   (CI: every record current and >= THRESHOLD; changed targets rerun)
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import hashlib
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
PYTEST = f"{PY} -m pytest -x -q -p no:cacheprovider"

#: module -> the tests that must kill its mutants (fast ones: each mutant runs them once).
TARGETS: dict[str, str] = {
    "rexmle/ranking.py": "tests/test_ranking.py",
    "rexmle/report/stats.py": "tests/report/test_stats.py",
    "rexmle/submission.py": "tests/test_submission_table.py",
    "rexmle/grading.py": "tests/test_grading_unit.py",
    "graders/image_quality.py": "tests/graders/test_image_quality.py",
    "graders/correlation.py": "tests/graders/test_correlation.py",
    "graders/boxes.py": "tests/graders/test_boxes.py",
    "graders/points.py": "tests/graders/test_points.py",
    "graders/surfels.py": "tests/graders/test_surfels.py",
    "graders/coco.py": "tests/graders/test_coco.py",
    "graders/segmentation.py": "tests/graders/test_segmentation.py tests/graders/test_segmentation_micro.py",
    "graders/surface.py": "tests/graders/test_surface.py",
    "graders/instances.py": "tests/graders/test_instances.py",
    "graders/multiclass.py": "tests/graders/test_multiclass.py",
    "graders/topology.py": "tests/graders/test_topology.py",
    # challenges' scoring code, against their fast unit tests (the end-to-end ones prepare data)
    "challenges/_topcow/scoring.py": "tests/challenges/test_topcow_scoring.py",
    "challenges/_topcow/grading.py": "tests/challenges/test_topcow_grading.py",
    "challenges/_topbrain/scoring.py": "tests/challenges/test_topbrain_scoring.py",
    "challenges/_topbrain/grading.py": "tests/challenges/test_topbrain_scoring.py",
    "challenges/_panther/grading.py": "tests/challenges/test_panther_scoring.py",
    "challenges/_puma/grading.py": "tests/challenges/test_puma_scoring.py",
    "challenges/isles22/grade.py": "tests/challenges/test_isles22_scoring.py",
    "challenges/seg_a/grade.py": "tests/challenges/test_seg_a_scoring.py",
    "challenges/neurips-cellseg/grade.py": "tests/challenges/test_neurips_cellseg_scoring.py",
    "challenges/ravir/grade.py": "tests/challenges/test_ravir_scoring.py",
    "challenges/dentex/grade.py": "tests/challenges/test_dentex_scoring.py",
    "challenges/ldct-iqa/grade.py": "tests/challenges/test_ldct_iqa_scoring.py",
    "challenges/usenhance/grade.py": "tests/challenges/test_usenhance_scoring.py",
}


class Equivalent(NamedTuple):
    """A surviving mutant that no test can kill because it changes no result: the original line
    contains ``source``, the mutated one ``mutant``. Only the mutants matched are excluded (a
    ``# pragma: no mutate`` would skip every mutant of its line, killable ones too)."""

    source: str
    mutant: str
    reason: str


def _same_line(source: str, reason: str, *mutants: str) -> list[Equivalent]:
    """Equivalents that are whole mutated lines of one original line, for one reason."""
    return [Equivalent(source, mutant, reason) for mutant in mutants]


_COUNTS_NONNEGATIVE = (
    "counts are >= 0: `> 0` is `!= 0`, `a | b > 0` is `a + b > 0`, and `tp << x > 0` differs only at "
    "tp = 0, where the ratio is 0 anyway"
)
_BOOL_AND = "`*` is `&` on boolean arrays"
_INTERNED = "both sides are the same interned string literals"
_SAFE_CAST = "dtype `<=` is 'casts safely to': only bool casts safely to bool"
_PIL_FORMAT = "Pillow's format name and the literal are the same interned string"
_FALLBACK = "the fallback is taken only at tp = 0, where the other ratio is 0 and F1 is 0 for any fallback"
#: module -> its equivalent mutants, with the reason each cannot change a result.
EQUIVALENTS: dict[str, list[Equivalent]] = {
    "graders/points.py": [
        Equivalent(
            "(inclusive and d == max_distance)",
            "(inclusive and d <= max_distance)",
            "`<=` adds only d < max_distance, which the first test already accepts",
        ),
        Equivalent("key < best", "key <= best", "keys end with the unique position in the pool: never equal"),
        *[
            Equivalent(f"{name} = c.tp / (c.tp + c.{other}) if c.tp + c.{other} > 0 else 0.0", mutant, why)
            for name, other in (("precision", "fp"), ("recall", "fn"))
            for mutant, why in (
                (f"c.tp + c.{other} != 0", _COUNTS_NONNEGATIVE),
                (f"c.tp | c.{other} > 0", _COUNTS_NONNEGATIVE),
                (f"c.tp << c.{other} > 0", _COUNTS_NONNEGATIVE),
                ("else 1.0", _FALLBACK),
                ("else -1.0", _FALLBACK),
            )
        ],
        Equivalent("if precision + recall > 0", "if precision + recall != 0", "P, R >= 0: `> 0` is `!= 0`"),
        Equivalent(
            "if precision + recall > 0",
            "if precision * recall > 0",
            "where P * R = 0 < P + R the formula gives 0, the same as the fallback",
        ),
    ],
    "graders/multiclass.py": [
        Equivalent(
            "symmetric_percentile(*distances, 100.0)",
            "symmetric_percentile(*distances, 101.0)",
            "symmetric_percentile gives the maximum for any percentile of 100 or more",
        ),
        Equivalent(
            "                break",
            "                continue",
            "the while loop repeats until a pass merges nothing; touching boxes always end in the same"
            " partition, in the same order (20,000 random box sets: identical)",
        ),
        Equivalent(
            "directed_surface_distances(p, g, spacing, crop=False)",
            "crop=True",
            "the masks arrive cut to their boxes' union plus a voxel: the extra crop is the whole array",
        ),
        Equivalent(
            "zip(a, b, strict=True)",
            "strict=False",
            "every group is built by _merge with one slice per axis: the lengths are always equal",
        ),
    ],
    "graders/surface.py": [
        *[
            Equivalent("on_border = np.any((idx == 0) | (idx == shape - 1)", mutant, why)
            for mutant, why in (
                ("(idx >= shape - 1)", "indices never exceed shape - 1"),
                ("(idx <= 0) |", "indices are never negative"),
                ("(idx == 0) + (idx == shape - 1)", "adding numpy booleans is a logical or"),
                ("(idx >= 0) |", "every voxel then takes the bounds-checked path: same values, slower"),
                ("(idx <= shape - 1)", "every voxel then takes the bounds-checked path: same values, slower"),
                ("(idx is not shape - 1)", "always true: the bounds-checked path for all, same values"),
            )
        ],
        Equivalent(
            "(nb >= 0) & (nb < shape)", "(nb >= 0) * (nb < shape)", "multiplying booleans is a logical and"
        ),
        Equivalent(
            "(nb >= 0) & (nb < shape)", "(nb != shape)", "nb = idx + step with |step| <= 1: nb <= shape"
        ),
        Equivalent("a.reshape(-1)", "a.reshape(- 2)", "numpy infers the size for any negative value"),
        Equivalent(
            "a.reshape(-1)", "a.reshape(~1)", "~1 is -2: numpy infers the size for any negative value"
        ),
        *[
            Equivalent("if idx.size == 0:", mutant, why)
            for mutant, why in (
                ("idx.size < 0", "a size is never negative; the general path returns the same empty array"),
                ("idx.size <= 0", "a size is never negative"),
                ("idx.size == -1", "never true; the general path returns the same empty array"),
                ("idx.size == 1", "only a 1-D mask of one voxel, which is its own surface either way"),
            )
        ],
        Equivalent(
            "find_objects(m.astype(np.uint8))[0]",
            "find_objects(m.astype(np.uint8))[ -1]",
            "a 0/1 array has one label: find_objects returns a list of one",
        ),
        Equivalent(
            "percentile: float = 100.0", "percentile: float = 101.0", "any percentile >= 100 is the maximum"
        ),
        Equivalent(
            "if percentile >= 100.0:",
            "if percentile > 100.0:",
            "at exactly 100 numpy's linear percentile is the maximum element too",
        ),
    ],
    "graders/segmentation.py": [
        # each verified by running the mutant against the original on ~4,300 random inputs
        # (1-3-D, C/F/strided/negative-stride views, five dtypes): bit-identical results
        *_same_line(
            "return arr if arr.dtype == np.bool_ else arr != 0",
            "bool input comes back as it is or through `!= 0`: the same mask",
            "return arr if arr.dtype < np.bool_ else arr != 0",
            "return arr if arr.dtype <= np.bool_ else arr != 0",
            "return arr if arr.dtype is np.bool_ else arr != 0",
        ),
        *_same_line(
            "if denom == 0:",
            "a count is never negative",
            "if denom <= 0:",
        ),
        *_same_line(
            "return 2.0 * int(np.count_nonzero(p & g)) / denom",
            "on boolean arrays `*` is `&`",
            "return 2.0 * int(np.count_nonzero(p * g)) / denom",
        ),
        *_same_line(
            "if a.ndim < 2:",
            "argwhere gives the same rows, only slower",
            "if a.ndim != 2:",
            "if a.ndim < 3:",
            "if a.ndim <= 2:",
        ),
        *_same_line(
            "if a.dtype == np.bool_",
            "each branch finds the same non-zero rows for any dtype it can receive",
            "if a.dtype != np.bool_",
            "if a.dtype < np.bool_",
            "if a.dtype <= np.bool_",
            "if a.dtype > np.bool_",
            "if a.dtype >= np.bool_",
            "if a.dtype is not np.bool_",
            "if a.dtype is np.bool_",
            "if not a.dtype == np.bool_",
        ),
        *_same_line(
            "else a.max(axis=-1) != 0",
            "an unsigned maximum is >= 0: the same test, or every row (slower, same rows)",
            "else a.max(axis=-1) != -1",
            "else a.max(axis=-1) > 0",
            "else a.max(axis=-1) >= 0",
        ),
        *_same_line(
            'if a.dtype.kind == "u"',
            "unsigned input is right in either branch",
            'if a.dtype.kind > "u"',
            'if a.dtype.kind >= "u"',
            'if a.dtype.kind is "u"',
        ),
        *_same_line(
            "return np.column_stack([rows[r], c]).astype(np.intp, copy=False)",
            "a copy has the same values",
            "return np.column_stack([rows[r], c]).astype(np.intp, copy=True)",
        ),
        *_same_line(
            'return np.zeros(mask.shape, dtype=np.uint8, order="F" if _fortran(mask) else "C"), 0',
            "an empty mask's labels are never indexed",
            'return np.zeros(mask.shape, dtype=np.uint8, order="F" if not _fortran(mask) else "C"), 0',
        ),
        *_same_line(
            "return a.ndim > 1 and abs(a.strides[0]) < abs(a.strides[-1])",
            "the memory order chosen is used for every copy and ravel alike: a wrong choice costs a copy, not a result",
            "return a.ndim == 1 and abs(a.strides[0]) < abs(a.strides[-1])",
            "return a.ndim > 0 and abs(a.strides[0]) < abs(a.strides[-1])",
            "return a.ndim > 1 and abs(a.strides[ -1]) < abs(a.strides[-1])",
            "return a.ndim > 1 and abs(a.strides[ 1]) < abs(a.strides[-1])",
            "return a.ndim > 1 and abs(a.strides[0]) != abs(a.strides[-1])",
            "return a.ndim > 1 and abs(a.strides[0]) < abs(a.strides[+1])",
            "return a.ndim > 1 and abs(a.strides[0]) < abs(a.strides[- 0])",
            "return a.ndim > 1 and abs(a.strides[0]) < abs(a.strides[- 2])",
            "return a.ndim > 1 and abs(a.strides[0]) < abs(a.strides[1])",
            "return a.ndim > 1 and abs(a.strides[0]) < abs(a.strides[not 1])",
            "return a.ndim > 1 and abs(a.strides[0]) < abs(a.strides[~1])",
            "return a.ndim > 1 and abs(a.strides[0]) <= abs(a.strides[-1])",
            "return a.ndim > 1 and abs(a.strides[0]) == abs(a.strides[-1])",
            "return a.ndim > 1 and abs(a.strides[0]) > abs(a.strides[-1])",
            "return a.ndim > 1 and abs(a.strides[0]) >= abs(a.strides[-1])",
            "return a.ndim > 1 and abs(a.strides[0]) is abs(a.strides[-1])",
            "return a.ndim > 1 and abs(a.strides[0]) is not abs(a.strides[-1])",
            "return a.ndim > 2 and abs(a.strides[0]) < abs(a.strides[-1])",
            "return a.ndim >= 1 and abs(a.strides[0]) < abs(a.strides[-1])",
        ),
        *_same_line(
            "union = pred | gt",
            "on boolean arrays `+` is `|`",
            "union = pred + gt",
        ),
        *_same_line(
            "other = tuple(a for a in range(union.ndim) if a != axis)",
            "small integers are shared: `is not` is `!=` here",
            "other = tuple(a for a in range(union.ndim) if a is not axis)",
        ),
        *_same_line(
            "if hits.size == 0:",
            "a count is never negative",
            "if hits.size <= 0:",
        ),
        *_same_line(
            "return pred[(slice(0, 0),) * pred.ndim], gt[(slice(0, 0),) * gt.ndim]",
            "still an empty slice of the same shape",
            "return pred[(slice( -1, 0),) * pred.ndim], gt[(slice(0, 0),) * gt.ndim]",
            "return pred[(slice( 1, 0),) * pred.ndim], gt[(slice(0, 0),) * gt.ndim]",
            "return pred[(slice(0, 0),) * pred.ndim], gt[(slice( -1, 0),) * gt.ndim]",
            "return pred[(slice(0, 0),) * pred.ndim], gt[(slice( 1, 0),) * gt.ndim]",
        ),
        *_same_line(
            'order: Literal["C", "F"] = "F" if _fortran(g) else "C"',
            "the memory order chosen is used for every copy and ravel alike: a wrong choice costs a copy, not a result",
            'order: Literal["C", "F"] = "F" if not _fortran(g) else "C"',
        ),
        *_same_line(
            "hit_gt = np.bincount(gt_labels.ravel(order=order)[p1], minlength=n_gt + 1)[1:] if n_gt else np.zeros(0)",
            "only the non-zero bins are used: padding or truncating zero bins changes nothing",
            "hit_gt = np.bincount(gt_labels.ravel(order=order)[p1], minlength=n_gt % 1)[1:] if n_gt else np.zeros(0)",
            "hit_gt = np.bincount(gt_labels.ravel(order=order)[p1], minlength=n_gt & 1)[1:] if n_gt else np.zeros(0)",
            "hit_gt = np.bincount(gt_labels.ravel(order=order)[p1], minlength=n_gt * 1)[1:] if n_gt else np.zeros(0)",
            "hit_gt = np.bincount(gt_labels.ravel(order=order)[p1], minlength=n_gt ** 1)[1:] if n_gt else np.zeros(0)",
            "hit_gt = np.bincount(gt_labels.ravel(order=order)[p1], minlength=n_gt + 0)[1:] if n_gt else np.zeros(0)",
            "hit_gt = np.bincount(gt_labels.ravel(order=order)[p1], minlength=n_gt + 1)[1:] if n_gt else np.zeros( 1)",
            "hit_gt = np.bincount(gt_labels.ravel(order=order)[p1], minlength=n_gt + 2)[1:] if n_gt else np.zeros(0)",
            "hit_gt = np.bincount(gt_labels.ravel(order=order)[p1], minlength=n_gt - 1)[1:] if n_gt else np.zeros(0)",
            "hit_gt = np.bincount(gt_labels.ravel(order=order)[p1], minlength=n_gt // 1)[1:] if n_gt else np.zeros(0)",
            "hit_gt = np.bincount(gt_labels.ravel(order=order)[p1], minlength=n_gt << 1)[1:] if n_gt else np.zeros(0)",
            "hit_gt = np.bincount(gt_labels.ravel(order=order)[p1], minlength=n_gt >> 1)[1:] if n_gt else np.zeros(0)",
            "hit_gt = np.bincount(gt_labels.ravel(order=order)[p1], minlength=n_gt ^ 1)[1:] if n_gt else np.zeros(0)",
            "hit_gt = np.bincount(gt_labels.ravel(order=order)[p1], minlength=n_gt | 1)[1:] if n_gt else np.zeros(0)",
        ),
        *_same_line(
            "np.bincount(pred_labels.ravel(order=order)[g1], minlength=n_pred + 1)[1:] if n_pred else np.zeros(0)",
            "only the non-zero bins are used: padding or truncating zero bins changes nothing",
            "np.bincount(pred_labels.ravel(order=order)[g1], minlength=n_pred % 1)[1:] if n_pred else np.zeros(0)",
            "np.bincount(pred_labels.ravel(order=order)[g1], minlength=n_pred & 1)[1:] if n_pred else np.zeros(0)",
            "np.bincount(pred_labels.ravel(order=order)[g1], minlength=n_pred * 1)[1:] if n_pred else np.zeros(0)",
            "np.bincount(pred_labels.ravel(order=order)[g1], minlength=n_pred ** 1)[1:] if n_pred else np.zeros(0)",
            "np.bincount(pred_labels.ravel(order=order)[g1], minlength=n_pred + 0)[1:] if n_pred else np.zeros(0)",
            "np.bincount(pred_labels.ravel(order=order)[g1], minlength=n_pred + 1)[1:] if n_pred else np.zeros( 1)",
            "np.bincount(pred_labels.ravel(order=order)[g1], minlength=n_pred + 2)[1:] if n_pred else np.zeros(0)",
            "np.bincount(pred_labels.ravel(order=order)[g1], minlength=n_pred - 1)[1:] if n_pred else np.zeros(0)",
            "np.bincount(pred_labels.ravel(order=order)[g1], minlength=n_pred // 1)[1:] if n_pred else np.zeros(0)",
            "np.bincount(pred_labels.ravel(order=order)[g1], minlength=n_pred << 1)[1:] if n_pred else np.zeros(0)",
            "np.bincount(pred_labels.ravel(order=order)[g1], minlength=n_pred >> 1)[1:] if n_pred else np.zeros(0)",
            "np.bincount(pred_labels.ravel(order=order)[g1], minlength=n_pred ^ 1)[1:] if n_pred else np.zeros(0)",
            "np.bincount(pred_labels.ravel(order=order)[g1], minlength=n_pred | 1)[1:] if n_pred else np.zeros(0)",
        ),
        *_same_line(
            "if c.tp + c.fp + c.fn == 0:",
            "counts are >= 0: an or of them is 0 exactly when all are",
            "if c.tp + c.fp + c.fn <= 0:",
            "if c.tp + c.fp | c.fn == 0:",
            "if c.tp | c.fp + c.fn == 0:",
        ),
        *_same_line(
            "if size_sum == 0:",
            "a count is never negative",
            "if size_sum <= 0:",
        ),
        *_same_line(
            "if i == 0:",
            "a count is never negative",
            "if i <= 0:",
        ),
        *_same_line(
            "union = int(np.count_nonzero(p | g))",
            "on boolean arrays `+` is `|`",
            "union = int(np.count_nonzero(p + g))",
        ),
        *_same_line(
            "if union == 0:",
            "a count is never negative",
            "if union <= 0:",
        ),
        *_same_line(
            "return int(np.count_nonzero(p & g)) / union",
            "on boolean arrays `*` is `&`",
            "return int(np.count_nonzero(p * g)) / union",
        ),
    ],
    "graders/topology.py": [
        # each checked by running the mutant against the original on random label maps
        *_same_line(
            "np.ascontiguousarray(mask, dtype=np.uint8), connectivity=26 if mask.ndim == 3 else 8",
            "cc3d reads 26-connectivity on 2-D as 8; 1-D and 4-D inputs raise either way",
            "np.ascontiguousarray(mask, dtype=np.uint8), connectivity=26 if mask.ndim <= 3 else 8",
            "np.ascontiguousarray(mask, dtype=np.uint8), connectivity=26 if mask.ndim >= 3 else 8",
        ),
        *_same_line(
            "for i, box in zip(*_boxes_of(idx, labels[tuple(idx.T)].astype(np.intp)), strict=True):",
            "the zipped lists are built to equal lengths",
            "for i, box in zip(*_boxes_of(idx, labels[tuple(idx.T)].astype(np.intp)), strict=False):",
        ),
        *_same_line(
            "if axes is not None and inverse is not None:",
            "inverse is None exactly when axes is None",
            "if axes is not None or inverse is not None:",
        ),
        *_same_line(
            "tprec = hits_p / n_p if n_p else 0.0",
            "the other ratio is <= 1, so the fallback only changes a sum that still gives F1 0",
            "tprec = hits_p / n_p if n_p else -1.0",
        ),
        *_same_line(
            "tsens = hits_g / n_g if n_g else 0.0",
            "the other ratio is <= 1, so the fallback only changes a sum that still gives F1 0",
            "tsens = hits_g / n_g if n_g else -1.0",
        ),
        *_same_line(
            "return 2.0 * tprec * tsens / (tprec + tsens) if tprec + tsens > 0 else 0.0",
            "both ratios are >= 0; where exactly one is 0 the formula gives 0 too",
            "return 2.0 * tprec * tsens / (tprec + tsens) if tprec * tsens > 0 else 0.0",
            "return 2.0 * tprec * tsens / (tprec + tsens) if tprec + tsens != 0 else 0.0",
        ),
        *_same_line(
            "return count_components(m, 26 if m.ndim == 3 else 8) if m.any() else 0",
            "cc3d reads 26-connectivity on 2-D as 8; 1-D and 4-D inputs raise either way",
            "return count_components(m, 26 if m.ndim >= 3 else 8) if m.any() else 0",
        ),
        *_same_line(
            "if not p.any() or not g.any():",
            "with one mask empty the ratio computed is 0 anyway",
            "if not p.any() and not g.any():",
        ),
        *_same_line(
            "for t, p in zip(y_true, y_pred, strict=True):",
            "the lengths are checked equal just before",
            "for t, p in zip(y_true, y_pred, strict=False):",
        ),
        *_same_line(
            'if a.dtype.kind == "u" and a.dtype.itemsize <= 2:',
            "only narrows which small unsigned dtypes take the counting path; the general path gives the same set",
            'if a.dtype.kind == "u" and a.dtype.itemsize < 2:',
            'if a.dtype.kind == "u" and a.dtype.itemsize <= 1:',
            'if a.dtype.kind == "u" and a.dtype.itemsize <= 3:',
            'if a.dtype.kind == "u" and a.dtype.itemsize == 2:',
            'if a.dtype.kind > "u" and a.dtype.itemsize <= 2:',
            'if a.dtype.kind >= "u" and a.dtype.itemsize <= 2:',
            'if a.dtype.kind is "u" and a.dtype.itemsize <= 2:',
        ),
        *_same_line(
            "return {int(v) for v in np.flatnonzero(np.bincount(a.ravel())) if v != 0}",
            "flatnonzero indices are >= 0",
            "return {int(v) for v in np.flatnonzero(np.bincount(a.ravel())) if v > 0}",
        ),
        *_same_line(
            "keep = values > 0",
            "the values come from nonzero_indices: never 0",
            "keep = values > -1",
            "keep = values >= 0",
        ),
        *_same_line(
            "return {int(k): box for k, box in zip(*_boxes_of(idx[keep], values[keep]), strict=True)}",
            "the zipped lists are built to equal lengths",
            "return {int(k): box for k, box in zip(*_boxes_of(idx[keep], values[keep]), strict=False)}",
        ),
        *_same_line(
            "if idx.size == 0:",
            "a size is never negative; on empty input the general path returns the same empty result",
            "if idx.size < 0:",
            "if idx.size <= 0:",
            "if idx.size == -1:",
        ),
        *_same_line(
            "hi = np.full((len(uniq), idx.shape[1]), -1, dtype=np.intp)",
            "any start <= 0 is overwritten by maximum.at with coordinates >= 0 (each group has a row)",
            "hi = np.full((len(uniq), idx.shape[1]), - 0, dtype=np.intp)",
            "hi = np.full((len(uniq), idx.shape[1]), - 2, dtype=np.intp)",
            "hi = np.full((len(uniq), idx.shape[1]), not 1, dtype=np.intp)",
            "hi = np.full((len(uniq), idx.shape[1]), ~1, dtype=np.intp)",
        ),
        *_same_line(
            "tuple(slice(int(a), int(b) + 1) for a, b in zip(lo[k], hi[k], strict=True)) for k in range(len(uniq))",
            "the zipped lists are built to equal lengths",
            "tuple(slice(int(a), int(b) + 1) for a, b in zip(lo[k], hi[k], strict=False)) for k in range(len(uniq))",
        ),
        *_same_line(
            "return ndimage.find_objects(mask.view(np.uint8))[0] if mask.any() else None",
            "a 0/1 array gives a one-entry list",
            "return ndimage.find_objects(mask.view(np.uint8))[ -1] if mask.any() else None",
        ),
        *_same_line(
            "grown = enclosing_region(a.shape, [box], pad=1)",
            "the label's own bounding box: every neighbour is already inside the pad-1 region",
            "grown = enclosing_region(a.shape, [box], pad= 2)",
        ),
        *_same_line(
            "if idx.size == 0:",
            "a size is never negative; on empty input the general path returns the same empty result",
            "if idx.size < 0:",
            "if idx.size <= 0:",
            "if idx.size == -1:",
        ),
        *_same_line(
            "box = label_box(a, label, boxes) if boxes is not None else tuple(slice(0, n) for n in a.shape)",
            "the label's own box or the whole array: the same median for any positive label",
            "box = label_box(a, label, boxes) if boxes is None else tuple(slice(0, n) for n in a.shape)",
            "box = label_box(a, label, boxes) if not boxes is not None else tuple(slice(0, n) for n in a.shape)",
        ),
        *_same_line(
            "box = (slice(0, 0),) * pred.ndim",
            "still an empty slice",
            "box = (slice( -1, 0),) * pred.ndim",
            "box = (slice( 1, 0),) * pred.ndim",
        ),
    ],
    "graders/instances.py": [
        # each run against the original on ~170 label-map pairs (small labels, 70,000, 2**40 and 2**62,
        # one label per pixel, a 0x0 image, 72 cells): bit-identical results
        *_same_line(
            "if (n_true + 1) * (n_pred + 1) <= 4 * gf.size + 65536:",
            "picks the dense or the np.unique overlap table, which give the same keys and counts: memory only",
            "if (n_true % 1) * (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true & 1) * (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true * 1) * (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true ** 1) * (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true + 0) * (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) % (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) & (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred % 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred & 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred * 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred ** 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 0) <= 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) != 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) < 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 3 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 % gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 & gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 * gf.size % 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 * gf.size & 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 * gf.size * 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 * gf.size ** 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 * gf.size + 65535:",
            "if (n_true + 1) * (n_pred + 1) <= 4 * gf.size + 65537:",
            "if (n_true + 1) * (n_pred + 1) <= 4 * gf.size - 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 * gf.size / 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 * gf.size // 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 * gf.size << 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 * gf.size >> 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 * gf.size ^ 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 * gf.size | 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 ** gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 + gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 - gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 / gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 // gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 << gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 >> gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 ^ gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 4 | gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) <= 5 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) == 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) > 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) >= 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) is 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 1) is not 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred + 2) <= 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred - 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred / 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred // 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred << 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred >> 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred ^ 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) * (n_pred | 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) ** (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) + (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) - (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) / (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) // (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) << (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) >> (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) ^ (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true + 1) | (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true + 2) * (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true - 1) * (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true / 1) * (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true // 1) * (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true << 1) * (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true >> 1) * (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true ^ 1) * (n_pred + 1) <= 4 * gf.size + 65536:",
            "if (n_true | 1) * (n_pred + 1) <= 4 * gf.size + 65536:",
            "if not (n_true + 1) * (n_pred + 1) <= 4 * gf.size + 65536:",
        ),
        *_same_line(
            "table = np.bincount(key, minlength=(n_true + 1) * (n_pred + 1))",
            "read only through flatnonzero: the minlength only pads zeros that are never read",
            "table = np.bincount(key, minlength=(n_true % 1) * (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true & 1) * (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true * 1) * (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true ** 1) * (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true + 0) * (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true + 1) % (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true + 1) & (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true + 1) * (n_pred % 1))",
            "table = np.bincount(key, minlength=(n_true + 1) * (n_pred & 1))",
            "table = np.bincount(key, minlength=(n_true + 1) * (n_pred * 1))",
            "table = np.bincount(key, minlength=(n_true + 1) * (n_pred ** 1))",
            "table = np.bincount(key, minlength=(n_true + 1) * (n_pred + 0))",
            "table = np.bincount(key, minlength=(n_true + 1) * (n_pred + 2))",
            "table = np.bincount(key, minlength=(n_true + 1) * (n_pred - 1))",
            "table = np.bincount(key, minlength=(n_true + 1) * (n_pred // 1))",
            "table = np.bincount(key, minlength=(n_true + 1) * (n_pred << 1))",
            "table = np.bincount(key, minlength=(n_true + 1) * (n_pred >> 1))",
            "table = np.bincount(key, minlength=(n_true + 1) * (n_pred ^ 1))",
            "table = np.bincount(key, minlength=(n_true + 1) * (n_pred | 1))",
            "table = np.bincount(key, minlength=(n_true + 1) + (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true + 1) // (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true + 1) >> (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true + 1) ^ (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true + 1) | (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true + 2) * (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true - 1) * (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true // 1) * (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true << 1) * (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true >> 1) * (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true ^ 1) * (n_pred + 1))",
            "table = np.bincount(key, minlength=(n_true | 1) * (n_pred + 1))",
        ),
        *_same_line(
            "size_true = np.bincount(gf, minlength=n_true + 1)",
            "every label 1..n occurs, so the bincount has length n + 1 anyway; padding is never read",
            "size_true = np.bincount(gf, minlength=n_true % 1)",
            "size_true = np.bincount(gf, minlength=n_true & 1)",
            "size_true = np.bincount(gf, minlength=n_true * 1)",
            "size_true = np.bincount(gf, minlength=n_true ** 1)",
            "size_true = np.bincount(gf, minlength=n_true + 0)",
            "size_true = np.bincount(gf, minlength=n_true + 2)",
            "size_true = np.bincount(gf, minlength=n_true - 1)",
            "size_true = np.bincount(gf, minlength=n_true // 1)",
            "size_true = np.bincount(gf, minlength=n_true << 1)",
            "size_true = np.bincount(gf, minlength=n_true >> 1)",
            "size_true = np.bincount(gf, minlength=n_true ^ 1)",
            "size_true = np.bincount(gf, minlength=n_true | 1)",
        ),
        *_same_line(
            "keep = (values != 0) & ~np.isin(values, frame)",
            "labels are >= 0, and `*` on booleans is `&`",
            "keep = (values != 0) * ~np.isin(values, frame)",
            "keep = (values > 0) & ~np.isin(values, frame)",
        ),
        *_same_line(
            "if rows.size == 0:",
            "a size is never negative; an empty edge list gives 0 through the shortcut too",
            "if rows.size < 0:",
            "if rows.size <= 0:",
            "if rows.size == -1:",
        ),
        *_same_line(
            "both = (gf > 0) & (pf > 0)",
            "relabelled labels are >= 0, and `*` on booleans is `&`",
            "both = (gf != 0) & (pf > 0)",
            "both = (gf > 0) & (pf != 0)",
            "both = (gf > 0) * (pf > 0)",
        ),
        *_same_line(
            "if n_pred == 0 or n_true == 0:",
            "a fast exit: with one side empty the general code finds no pair either",
            "if n_pred < 0 or n_true == 0:",
            "if n_pred <= 0 or n_true == 0:",
            "if n_pred == -1 or n_true == 0:",
            "if n_pred == 0 and n_true == 0:",
            "if n_pred == 0 or n_true < 0:",
            "if n_pred == 0 or n_true <= 0:",
            "if n_pred == 0 or n_true == -1:",
        ),
        *_same_line(
            "present = np.bincount(flat, minlength=top + 1)",
            "counts are >= 0; the bincount already has length top + 1",
            "present = np.bincount(flat, minlength=top + 1) != 0",
            "present = np.bincount(flat, minlength=top ^ 1) > 0",
            "present = np.bincount(flat, minlength=top | 1) > 0",
        ),
        *_same_line(
            "size_pred = np.bincount(pf, minlength=n_pred + 1)",
            "every label 1..n occurs, so the bincount has length n + 1 anyway; padding is never read",
            "size_pred = np.bincount(pf, minlength=n_pred % 1)",
            "size_pred = np.bincount(pf, minlength=n_pred & 1)",
            "size_pred = np.bincount(pf, minlength=n_pred * 1)",
            "size_pred = np.bincount(pf, minlength=n_pred ** 1)",
            "size_pred = np.bincount(pf, minlength=n_pred + 0)",
            "size_pred = np.bincount(pf, minlength=n_pred + 2)",
            "size_pred = np.bincount(pf, minlength=n_pred - 1)",
            "size_pred = np.bincount(pf, minlength=n_pred // 1)",
            "size_pred = np.bincount(pf, minlength=n_pred << 1)",
            "size_pred = np.bincount(pf, minlength=n_pred >> 1)",
            "size_pred = np.bincount(pf, minlength=n_pred ^ 1)",
            "size_pred = np.bincount(pf, minlength=n_pred | 1)",
        ),
        *_same_line(
            "zip(thresholds, f1_at_thresholds(image_counts(true, pred, thresholds), decimals), strict=True)",
            "one F1 per threshold by construction: the lengths are equal",
            "zip(thresholds, f1_at_thresholds(image_counts(true, pred, thresholds), decimals), strict=False)",
        ),
        *_same_line(
            "if np.unique(rows).size == rows.size and np.unique(cols).size == cols.size:",
            "only skips the shortcut: the exact bipartite matching gives the same size",
            "if np.unique(rows).size == rows.size and np.unique(cols).size > cols.size:",
            "if np.unique(rows).size == rows.size and np.unique(cols).size >= cols.size:",
            "if np.unique(rows).size == rows.size and np.unique(cols).size is cols.size:",
            "if np.unique(rows).size > rows.size and np.unique(cols).size == cols.size:",
            "if np.unique(rows).size >= rows.size and np.unique(cols).size == cols.size:",
            "if np.unique(rows).size is rows.size and np.unique(cols).size == cols.size:",
        ),
        *_same_line(
            "if top <= 4 * flat.size + 65536:",
            "picks the dense table or np.unique, which renumber alike: speed and memory only",
            "if top < 4 * flat.size + 65536:  # dense look-up table",
            "if top <= 3 * flat.size + 65536:  # dense look-up table",
            "if top <= 4 & flat.size + 65536:  # dense look-up table",
            "if top <= 4 * flat.size % 65536:  # dense look-up table",
            "if top <= 4 * flat.size & 65536:  # dense look-up table",
            "if top <= 4 * flat.size * 65536:  # dense look-up table",
            "if top <= 4 * flat.size + 65535:  # dense look-up table",
            "if top <= 4 * flat.size + 65537:  # dense look-up table",
            "if top <= 4 * flat.size - 65536:  # dense look-up table",
            "if top <= 4 * flat.size / 65536:  # dense look-up table",
            "if top <= 4 * flat.size // 65536:  # dense look-up table",
            "if top <= 4 * flat.size >> 65536:  # dense look-up table",
            "if top <= 4 * flat.size ^ 65536:  # dense look-up table",
            "if top <= 4 * flat.size | 65536:  # dense look-up table",
            "if top <= 4 + flat.size + 65536:  # dense look-up table",
            "if top <= 4 - flat.size + 65536:  # dense look-up table",
            "if top <= 4 >> flat.size + 65536:  # dense look-up table",
            "if top <= 4 ^ flat.size + 65536:  # dense look-up table",
            "if top <= 4 | flat.size + 65536:  # dense look-up table",
            "if top <= 5 * flat.size + 65536:  # dense look-up table",
            "if top == 4 * flat.size + 65536:  # dense look-up table",
            "if top is 4 * flat.size + 65536:  # dense look-up table",
        ),
        *_same_line(
            "if tp == 0:",
            "a count is never negative",
            "if tp <= 0:",
        ),
        *_same_line(
            "top = int(flat.max()) if flat.size else 0",
            "only an empty image: a longer table still finds no label",
            "top = int(flat.max()) if flat.size else 1",
        ),
    ],
    "rexmle/ranking.py": [
        *_same_line(
            'elif directions[m] == "higher_better":',
            "on the two direction literals `<=` and `is` agree with `==`",
            'elif directions[m] <= "higher_better":',
            'elif directions[m] is "higher_better":',
        ),
    ],
    "rexmle/report/stats.py": [
        Equivalent("if x.size < 2:", "if x.size < 1:", "numpy's sample sd of one value is NaN too"),
        *_same_line(
            'direction == "higher_better" else',
            "on the two direction literals `<=` and `is` agree with `==`",
            'direction <= "higher_better" else',
            'direction is "higher_better" else',
        ),
    ],
    "graders/correlation.py": [
        Equivalent("np.ptp(p) == 0", "np.ptp(p) <= 0", "a peak-to-peak range is never negative"),
        Equivalent("np.ptp(t) == 0", "np.ptp(t) <= 0", "a peak-to-peak range is never negative"),
    ],
    "graders/coco.py": [
        Equivalent(
            "zip(STAT_NAMES, stats, strict=True)",
            "strict=False",
            "COCOeval always gives the 12 statistics STAT_NAMES names",
        ),
    ],
    "graders/boxes.py": [
        Equivalent("@classmethod", "", "pydantic makes a field validator a classmethod itself"),
        Equivalent(
            "zip(self.location, self.size, strict=True)", "strict=False", "both are 3-tuples, by the model"
        ),
        Equivalent(
            "zip(self.intervals, self.size, strict=True)",
            "strict=False",
            "three intervals for three sizes, always",
        ),
        Equivalent("zip(a, b, strict=True)", "strict=False", "two boxes of three intervals each"),
        Equivalent("v = 1", "v = 2", "every volume doubled: each IoU is a ratio of two volumes, unchanged"),
        *_same_line(
            "return inter / union if union else 0.0",
            "the empty union is unreachable: a box of positive size has a non-empty shell at any ratio,"
            " since its core shrinks by at least one voxel per side",
            "else -1.0",
            "else 1.0",
        ),
        Equivalent(
            "boundary_iou(a, b, 0.5)",
            "boundary_iou(a, b, 1.5)",
            "any ratio >= 0.5 leaves an empty core, so the shell is the whole box",
        ),
    ],
    "graders/image_quality.py": [
        Equivalent("both = ~flat_a & ~flat_b", "both = ~flat_a * ~flat_b", _BOOL_AND),
        Equivalent("rho[flat_a & flat_b] = 1.0", "rho[flat_a * flat_b]", _BOOL_AND),
        Equivalent("rho[flat_a & flat_b] = 1.0", "= 2.0", "the map is clipped to [-1, 1] on return"),
    ],
    "rexmle/grading.py": [
        *[
            Equivalent(src, mutant, 'aggregation is mean, median or pooled, and "pooled" sorts last')
            for src, mutant in (
                ('if m.aggregation == "pooled":', 'if m.aggregation >= "pooled":'),
                ('if m.aggregation == "pooled"}', 'if m.aggregation >= "pooled"}'),
            )
        ],
        Equivalent(
            'if m.aggregation == "mean" else',
            'if m.aggregation <= "mean" else',
            'only mean and median reach the line, and "median" sorts after "mean"',
        ),
        *_same_line(
            "deadline: float = 0.0",
            "submit sets a worker's deadline before it joins the busy list, the only deadlines read",
            "deadline: float = 1.0",
            "deadline: float = -1.0",
        ),
        *_same_line(
            "limit: float = 0.0",
            "submit sets the limit before it is read (in the message of a late worker only)",
            "limit: float = 1.0",
            "limit: float = -1.0",
        ),
        Equivalent(
            "min(os.cpu_count() or 1, 8)",
            "os.cpu_count() or 0",
            "for a missing cpu count max(1, min(0, 8)) is 1 as well",
        ),
        Equivalent(
            "return max(1, min(os.cpu_count() or 1, 8))",
            "return max( 0, min(",
            "the inner value is at least 1: cpu_count is None or positive",
        ),
        Equivalent(
            "timeout=max(0.0, timeout)",
            "timeout=max( -1.0, timeout)",
            "the line runs only when no busy worker is late at the same `now`: the timeout is positive",
        ),
        Equivalent(
            "x.answers is conn", "x.answers == conn", "Connection defines no __eq__: `==` is identity"
        ),
        Equivalent(
            "while done < total:",
            "while done != total:",
            "done counts up by one from 0 and the loop ends when it reaches total",
        ),
        Equivalent(
            "while pool.free > 0:",
            "while pool.free != 0:",
            "only feed makes workers busy, and it stops at 0 free: free is never negative",
        ),
    ],
    "rexmle/submission.py": [
        Equivalent(
            "rel.strip() != rel",
            "rel.strip() is not rel",
            "str.strip returns the very same object when there is nothing to strip, a new one otherwise",
        ),
        Equivalent(
            "if len(raw_rows) >= cap:",
            "if len(raw_rows) == cap:",
            "checked before every append, so `>=` first holds at `==`",
        ),
        *_same_line(
            "if len(set(header)) != len(header):",
            "a set is never longer than its list; equal lengths mean distinct names all among the"
            " format's few columns (fewer than 257), whose ints CPython shares",
            "if len(set(header)) < len(header):",
            "if len(set(header)) is not len(header):",
        ),
        Equivalent(
            "zip(raw_rows, rows, strict=True)", "strict=False", "rows is built from raw_rows, one row each"
        ),
        Equivalent(
            "extra = sorted(set(out) - expected)",
            "extra = sorted(set(out) ^ expected)",
            "no expected id is missing by then, so the symmetric difference is the difference",
        ),
    ],
    "challenges/_panther/grading.py": [
        *_same_line(
            "minlength=256",
            "minlength only pads the counts with zero bins, which flatnonzero drops",
            "minlength= 255",
            "minlength= 257",
        ),
        Equivalent(
            "if set(values) <= {0, 1}:",
            "if set(values) < {0, 1}:",
            "they differ only at exactly {0, 1}, which then takes `arr > 0`: the same mask as `arr == 1`",
        ),
        Equivalent(
            "if len(values) == 2 and values[0] == 0:",
            "len(values) <= 2 and",
            "0 or 1 values: {}, {0}, {1} took the branch before; any other single value is >= 2 and fails"
            " `values[0] == 0` alike",
        ),
        Equivalent(
            "if len(values) == 2 and values[0] == 0:",
            "values[0] <= 0",
            "flatnonzero indices are never negative",
        ),
        Equivalent("return arr == 1", "return arr >= 1", "this branch sees only values within {0, 1}"),
        *_same_line(
            "return arr > 0",
            "this branch sees only {0, v} with v >= 2 (v = 1 took the branch before), in uint8",
            "return arr > 1",
            "return arr != 0",
        ),
    ],
    "challenges/_topbrain/scoring.py": [
        Equivalent(
            "float(outcome == o)",
            "float(outcome is o)",
            "detection outcomes and OUTCOMES are the same interned string literals",
        ),
        Equivalent(
            "with_cldice=False,",
            "with_cldice=True,",
            "adds only the merged-mask clDice, which the case row never reads (label maps are 3-D)",
        ),
    ],
    "challenges/isles22/grade.py": [
        Equivalent(
            "else data != 0", "else data > 0", "runs only after `lo < 0` was refused: the integers are >= 0"
        ),
        Equivalent(
            "data.dtype.itemsize == 1", "data.dtype.itemsize <= 1", "a numpy integer's itemsize is at least 1"
        ),
        Equivalent("bad = fg & (data != 1)", "bad = fg * (data != 1)", _BOOL_AND),
        Equivalent(
            'if data.dtype.kind == "b":',
            'if data.dtype.kind <= "b":',
            'only the kinds b, i, u, f pass the check before, and of those only "b" sorts at or below "b"',
        ),
    ],
    "challenges/seg_a/grade.py": [
        Equivalent(
            "return mask > 0", "return mask != 0", "read_label_map gives uint8 labels 0 and 1: never negative"
        ),
    ],
    "challenges/_puma/grading.py": [
        *_same_line(
            "16 * SHAPE[0] * SHAPE[1]",
            "SHAPE is (1024, 1024): either axis gives the same cap",
            "16 * SHAPE[ 1] * SHAPE[1]",
            "16 * SHAPE[ -1] * SHAPE[1]",
            "16 * SHAPE[0] * SHAPE[ 0]",
        ),
        Equivalent("np.count_nonzero(g & p)", "np.count_nonzero(g * p)", "`*` is `&` on boolean masks"),
        *_same_line(
            "if arr.ndim != 2:",
            "unreachable: the array is a resize to 1024 x 1024 of an accepted single-channel mode, so 2-D",
            "if arr.ndim > 2:",
            "if arr.ndim < 2:",
        ),
    ],
    "challenges/ravir/grade.py": [
        Equivalent(
            "out[arr == raw] = cid",
            "out[arr >= raw] = cid",
            "keys run in increasing order with non-decreasing class ids and every value is a key: the last"
            " write to a pixel of value v is v's own class",
        ),
        Equivalent(
            'if im.format != "PNG":',
            'im.format is not "PNG"',
            _PIL_FORMAT,
        ),
        Equivalent(
            "if arr.dtype == np.bool_:",
            "if arr.dtype <= np.bool_:",
            _SAFE_CAST,
        ),
    ],
    "challenges/neurips-cellseg/grade.py": [
        Equivalent(
            "if arr.dtype == np.bool_:",
            "if arr.dtype <= np.bool_:",
            _SAFE_CAST,
        ),
        *_same_line(
            "if len(im.getbands()) > 1 else ()",
            "a Pillow image has at least one band, and a band axis of 1 is squeezed away",
            "if len(im.getbands()) >= 1 else ()",
            "if len(im.getbands()) > 0 else ()",
            "if len(im.getbands()) != 1 else ()",
        ),
        Equivalent("arr.dtype.itemsize <= 2", "arr.dtype.itemsize <= 3", "no unsigned dtype has 3 bytes"),
        Equivalent(
            '(arr.dtype.kind == "u" and',
            '(arr.dtype.kind >= "u" and',
            'only the kinds i, u and f reach the line, and none sorts above "u"',
        ),
        Equivalent(
            '(arr.dtype.kind == "u" and',
            '(arr.dtype.kind is "u" and',
            "numpy's kind 'u' is the interned one-letter string in CPython (not a language guarantee:"
            " the `is` mutants of 'f' and 'i' are killed)",
        ),
        Equivalent(
            'if arr.dtype.kind == "f":',
            'if arr.dtype.kind >= "f":',
            "adds only the kinds i and u, whose values pass the float test unchanged (finite, and round"
            " is the identity)",
        ),
    ],
    "challenges/usenhance/grade.py": [
        Equivalent(
            'gray = img if img.mode == "L"',
            'img.mode <= "L"',
            "of the modes that reach the line (L, LA, RGB, RGBA, P) only L sorts at or below L",
        ),
        *_same_line(
            'gray = img if img.mode == "L"',
            "an L image then goes through convert('L'), which Pillow answers with an identical copy",
            'img.mode < "L"',
            'img.mode is "L"',
        ),
        Equivalent(
            "if pred.shape != gt.shape:",
            "pred.shape is not gt.shape",
            "resizing a 2-D uint8 image to its own size returns an identical copy",
        ),
        Equivalent(
            'if img.format != "PNG":',
            'img.format is not "PNG"',
            _PIL_FORMAT,
        ),
    ],
    "challenges/_topcow/scoring.py": [
        Equivalent("float(outcome == o)", "float(outcome is o)", _INTERNED),
        Equivalent("FAIL = -1", "FAIL = - 2", "real variant codes are 0-15: any negative code fails alike"),
        Equivalent(
            "FAIL = -1", "FAIL = ~1", "~1 is -2: real variant codes are 0-15, any negative fails alike"
        ),
        Equivalent(
            "zip(truth, rows, strict=True)",
            "strict=False",
            "truth is built from rows: their lengths are equal",
        ),
    ],
}


def _annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where a function's parameter and return annotations are: in a module with ``from
    __future__ import annotations`` they are strings never evaluated, so a mutant inside one
    (``int | None`` -> ``int << None``) changes nothing that runs."""
    tree = ast.parse(source)
    if not any(
        isinstance(n, ast.ImportFrom)
        and n.module == "__future__"
        and any(a.name == "annotations" for a in n.names)
        for n in tree.body
    ):
        return []
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            notes = [a.annotation for a in every if a is not None and a.annotation is not None]
            for n in [*notes, node.returns]:
                if n is not None and n.end_lineno is not None and n.end_col_offset is not None:
                    spans.append(((n.lineno, n.col_offset), (n.end_lineno, n.end_col_offset)))
    return spans


def _skip_annotation_mutants(db: Path, source: str) -> int:
    """Mark the mutants inside function annotations as skipped before they run; returns how many."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    spans = _annotation_spans(source)
    skipped = 0
    with use_db(str(db), WorkDB.Mode.open) as work:
        for item in work.pending_work_items:
            m = item.mutations[0]
            if any(lo <= tuple(m.start_pos) and tuple(m.end_pos) <= hi for lo, hi in spans):
                work.set_result(
                    item.job_id,
                    WorkResult(
                        output=None, test_outcome=None, diff=None, worker_outcome=WorkerOutcome.SKIPPED
                    ),
                )
                skipped += 1
    return skipped


def _diff(diff: str | None) -> str:
    """The changed lines of a mutant's diff (its ``-`` and ``+`` lines, no headers)."""
    return "\n".join(ln for ln in (diff or "").splitlines() if re.match(r"^[-+][^-+]", ln))


def _equivalent(module: str, diff: str) -> Equivalent | None:
    old = [ln[1:] for ln in diff.splitlines() if re.match(r"^-[^-]", ln)]
    new = [ln[1:] for ln in diff.splitlines() if re.match(r"^\+[^+]", ln)]
    for eq in EQUIVALENTS.get(module, []):
        # an empty ``mutant`` names the mutant that deletes the line (a removed decorator)
        if any(eq.source in o for o in old) and (any(eq.mutant in n for n in new) or not (eq.mutant or new)):
            return eq
    return None


#: cosmic-ray operators whose mutants are noise for this code (none at present).
EXCLUDED_OPERATORS: list[str] = []
RESULTS = ROOT / "bench" / "mutation.json"


#: Each mutant pays pytest's start-up; without the plugins' auto-loading and the suite's conftest
#: (fixtures these unit tests do not use) it is ~40 % shorter. Used when the unmutated tests pass so.
FAST = "env PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 {python} -m pytest -x -q -p no:cacheprovider --noconftest"


def _test_command(tests: str, tree: Path) -> str:
    """The command each mutant runs: the fast one if the unmutated tests pass with it, else the
    full one; and the unmutated tests must pass (a failing baseline would count every mutant as
    killed)."""
    # the copy's packages come first, also in any process the tests start
    for runner in (FAST.format(python=PY), PYTEST):
        command = f"env PYTHONPATH={tree} {runner} {tests}"
        if subprocess.run(command.split(), cwd=tree, capture_output=True).returncode == 0:
            return command
    sys.exit(f"the tests {tests} fail before any mutation: fix them first")


def _config(module: str, tests: str, folder: Path, tree: Path) -> Path:
    cfg = folder / "cosmic-ray.toml"
    cfg.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{module}"\n'
        "timeout = 120.0\n"
        "excluded-modules = []\n"
        f'test-command = "{_test_command(tests, tree)}"\n'
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = {json.dumps(EXCLUDED_OPERATORS)}\n"
    )
    return cfg


def _run(tree: Path, *cmd: str) -> None:
    subprocess.run(cmd, cwd=tree, check=True, stdout=subprocess.DEVNULL)


def _copy_tree(dest: Path) -> Path:
    """The working tree as git sees it (tracked files and untracked ones not ignored), copied to
    ``dest``: mutants are written there, never into the files being edited."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file() and not src.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    # the package layout the editable install maps (pyproject's package-dir): rexmle.graders is
    # graders/, and so on; without these links the copy's tests would import the originals
    for folder in ("graders", "challenges", "agents", "containers"):
        (dest / "rexmle" / folder).symlink_to(Path("..") / folder)
    return dest


def mutate(module: str, tests: str) -> dict[str, Any]:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tree = _copy_tree(folder / "tree")
        mutated_code = fingerprint(module, tests, tree)  # of the code mutated, whatever is edited meanwhile
        cfg, db = _config(module, tests, folder, tree), folder / "session.sqlite"
        bin_dir = Path(PY).parent
        _run(tree, str(bin_dir / "cosmic-ray"), "init", str(cfg), str(db))
        _run(tree, str(bin_dir / "cr-filter-operators"), str(db), str(cfg))
        in_annotations = _skip_annotation_mutants(db, (tree / module).read_text())
        started = time.time()
        _run(tree, str(bin_dir / "cosmic-ray"), "exec", str(cfg), str(db))
        took = time.time() - started
        with use_db(str(db), WorkDB.Mode.open) as work:
            results = list(work.results)
            items = {i.job_id: i for i in work.work_items}
    outcomes = [r for _job, r in results if r.test_outcome is not None]
    killed = sum(r.test_outcome == TestOutcome.KILLED for r in outcomes)
    survived_all = [(job, r) for job, r in results if r.test_outcome == TestOutcome.SURVIVED]
    matched = [(job, r, _equivalent(module, r.diff or "")) for job, r in survived_all]
    survived = [(job, r) for job, r, eq in matched if eq is None]
    listed = [
        {"line": items[job].mutations[0].start_pos[0], "diff": _diff(r.diff), "reason": eq.reason}
        for job, r, eq in matched
        if eq is not None
    ]
    incompetent = sum(r.test_outcome == TestOutcome.INCOMPETENT for r in outcomes)
    scored = killed + len(survived)
    return {
        "tests": tests,
        "fingerprint": mutated_code,
        "mutants": len(outcomes),
        "killed": killed,
        "survived": len(survived),
        "incompetent": incompetent,
        "skipped_in_annotations": in_annotations,
        "score": round(killed / scored, 4) if scored else None,
        "seconds": round(took, 1),
        "equivalent_survivors": listed,  # survivors matched by EQUIVALENTS, not counted
        "survivors": [
            {
                "line": items[job].mutations[0].start_pos[0],
                "operator": items[job].mutations[0].operator_name,
                "diff": _diff(r.diff),
            }
            for job, r in survived
        ],
    }


#: the score a target must keep (equivalents excluded), as the issue that set up mutation testing asks
THRESHOLD = 0.95
#: the most seconds of mutation ``--check`` runs for targets changed since they were recorded (by
#: their last recorded durations); more than that is a failure that asks for ``make mutate``
CHECK_BUDGET_S = 900.0


def _code(path: Path) -> str:
    """A Python file's code without its docstrings, comments and layout (``ast.dump`` keeps no
    line numbers): what a mutant and a test can depend on."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body[0].value.value = ""
    return ast.dump(tree)


def fingerprint(module: str, tests: str, root: Path | None = None) -> str:
    """What a recorded result depends on: the code of the module and of its tests. Another
    fingerprint means the record no longer describes the code; an edit to a docstring, a comment
    or the layout keeps it. ``ast.dump``'s text can change with Python's minor version: records
    are made with the Python CI uses (another one makes every record stale, and CI says so)."""
    digest = hashlib.sha256()
    for rel in (module, *tests.split()):
        digest.update(f"{rel}\0{_code((root or ROOT) / rel)}\0".encode())
    return digest.hexdigest()[:16]


def _fingerprint_or_none(module: str) -> str | None:
    """The target's fingerprint, or None when its module or a test file is missing (never current)."""
    try:
        return fingerprint(module, TARGETS[module])
    except OSError:
        return None


def check() -> int:
    """CI's mutation gate: every target is recorded for its current code with a score of at least
    :data:`THRESHOLD`. Targets whose module or tests changed since their record (or never ran) are
    mutated now, if their last durations fit :data:`CHECK_BUDGET_S`; their results are printed,
    not written (the record is the committed one)."""
    recorded = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    stale = [m for m in TARGETS if recorded.get(m, {}).get("fingerprint") != _fingerprint_or_none(m)]
    cost = sum(float(recorded.get(m, {}).get("seconds", math.inf)) for m in stale)  # never run: unknown
    if cost > CHECK_BUDGET_S:
        print(
            f"mutation records are stale for {len(stale)} target(s) ({', '.join(stale)}), about {cost:.0f} s"
            f" of mutation (over CI's {CHECK_BUDGET_S:.0f} s): run `make mutate` and commit bench/mutation.json"
        )
        return 1
    failed = []
    for module in TARGETS:
        if module in stale:
            print(f"{module}: changed since its record: mutating it now ...", flush=True)
            r = mutate(module, TARGETS[module])
        else:
            r = recorded[module]
        score = r["score"]
        ok = score is not None and score >= THRESHOLD
        print(
            f"  {'ok  ' if ok else 'FAIL'} {module}: score {score} ({r['killed']} killed, {r['survived']} survived)"
        )
        for s in r["survivors"]:
            print(f"       survivor line {s['line']}: {s['diff']}")
        if not ok:
            failed.append(module)
    print(
        f"mutation: {len(TARGETS) - len(failed)} of {len(TARGETS)} targets at >= {THRESHOLD:.0%}", flush=True
    )
    return 1 if failed else 0


def reclassify(modules: list[str]) -> None:
    """Apply :data:`EQUIVALENTS` to the survivors already recorded (after naming an equivalent,
    without running the mutants again): matched ones move to ``equivalent_survivors``."""
    with _recorded() as recorded:
        for module in modules or list(recorded):
            r = recorded[module]
            keep, moved = [], []
            for s in r["survivors"]:
                eq = _equivalent(module, s["diff"])
                if eq is None:
                    keep.append(s)
                else:
                    moved.append({"line": s["line"], "diff": s["diff"], "reason": eq.reason})
            r["survivors"], r["survived"] = keep, len(keep)
            r["equivalent_survivors"] = r.get("equivalent_survivors", []) + moved
            scored = r["killed"] + len(keep)
            r["score"] = round(r["killed"] / scored, 4) if scored else None
            print(f"{module}: {len(moved)} survivors named equivalent; score {r['score']}")


@contextlib.contextmanager
def _recorded() -> Iterator[dict[str, Any]]:
    """The results file's records, to change in place: written back on exit, under a lock, since
    another run may be merging its module meanwhile (and either's entry would be lost)."""
    with (ROOT / "bench" / ".mutation.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        recorded = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        yield recorded
        RESULTS.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        return check()
    if argv[:1] == ["--reclassify"]:
        reclassify(argv[1:])
        return 0
    wanted = argv or list(TARGETS)
    unknown = [m for m in wanted if m not in TARGETS]
    if unknown:
        sys.exit(f"not a mutation target: {', '.join(unknown)} (targets: {', '.join(TARGETS)})")
    for module in wanted:
        print(f"mutating {module} against {TARGETS[module]} ...", flush=True)
        r = mutate(module, TARGETS[module])
        with _recorded() as recorded:  # merged: another run may have recorded other modules
            recorded[module] = r
        print(
            f"  {r['killed']} killed, {r['survived']} survived, score {r['score']} ({r['seconds']} s)",
            flush=True,
        )
        for s in r["survivors"]:
            print(f"  survivor line {s['line']} {s['operator']}: {s['diff']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
