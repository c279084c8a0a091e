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

from rexmle.errors import InvalidSubmission
from rexmle.grading import SubmissionFormat

FORMAT = SubmissionFormat(id_column="image_id", file_columns={"enhanced_image_path": (".png",)})
METRICS = ("lncc", "ssim", "psnr")
EIGHT_BIT = ("L", "LA", "RGB", "RGBA", "P")


def load_gray(path: Path, what: str) -> npt.NDArray[np.uint8]:
    try:
        with Image.open(path) as img:
            if img.format != "PNG":
                raise InvalidSubmission(f"{what}: {path.name} is not a PNG (it is {img.format})")
            if img.mode not in EIGHT_BIT:
                raise InvalidSubmission(
                    f"{what}: {path.name} has mode {img.mode}; write an 8-bit grayscale PNG (mode L)"
                )
            gray = img if img.mode == "L" else img.convert("L")
            return np.asarray(gray, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise InvalidSubmission(f"{what}: {path.name} is not a readable PNG ({type(exc).__name__})") from None


def check_case(case_id: str, files: dict[str, Any], public_dir: Path) -> npt.NDArray[np.uint8]:
    what = f"case {case_id}"
    pred = load_gray(Path(files["enhanced_image_path"]), what)
    with Image.open(public_dir / "test" / "low_quality" / f"{case_id}.png") as ref:
        width, height = ref.size
    if pred.shape != (height, width):
        raise InvalidSubmission(
            f"{what}: image is {pred.shape[1]} x {pred.shape[0]} (width x height); the test input is {width} x {height}"
        )
    return pred


def case_scores(pred: npt.NDArray[np.uint8], gt: npt.NDArray[np.uint8]) -> dict[str, float]:
    """LNCC, SSIM and PSNR of one 8-bit prediction against its 8-bit reference."""
    if pred.shape != gt.shape:  # a release pair of two sizes: compare on the reference's grid
        pred = np.asarray(Image.fromarray(pred).resize((gt.shape[1], gt.shape[0]), Image.Resampling.BILINEAR))
    return {"lncc": lncc(pred, gt), "ssim": ssim(pred, gt), "psnr": psnr(pred, gt)}


def score_case(case_id: str, pred: npt.NDArray[np.uint8], private_dir: Path) -> dict[str, float]:
    gt = load_gray(private_dir / "test" / "high_quality" / f"{case_id}.png", f"reference {case_id}")
    return case_scores(pred, gt)


def aggregate(rows: list[dict[str, float]]) -> dict[str, float]:
    return {m: float(np.mean([r[m] for r in rows])) for m in METRICS}
