"""Surfel-based surface metrics: DeepMind's ``surface-distance`` definitions (PANTHER's official).

The organisers of PANTHER evaluate with DeepMind's ``surface-distance`` library, so we call that
library (pinned, ``surface-distance==0.1``) rather than re-deriving its lookup tables. Its
definitions, for boolean masks G (ground truth) and P (prediction) and a spacing per array axis:

- the *surface* of a mask lives on the corner grid: every 2x2x2 neighbourhood of voxels that is
  neither all background nor all foreground is a surface element ("surfel"), weighted by the
  area (mm^2) of the marching-cubes surface through it;
- d(G->P) is, for each surfel of G, the Euclidean distance (mm) to the nearest surfel of P, and
  the other way round;
- ``HD95 = max(Q95(G->P), Q95(P->G))``, each Q95 an *area-weighted* percentile (the smallest
  distance whose cumulative surfel area reaches 95% of the surface);
- ``surface Dice at tau = (A_G(d <= tau) + A_P(d <= tau)) / (A_G + A_P)``, areas of the surfels
  within ``tau`` mm of the other surface;
- ``MASD = (mean_A(G->P) + mean_A(P->G)) / 2``, each mean weighted by surfel area;
- volumetric Dice ``2|G & P| / (|G| + |P|)``.

These differ from the voxel-surface distances of :mod:`rexmle.graders.surface` (TopCoW's and
SEG.A's): there a surface is a set of voxels, each counting once.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from surface_distance import metrics as _sd


class SurfelScores(BaseModel):
    """The four surfel metrics of one pair of non-empty masks."""

    model_config = ConfigDict(frozen=True)

    dice: float
    surface_dice: float
    hd95: float
    masd: float


def surfel_scores(
    gt: npt.NDArray[np.bool_], pred: npt.NDArray[np.bool_], spacing: Sequence[float], tolerance_mm: float
) -> SurfelScores:
    """Dice, surface Dice at ``tolerance_mm``, HD95 and MASD of two non-empty 3-D masks.

    ``spacing``: one value per array axis, in mm. Empty masks have no surface (the library then
    returns infinite distances, or fails under NumPy 2); their value is the caller's convention.
    """
    g, p = np.asarray(gt, dtype=bool), np.asarray(pred, dtype=bool)
    if g.shape != p.shape or g.ndim != 3:
        raise ValueError(f"need two 3-D masks of one shape, got {g.shape} and {p.shape}")
    if not g.any() or not p.any():
        raise ValueError("surfel metrics need two non-empty masks")
    space = tuple(float(s) for s in spacing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy.ndimage.filters inside
        sd = _sd.compute_surface_distances(g, p, spacing_mm=space)
        to_p, to_g = _sd.compute_average_surface_distance(sd)
        return SurfelScores(
            dice=float(_sd.compute_dice_coefficient(g, p)),
            surface_dice=float(_sd.compute_surface_dice_at_tolerance(sd, tolerance_mm)),
            hd95=float(_sd.compute_robust_hausdorff(sd, 95)),
            masd=float((to_p + to_g) / 2.0),
        )
