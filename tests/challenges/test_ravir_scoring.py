"""Fast unit tests of the RAVIR grader (``challenges/ravir/grade.py``).

Pinned, on tiny PNGs in tmp_path: both accepted encodings (class ids 0/1/2 and the organisers'
0/128/255, 256 in 16-bit) and every refusal of ``to_class_ids`` (shape, dtype, a foreign value,
mixed encodings); ``check_case``'s size check against the test image (exact size, the header
bound of exactly 4 x its pixels), the PNG-only rule and every way a file can fail to decode;
and the per-class Dice / Jaccard with their means, worked out by hand (a class absent from both
masks scores 1, from one of them 0), and the mean over images as challenge.yaml aggregates them.
RAVIR ranks on the mean over the artery and the vein Dice (Jaccard reported too).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from rexmle.challenges.ravir.grade import case_scores, check_case, score_case, to_class_ids

from rexmle import challenge, grading
from rexmle.errors import InvalidSubmission

CASE = "IR_Case_011"
W, H = 3, 5  # the test image: 3 wide, 5 high (non-square, so w/h swaps show)
LABELS = "0/1/2 (background/artery/vein) or 0/128/255"


def _ids(arr: npt.ArrayLike, dtype: type = np.uint8) -> npt.NDArray[np.generic]:
    return np.asarray(arr, dtype=dtype)


def _refused_ids(arr: npt.NDArray[np.generic]) -> str:
    with pytest.raises(InvalidSubmission) as err:
        to_class_ids(arr, "m")
    return str(err.value)


# --- to_class_ids -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "dtype", "ids"),
    [
        ([[0, 1, 2], [2, 1, 0]], np.uint8, [[0, 1, 2], [2, 1, 0]]),  # class ids as they are
        ([[0, 128, 255], [255, 128, 0]], np.uint8, [[0, 1, 2], [2, 1, 0]]),  # organisers' encoding
        ([[0, 128, 256], [256, 0, 0]], np.uint16, [[0, 1, 2], [2, 0, 0]]),  # 16-bit: 256 is vein
        ([[0, 255], [255, 0]], np.uint8, [[0, 2], [2, 0]]),  # a subset of one encoding
        ([[0, 128], [0, 0]], np.uint8, [[0, 1], [0, 0]]),
        ([[0, 1], [1, 1]], np.int32, [[0, 1], [1, 1]]),  # any integer dtype
        ([[0, 0], [0, 0]], np.int64, [[0, 0], [0, 0]]),  # background only
        ([[2, 2], [2, 2]], np.uint8, [[2, 2], [2, 2]]),  # vein only, no background
        ([[True, False]], np.bool_, [[1, 0]]),  # a 1-bit mask: True is the artery
    ],
)
def test_to_class_ids_accepts_both_encodings(raw: list[list[int]], dtype: type, ids: list[list[int]]) -> None:
    out = to_class_ids(_ids(raw, dtype), "m")
    assert out.dtype == np.uint8 and out.tolist() == ids


def test_to_class_ids_refusals() -> None:
    assert _refused_ids(np.zeros((2, 2, 3), np.uint8)) == (
        "m: expected a 2-D single-channel mask, got an array of shape (2, 2, 3)"
    )
    assert (
        _refused_ids(np.zeros(4, np.uint8))
        == "m: expected a 2-D single-channel mask, got an array of shape (4,)"
    )
    assert _refused_ids(np.zeros((2, 2), np.float32)) == "m: a mask must hold integer class ids, not float32"
    # the smallest foreign value is named (3 of 3 and 7), also when the encodings are mixed too
    assert _refused_ids(_ids([[0, 7], [3, 1]])) == f"m: value 3 is not {LABELS}"
    assert _refused_ids(_ids([[7, 128], [1, 0]])) == f"m: value 7 is not {LABELS}"
    assert _refused_ids(_ids([[0, -1]], np.int16)) == f"m: value -1 is not {LABELS}"
    assert _refused_ids(_ids([[0, 1], [128, 0]])) == (
        "m: mixes the 0/1/2 and 0/128/255 encodings (values [0, 1, 128])"
    )
    assert _refused_ids(_ids([[2, 255]])) == "m: mixes the 0/1/2 and 0/128/255 encodings (values [2, 255])"


# --- check_case -------------------------------------------------------------------------------


@pytest.fixture
def public(tmp_path: Path) -> Path:
    """The public test image of CASE: 3 wide x 5 high."""
    pub = tmp_path / "public"
    (pub / "test" / "images").mkdir(parents=True)
    Image.fromarray(np.full((H, W), 90, np.uint8)).save(pub / "test" / "images" / f"{CASE}.png")
    return pub


def _save(path: Path, arr: npt.NDArray[np.generic], fmt: str = "PNG") -> Path:
    Image.fromarray(arr).save(path, format=fmt)
    return path


def _check(path: Path, public: Path) -> npt.NDArray[np.uint8]:
    out: npt.NDArray[np.uint8] = check_case(CASE, {"predicted_mask_path": path}, public)
    return out


def _refused(path: Path, public: Path) -> str:
    with pytest.raises(InvalidSubmission) as err:
        _check(path, public)
    return str(err.value)


MASK = np.array([[0, 1, 2], [2, 1, 0], [0, 0, 0], [1, 1, 1], [2, 2, 2]], np.uint8)  # 5 high, 3 wide


def test_check_case_reads_a_png_of_the_test_image_size(tmp_path: Path, public: Path) -> None:
    got = _check(_save(tmp_path / "m.png", MASK), public)
    assert got.dtype == np.uint8 and np.array_equal(got, MASK)
    enc = np.choose(MASK, [0, 128, 255]).astype(np.uint8)
    assert np.array_equal(_check(_save(tmp_path / "e.png", enc), public), MASK)
    enc16 = np.choose(MASK, [0, 128, 256]).astype(np.uint16)
    assert np.array_equal(_check(_save(tmp_path / "e16.png", enc16), public), MASK)
    bits = MASK == 1
    assert np.array_equal(_check(_save(tmp_path / "b.png", bits), public), bits.astype(np.uint8))


@pytest.mark.parametrize(("w", "h"), [(2, 5), (4, 5), (3, 4), (3, 6), (5, 3)])
def test_check_case_refuses_another_size(tmp_path: Path, public: Path, w: int, h: int) -> None:
    """Narrower, wider, shorter, taller, transposed: each named width x height."""
    path = _save(tmp_path / "m.png", np.zeros((h, w), np.uint8))
    assert _refused(path, public) == f"case {CASE}: mask is {w}x{h} but the test image is 3x5"


def test_check_case_header_bound_is_four_times_the_test_image(tmp_path: Path, public: Path) -> None:
    """4 * 3 * 5 = 60 pixels: 60 x 1 passes the header check and is refused by its size;
    61 x 1 is refused from its header."""
    ok = _save(tmp_path / "a.png", np.zeros((1, 60), np.uint8))
    assert _refused(ok, public) == f"case {CASE}: mask is 60x1 but the test image is 3x5"
    big = _save(tmp_path / "b.png", np.zeros((1, 61), np.uint8))
    assert _refused(big, public) == (
        f"case {CASE}: image is 61 x 1 pixels (width x height), far larger than the test image"
    )


def test_check_case_refuses_other_formats_and_channels(tmp_path: Path, public: Path) -> None:
    """TIFF (after "PNG" in the alphabet) and BMP (before it) are refused by name; RGB by shape."""
    assert _refused(_save(tmp_path / "m.png", MASK, "TIFF"), public) == f"case {CASE}: file is TIFF, not PNG"
    assert _refused(_save(tmp_path / "n.png", MASK, "BMP"), public) == f"case {CASE}: file is BMP, not PNG"
    rgb = _save(tmp_path / "c.png", np.repeat(MASK[..., None], 3, axis=2))
    assert _refused(rgb, public) == (
        f"case {CASE}: expected a 2-D single-channel mask, got an array of shape (5, 3, 3)"
    )
    assert _refused(_save(tmp_path / "v.png", MASK * 3), public) == f"case {CASE}: value 3 is not {LABELS}"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_bytes(before: bytes = b"", after: bytes = b"", idat: bytes | None = None) -> bytes:
    """A 3 x 5 8-bit grey PNG, with extra chunks before / after its image data."""
    raw = b"".join(b"\0" + bytes(W) for _ in range(H))
    ihdr = struct.pack(">IIBBBBB", W, H, 8, 0, 0, 0, 0)
    data = zlib.compress(raw) if idat is None else idat
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + before
        + _chunk(b"IDAT", data)
        + after
        + _chunk(b"IEND", b"")
    )


# a zTXt chunk inflating past Pillow's MAX_TEXT_CHUNK (1 MiB): ValueError where Pillow reads it
_BIG_TEXT = _chunk(b"zTXt", b"k\0\0" + zlib.compress(b"\0" * (2**20 + 100)))
# an iCCP chunk of an unknown compression method: SyntaxError where Pillow reads it
_BAD_ICC = _chunk(b"iCCP", b"p\0\x01" + zlib.compress(b"x"))


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"not an image", id="no-image-OSError-on-open"),
        pytest.param(_png_bytes(before=_BIG_TEXT), id="ValueError-on-open"),
        pytest.param(_png_bytes(idat=zlib.compress(bytes(20))[:6]), id="truncated-OSError-on-decode"),
        pytest.param(_png_bytes(after=_BIG_TEXT), id="ValueError-on-decode"),
        pytest.param(_png_bytes(after=_BAD_ICC), id="SyntaxError-on-decode"),
    ],
)
def test_check_case_refuses_unreadable_files(tmp_path: Path, public: Path, content: bytes) -> None:
    assert _check_bytes_ok(tmp_path, public)  # the same builder without the fault reads fine
    path = tmp_path / "m.png"
    path.write_bytes(content)
    assert _refused(path, public) == f"case {CASE}: not a readable PNG image"


def _check_bytes_ok(tmp_path: Path, public: Path) -> bool:
    path = tmp_path / "ok.png"
    path.write_bytes(_png_bytes())
    return not _check(path, public).any()


def test_check_case_refuses_when_the_test_image_cannot_be_opened(
    tmp_path: Path, public: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pillow's decompression-bomb error (here: a bound of 4 pixels, the 15-pixel test image is
    over twice that) and a missing test image are one-line refusals, not tracebacks."""
    mask = _save(tmp_path / "m.png", MASK)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4)
    assert _refused(mask, public) == f"test image {CASE}: not a readable PNG image"
    monkeypatch.undo()
    (public / "test" / "images" / f"{CASE}.png").unlink()
    assert _refused(mask, public) == f"test image {CASE}: not a readable PNG image"


