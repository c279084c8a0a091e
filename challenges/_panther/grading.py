"""The PANTHER grader (both tasks), as the organisers' evaluation (DIAGNijmegen/PANTHER_baseline,
``Evaluation/evaluate_local.py``) computes it with DeepMind's ``surface-distance``:

- a prediction is binary: its values are {0}, {1} or {0, 1}, or any two values one of which is 0
  (then foreground is the non-zero one); anything else is refused, and so is a value above 255
  (labels are read as 8-bit integers; the organisers would binarise it: description.md says so).
  It must lie on the test image's grid (the organisers refuse another shape or spacing);
- the ground truth is the tumour (label 1 of the released 0/1/2 maps; pancreas is not scored);
- a prediction that is all background or all foreground scores Dice 0, surface Dice 0, and HD95
  = MASD = the image diagonal ``|shape * spacing|``, with a predicted volume of 0;
- otherwise Dice, surface Dice at 5 mm (``msd``), HD95 and MASD from the surfel metrics, and the
  tumour volumes ``count * prod(spacing)`` in mm^3;
- over cases: the mean of each of the four, and ``rmse`` = sqrt(mean((V_pred - V_gt)^2)).

Spacing: the organisers pass SimpleITK's spacing, which is in (x, y, z) order, with the array
from ``GetArrayFromImage``, which is in (z, y, x) order, so the z and x spacings trade places.
We reproduce that, so scores compare with the leaderboard's (see description.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
from rexmle.graders import surfel_scores

from rexmle.challenge_api import Grader, InvalidSubmission, SubmissionFormat, read_label_map

FORMAT = SubmissionFormat(id_column="image_id", file_columns={"predicted_mask_path": (".mha", ".nii.gz")})
TUMOUR = 1
TOLERANCE_MM = 5.0


def binary_prediction(arr: npt.NDArray[np.uint8], what: str) -> npt.NDArray[np.bool_]:
    """The organisers' value rule (see the module docstring), as a boolean mask."""
    values = np.flatnonzero(np.bincount(arr.ravel(), minlength=256)).tolist()
    if set(values) <= {0, 1}:
        return arr == 1
    if len(values) == 2 and values[0] == 0:
        return arr > 0
    raise InvalidSubmission(
        f"{what}: a PANTHER prediction is binary (0 background, 1 tumour), found the values {values}"
    )


def check_case(case_id: str, files: dict[str, Path], public_dir: Path) -> npt.NDArray[np.bool_]:
    what = f"case {case_id}"
    arr = read_label_map(
        files["predicted_mask_path"],
        public_dir / "test" / "images" / f"{case_id}_0000.mha",
        what,
        range(256),
        "an integer 0-255",
    )
    return binary_prediction(arr, what)


def case_scores(
    gt: npt.NDArray[np.bool_], pred: npt.NDArray[np.bool_], spacing: tuple[float, ...]
) -> dict[str, float]:
    """One case's metrics and volumes; ``spacing`` is used per array axis as given."""
    voxel = float(np.prod(spacing))
    gt_volume = float(np.count_nonzero(gt)) * voxel
    uniform = not pred.any() or bool(pred.all())
    if uniform or not gt.any():  # nothing to measure a surface distance against
        diagonal = float(np.linalg.norm(np.asarray(gt.shape) * np.asarray(spacing)))
        pred_volume = 0.0 if uniform else float(np.count_nonzero(pred)) * voxel
        return {"dsc": 0.0, "msd": 0.0, "hd95": diagonal, "masd": diagonal,
                "gt_volume": gt_volume, "pred_volume": pred_volume}  # fmt: skip
    s = surfel_scores(gt, pred, spacing, TOLERANCE_MM)
    return {"dsc": s.dice, "msd": s.surface_dice, "hd95": s.hd95, "masd": s.masd,
            "gt_volume": gt_volume, "pred_volume": float(np.count_nonzero(pred)) * voxel}  # fmt: skip


def score_case(case_id: str, pred: npt.NDArray[np.bool_], private_dir: Path) -> dict[str, float]:
    img = sitk.ReadImage(str(private_dir / "test" / "labels" / f"{case_id}.mha"))
    gt = sitk.GetArrayViewFromImage(img) == TUMOUR
    return case_scores(gt, pred, tuple(img.GetSpacing()))  # (x, y, z) on a (z, y, x) array: see above


def aggregate(rows: list[dict[str, float]]) -> dict[str, float]:
    """The pooled metric (the harness takes the means of the other four):
    ``rmse = sqrt(mean_i (V_pred,i - V_gt,i)^2)`` over the cases' tumour volumes."""
    err = np.array([r["pred_volume"] - r["gt_volume"] for r in rows])
    return {"rmse": float(np.sqrt(np.mean(err**2)))}


#: Both tasks' grader (the same tumour metrics).
GRADER = Grader(format=FORMAT, check_case=check_case, score_case=score_case, aggregate=aggregate)
