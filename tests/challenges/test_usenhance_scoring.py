"""USenhance 2023 grade module (challenges/usenhance/grade.py), fast unit tests.

Pinned: ``load_gray`` / ``check_case`` (8-bit grayscale kept as it is, colour, alpha and palette
PNGs converted with Pillow's ITU-R 601-2 luma, 1-bit and 16-bit PNGs and other formats refused,
the size compared with the test input's, the header bound of SIZE_SLACK = 4 times its pixels
with its exact boundary, unreadable files of every kind a clean refusal), ``case_scores`` (LNCC,
SSIM, PSNR by hand on constant and ramp images, a prediction of another size resampled onto the
reference's grid) and ``score_case`` (the private high-quality reference, read without a size
bound and converted like a prediction).
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from rexmle import challenge
from rexmle.errors import InvalidSubmission

grade = challenge.get("usenhance").module("grade")

#: C1 = (0.01 R)^2 of Wang et al. 2004 for R = 255
C1 = (0.01 * 255) ** 2


def _png(path: Path, img: Image.Image, **kw: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG", **kw)
    return path


def _gray(arr: Any) -> Image.Image:
    return Image.fromarray(np.asarray(arr, dtype=np.uint8), mode="L")


def _public(tmp_path: Path, case: str = "liver_001", size: tuple[int, int] = (4, 2)) -> Path:
    """The public folder with the test input of ``case``, ``size`` = (width, height)."""
    public = tmp_path / "public"
    _png(public / "test" / "low_quality" / f"{case}.png", Image.new("L", size, 7))
    return public


def _check(tmp_path: Path, pred: Path, size: tuple[int, int] = (4, 2)) -> Any:
    return grade.check_case("liver_001", {"enhanced_image_path": str(pred)}, _public(tmp_path, size=size))


def _refusal(tmp_path: Path, pred: Path, size: tuple[int, int] = (4, 2)) -> str:
    with pytest.raises(InvalidSubmission) as exc:
        _check(tmp_path, pred, size)
    return str(exc.value)


# ---------------------------------------------------------------- reading a prediction


def test_an_8_bit_grayscale_png_is_returned_as_it_is(tmp_path: Path) -> None:
    arr = np.array([[0, 1, 2, 255], [128, 64, 32, 16]], dtype=np.uint8)
    out = _check(tmp_path, _png(tmp_path / "p.png", _gray(arr)))
    assert out.dtype == np.uint8 and out.shape == (2, 4)
    np.testing.assert_array_equal(out, arr)


def test_colour_is_converted_with_the_601_luma(tmp_path: Path) -> None:
    """Pillow's convert("L"): L = (19595 R + 38470 G + 7471 B + 2^15) >> 16 (ITU-R 601-2 luma,
    0.299 / 0.587 / 0.114): red 255 -> 76, green 255 -> 150, blue 255 -> 29, grey 100 -> 100."""
    rgb = np.zeros((2, 4, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 255, 0)
    rgb[0, 2] = (0, 0, 255)
    rgb[0, 3] = (100, 100, 100)
    rgb[1, :] = (255, 255, 255)
    want = np.array([[76, 150, 29, 100], [255, 255, 255, 255]], dtype=np.uint8)
    out = _check(tmp_path, _png(tmp_path / "rgb.png", Image.fromarray(rgb, mode="RGB")))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, want)
    # the alpha channel is dropped, not blended: the same grey levels at alpha 0
    rgba = np.concatenate([rgb, np.zeros((2, 4, 1), np.uint8)], axis=-1)
    out = _check(tmp_path, _png(tmp_path / "rgba.png", Image.fromarray(rgba, mode="RGBA")))
    np.testing.assert_array_equal(out, want)


def test_grey_with_alpha_keeps_the_grey(tmp_path: Path) -> None:
    la = np.stack([np.array([[9, 8, 7, 6], [5, 4, 3, 2]]), np.full((2, 4), 17)], axis=-1).astype(np.uint8)
    out = _check(tmp_path, _png(tmp_path / "la.png", Image.fromarray(la, mode="LA")))
    np.testing.assert_array_equal(out, la[..., 0])


def test_a_palette_png_is_converted_through_its_colours(tmp_path: Path) -> None:
    """Palette entries red, green, blue, black: their luma 76, 150, 29, 0 (see above)."""
    img = Image.new("P", (4, 2))
    img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0])
    img.putdata([0, 1, 2, 3, 3, 2, 1, 0])
    path = _png(tmp_path / "p.png", img)
    with Image.open(path) as reread:
        assert reread.mode == "P"
    np.testing.assert_array_equal(_check(tmp_path, path), [[76, 150, 29, 0], [0, 29, 150, 76]])


def test_1_bit_and_16_bit_pngs_are_refused(tmp_path: Path) -> None:
    one = _png(tmp_path / "one.png", Image.fromarray(np.ones((2, 4), dtype=bool)))
    assert (
        _refusal(tmp_path, one) == "case liver_001: one.png has mode 1; write an 8-bit grayscale PNG (mode L)"
    )
    sixteen = _png(tmp_path / "sixteen.png", Image.fromarray(np.zeros((2, 4), np.uint16)))
    assert _refusal(tmp_path, sixteen) == (
        "case liver_001: sixteen.png has mode I;16; write an 8-bit grayscale PNG (mode L)"
    )


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF", "BMP", "GIF"])
def test_other_formats_are_refused_whatever_the_name(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "pred.png"
    _gray(np.zeros((2, 4))).save(path, format=fmt)
    assert _refusal(tmp_path, path) == f"case liver_001: pred.png is not a PNG (it is {fmt})"


@pytest.mark.parametrize(("w", "h"), [(5, 2), (4, 3), (2, 4), (3, 2), (8, 4)])
def test_the_size_must_be_the_test_inputs(tmp_path: Path, w: int, h: int) -> None:
    """The test input is 4 x 2 (width x height); a transposed or a larger image (up to
    4 * 8 = 32 pixels, see below) is refused by its size."""
    path = _png(tmp_path / "p.png", Image.new("L", (w, h)))
    assert _refusal(tmp_path, path) == (
        f"case liver_001: image is {w} x {h} (width x height); the test input is 4 x 2"
    )


@pytest.mark.parametrize(("w", "h"), [(11, 3), (33, 1), (1, 33), (17, 2)])
def test_a_header_above_four_times_the_input_is_refused_before_decoding(
    tmp_path: Path, w: int, h: int
) -> None:
    """SIZE_SLACK = 4: a 4 x 2 input (8 pixels) admits headers of at most 32 pixels; 33 or 34
    (11 x 3, 33 x 1, 1 x 33, 17 x 2) are refused by the header check (rexmle.safe_io)."""
    path = _png(tmp_path / "p.png", Image.new("L", (w, h)))
    assert _refusal(tmp_path, path) == (
        f"case liver_001: image is {w} x {h} pixels (width x height), far larger than the test image"
    )


@pytest.mark.parametrize(("w", "h"), [(32, 1), (1, 32), (16, 2), (8, 4)])
def test_a_header_of_exactly_four_times_the_input_reaches_the_size_comparison(
    tmp_path: Path, w: int, h: int
) -> None:
    path = _png(tmp_path / "p.png", Image.new("L", (w, h)))
    assert _refusal(tmp_path, path) == (
        f"case liver_001: image is {w} x {h} (width x height); the test input is 4 x 2"
    )


def test_a_file_that_is_no_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    path.write_text("not an image")
    assert _refusal(tmp_path, path) == "case liver_001: p.png is not a readable PNG (UnidentifiedImageError)"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _raw_png(width: int, height: int, idat: bytes) -> bytes:
    """An 8-bit grayscale PNG with the given (compressed) image data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def test_corrupt_image_data_is_refused(tmp_path: Path) -> None:
    """Image data that is not a zlib stream: Pillow's decoder raises OSError."""
    path = tmp_path / "p.png"
    path.write_bytes(_raw_png(4, 2, b"\xff" * 16))
    assert _refusal(tmp_path, path) == "case liver_001: p.png is not a readable PNG (OSError)"


