"""The TopBrain grader (both tracks): a multiclass label map per test case on the test image's
grid, scored with the organisers' six metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
from rexmle.challenges._topbrain.labels import LABELS, Modality
from rexmle.challenges._topbrain.scoring import aggregate, segmentation_case
from rexmle.challenges._topcow.grading import expected_ids, test_image

from rexmle.imaging import read_label_map
from rexmle.submission import SubmissionFormat

FORMAT = SubmissionFormat(
    id_column="image_id",
    file_columns={"predicted_mask_path": (".nii.gz", ".nii")},
    value_columns=("modality",),
)
METRICS = ("dice", "cldice", "b0_error", "hd95", "neighbor_error", "f1_side_road")


class Grader:
    """One track's grader; ``grade.py`` of each challenge exposes its functions."""

    FORMAT = FORMAT
    METRICS = METRICS

    def __init__(self, modality: Modality) -> None:
        self.modality = modality
        self.allowed = frozenset({0, *LABELS[modality]})
        self.label_set = f"a TopBrain {modality.upper()} label (0-{max(LABELS[modality])})"

    def check_case(self, case_id: str, files: dict[str, Path], public_dir: Path) -> npt.NDArray[np.uint8]:
        return read_label_map(
            files["predicted_mask_path"],
            test_image(public_dir, case_id),
            f"case {case_id}",
            self.allowed,
            self.label_set,
        )

    def score_case(self, case_id: str, pred: npt.NDArray[np.uint8], private_dir: Path) -> dict[str, float]:
        gt_img = sitk.ReadImage(str(private_dir / "test" / "labels" / f"{case_id}.nii.gz"))
        gt = sitk.GetArrayViewFromImage(gt_img)
        return segmentation_case(pred, gt, tuple(reversed(gt_img.GetSpacing())), self.modality)

    def aggregate(self, rows: list[dict[str, float]]) -> dict[str, float]:
        return aggregate(rows, self.modality)


__all__ = ["FORMAT", "METRICS", "Grader", "expected_ids"]
