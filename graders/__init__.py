"""The ReX-MLE metric library: each metric once, as a pure function over arrays or tables.

Challenges import from here (``from rexmle.graders import dice``); nothing in this package
reads files, knows about submissions, or depends on a challenge.
"""

from rexmle.graders.segmentation import (
    LesionCounts,
    abs_volume_difference_ml,
    count_components,
    dice,
    f1_from_counts,
    lesion_count_difference,
    lesion_counts,
    lesion_f1,
)

__all__ = [
    "LesionCounts",
    "abs_volume_difference_ml",
    "count_components",
    "dice",
    "f1_from_counts",
    "lesion_count_difference",
    "lesion_counts",
    "lesion_f1",
]