def test_image_data_cut_short_before_a_broken_chunk_is_refused(tmp_path: Path) -> None:
    """The stream ends early and the next chunk's name is garbage: Pillow raises SyntaxError
    ("broken PNG file") while decoding, which used to escape as a traceback."""
    idat = zlib.compress(bytes([0, 0, 1, 2, 3, 0, 0, 1, 2, 3]))[:-6]
    ihdr = struct.pack(">IIBBBBB", 4, 2, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"\xa8END", b"")
    path = tmp_path / "p.png"
    path.write_bytes(png)
    assert _refusal(tmp_path, path) == "case liver_001: p.png is not a readable PNG (SyntaxError)"


def test_an_oversized_text_chunk_is_refused(tmp_path: Path) -> None:
    """A zTXt chunk inflating past Pillow's MAX_TEXT_CHUNK (1 MiB): Pillow raises ValueError."""
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "a" * (2 * 1024 * 1024), zip=True)
    path = _png(tmp_path / "p.png", Image.new("L", (4, 2)), pnginfo=info)
    assert path.stat().st_size < 10_000
    assert _refusal(tmp_path, path) == "case liver_001: p.png is not a readable PNG (ValueError)"


@pytest.mark.filterwarnings(
    "ignore::PIL.Image.DecompressionBombWarning"
)  # the 8-pixel input: above 5, a warning only
def test_pillows_decompression_bomb_guard_is_a_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pillow refuses images above 2 * MAX_IMAGE_PIXELS with DecompressionBombError (lowered to
    5 here: the 4 x 2 input passes, an 8 x 4 prediction, within the header bound, trips it):
    a clean refusal, not a crash."""
    path = _png(tmp_path / "p.png", Image.new("L", (8, 4)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5)
    assert _refusal(tmp_path, path) == "case liver_001: p.png is not a readable PNG (DecompressionBombError)"


def test_the_reference_is_read_without_a_size_bound(tmp_path: Path) -> None:
    """load_gray without ``size`` (the private reference): no header bound, no size comparison."""
    path = _png(tmp_path / "ref.png", Image.new("L", (40, 30), 9))
    out = grade.load_gray(path, "reference x")
    assert out.shape == (30, 40) and out.dtype == np.uint8 and (out == 9).all()
    path.write_bytes(_raw_png(4, 2, b"\xff" * 16))
    with pytest.raises(InvalidSubmission) as exc:
        grade.load_gray(path, "reference x")
    assert str(exc.value) == "reference x: ref.png is not a readable PNG (OSError)"


# ---------------------------------------------------------------- scores


def test_constant_images_by_hand() -> None:
    """Reference flat at 100, prediction flat at 110 (14 wide, 12 high):
    PSNR = 10 log10(255^2 / 10^2) = 20 log10(25.5);
    SSIM: every window has means 110 and 100 and no variance, so the structure term is
      C2 / C2 = 1 and SSIM = (2 * 110 * 100 + C1) / (110^2 + 100^2 + C1);
    LNCC: every window flat in both images -> rho = 1."""
    gt = np.full((12, 14), 100, np.uint8)
    out = grade.case_scores(np.full((12, 14), 110, np.uint8), gt)
    assert list(out) == ["lncc", "ssim", "psnr"]
    ssim = (2 * 110 * 100 + C1) / (110**2 + 100**2 + C1)
    assert out == pytest.approx({"lncc": 1.0, "ssim": ssim, "psnr": 20 * math.log10(25.5)}, rel=1e-9)


def test_an_inverted_ramp_by_hand() -> None:
    """Reference: 12 x 12, column j at 100 + j (every 11 x 11 window has variance); prediction
    255 - reference. LNCC: each window's correlation is exactly -1.
    PSNR: the error 255 - 2 (100 + j) = 55 - 2j; its squares over j = 0..11 sum to
    3025 + 2809 + 2601 + 2401 + 2209 + 2025 + 1849 + 1681 + 1521 + 1369 + 1225 + 1089 = 23804,
    MSE = 23804 / 12, PSNR = 10 log10(255^2 * 12 / 23804)."""
    gt = np.tile(np.arange(100, 112, dtype=np.uint8), (12, 1))
    out = grade.case_scores(255 - gt, gt)
    assert out["lncc"] == pytest.approx(-1.0)
    assert out["psnr"] == pytest.approx(10 * math.log10(255**2 * 12 / 23804))
    # SSIM's structure term (C2 - 2 s^2) / (C2 + 2 s^2) (s^2: a few grey levels^2) stays
    # positive but below 1
    assert 0.0 < out["ssim"] < 1.0


def test_identical_images_score_the_cap() -> None:
    gt = np.tile(np.arange(100, 114, dtype=np.uint8), (12, 1))
    assert grade.case_scores(gt.copy(), gt) == pytest.approx({"lncc": 1.0, "ssim": 1.0, "psnr": 100.0})


def test_a_prediction_of_another_size_is_resampled_onto_the_reference_grid() -> None:
    """The reference is 14 wide, 12 high. A flat prediction of any size stays flat at its value
    under bilinear resampling (the constant-image numbers above); a prediction 7 high whose
    columns are 100 + j is only stretched vertically, so it becomes the reference exactly."""
    gt_flat = np.full((12, 14), 100, np.uint8)
    ssim = (2 * 110 * 100 + C1) / (110**2 + 100**2 + C1)
    want = {"lncc": 1.0, "ssim": ssim, "psnr": 20 * math.log10(25.5)}
    for shape in [(7, 9), (14, 12), (24, 28), (12, 13)]:
        out = grade.case_scores(np.full(shape, 110, np.uint8), gt_flat)
        assert out == pytest.approx(want, rel=1e-9), shape
    gt = np.tile(np.arange(100, 114, dtype=np.uint8), (12, 1))
    short = np.tile(np.arange(100, 114, dtype=np.uint8), (7, 1))
    assert grade.case_scores(short, gt) == pytest.approx({"lncc": 1.0, "ssim": 1.0, "psnr": 100.0})


def test_score_case_reads_the_high_quality_reference(tmp_path: Path) -> None:
    """private/test/high_quality/<case>.png; an RGB reference is converted like a prediction
    (grey (100, 100, 100) -> 100), and it may be of any size."""
    private = tmp_path / "private"
    ref = np.full((12, 14, 3), 100, np.uint8)
    _png(private / "test" / "high_quality" / "kidney_003.png", Image.fromarray(ref, mode="RGB"))
    out = grade.score_case("kidney_003", np.full((12, 14), 110, np.uint8), private)
    ssim = (2 * 110 * 100 + C1) / (110**2 + 100**2 + C1)
    assert out == pytest.approx({"lncc": 1.0, "ssim": ssim, "psnr": 20 * math.log10(25.5)}, rel=1e-9)


def test_an_unreadable_reference_names_the_reference(tmp_path: Path) -> None:
    path = tmp_path / "private" / "test" / "high_quality" / "kidney_003.png"
    path.parent.mkdir(parents=True)
    path.write_text("not an image")
    with pytest.raises(InvalidSubmission) as exc:
        grade.score_case("kidney_003", np.zeros((12, 14), np.uint8), tmp_path / "private")
    assert (
        str(exc.value)
        == "reference kidney_003: kidney_003.png is not a readable PNG (UnidentifiedImageError)"
    )


def test_check_case_then_score_case(tmp_path: Path) -> None:
    """The two steps the harness runs: the prediction read against the public input's size, then
    scored against the private reference."""
    public = tmp_path / "public"
    _png(public / "test" / "low_quality" / "thyroid_002.png", Image.new("L", (14, 12), 3))
    pred = _png(tmp_path / "sub" / "predictions" / "thyroid_002.png", Image.new("L", (14, 12), 110))
    private = tmp_path / "private"
    _png(private / "test" / "high_quality" / "thyroid_002.png", Image.new("L", (14, 12), 100))
    loaded = grade.check_case("thyroid_002", {"enhanced_image_path": pred}, public)
    out = grade.score_case("thyroid_002", loaded, private)
    assert out["psnr"] == pytest.approx(20 * math.log10(25.5)) and out["lncc"] == 1.0
    # the same file against an input of another size is refused
    _png(public / "test" / "low_quality" / "thyroid_002.png", Image.new("L", (12, 14), 3))
    with pytest.raises(InvalidSubmission, match="the test input is 12 x 14"):
        grade.check_case("thyroid_002", {"enhanced_image_path": pred}, public)
