"""PSNR, SSIM and LNCC against hand-computed cases (8-bit grayscale images)."""

import math

import numpy as np
import pytest
from rexmle.graders.image_quality import PSNR_CAP, lncc, lncc_map, psnr, ssim


def test_psnr_by_hand_and_the_cap_for_identical_images() -> None:
    x = np.zeros((4, 4), dtype=np.uint8)
    assert psnr(x + 16, x) == pytest.approx(20 * math.log10(255 / 16))  # MSE 256
    assert psnr(np.full((2, 2), 0.1), np.zeros((2, 2)), data_range=1.0) == pytest.approx(20.0)
    # identical: infinite PSNR becomes the documented, finite cap
    assert psnr(x, x) == PSNR_CAP == 100.0
    # one pixel off by one grey level in 512 x 512 is 102.3 dB: capped too, so never above identical
    big = np.zeros((512, 512), dtype=np.uint8)
    off = big.copy()
    off[0, 0] = 1
    assert 10 * math.log10(255**2 * 512 * 512) > 100 and psnr(off, big) == 100.0
    assert psnr(x + 1, x) == pytest.approx(20 * math.log10(255))  # 48.13 dB: below the cap


def test_ssim_identical_and_constant_images() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (32, 32)).astype(np.uint8)
    assert ssim(img, img) == pytest.approx(1.0)
    # two flat images: the structure term is C2/C2 = 1, the luminance term (2ab+C1)/(a^2+b^2+C1)
    c1 = (0.01 * 255) ** 2
    a, b = np.full((16, 16), 100.0), np.full((16, 16), 120.0)
    assert ssim(a, b) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1))
    assert ssim(255 - img, img) < 0  # inverted contrast: negatively correlated structure
    with pytest.raises(ValueError, match="shape mismatch"):
        ssim(img, img[:, :-1])


def test_lncc_one_window_by_hand() -> None:
    x = np.arange(1, 10, dtype=np.float64).reshape(3, 3)
    assert lncc(2 * x + 1, x, window=3) == pytest.approx(1.0)
    assert lncc(-x, x, window=3) == pytest.approx(-1.0)
    spike, other = np.zeros((3, 3)), np.zeros((3, 3))
    spike[1, 1], other[2, 2] = 9, 9
    # means 1 and 1, E[xy] = 0 -> cov -1; variance 81/9 - 1 = 8 -> rho = -1/8
    assert lncc(spike, other, window=3) == pytest.approx(-0.125)


def test_lncc_flat_windows_and_only_inside_windows() -> None:
    x = np.array([[1, 1, 1, 5]] * 3, dtype=np.uint8)  # two 3x3 windows: flat, then not
    assert lncc_map(x, x, window=3).tolist() == [[1.0, 1.0]]
    flat = np.full((3, 4), 2, dtype=np.uint8)
    # window 1: both flat -> 1; window 2: only the reference is structured -> 0
    assert lncc_map(flat, x, window=3).tolist() == [[1.0, 0.0]]
    assert lncc(flat, x, window=3) == 0.5
    with pytest.raises(ValueError, match="does not fit"):
        lncc(x, x, window=4)


def test_identical_8bit_images_score_perfectly_and_finitely() -> None:
    img = np.random.default_rng(1).integers(0, 256, (40, 30)).astype(np.uint8)
    scores = (lncc(img, img), ssim(img, img), psnr(img, img))
    assert scores == pytest.approx((1.0, 1.0, 100.0)) and all(math.isfinite(s) for s in scores)
