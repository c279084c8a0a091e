"""Fast unit tests of the NeurIPS 2022 Cell Segmentation grader (``challenges/neurips-cellseg/grade.py``).

Pinned, on tiny files in tmp_path: the test image's height x width looked up in ``test.csv``;
the instance-map reader (PNG and TIFF, singleton axes dropped, every refusal with its message:
shape, header size bound at exactly 4 x the test image's pixels, non-integer / non-finite /
complex values, labels outside 0..2**31-1, unreadable files) and the dtype it hands on; and
``score_case``'s per-image F1 at IoU 0.5 ... 0.9, worked out by hand under the official rules
(JunMa11/NeurIPS-CellSeg ``baseline/compute_metric.py``: boundary cells dropped, F1 = 2PR/(P+R),
0 when TP = 0, rounded to 4 decimals per image), and their mean over images as challenge.yaml
aggregates them.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pytest
import tifffile
from PIL import Image

from rexmle import challenge, grading
from rexmle.errors import InvalidSubmission

# the folder name has a hyphen: the challenge registry imports it (as the harness does)
G: ModuleType = challenge.get("neurips-cellseg").module("grade")

CASE = "cell_b"
H, W = 3, 5  # the test image of CASE: 3 rows, 5 columns (non-square, so h/w swaps show)
MAX = 2**31 - 1  # the official code casts labels to int32


@pytest.fixture
def public(tmp_path: Path) -> Path:
    """``public/test.csv`` with CASE in the last row, after cases of other shapes whose ids sort
    before and after it (only the row with the same id may match)."""
    pub = tmp_path / "public"
    pub.mkdir()
    with (pub / "test.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "image_path", "height", "width"])
        w.writerow(["cell_a", "test/images/cell_a.tif", 7, 9])
        w.writerow(["cell_z", "test/images/cell_z.tif", 4, 4])
        w.writerow([CASE, f"test/images/{CASE}.png", H, W])
    return pub


def _tiff(path: Path, arr: npt.NDArray[np.generic]) -> Path:
    tifffile.imwrite(path, arr, photometric="minisblack")
    return path


def _png(path: Path, arr: npt.NDArray[np.generic], mode: str | None = None) -> Path:
    Image.fromarray(arr, mode=mode).save(path, format="PNG")
    return path


def _check(path: Path, public: Path, case: str = CASE) -> npt.NDArray[np.integer]:
    out: npt.NDArray[np.integer] = G.check_case(case, {"predicted_mask_path": path}, public)
    return out


def _refused(path: Path, public: Path, case: str = CASE) -> str:
    with pytest.raises(InvalidSubmission) as err:
        _check(path, public, case)
    return str(err.value)


LABELS = np.arange(H * W).reshape(H, W)  # 0..14, every pixel its own value


# --- the test image's shape --------------------------------------------------------------------


def test_expected_shape_is_height_then_width_of_the_named_row(tmp_path: Path, public: Path) -> None:
    """CASE is 3 x 5 (not cell_a's 7 x 9 or cell_z's 4 x 4); an id not in test.csv is refused."""
    got = _check(_tiff(tmp_path / "p.tiff", LABELS.astype(np.uint8)), public)
    assert got.shape == (3, 5) and np.array_equal(got, LABELS)
    a = _check(_tiff(tmp_path / "a.tiff", np.zeros((7, 9), np.uint8)), public, "cell_a")
    assert a.shape == (7, 9)
    msg = _refused(tmp_path / "p.tiff", public, "cell_x")
    assert msg == "case cell_x: not a test image"


def test_squeeze_drops_only_singleton_axes() -> None:
    """Axes of length 1 go; others (0 included) stay, in order."""
    assert G._squeeze((1, 3, 1, 5, 1)) == (3, 5)
    assert G._squeeze((3, 0, 2)) == (3, 0, 2)
    assert G._squeeze((2, 1)) == (2,)


# --- shapes -----------------------------------------------------------------------------------


def test_only_the_first_series_of_a_tiff_is_read(tmp_path: Path, public: Path) -> None:
    """A second page of another shape is a second series: it is neither checked nor read."""
    path = tmp_path / "p.tif"
    tifffile.imwrite(path, LABELS.astype(np.uint8), photometric="minisblack")
    tifffile.imwrite(path, np.full((4, 4), 7, np.uint8), photometric="minisblack", append=True)
    with tifffile.TiffFile(path) as tf:
        assert len(tf.series) == 2  # the file is what the test means
    got = _check(path, public)
    assert got.shape == (H, W) and np.array_equal(got, LABELS)


def test_singleton_axes_of_a_tiff_are_dropped(tmp_path: Path, public: Path) -> None:
    for shape in ((1, H, W), (H, W, 1), (1, H, W, 1)):
        got = _check(_tiff(tmp_path / "p.tif", LABELS.astype(np.uint16).reshape(shape)), public)
        assert got.shape == (H, W) and np.array_equal(got, LABELS)


@pytest.mark.parametrize(
    ("shape", "shown"),
    [
        ((H, W + 1), "(3, 6)"),  # larger than (3, 5) as a tuple
        ((H, W - 1), "(3, 4)"),  # smaller
        ((H - 1, W), "(2, 5)"),
        ((W, H), "(5, 3)"),  # transposed
        ((H, W, 3), "(3, 5, 3)"),  # RGB
    ],
)
@pytest.mark.parametrize("fmt", ["tiff", "png"])
def test_a_map_of_another_shape_is_refused(
    tmp_path: Path, public: Path, shape: tuple[int, ...], shown: str, fmt: str
) -> None:
    arr = np.zeros(shape, np.uint8)
    path = _tiff(tmp_path / "p.tiff", arr) if fmt == "tiff" else _png(tmp_path / "p.png", arr)
    assert _refused(path, public) == f"case {CASE}: shape {shown} differs from the test image's (3, 5)"


def test_a_two_band_png_is_refused_by_its_shape(tmp_path: Path, public: Path) -> None:
    """Grey + alpha has 2 bands: its shape is (3, 5, 2), not the test image's."""
    path = _png(tmp_path / "p.png", np.zeros((H, W, 2), np.uint8), mode="LA")
    assert _refused(path, public) == f"case {CASE}: shape (3, 5, 2) differs from the test image's (3, 5)"