# --- scores -----------------------------------------------------------------------------------


def _gt() -> npt.NDArray[np.uint8]:
    gt = np.zeros((6, 6), np.uint8)
    gt[0, 0:4] = 1  # 4 artery pixels
    gt[3, 0:6] = 2  # 6 vein pixels
    return gt


def test_case_scores_by_hand() -> None:
    gt = _gt()
    pred = gt.copy()
    pred[0, 3] = 0  # artery: 3 of 4 found ...
    pred[5, 0:2] = 1  # ... and 2 false: Dice = 2*3/(5+4) = 2/3, Jaccard = 3/(4+5-3) = 1/2
    pred[3, 0:3] = 0  # vein: 3 of 6 found ...
    pred[1, 0] = 2  # ... and 1 false: Dice = 2*3/(4+6) = 3/5, Jaccard = 3/(4+6-3) = 3/7
    s = case_scores(pred, gt)
    assert s == pytest.approx(
        {
            "dice_artery": 2 / 3,
            "jaccard_artery": 1 / 2,
            "dice_vein": 3 / 5,
            "jaccard_vein": 3 / 7,
            "dice_mean": (2 / 3 + 3 / 5) / 2,  # = 19/30
            "jaccard_mean": (1 / 2 + 3 / 7) / 2,  # = 13/28
        },
        abs=1e-12,
    )
    assert list(s) == [
        "dice_artery",
        "jaccard_artery",
        "dice_vein",
        "jaccard_vein",
        "dice_mean",
        "jaccard_mean",
    ]


