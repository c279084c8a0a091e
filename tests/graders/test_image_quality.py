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


# --- against an independent implementation of the published definitions ------------------------
# The reference functions below are written from the papers' formulas (Wang et al. 2004 for SSIM:
# Gaussian window sigma 1.5 truncated at 3.5 sigma = 11 x 11, population moments, C1 = (0.01 R)^2,
# C2 = (0.03 R)^2, the mean over pixels at least 5 from the border; LNCC: the Pearson correlation
# of every 11 x 11 window inside the image, by brute force). They share no code with the grader
# (which calls scikit-image and integral images). The pinned numbers were computed once with
# these references on 2026-12-07 (numpy 2 / scipy, float64) for the seeded pair below; a uniform
# window gives SSIM 0.90475 and sample covariances 0.903665, both caught at 1e-9.

PINNED_SSIM = 0.9036700626238658
PINNED_LNCC = 0.9448961942114205
PINNED_PSNR = 18.561160357121384


def _pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20261207)
    x = rng.integers(0, 256, (32, 32)).astype(np.float64)
    y = np.clip(x * 0.7 + rng.normal(0, 20, x.shape) + 30, 0, 255).round()
    return x, y


def _reference_ssim(a: np.ndarray, b: np.ndarray, r: float = 255.0, sigma: float = 1.5) -> float:
    from scipy import ndimage

    def f(z: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(z, sigma, truncate=3.5, mode="reflect")

    mx, my = f(a), f(b)
    sxx, syy, sxy = f(a * a) - mx * mx, f(b * b) - my * my, f(a * b) - mx * my
    c1, c2 = (0.01 * r) ** 2, (0.03 * r) ** 2
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return float(m[5:-5, 5:-5].mean())


def _reference_lncc(a: np.ndarray, b: np.ndarray, w: int = 11) -> float:
    values = []
    for i in range(a.shape[0] - w + 1):
        for j in range(a.shape[1] - w + 1):
            p, q = a[i : i + w, j : j + w].ravel(), b[i : i + w, j : j + w].ravel()
            values.append(((p - p.mean()) * (q - q.mean())).mean() / (p.std() * q.std()))
    return float(np.mean(values))


def test_ssim_lncc_psnr_match_the_published_definitions() -> None:
    x, y = _pair()
    assert _reference_ssim(x, y) == pytest.approx(PINNED_SSIM, abs=1e-12)
    assert _reference_lncc(x, y) == pytest.approx(PINNED_LNCC, abs=1e-12)
    assert 10 * np.log10(255.0**2 / np.mean((x - y) ** 2)) == pytest.approx(PINNED_PSNR, abs=1e-12)
    assert ssim(x, y) == pytest.approx(PINNED_SSIM, abs=1e-9)
    assert lncc(x, y) == pytest.approx(PINNED_LNCC, abs=1e-9)
    assert psnr(x, y) == pytest.approx(PINNED_PSNR, abs=1e-9)


def test_pairs_are_refused_for_each_reason_in_either_order() -> None:
    img = np.zeros((12, 12))
    for a, b in [(img, img[:, :-1]), (img[:, :-1], img)]:  # a smaller or larger shape
        with pytest.raises(ValueError, match="shape mismatch"):
            lncc(a, b)
    for bad in (np.zeros(12), np.zeros((12, 12, 2))):  # 1-D and 3-D
        with pytest.raises(ValueError, match="expected 2-D images"):
            psnr(bad, bad)
    nan = img.copy()
    nan[0, 0] = np.nan
    for a, b in [(nan, img), (img, nan)]:  # only one side non-finite
        with pytest.raises(ValueError, match="images must be finite"):
            ssim(a, b)


def test_the_window_must_fit_exactly_and_be_at_least_two() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.random((11, 11)), rng.random((11, 11))
    assert lncc_map(x, y).shape == (1, 1)  # an 11 x 11 image holds exactly one window
    assert lncc_map(x, y, window=2).shape == (10, 10)
    for a, window in [(x[:10], 11), (x[:, :10], 11), (x, 1), (x, 12)]:
        with pytest.raises(ValueError, match="does not fit"):
            lncc_map(a, y[: a.shape[0], : a.shape[1]], window=window)


def test_float_rounding_residue_is_flat_and_tiny_real_variance_is_not() -> None:
    # 0.1 is not exact in binary: the window sums leave a residue that must still count as flat
    flat, other_flat = np.full((11, 11), 0.1), np.full((11, 11), 0.3)
    assert lncc(flat, other_flat) == 1.0
    ramp = np.arange(121, dtype=np.float64).reshape(11, 11) * 1e-3  # small but real structure
    assert lncc(ramp, ramp) == pytest.approx(1.0) and lncc(flat, ramp) == 0.0


#: the 11 x 11 ramp 0..120 row by row; against a single spike of height h at its (0, 0) corner the
#: one window's correlation is cov / sqrt(va * vr) with (n = 121, sums over the window)
#: cov = n * 0 - h * 7260, va = n h^2 - h^2 = 120 h^2, vr = n * 583220 - 7260^2 = 17862020,
#: so rho = -7260 / sqrt(120 * 17862020) = -0.156812512 whatever h is
RAMP = np.arange(121, dtype=np.float64).reshape(11, 11)
SPIKE_RHO = -7260 / math.sqrt(120 * 17862020)


def spike(height: float, base: float = 0.0) -> np.ndarray:
    img = np.full((11, 11), base)
    img[0, 0] += height
    return img


def test_the_flat_tolerance_on_a_windows_variance() -> None:
    """A window is flat when n^2 var <= 1e-12 * max(1, n * sum(x^2)): below 1e-12 of its energy,
    and below an absolute 1e-12 for near-zero windows. Both sides of each bound are pinned."""
    # spikes on zero: n^2 var = 120 h^2 and n sum(x^2) = 121 h^2 < 1, so the absolute bound decides
    assert lncc(spike(1e-7), RAMP) == pytest.approx(SPIKE_RHO)  # 1.2e-12 > 1e-12: structure
    assert lncc(RAMP, spike(1e-7)) == pytest.approx(SPIKE_RHO)
    assert lncc(spike(5e-8), RAMP) == 0.0  # 3e-13 <= 1e-12: flat, against structure -> 0
    assert lncc(RAMP, spike(5e-8)) == 0.0
    # the bound is inclusive: this height (found by a search over neighbouring floats) makes the
    # window arithmetic give n^2 var == 1e-12 exactly
    at_bound = 9.128709291752768e-08
    assert lncc(spike(at_bound), RAMP) == 0.0 and lncc(RAMP, spike(at_bound)) == 0.0
    # on a base of 1: n sum(x^2) ~ 121^2 = 14641, so the bound is ~1.46e-8; a 3.5e-6 bump gives
    # n^2 var ~ 120 * 1.2e-11 = 1.5e-9: flat (relative to the energy, not to an absolute floor)
    assert lncc(spike(3.5e-6, base=1.0), RAMP) == 0.0
    assert lncc(RAMP, spike(3.5e-6, base=1.0)) == 0.0
    # ...and a 3.5e-5 bump gives 1.5e-7, above it: structure
    assert lncc(spike(3.5e-5, base=1.0), RAMP) == pytest.approx(SPIKE_RHO, rel=1e-6)


def test_float_rounding_residue_of_large_flat_windows_is_flat() -> None:
    """Flat windows whose sums leave a positive residue far above an absolute 1e-12 but far
    below 1e-12 of the window's energy (residues measured with this module's window sums:
    100.3 -> 1.2e-7, 1000.7 -> 3.8e-6, 1e6 + 0.1 -> 12; bounds 1.5e-4, 0.0147, 14641)."""
    flat = {c: np.full((11, 11), c) for c in (100.3, 1000.7, 1e6 + 0.1)}
    assert lncc(flat[1000.7], flat[100.3]) == 1.0  # both flat
    assert lncc(flat[100.3], flat[1000.7]) == 1.0
    assert lncc(flat[1e6 + 0.1], flat[1000.7]) == 1.0
    assert lncc(flat[1000.7], flat[1e6 + 0.1]) == 1.0


def test_rounding_past_plus_or_minus_one_is_clipped() -> None:
    """A ramp of step 0.001 against 3x it on an offset of 1000: exactly (anti)correlated, but the
    window sums round the raw ratio to 1 + 1.2e-7 (and -1 - 1.2e-7): reported as exactly 1 (-1)."""
    a = np.arange(9, dtype=np.float64).reshape(3, 3) * 1e-3
    assert lncc(3 * a + 1000, a, window=3) == 1.0
    assert lncc(-3 * a + 1000, a, window=3) == -1.0