def test_the_header_size_bound_is_four_times_the_test_image(tmp_path: Path, public: Path) -> None:
    """The bound is 4 * 3 * 5 = 60 pixels: a 60 x 1 image passes the header check and is refused
    by its shape; 61 x 1 is refused from its header, before any decoding."""
    for fmt, save in (("png", _png), ("tiff", _tiff)):
        ok = save(tmp_path / f"a.{fmt}", np.zeros((1, 60), np.uint8))
        assert _refused(ok, public) == f"case {CASE}: shape (60,) differs from the test image's (3, 5)"
    big = _png(tmp_path / "b.png", np.zeros((1, 61), np.uint8))
    assert _refused(big, public) == (
        f"case {CASE}: image is 61 x 1 pixels (width x height), far larger than the test image"
    )
    big = _tiff(tmp_path / "b.tiff", np.zeros((1, 61), np.uint8))
    assert _refused(big, public) == (
        f"case {CASE}: TIFF page is 61 x 1 pixels (width x height), far larger than the test image"
    )


# --- formats and dtypes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "kept"),
    [
        (np.uint8, np.uint8),  # small unsigned maps are handed on as they are
        (np.uint16, np.uint16),
        (np.int32, np.int32),  # the official code's own type
        (np.int8, np.int64),  # everything else becomes int64
        (np.int16, np.int64),
        (np.uint32, np.int64),
        (np.int64, np.int64),
        (np.uint64, np.int64),
        # whole numbers in a float image are accepted (float16: the range test casts 2**31 - 1 to inf)
        pytest.param(np.float16, np.int64, marks=pytest.mark.filterwarnings("ignore:overflow")),
        (np.float32, np.int64),
        (np.float64, np.int64),
    ],
)
def test_tiff_dtypes(tmp_path: Path, public: Path, dtype: type, kept: type) -> None:
    got = _check(_tiff(tmp_path / "p.tif", LABELS.astype(dtype)), public)
    assert got.dtype == kept and np.array_equal(got, LABELS)


def test_png_modes(tmp_path: Path, public: Path) -> None:
    """8-bit and 16-bit grey PNGs keep their dtype; a 1-bit PNG becomes int32 0/1; the suffix
    is matched in any case."""
    got = _check(_png(tmp_path / "p.png", LABELS.astype(np.uint8)), public)
    assert got.dtype == np.uint8 and np.array_equal(got, LABELS)
    got = _check(_png(tmp_path / "p16.PNG", (LABELS * 1000).astype(np.uint16)), public)
    assert got.dtype == np.uint16 and np.array_equal(got, LABELS * 1000)
    bits = LABELS % 2 == 1
    got = _check(_png(tmp_path / "b.png", bits), public)
    assert got.dtype == np.int32 and np.array_equal(got, bits.astype(int))


