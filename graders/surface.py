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

Speed: surface voxels are found by testing each foreground voxel's neighbours (no erosion of a
box), and nearest surface points with a k-d tree over the surface voxels, so the cost follows the
size of the masks and their surfaces, not of the volume: a thin vessel in a 512x512x300 CTA costs milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from rexmle.graders.segmentation import Mask, _pair, nonzero_indices
from scipy import ndimage
from scipy.spatial import cKDTree

#: A box of an array as one slice per axis (what ``scipy.ndimage.find_objects`` gives).
Region = tuple[slice, ...]


def enclosing_region(shape: Sequence[int], regions: Iterable[Region | None], pad: int = 0) -> Region | None:
    """The smallest region holding every given one (None entries skipped), grown by ``pad`` on
    each side and clipped to ``shape``; None when no region is given. Every crop the metrics
    take (two masks' union, one class's pair of boxes, merged regions) is this one function."""
    given = [r for r in regions if r is not None]
    if not given:
        return None
    return tuple(
        slice(max(0, min(r[ax].start for r in given) - pad), min(n, max(r[ax].stop for r in given) + pad))
        for ax, n in enumerate(shape)
    )


def union_box(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_], pad: int = 1) -> Region | None:
    """Slices of the bounding box of ``a | b`` grown by ``pad`` (clipped); None if both are empty."""
    boxes = [ndimage.find_objects(m.astype(np.uint8))[0] for m in (a, b) if m.any()]
    return enclosing_region(a.shape, boxes, pad)


def surface(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Foreground voxels with a background voxel among their full (26 / 8) neighbourhood,
    the outside of the array counting as background (as one voxel of background padding)."""
    out = np.zeros(mask.shape, dtype=bool)
    pts = surface_points(mask)
    out[tuple(pts.T)] = True
    return out


def neighbour_steps(ndim: int) -> npt.NDArray[np.intp]:
    """The 26 (3-D) or 8 (2-D) offsets of a voxel's full neighbourhood, one per row."""
    steps = np.asarray(list(np.ndindex(*(3,) * ndim)), dtype=np.intp) - 1
    return steps[steps.any(axis=1)]


def neighbour_values(arr: npt.NDArray[Any], idx: npt.NDArray[np.intp], fill: Any) -> npt.NDArray[Any]:
    """``arr`` at every full-neighbourhood offset of the index rows ``idx`` (N x ndim): an
    (offsets x N) array, ``fill`` where a neighbour falls outside ``arr``.

    Rows away from the border are read through flat offsets (one add and one gather per offset);
    only the few rows on the border pay for bounds checks.
    """
    a = np.ascontiguousarray(arr)
    flat = a.reshape(-1)
    shape = np.asarray(a.shape)
    strides = np.asarray(a.strides, dtype=np.intp) // a.itemsize
    steps = neighbour_steps(a.ndim)
    out = np.empty((len(steps), len(idx)), dtype=a.dtype)
    on_border = np.any((idx == 0) | (idx == shape - 1), axis=1)
    inner, edge = np.flatnonzero(~on_border), np.flatnonzero(on_border)
    lin = idx[inner] @ strides
    for k, step in enumerate(steps):
        out[k, inner] = flat[lin + int(step @ strides)]
        if edge.size:
            nb = idx[edge] + step
            inside = np.all((nb >= 0) & (nb < shape), axis=1)
            vals = np.full(edge.size, fill, dtype=a.dtype)
            vals[inside] = a[tuple(nb[inside].T)]
            out[k, edge] = vals
    return out


def surface_points(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    """Indices (N x ndim) of :func:`surface` voxels, in C order.

    Tested voxel by voxel against its 26 (8) neighbours, so the cost follows the number of
    foreground voxels rather than the array: a binary erosion of a box that a stray voxel has
    stretched across a 512x512x300 volume costs half a second, this a few milliseconds.
    """
    idx = nonzero_indices(mask)
    if idx.size == 0:
        return idx
    return idx[~neighbour_values(mask, idx, False).all(axis=0)]


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
    # the outside of the crop counts as background, so a mask touching its edge keeps its surface
    scale = np.asarray(spacing if spacing is not None else (1.0,) * p.ndim, dtype=np.float64)
    pts_p = surface_points(p) * scale
    pts_g = surface_points(g) * scale
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
