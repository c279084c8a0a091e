"""USenhance 2023 grader: per test image the LNCC, SSIM and PSNR of the enhanced image against
the high-quality one (rexmle.graders.image_quality), averaged over the test images.

Images are compared as 8-bit grayscale (data range 255). A prediction must be a PNG of the
test input's size; colour (RGB/RGBA/LA) or palette PNGs are converted to grayscale with
Pillow's ``convert("L")``, as the research code did; 1-bit, 16-bit and float PNGs are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError
from rexmle.graders.image_quality import lncc, psnr, ssim

from rexmle.challenge_api import InvalidSubmission, SubmissionFormat, check_image

FORMAT = SubmissionFormat(id_column="image_id", file_columns={"enhanced_image_path": (".png",)})
EIGHT_BIT = ("L", "LA", "RGB", "RGBA", "P")
#: A prediction may declare at most this many times the test input's pixels (bounds the header
#: check; the exact size is compared before decoding).
SIZE_SLACK = 4


def load_gray(path: Path, what: str, size: tuple[int, int] | None = None) -> npt.NDArray[np.uint8]:
    """An 8-bit grayscale image. ``size`` (width, height): a prediction's header is checked
    (``rexmle.safe_io.check_image``) and its size compared with the test input's before any
    pixel is decoded."""
    if size is not None:
        check_image(path, what, SIZE_SLACK * size[0] * size[1], decoder="pillow")
    try:
        with Image.open(path) as img:
            if img.format != "PNG":
                raise InvalidSubmission(f"{what}: {path.name} is not a PNG (it is {img.format})")
            if img.mode not in EIGHT_BIT:
                raise InvalidSubmission(
                    f"{what}: {path.name} has mode {img.mode}; write an 8-bit grayscale PNG (mode L)"
                )
            if size is not None and img.size != size:
                raise InvalidSubmission(
                    f"{what}: image is {img.size[0]} x {img.size[1]} (width x height); "
                    f"the test input is {size[0]} x {size[1]}"
                )
            gray = img if img.mode == "L" else img.convert("L")
            return np.asarray(gray, dtype=np.uint8).copy()
    # SyntaxError: Pillow's "broken PNG file" when a chunk breaks while the pixels are decoded
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InvalidSubmission(f"{what}: {path.name} is not a readable PNG ({type(exc).__name__})") from None


def check_case(case_id: str, files: dict[str, Any], public_dir: Path) -> npt.NDArray[np.uint8]:
    with Image.open(public_dir / "test" / "low_quality" / f"{case_id}.png") as ref:
        size = ref.size
    return load_gray(Path(files["enhanced_image_path"]), f"case {case_id}", size)


def case_scores(pred: npt.NDArray[np.uint8], gt: npt.NDArray[np.uint8]) -> dict[str, float]:
    """LNCC, SSIM and PSNR of one 8-bit prediction against its 8-bit reference."""
    if pred.shape != gt.shape:  # a release pair of two sizes: compare on the reference's grid
        pred = np.asarray(Image.fromarray(pred).resize((gt.shape[1], gt.shape[0]), Image.Resampling.BILINEAR))
    return {"lncc": lncc(pred, gt), "ssim": ssim(pred, gt), "psnr": psnr(pred, gt)}


def score_case(case_id: str, pred: npt.NDArray[np.uint8], private_dir: Path) -> dict[str, float]:
    gt = load_gray(private_dir / "test" / "high_quality" / f"{case_id}.png", f"reference {case_id}")
    return case_scores(pred, gt)