def test_a_boolean_tiff_becomes_int32(tmp_path: Path, public: Path) -> None:
    bits = LABELS % 3 == 0
    got = _check(_tiff(tmp_path / "b.tif", bits), public)
    assert got.dtype == np.int32 and np.array_equal(got, bits.astype(int))


@pytest.mark.parametrize("bad", [0.5, np.inf, -np.inf, np.nan])
def test_a_float_map_must_hold_finite_whole_numbers(tmp_path: Path, public: Path, bad: float) -> None:
    arr = LABELS.astype(np.float32)
    arr[1, 2] = bad
    msg = _refused(_tiff(tmp_path / "p.tif", arr), public)
    assert msg == f"case {CASE}: an instance map must hold integer labels, not float32"


def test_a_complex_map_is_refused_even_with_whole_numbers(tmp_path: Path, public: Path) -> None:
    msg = _refused(_tiff(tmp_path / "p.tif", LABELS.astype(np.complex64)), public)
    assert msg == f"case {CASE}: an instance map must hold integer labels, not complex64"


def test_labels_must_lie_in_0_to_2_pow_31_minus_1(tmp_path: Path, public: Path) -> None:
    """2**31 - 1 is the largest label (int32's maximum); 2**31 and -1 are refused; with both,
    the negative one is named."""
    top = LABELS.astype(np.uint32)
    top[2, 4] = MAX
    got = _check(_tiff(tmp_path / "p.tif", top), public)
    assert got.dtype == np.int64 and int(got[2, 4]) == MAX and int(got[0, 1]) == 1
    over = LABELS.astype(np.uint32)
    over[2, 4] = MAX + 1
    msg = _refused(_tiff(tmp_path / "p.tif", over), public)
    assert msg == f"case {CASE}: label 2.14748e+09 is outside 0..2147483647"
    # no background at all (labels 1..15) is fine; with 2**31 among them, 2**31 is named
    full = (LABELS + 1).astype(np.uint32)
    assert np.array_equal(_check(_tiff(tmp_path / "p.tif", full), public), LABELS + 1)
    full[2, 4] = MAX + 1
    msg = _refused(_tiff(tmp_path / "p.tif", full), public)
    assert msg == f"case {CASE}: label 2.14748e+09 is outside 0..2147483647"
    neg = LABELS.astype(np.int16)
    neg[1, 1] = -1
    assert (
        _refused(_tiff(tmp_path / "p.tif", neg), public) == f"case {CASE}: label -1 is outside 0..2147483647"
    )
    both = LABELS.astype(np.int64)
    both[0, 0], both[2, 4] = -3, MAX + 1
    assert (
        _refused(_tiff(tmp_path / "p.tif", both), public) == f"case {CASE}: label -3 is outside 0..2147483647"
    )
    fl = LABELS.astype(np.float64)
    fl[2, 4] = float(MAX)  # whole, in range: accepted
    got = _check(_tiff(tmp_path / "p.tif", fl), public)
    assert got.dtype == np.int64 and int(got[2, 4]) == MAX
    fl[2, 4] = float(MAX + 1)
    assert _refused(_tiff(tmp_path / "p.tif", fl), public) == (
        f"case {CASE}: label 2.14748e+09 is outside 0..2147483647"
    )


def test_unreadable_files_are_refused_with_the_reader_error(tmp_path: Path, public: Path) -> None:
    """A file neither PNG nor TIFF passes the header check (it has none) and fails in the
    decoder chosen by its name: a .png with Pillow, anything else with tifffile."""
    junk = tmp_path / "p.tiff"
    junk.write_bytes(b"not a tiff at all")
    assert _refused(junk, public) == f"case {CASE}: not a readable TIFF or PNG instance map (TiffFileError)"
    junk = tmp_path / "p.png"
    junk.write_bytes(b"not a png at all")
    assert _refused(junk, public) == (
        f"case {CASE}: not a readable TIFF or PNG instance map (UnidentifiedImageError)"
    )
    jpeg = tmp_path / "p.jpg"
    Image.fromarray(np.zeros((H, W), np.uint8)).save(jpeg, format="JPEG")
    assert _refused(jpeg, public) == f"case {CASE}: not a readable TIFF or PNG instance map (TiffFileError)"


# --- scores -----------------------------------------------------------------------------------

