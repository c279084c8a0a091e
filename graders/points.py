"""Point (centroid) detection metrics: greedy one-to-one centroid matching within a distance and
per-class detection F1, as the PUMA 2024 nuclei evaluation (``tueimage/PUMA-challenge-eval-track2``,
``eval_nuclei.py``) defines them.

Matching (:func:`match_centroids`), per class and per image: the ground-truth points are visited
in their given order; for each, the *eligible* predictions are the still unmatched predictions of
the same class whose Euclidean centroid distance is ``< max_distance`` (strictly; ``<=`` with
``inclusive=True``). The one with the highest score wins, ties broken by the smaller distance,
then by the earlier position in the prediction list. The matched prediction is then removed; as
in the official code, what is removed is the *first* remaining same-class prediction whose
centroid equals the winner's (the same point unless two predictions share a centroid).

PointCounts per class: TP = matches, FP = #predictions - TP, FN = #ground truth - TP.
F1 (:func:`detection_f1`): P = TP / (TP + FP) (0 if no predictions), R = TP / (TP + FN) (0 if no
ground truth), F1 = 2 P R / (P + R), and 0 when P + R = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    """One detection or ground-truth object: class name, centroid (x, y) and confidence."""

    cls: str
    x: float
    y: float
    score: float = 1.0


@dataclass(frozen=True)
class PointCounts:
    tp: int
    fp: int
    fn: int


def match_centroids(
    gt: Sequence[Point], pred: Sequence[Point], max_distance: float = 15.0, inclusive: bool = False
) -> list[tuple[int, int]]:
    """The matched (gt index, prediction index) pairs, by the greedy rule of the module docstring."""
    remaining: dict[str, list[int]] = {}
    for j, p in enumerate(pred):
        remaining.setdefault(p.cls, []).append(j)
    pairs: list[tuple[int, int]] = []
    for i, g in enumerate(gt):
        pool = remaining.get(g.cls)
        if not pool:
            continue
        best: tuple[float, float, int] | None = None  # (-score, distance, position in pool)
        for k, j in enumerate(pool):
            d = math.hypot(g.x - pred[j].x, g.y - pred[j].y)
            if d < max_distance or (inclusive and d == max_distance):
                key = (-pred[j].score, d, k)
                if best is None or key < best:
                    best = key
        if best is None:
            continue
        won = pool[best[2]]
        pairs.append((i, won))
        for k, j in enumerate(pool):  # the official removal: first one with an equal centroid
            if pred[j].x == pred[won].x and pred[j].y == pred[won].y:
                del pool[k]
                break
    return pairs


def class_counts(
    gt: Sequence[Point], pred: Sequence[Point], max_distance: float = 15.0, inclusive: bool = False
) -> dict[str, PointCounts]:
    """TP/FP/FN for every class present in the ground truth or the predictions (sorted by name)."""
    tp: dict[str, int] = {}
    for i, _ in match_centroids(gt, pred, max_distance, inclusive):
        tp[gt[i].cls] = tp.get(gt[i].cls, 0) + 1
    n_gt: dict[str, int] = {}
    n_pred: dict[str, int] = {}
    for g in gt:
        n_gt[g.cls] = n_gt.get(g.cls, 0) + 1
    for p in pred:
        n_pred[p.cls] = n_pred.get(p.cls, 0) + 1
    out = {}
    for c in sorted(set(n_gt) | set(n_pred)):
        t = tp.get(c, 0)
        out[c] = PointCounts(t, n_pred.get(c, 0) - t, n_gt.get(c, 0) - t)
    return out


def detection_f1(c: PointCounts) -> float:
    """F1 of one class's counts, with the zero rules of the module docstring."""
    precision = c.tp / (c.tp + c.fp) if c.tp + c.fp > 0 else 0.0
    recall = c.tp / (c.tp + c.fn) if c.tp + c.fn > 0 else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def per_class_f1(
    gt: Sequence[Point], pred: Sequence[Point], max_distance: float = 15.0, inclusive: bool = False
) -> dict[str, float]:
    """F1 of every class present in the ground truth or the predictions of one image."""
    return {c: detection_f1(n) for c, n in class_counts(gt, pred, max_distance, inclusive).items()}
