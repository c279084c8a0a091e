"""PUMA's class names: the release's GeoJSON names and each task's graded classes.

Tissue (both tracks, task 1): the label map values of the official evaluation
(``tueimage/PUMA-challenge-eval-track2``, ``evaluate_tissue.py``): 0 background, 1 stroma,
2 blood vessel, 3 tumour, 4 epidermis, 5 necrosis; ``tissue_white_background`` is 0.

Nuclei: track 2 grades the release's ten names as they are; track 1 grades three classes,
named as the organisers' track-1 baseline writes them: ``nuclei_tumor``, ``nuclei_lymphocyte``
(TILs: lymphocytes and plasma cells) and ``nuclei_other`` (every other nucleus).
"""

from __future__ import annotations

from typing import Literal

Track = Literal[1, 2]
Task = Literal[1, 2]

TISSUE_IDS: dict[str, int] = {
    "tissue_white_background": 0,
    "tissue_stroma": 1,
    "tissue_blood_vessel": 2,
    "tissue_tumor": 3,
    "tissue_epidermis": 4,
    "tissue_necrosis": 5,
}
#: graded tissue classes, id -> name (background 0 is not scored)
TISSUE_CLASSES: dict[int, str] = {1: "stroma", 2: "blood_vessel", 3: "tumor", 4: "epidermis", 5: "necrosis"}

NUCLEI_NAMES: tuple[str, ...] = (
    "nuclei_tumor",
    "nuclei_lymphocyte",
    "nuclei_plasma_cell",
    "nuclei_histiocyte",
    "nuclei_melanophage",
    "nuclei_neutrophil",
    "nuclei_stroma",
    "nuclei_epithelium",
    "nuclei_endothelium",
    "nuclei_apoptosis",
)
TRACK1_NUCLEI: tuple[str, ...] = ("nuclei_tumor", "nuclei_lymphocyte", "nuclei_other")


def nuclei_classes(track: Track) -> tuple[str, ...]:
    return TRACK1_NUCLEI if track == 1 else NUCLEI_NAMES


def nuclei_label_map(track: Track) -> dict[str, str]:
    """Release name -> the track's graded class."""
    if track == 2:
        return {n: n for n in NUCLEI_NAMES}
    til = {"nuclei_lymphocyte", "nuclei_plasma_cell"}
    return {
        n: "nuclei_tumor" if n == "nuclei_tumor" else "nuclei_lymphocyte" if n in til else "nuclei_other"
        for n in NUCLEI_NAMES
    }