SH, SW = 12, 40  # the scored image: cells at rows 3-6, frame = rows 0-1, 10-11 and cols 0-1, 38-39
CELL_COLS = (3, 10, 17, 24, 31)  # five 4 x 5 = 20-pixel cells, labels 1..5
KEEP = (20, 17, 15, 13, 11)  # pixels of each cell the prediction keeps: IoU = k / 20


def _scored_pair() -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.int32]]:
    gt = np.zeros((SH, SW), np.uint16)
    pred = np.zeros((SH, SW), np.int32)
    for i, (c, k) in enumerate(zip(CELL_COLS, KEEP, strict=True)):
        gt[3:7, c : c + 5] = i + 1
        cell = np.zeros(20, np.int32)
        cell[:k] = 100 + 7 * i  # other label numbers than the truth's
        pred[3:7, c : c + 5] = cell.reshape(4, 5)
    gt[0:2, 0:3] = 9  # a boundary cell of the truth: dropped, never a miss
    pred[10:12, 36:40] = 3  # a boundary cell of the prediction: dropped, never a false positive
    return gt, pred


def _private(tmp_path: Path, case: str, gt: npt.NDArray[np.generic]) -> Path:
    priv = tmp_path / "private"
    (priv / "test" / "labels").mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(priv / "test" / "labels" / f"{case}_label.tiff", gt)
    return priv


def test_score_case_f1_at_each_threshold_by_hand(tmp_path: Path) -> None:
    """Five counted cells with IoU 20/20, 17/20 = 0.85, 15/20 = 0.75, 13/20 = 0.65, 11/20 = 0.55;
    n_true = n_pred = 5, so P = R = F1 = TP / 5 with TP = #(IoU >= t):
    t 0.5: 5/5 = 1.0, 0.6: 4/5 = 0.8, 0.7: 3/5 = 0.6, 0.8: 2/5 = 0.4, 0.9: 1/5 = 0.2."""
    gt, pred = _scored_pair()
    priv = _private(tmp_path, "c1", gt[None])  # stored with a leading singleton axis
    assert G.score_case("c1", pred, priv) == {
        "f1_0.5": 1.0,
        "f1_0.6": 0.8,
        "f1_0.7": 0.6,
        "f1_0.8": 0.4,
        "f1_0.9": 0.2,
    }


def test_score_case_perfect_empty_and_rounded(tmp_path: Path) -> None:
    gt, _ = _scored_pair()
    priv = _private(tmp_path, "c1", gt)
    assert G.score_case("c1", gt.astype(np.int64), priv) == dict.fromkeys(
        ("f1_0.5", "f1_0.6", "f1_0.7", "f1_0.8", "f1_0.9"), 1.0
    )
    # no predicted instance: TP = 0, so F1 = 0 (official rule)
    assert set(G.score_case("c1", np.zeros((SH, SW), np.uint8), priv).values()) == {0.0}
    # truth 2 counted cells, the prediction finds 1 exactly: P = 1, R = 1/2,
    # F1 = 2 * 1/2 / (3/2) = 2/3, rounded to 4 decimals: 0.6667
    two = np.zeros((SH, SW), np.uint16)
    two[3:7, 3:8], two[3:7, 20:25] = 1, 2
    priv = _private(tmp_path, "c2", two)
    one = np.where(two == 1, 5, 0).astype(np.uint8)
    assert set(G.score_case("c2", one, priv).values()) == {0.6667}


def test_the_challenge_takes_the_mean_of_the_rounded_per_image_f1(tmp_path: Path) -> None:
    """challenge.yaml aggregates each f1_t as the mean over images of score_case's values:
    images (1.0, 0.8, 0.6, 0.4, 0.2) and 0.6667 everywhere give (x + 0.6667) / 2."""
    gt, pred = _scored_pair()
    priv = _private(tmp_path, "c1", gt)
    two = np.zeros((SH, SW), np.uint16)
    two[3:7, 3:8], two[3:7, 20:25] = 1, 2
    _private(tmp_path, "c2", two)
    rows = [
        G.score_case("c1", pred, priv),
        G.score_case("c2", np.where(two == 2, 1, 0).astype(np.uint8), priv),
    ]
    metrics = grading.aggregate(challenge.get("neurips-cellseg").spec.metrics, rows, {})
    assert metrics == pytest.approx(
        {
            "f1_0.5": (1.0 + 0.6667) / 2,
            "f1_0.6": (0.8 + 0.6667) / 2,
            "f1_0.7": (0.6 + 0.6667) / 2,
            "f1_0.8": (0.4 + 0.6667) / 2,
            "f1_0.9": (0.2 + 0.6667) / 2,
        },
        abs=1e-12,
    )