def test_case_scores_empty_branches() -> None:
    gt = _gt()
    assert case_scores(gt, gt) == dict.fromkeys(
        ("dice_artery", "jaccard_artery", "dice_vein", "jaccard_vein", "dice_mean", "jaccard_mean"), 1.0
    )
    # empty prediction: both classes missed, 0 everywhere
    assert set(case_scores(np.zeros_like(gt), gt).values()) == {0.0}
    # no vein in either mask: vein 1 (nothing to find, none predicted); artery half found:
    # Dice 2*2/(2+4) = 2/3, Jaccard 2/4 = 1/2; means (2/3 + 1)/2 = 5/6 and (1/2 + 1)/2 = 3/4
    artery_only = np.where(gt == 2, 0, gt).astype(np.uint8)
    half = artery_only.copy()
    half[0, 2:4] = 0
    assert case_scores(half, artery_only) == pytest.approx(
        {
            "dice_artery": 2 / 3,
            "jaccard_artery": 1 / 2,
            "dice_vein": 1.0,
            "jaccard_vein": 1.0,
            "dice_mean": 5 / 6,
            "jaccard_mean": 3 / 4,
        },
        abs=1e-12,
    )
    # vein only in the prediction, or only in the truth: vein 0, artery 1, means 1/2
    for pred, truth in ((gt, artery_only), (artery_only, gt)):
        assert case_scores(pred, truth) == {
            "dice_artery": 1.0,
            "jaccard_artery": 1.0,
            "dice_vein": 0.0,
            "jaccard_vein": 0.0,
            "dice_mean": 0.5,
            "jaccard_mean": 0.5,
        }


