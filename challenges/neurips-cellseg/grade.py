"""NeurIPS 2022 Cell Segmentation grader: per test image the official cell F1 at IoU thresholds
0.5, 0.6, 0.7, 0.8 and 0.9 (``rexmle.graders.instances``: boundary cells removed, Hungarian
matching, 2000 x 2000 tiles for images of 25e6 pixels or more, F1 rounded to 4 decimals), and
the mean over images of each (``f1_0.5`` ... ``f1_0.9``)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import numpy.typing as npt
import tifffile
from PIL import Image
from rexmle.graders.instances import THRESHOLDS, cell_f1

from rexmle.challenge_api import InvalidSubmission, SubmissionFormat, check_image

FORMAT = SubmissionFormat(
    id_column="image_id", file_columns={"predicted_mask_path": (".tiff", ".tif", ".png")}
)
MAX_LABEL = 2**31 - 1
Image.MAX_IMAGE_PIXELS = None  # the size is checked against the test image before decoding
#: A file may declare at most this many times the test image's pixels (bounds the header checks;
#: the exact shape is compared before decoding).
SIZE_SLACK = 4


def _expected_shape(case_id: str, public_dir: Path) -> tuple[int, int]:
    with (public_dir / "test.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            if row["image_id"] == case_id:
                return int(row["height"]), int(row["width"])
    raise InvalidSubmission(f"case {case_id}: not a test image")


def _squeeze(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(n for n in shape if n != 1)


def read_instance_map(path: Path, shape: tuple[int, int], what: str) -> npt.NDArray[np.int64 | np.int32]:
    """A predicted instance map (0 background, 1..n cells) of the test image's height x width.

    TIFF (tifffile) or PNG (Pillow); singleton axes are dropped. The header is checked first
    (``rexmle.safe_io.check_image``: size, TIFF pages, tags, strips and compression), and the
    shape compared before the pixels are decoded. Labels must be non-negative integers below
    2**31 (the official code casts to int32); a float image is accepted only if every value is
    integral.
    """
    check_image(path, what, SIZE_SLACK * shape[0] * shape[1], decoder="tifffile")
    try:
        if path.suffix.lower() == ".png":
            with Image.open(path) as im:
                got = _squeeze(
                    (im.height, im.width) + ((len(im.getbands()),) if len(im.getbands()) > 1 else ())
                )
                if got != shape:
                    raise InvalidSubmission(f"{what}: shape {got} differs from the test image's {shape}")
                arr = np.asarray(im)
        else:
            with tifffile.TiffFile(path) as tf:
                if not tf.pages:
                    raise InvalidSubmission(f"{what}: TIFF file has no image")
                got = _squeeze(tuple(tf.series[0].shape))
                if got != shape:
                    raise InvalidSubmission(f"{what}: shape {got} differs from the test image's {shape}")
                arr = tf.series[0].asarray()
    except InvalidSubmission:
        raise
    except Exception as exc:
        raise InvalidSubmission(
            f"{what}: not a readable TIFF or PNG instance map ({type(exc).__name__})"
        ) from None
    arr = arr.reshape(shape)
    if arr.dtype == np.bool_:
        return arr.astype(np.int32)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or not np.array_equal(arr, np.round(arr)):
            raise InvalidSubmission(f"{what}: an instance map must hold integer labels, not {arr.dtype}")
    elif arr.dtype.kind not in "iu":
        raise InvalidSubmission(f"{what}: an instance map must hold integer labels, not {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > MAX_LABEL):
        bad = arr.min() if arr.min() < 0 else arr.max()
        raise InvalidSubmission(f"{what}: label {bad:g} is outside 0..{MAX_LABEL}")
    if (arr.dtype.kind == "u" and arr.dtype.itemsize <= 2) or arr.dtype == np.int32:
        return arr
    return arr.astype(np.int64)


def check_case(case_id: str, files: dict[str, Path], public_dir: Path) -> npt.NDArray[np.integer]:
    shape = _expected_shape(case_id, public_dir)
    return read_instance_map(files["predicted_mask_path"], shape, f"case {case_id}")


def score_case(case_id: str, pred: npt.NDArray[np.integer], private_dir: Path) -> dict[str, float]:
    gt = tifffile.imread(private_dir / "test" / "labels" / f"{case_id}_label.tiff")
    gt = gt.reshape(_squeeze(gt.shape))
    f1 = cell_f1(gt, pred)
    return {f"f1_{t}": f1[t] for t in THRESHOLDS}
