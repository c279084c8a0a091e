"""Surface distances between binary masks: Hausdorff distance and its 95th percentile, in mm.

Definitions follow the TopCoW/TopBrain organisers' evaluation (CoWBenchmark/TopCoW_Eval_Metrics,
``cls_avg_hd95.py``), which follows the SimpleITK surface-distance recipe:

- a mask's *surface* is every foreground voxel with at least one background voxel among its
  26 neighbours (``LabelContour(fullyConnected=True)``; 8 neighbours in 2-D), after padding
  the volume with one background voxel on every side so that a mask touching the border
  still has a surface there;
- the directed distances A->B are, for each surface voxel of A, the Euclidean distance (with
  the voxel spacing, in mm) to the nearest surface voxel of B;
- ``HD95 = max(P95(A->B), P95(B->A))`` with numpy's linear-interpolation percentile: the
  symmetric maximum of the two directed percentiles, not one percentile over both lists;
  ``HD = max(max(A->B), max(B->A))``.

Speed: surfaces are found on the bounding box of the union of both masks (padded by one voxel),
and nearest surface points with a k-d tree over the surface voxels, so the cost follows the
size of the surfaces, not of the volume: a thin vessel in a 512x512x300 CTA costs milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from rexmle.graders.segmentation import Mask, _pair
from scipy import ndimage
from scipy.spatial import cKDTree


def union_box(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_], pad: int = 1) -> tuple[slice, ...] | None:
    """Slices of the bounding box of ``a | b`` grown by ``pad`` (clipped); None if both are empty."""
    boxes = [ndimage.find_objects(m.astype(np.uint8))[0] for m in (a, b) if m.any()]
    if not boxes:
        return None
    out = []
    for axis, size in enumerate(a.shape):
        lo = min(bx[axis].start for bx in boxes)
        hi = max(bx[axis].stop for bx in boxes)
        out.append(slice(max(0, lo - pad), min(size, hi + pad)))
    return tuple(out)


def surface(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Foreground voxels with a background voxel among their full (26 / 8) neighbourhood.

    ``mask`` must already be padded with background (``binary_erosion`` with ``border_value=0``
    treats the outside as background, which is the same thing).
    """
    structure = np.ones((3,) * mask.ndim, dtype=bool)
    eroded = ndimage.binary_erosion(mask, structure=structure, border_value=0)
    return mask & ~eroded


def directed_surface_distances(
    pred: Mask, gt: Mask, spacing: Sequence[float] | None = None, crop: bool = True
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(pred->gt, gt->pred) distances from each surface voxel to the other mask's surface.

    ``spacing`` is per array axis (for an array from ``sitk.GetArrayFromImage`` that is the
    image's spacing reversed). Both masks must be non-empty. ``crop=False``: the caller has
    already cut both masks to (at least) the union's bounding box.

    Nearest surface points are found with a k-d tree over the surface voxels' physical
    coordinates. That is the exact Euclidean distance, as a Euclidean distance transform
    gives, but its cost follows the number of surface voxels (thin vessels: thousands), not
    the box (a stray voxel far away makes the box most of the volume, and an EDT over it
    takes seconds and gigabytes).
    """
    p, g = _pair(pred, gt)
    if not p.any() or not g.any():
        raise ValueError("surface distances need two non-empty masks")
    if crop:
        box = union_box(p, g)
        assert box is not None
        p, g = p[box], g[box]
    # pad by one voxel so that a mask touching the crop's edge keeps its surface there
    p, g = np.pad(p, 1), np.pad(g, 1)
    scale = np.asarray(spacing if spacing is not None else (1.0,) * p.ndim, dtype=np.float64)
    pts_p = np.argwhere(surface(p)) * scale
    pts_g = np.argwhere(surface(g)) * scale
    to_g, _ = cKDTree(pts_g).query(pts_p)
    to_p, _ = cKDTree(pts_p).query(pts_g)
    return np.asarray(to_g, dtype=np.float64), np.asarray(to_p, dtype=np.float64)


def hausdorff(
    pred: Mask, gt: Mask, spacing: Sequence[float] | None = None, percentile: float = 100.0
) -> float:
    """Symmetric Hausdorff distance at ``percentile`` (95 gives HD95), in the units of ``spacing``.

        HD_q = max(P_q(d(S_pred, S_gt)), P_q(d(S_gt, S_pred)))

    Both masks must be non-empty; the value for a missing label is the caller's convention
    (TopCoW: 90 mm; SEG.A: the image diagonal).
    """
    return symmetric_percentile(*directed_surface_distances(pred, gt, spacing), percentile)


def symmetric_percentile(
    a_to_b: npt.NDArray[np.float64], b_to_a: npt.NDArray[np.float64], percentile: float
) -> float:
    """max(P_q(a_to_b), P_q(b_to_a)) with numpy's linear interpolation; q = 100 is the maximum."""
    if percentile >= 100.0:
        return float(max(a_to_b.max(), b_to_a.max()))
    return float(max(np.percentile(a_to_b, percentile), np.percentile(b_to_a, percentile)))


def hd95(pred: Mask, gt: Mask, spacing: Sequence[float] | None = None) -> float:
    """HD95: the symmetric 95th-percentile Hausdorff distance (see :func:`hausdorff`)."""
    return hausdorff(pred, gt, spacing, 95.0)
