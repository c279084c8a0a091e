"""SEG.A. 2023 grader: per case the Dice and the symmetric Hausdorff distance (mm) of the aortic
vessel tree; the leaderboard's medians over the test cases (``dsc_50pc``, ``hd_50pc``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
from rexmle.graders import dice, hausdorff

from rexmle.challenge_api import SubmissionFormat, read_label_map

FORMAT = SubmissionFormat(
    id_column="image_id",
    file_columns={"predicted_mask_path": (".seg.nrrd", ".nrrd", ".nii.gz", ".nii", ".mha")},
)


def check_case(case_id: str, files: dict[str, Path], public_dir: Path) -> npt.NDArray[np.bool_]:
    mask = read_label_map(
        files["predicted_mask_path"],
        public_dir / "test" / "images" / f"{case_id}.nrrd",
        f"case {case_id}",
        (0, 1),
        "0 (background) or 1 (aortic vessel tree)",
    )
    return mask > 0


def case_scores(
    pred: npt.NDArray[np.bool_], gt: npt.NDArray[np.bool_], spacing: tuple[float, ...]
) -> dict[str, float]:
    """Dice (1 when both masks are empty) and the symmetric Hausdorff distance in mm: 0 when
    both are empty, the image diagonal when only one is (nothing to measure a distance to)."""
    p, g = bool(pred.any()), bool(gt.any())
    if p and g:
        hd = hausdorff(pred, gt, spacing)
    elif p or g:
        hd = float(np.linalg.norm(np.asarray(gt.shape) * np.asarray(spacing)))
    else:
        hd = 0.0
    return {"dsc": dice(pred, gt, empty_value=1.0), "hd": hd}


def score_case(case_id: str, pred: npt.NDArray[np.bool_], private_dir: Path) -> dict[str, float]:
    img = sitk.ReadImage(str(private_dir / "test" / "labels" / f"{case_id}.seg.nrrd"))
    gt = sitk.GetArrayViewFromImage(img) > 0
    return case_scores(pred, gt, tuple(reversed(img.GetSpacing())))