def test_score_case_reads_the_private_label_and_the_mean_over_images(tmp_path: Path) -> None:
    """score_case compares with private/test/labels/<id>.png; challenge.yaml takes each value's
    mean over images: Dice mean (1 + 19/30)/2 = 49/60, artery (1 + 2/3)/2 = 5/6, vein
    (1 + 3/5)/2 = 4/5; Jaccard mean (1 + 13/28)/2 = 41/56, artery 3/4, vein (1 + 3/7)/2 = 5/7."""
    priv = tmp_path / "private"
    (priv / "test" / "labels").mkdir(parents=True)
    gt = _gt()
    for case in ("a", "b"):
        Image.fromarray(gt).save(priv / "test" / "labels" / f"{case}.png")
    pred = gt.copy()
    pred[0, 3], pred[5, 0:2], pred[3, 0:3], pred[1, 0] = 0, 1, 0, 2  # as in test_case_scores_by_hand
    rows = [score_case("a", gt, priv), score_case("b", pred, priv)]
    assert set(rows[0].values()) == {1.0}
    metrics = grading.aggregate(challenge.get("ravir").spec.metrics, rows, {})
    assert metrics == pytest.approx(
        {
            "dice_mean": 49 / 60,
            "dice_artery": 5 / 6,
            "dice_vein": 4 / 5,
            "jaccard_mean": 41 / 56,
            "jaccard_artery": 3 / 4,
            "jaccard_vein": 5 / 7,
        },
        abs=1e-12,
    )
