"""Smoothed per-case Dice and pooled (micro) Dice from counts (rexmle.graders.segmentation)."""

from __future__ import annotations

import pytest
from rexmle.graders.segmentation import micro_dice, smoothed_dice_from_counts


def test_smoothed_dice_from_counts() -> None:
    assert smoothed_dice_from_counts(3, 10) == (6 + 1e-5) / (10 + 1e-5)
    assert smoothed_dice_from_counts(0, 4) == pytest.approx(2.5e-6, rel=1e-4)  # eps / (4 + eps)
    assert smoothed_dice_from_counts(0, 0) == 1.0
    assert smoothed_dice_from_counts(0, 0, empty_value=0.0) == 0.0
    assert smoothed_dice_from_counts(5, 10, eps=0.0) == 1.0


def test_micro_dice_pools_counts_and_zero_without_overlap() -> None:
    # case 1: I = 1, |G| + |P| = 4; case 2: I = 2, |G| + |P| = 6 -> (2*3 + eps) / (10 + eps)
    assert micro_dice([1, 2], [4, 6]) == (6 + 1e-5) / (10 + 1e-5)
    assert micro_dice([1, 2], [4, 6], eps=0.0) == 0.6  # not the mean of 0.5 and 0.667
    assert micro_dice([0, 0], [5, 3]) == 0.0  # predicted where absent, or missed: 0
    assert micro_dice([0], [0]) == 0.0  # absent from both: 0 as well
