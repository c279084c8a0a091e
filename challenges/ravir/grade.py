"""RAVIR grader: per test image the Dice and the Jaccard index of the artery and of the vein class;
each averaged over the images, and the two classes averaged (``dice_mean``, the challenge's
leaderboard criterion; ``jaccard_mean``).

A prediction is a single-channel PNG of the test image's size holding class ids 0 (background),
1 (artery), 2 (vein); the organisers' own encoding 0 / 128 / 255 (or 256 in a 16-bit PNG) is
accepted as well, but one file must use one encoding."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image
from rexmle.graders.segmentation import dice, jaccard

from rexmle.challenge_api import InvalidSubmission, SubmissionFormat, check_image

FORMAT = SubmissionFormat(id_column="image_id", file_columns={"predicted_mask_path": (".png",)})
CLASSES = {"artery": 1, "vein": 2}
#: Accepted encodings: value -> class id.
ENCODINGS = ({0: 0, 1: 1, 2: 2}, {0: 0, 128: 1, 255: 2, 256: 2})
LABELS = "0/1/2 (background/artery/vein) or 0/128/255"
#: A mask may declare at most this many times the test image's pixels (bounds the header check;
#: the exact size is compared before decoding).
SIZE_SLACK = 4


def _open_size(path: Path, what: str) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError, Image.DecompressionBombError):
        raise InvalidSubmission(f"{what}: not a readable PNG image") from None


def to_class_ids(arr: npt.NDArray[np.generic], what: str) -> npt.NDArray[np.uint8]:
    """A decoded mask (H, W) as class ids, from either accepted encoding."""
    if arr.ndim != 2:
        raise InvalidSubmission(
            f"{what}: expected a 2-D single-channel mask, got an array of shape {tuple(arr.shape)}"
        )
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.dtype.kind not in "iu":
        raise InvalidSubmission(f"{what}: a mask must hold integer class ids, not {arr.dtype}")
    values = {int(v) for v in np.unique(arr)}
    for enc in ENCODINGS:
        if values <= set(enc):
            out = np.zeros(arr.shape, dtype=np.uint8)
            for raw, cid in enc.items():
                if cid:
                    out[arr == raw] = cid
            return out
    odd = sorted(values - set(ENCODINGS[0]) - set(ENCODINGS[1]))
    if odd:
        raise InvalidSubmission(f"{what}: value {odd[0]} is not {LABELS}")
    raise InvalidSubmission(f"{what}: mixes the 0/1/2 and 0/128/255 encodings (values {sorted(values)})")


def check_case(case_id: str, files: dict[str, Path], public_dir: Path) -> npt.NDArray[np.uint8]:
    what = f"case {case_id}"
    path = files["predicted_mask_path"]
    ref = _open_size(public_dir / "test" / "images" / f"{case_id}.png", f"test image {case_id}")
    check_image(path, what, SIZE_SLACK * ref[0] * ref[1], decoder="pillow")
    size = _open_size(path, what)
    if size != ref:
        raise InvalidSubmission(
            f"{what}: mask is {size[0]}x{size[1]} but the test image is {ref[0]}x{ref[1]}"
        )
    try:
        with warnings.catch_warnings(), Image.open(path) as im:
            warnings.simplefilter("ignore")
            if im.format != "PNG":
                raise InvalidSubmission(f"{what}: file is {im.format}, not PNG")
            arr = np.asarray(im)
    except InvalidSubmission:
        raise
    except (OSError, ValueError, SyntaxError):
        raise InvalidSubmission(f"{what}: not a readable PNG image") from None
    return to_class_ids(arr, what)


def case_scores(pred: npt.NDArray[np.uint8], gt: npt.NDArray[np.uint8]) -> dict[str, float]:
    """Dice and Jaccard of each class, and their means over the two classes (whose mean over
    cases equals the mean over classes of the per-class means). A class absent from both scores
    1 (nothing to find, none predicted); absent from one of them, 0."""
    out: dict[str, float] = {}
    for name, cid in CLASSES.items():
        p, g = pred == cid, gt == cid
        out[f"dice_{name}"] = dice(p, g, empty_value=1.0)
        out[f"jaccard_{name}"] = jaccard(p, g, empty_value=1.0)
    out["dice_mean"] = (out["dice_artery"] + out["dice_vein"]) / 2.0
    out["jaccard_mean"] = (out["jaccard_artery"] + out["jaccard_vein"]) / 2.0
    return out


def score_case(case_id: str, pred: npt.NDArray[np.uint8], private_dir: Path) -> dict[str, float]:
    with Image.open(private_dir / "test" / "labels" / f"{case_id}.png") as im:
        gt = np.asarray(im)
    return case_scores(pred, gt)
