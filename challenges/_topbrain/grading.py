"""The TopBrain grader (both tracks): a multiclass label map per test case on the test image's
grid, scored with the organisers' six metrics; ``grader(modality)`` makes one track's."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
from rexmle.challenges._topbrain.labels import LABELS, Modality
from rexmle.challenges._topbrain.scoring import aggregate, segmentation_case
from rexmle.challenges._topcow.grading import test_image

from rexmle.challenge_api import Grader, SubmissionFormat, read_label_map

FORMAT = SubmissionFormat(
    id_column="image_id",
    file_columns={"predicted_mask_path": (".nii.gz", ".nii")},
    value_columns=("modality",),
)


def check_case(
    modality: Modality, case_id: str, files: dict[str, Path], public_dir: Path
) -> npt.NDArray[np.uint8]:
    return read_label_map(
        files["predicted_mask_path"],
        test_image(public_dir, case_id),
        f"case {case_id}",
        frozenset({0, *LABELS[modality]}),
        f"a TopBrain {modality.upper()} label (0-{max(LABELS[modality])})",
    )


def score_case(
    modality: Modality, case_id: str, pred: npt.NDArray[np.uint8], private_dir: Path
) -> dict[str, float]:
    gt_img = sitk.ReadImage(str(private_dir / "test" / "labels" / f"{case_id}.nii.gz"))
    gt = sitk.GetArrayViewFromImage(gt_img)
    return segmentation_case(pred, gt, tuple(reversed(gt_img.GetSpacing())), modality)


def grader(modality: Modality) -> Grader:
    """One track's grader: the label set and side roads are the modality's."""
    return Grader(
        format=FORMAT,
        check_case=partial(check_case, modality),
        score_case=partial(score_case, modality),
        aggregate=partial(aggregate, modality=modality),
    )
