"""The ReX-MLE metric library: each metric once, as a pure function over arrays or tables.

Challenges import from here (``from rexmle.graders import dice``); nothing in this package
reads files, knows about submissions, or depends on a challenge.
"""

from rexmle.graders.boxes import Box, boundary_iou, box_iou
from rexmle.graders.multiclass import CaseScores, ClassScores, score_case, score_class
from rexmle.graders.segmentation import (
    LesionCounts,
    abs_volume_difference_ml,
    count_components,
    dice,
    lesion_count_difference,
    lesion_counts,
    lesion_counts_f1,
    lesion_f1,
)
from rexmle.graders.surface import directed_surface_distances, hausdorff, hd95, symmetric_percentile
from rexmle.graders.surfels import SurfelScores, surfel_scores
from rexmle.graders.topology import (
    DetectionCounts,
    balanced_accuracy,
    betti0,
    betti0_error,
    class_boxes,
    cldice,
    detection_outcome,
    invalid_neighbour_error,
    iou,
    label_pair,
    labels_present,
    left_right_flipped,
    neighbour_labels,
    region_matches,
    touches,
    union_labels,
    variant_string,
)

__all__ = [
    "Box",
    "CaseScores",
    "ClassScores",
    "DetectionCounts",
    "LesionCounts",
    "SurfelScores",
    "abs_volume_difference_ml",
    "balanced_accuracy",
    "betti0",
    "betti0_error",
    "boundary_iou",
    "box_iou",
    "class_boxes",
    "cldice",
    "count_components",
    "detection_outcome",
    "dice",
    "directed_surface_distances",
    "hausdorff",
    "hd95",
    "invalid_neighbour_error",
    "iou",
    "label_pair",
    "labels_present",
    "left_right_flipped",
    "lesion_count_difference",
    "lesion_counts",
    "lesion_counts_f1",
    "lesion_f1",
    "neighbour_labels",
    "region_matches",
    "score_case",
    "score_class",
    "surfel_scores",
    "symmetric_percentile",
    "touches",
    "union_labels",
    "variant_string",
]
