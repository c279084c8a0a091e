"""Full-reference image similarity for 2-D grayscale images: PSNR, SSIM and LNCC.

All three compare a prediction ``x`` with a reference ``y`` of the same shape; ``data_range`` R
is the span the pixel type allows (255 for 8-bit images), not the span the two images happen
to cover, so a score never depends on how dark or bright one image is overall.

PSNR (dB) = 10 log10(R^2 / MSE),  MSE = mean((x - y)^2), capped at ``PSNR_CAP`` = 100 dB.
    Identical images (MSE = 0) have an infinite PSNR; they score the cap, and so does anything
    closer than 100 dB (for an 8-bit 512 x 512 image, one pixel off by one grey level is
    102 dB), so the ranking stays monotone and every value is finite (JSON-safe, averageable).

SSIM = mean over windows of ((2 mu_x mu_y + C1)(2 s_xy + C2)) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))
    Wang et al. 2004: an 11 x 11 Gaussian window (sigma 1.5), population (co)variances,
    C1 = (0.01 R)^2, C2 = (0.03 R)^2; via ``skimage.metrics.structural_similarity``
    (gaussian_weights=True, sigma=1.5, use_sample_covariance=False), which filters with a
    reflected border and averages only over pixels at least 5 from the border.

LNCC = mean over every w x w window lying fully inside the image (w = 11, no padding, so no
    border mode) of the local Pearson correlation
        rho = s_xy / (s_x s_y)   (population moments over the window's w^2 pixels)
    where both windows are flat (zero variance) rho = 1 (neither has structure to disagree
    on); where exactly one is flat rho = 0. Sums come from integral images in float64, exact
    for 8-bit integer pixels, so "flat" is decided exactly.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import numpy.typing as npt
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

PSNR_CAP = 100.0
LNCC_WINDOW = 11
SSIM_SIGMA = 1.5
Image = npt.NDArray[np.floating] | npt.NDArray[np.integer]


def _pair(x: Image, y: Image) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    if a.ndim != 2:
        raise ValueError(f"expected 2-D images, got {a.ndim}-D")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("images must be finite")
    return a, b


def psnr(x: Image, y: Image, data_range: float = 255.0, cap: float = PSNR_CAP) -> float:
    """Peak signal-to-noise ratio in dB, ``min(10 log10(R^2 / MSE), cap)``; ``cap`` when identical."""
    a, b = _pair(x, y)
    if np.array_equal(a, b):
        return float(cap)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = float(peak_signal_noise_ratio(b, a, data_range=data_range))
    return min(value, float(cap)) if math.isfinite(value) else float(cap)


def ssim(x: Image, y: Image, data_range: float = 255.0) -> float:
    """Mean structural similarity (Gaussian 11 x 11 window, sigma 1.5, population covariances)."""
    a, b = _pair(x, y)
    return float(
        structural_similarity(
            a,
            b,
            data_range=data_range,
            gaussian_weights=True,
            sigma=SSIM_SIGMA,
            use_sample_covariance=False,
        )
    )


def _window_sums(a: npt.NDArray[np.float64], w: int) -> npt.NDArray[np.float64]:
    """Sum over every w x w window fully inside ``a`` (shape (H - w + 1, W - w + 1))."""
    s = np.zeros((a.shape[0] + 1, a.shape[1] + 1), dtype=np.float64)
    s[1:, 1:] = a.cumsum(axis=0).cumsum(axis=1)
    return s[w:, w:] - s[:-w, w:] - s[w:, :-w] + s[:-w, :-w]


def lncc_map(x: Image, y: Image, window: int = LNCC_WINDOW) -> npt.NDArray[np.float64]:
    """The local correlation of every fully inside ``window`` x ``window`` window (see module doc)."""
    a, b = _pair(x, y)
    if window < 2 or a.shape[0] < window or a.shape[1] < window:
        raise ValueError(f"a {window} x {window} window does not fit in an image of shape {a.shape}")
    n = float(window * window)
    sa, sb = _window_sums(a, window), _window_sums(b, window)
    # n^2 times the population (co)variances; exact for integer pixels (every sum < 2^53)
    va = n * _window_sums(a * a, window) - sa * sa
    vb = n * _window_sums(b * b, window) - sb * sb
    cov = n * _window_sums(a * b, window) - sa * sb
    # relative tolerance for float inputs, where the subtraction can leave rounding residue
    # (~1e-16 of the window's energy) while any real variance is many orders above 1e-12
    flat_a = va <= 1e-12 * np.maximum(1.0, n * _window_sums(a * a, window))
    flat_b = vb <= 1e-12 * np.maximum(1.0, n * _window_sums(b * b, window))
    rho = np.zeros_like(va)
    both = ~flat_a & ~flat_b
    rho[both] = cov[both] / np.sqrt(va[both] * vb[both])
    rho[flat_a & flat_b] = 1.0
    return np.clip(rho, -1.0, 1.0)


def lncc(x: Image, y: Image, window: int = LNCC_WINDOW) -> float:
    """Locally normalised cross-correlation: the mean of :func:`lncc_map`, in [-1, 1]."""
    return float(lncc_map(x, y, window).mean())
