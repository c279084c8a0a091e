"""A corpus of hostile submissions, graded end to end through ``rexmle.grading.grade`` in fresh
processes, on each challenge's synthetic data.

Each hostile file is built here, in memory (a few MB at most on disk; gigabytes once decoded
naively): NIfTI header-extension and gzip bombs, MetaImage/NRRD headers that point their data at
the private ground truth or /dev/zero, a 200,000-page TIFF, deflate/LZMA strip bombs, PNG chunk
floods, deeply nested or huge JSON, and CSVs that are FIFOs, symlinks, 8 million rows or NUL
bytes. For every one: the submission is invalid, the reason is one line naming the case (not a
dead or timed-out grading worker: the checks before decoding must catch it), no traceback, the
grading process took under ``WALL_S`` seconds and peaked under a valid submission's peak
(measured the same way) + ``MEMORY_MARGIN``.

Bombs are graded alone in a fresh process (peak RSS of that process and its grading workers, by
``os.wait4``); cheap malformed files of a challenge share one process (its peak bounds each).
Set ``REXMLE_ADVERSARIAL_LOG`` to a file to get one JSON line of numbers per case.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from adversarial import hostile as H
from PIL import Image

from rexmle import challenge, data

pytestmark = pytest.mark.adversarial

RUNNER = Path(__file__).with_name("grade_one.py")
WALL_S = 30.0
MEMORY_MARGIN_MIB = 1024
KILL_AFTER_S = 90.0


# --- grading in a fresh process, measured ----------------------------------------------------------


@dataclass
class Outcome:
    results: list[dict[str, Any]]
    stderr: str
    wall_s: float
    peak_mib: float
    rc: int


class Meter:
    """The small process (measure.py) that starts each grading process and reports its wall
    time and peak RSS: a child of pytest itself would start with pytest's memory counted."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-S", str(Path(__file__).with_name("measure.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def grade(self, cid: str, root: Path, subs: list[Path]) -> Outcome:
        """Grade ``subs`` in one new interpreter (grade_one.py)."""
        assert self.proc.stdin and self.proc.stdout
        with tempfile.TemporaryDirectory() as tmp:
            req = {
                "argv": [sys.executable, str(RUNNER), cid, str(root), *map(str, subs)],
                "stdout": f"{tmp}/out",
                "stderr": f"{tmp}/err",
                "timeout": KILL_AFTER_S,
            }
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            answer = json.loads(self.proc.stdout.readline())
            out = Path(req["stdout"]).read_text()
            err = Path(req["stderr"]).read_text(errors="replace")
        results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return Outcome(results, err, answer["wall_s"], answer["peak_mib"], answer["rc"])

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="session")
def meter() -> Iterator[Meter]:
    m = Meter()
    yield m
    m.close()


# --- data, baselines ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    home = tmp_path_factory.mktemp("adversarial-home")
    cache: dict[str, Path] = {}

    def get(cid: str) -> Path:
        if cid not in cache:
            cache[cid] = data.prepare(challenge.get(cid), synthetic=True, home=home)
        return cache[cid]

    return get


def copy_sample(root: Path, dst: Path) -> Path:
    shutil.copytree(root / "public" / "sample_submission", dst)
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


@pytest.fixture(scope="session")
def baselines(
    roots: Callable[[str], Path], meter: Meter, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], float]:
    """Peak MiB of grading each challenge's (valid) sample submission, measured like the rest."""
    cache: dict[str, float] = {}

    def get(cid: str) -> float:
        if cid not in cache:
            root = roots(cid)
            sub = copy_sample(root, tmp_path_factory.mktemp("valid") / "sub")
            o = meter.grade(cid, root, [sub])
            assert o.rc == 0 and o.results and o.results[0]["valid"], (o.results, o.stderr[-2000:])
            cache[cid] = o.peak_mib
            _log(
                {
                    "name": "valid-sample",
                    "cid": cid,
                    "wall_s": round(o.wall_s, 2),
                    "peak_mib": round(o.peak_mib),
                }
            )
        return cache[cid]

    return get


def _log(record: dict[str, Any]) -> None:
    path = os.environ.get("REXMLE_ADVERSARIAL_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")


# --- the corpus ------------------------------------------------------------------------------------


@dataclass
class Target:
    """The case a hostile file replaces: its id and prediction file in a copy of the sample."""

    sub: Path
    root: Path
    case_id: str
    path: Path
    column: str

    def rename(self, name: str) -> Path:
        """Point the case's row at ``predictions/<name>`` instead (another suffix)."""
        rows = read_rows(self.sub)
        for row in rows:
            if row[next(iter(row))] == self.case_id:
                row[self.column] = f"predictions/{name}"
        write_rows(self.sub, rows)
        self.path.unlink(missing_ok=True)
        self.path = self.sub / "predictions" / name
        return self.path


def read_rows(sub: Path) -> list[dict[str, str]]:
    with (sub / "submission.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def write_rows(sub: Path, rows: list[dict[str, str]]) -> None:
    with (sub / "submission.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def target(sub: Path, root: Path, case_id: str | None) -> Target:
    rows = read_rows(sub)
    id_col = next(iter(rows[0]))
    row = rows[0] if case_id is None else next(r for r in rows if r[id_col] == case_id)
    file_cols = [c for c in row if c.endswith("_path") or c == "predictions_json"]
    column = file_cols[0] if file_cols else ""
    return Target(sub, root, row[id_col], sub / row[column] if column else sub, column)


@dataclass(frozen=True)
class Hostile:
    name: str
    cid: str
    build: Callable[[Target], None]
    expect: str  # a substring of the reason
    case: str | None  # the case to corrupt (None: the first); the reason must name it
    names_case: bool  # False: a submission.csv-level reason (no case to name)
    fresh: bool  # a bomb: graded alone in a fresh process


HOSTILE: list[Hostile] = []


def hostile(
    cid: str, expect: str, *, case: str | None = None, names_case: bool = True, fresh: bool = True
) -> Callable[[Callable[[Target], None]], Callable[[Target], None]]:
    def register(fn: Callable[[Target], None]) -> Callable[[Target], None]:
        HOSTILE.append(Hostile(fn.__name__, cid, fn, expect, case, names_case, fresh))
        return fn

    return register


def _raw_nifti(t: Target) -> bytes:
    return gzip.decompress(t.path.read_bytes())


# NIfTI through nibabel (ISLES'22) -------------------------------------------------------------------
ISLES = "isles22"


@hostile(ISLES, "vox_offset 17179869184 is outside")
def isles_reported_extension_bomb(t: Target) -> None:
    t.path.write_bytes(H.nifti_extension_bomb(_raw_nifti(t), chunks=100))  # 6.5 MB -> 6.4 GB


@hostile(ISLES, "extension of 1073741824 bytes does not fit")
def isles_extension_claims_a_gib(t: Target) -> None:
    raw = _raw_nifti(t)
    hdr = H.patch_nifti1(raw, vox_offset=352.0 + 4096)
    ext = struct.pack("<2i", 2**30, 0) + bytes(4088)
    t.path.write_bytes(gzip.compress(hdr + b"\x01\x00\x00\x00" + ext + raw[352:], mtime=0) + H.gzip_zeros(8))


@hostile(ISLES, "decompresses to more than")
def isles_gzip_bomb_after_the_voxels(t: Target) -> None:
    t.path.write_bytes(t.path.read_bytes() + H.gzip_zeros(15))  # under the compressed-size cap: streamed


@hostile(ISLES, "larger than its")
def isles_gzip_bomb_6gb(t: Target) -> None:
    t.path.write_bytes(t.path.read_bytes() + H.gzip_zeros(100))


@hostile(ISLES, "differs from the test image")
def isles_dims_32767_cubed(t: Target) -> None:
    raw = _raw_nifti(t)
    t.path.write_bytes(
        gzip.compress(H.patch_nifti1(raw, dim=(3, 32767, 32767, 32767, 1, 1, 1, 1)) + raw[348:])
    )


@hostile(ISLES, "invalid size", fresh=False)
def isles_negative_dim(t: Target) -> None:
    raw = _raw_nifti(t)
    t.path.write_bytes(gzip.compress(H.patch_nifti1(raw, dim=(3, 10, -5, 10, 1, 1, 1, 1)) + raw[348:]))


@hostile(ISLES, "dim[0] = 0", fresh=False)
def isles_zero_dimensions(t: Target) -> None:
    raw = _raw_nifti(t)
    t.path.write_bytes(gzip.compress(H.patch_nifti1(raw, dim=(0, 1, 1, 1, 1, 1, 1, 1)) + raw[348:]))


@hostile(ISLES, "datatype 1792 is not a supported", fresh=False)
def isles_complex128(t: Target) -> None:
    raw = _raw_nifti(t)
    t.path.write_bytes(gzip.compress(H.patch_nifti1(raw, datatype=1792, bitpix=128) + raw[348:]))


@hostile(ISLES, "bitpix 64 does not match", fresh=False)
def isles_bitpix_lies(t: Target) -> None:
    raw = _raw_nifti(t)
    t.path.write_bytes(gzip.compress(H.patch_nifti1(raw, datatype=2, bitpix=64) + raw[348:]))


@hostile(ISLES, "header/image pair", fresh=False)
def isles_hdr_img_pair_magic(t: Target) -> None:
    raw = _raw_nifti(t)
    t.path.write_bytes(gzip.compress(H.patch_nifti1(raw, magic=b"ni1\x00") + raw[348:]))


@hostile(ISLES, "not a whole number", fresh=False)
def isles_vox_offset_nan(t: Target) -> None:
    raw = _raw_nifti(t)
    t.path.write_bytes(gzip.compress(H.patch_nifti1(raw, vox_offset=float("nan")) + raw[348:]))


@hostile(ISLES, "differs from the test image")
def isles_nifti2_2_to_the_60_voxels(t: Target) -> None:
    t.path.write_bytes(gzip.compress(H.nifti2_header((2**20, 2**20, 2**20)) + bytes(4) + H.gzip_zeros(1)))


@hostile(ISLES, "NIfTI data is truncated", fresh=False)
def isles_truncated_voxels(t: Target) -> None:
    t.path.write_bytes(gzip.compress(_raw_nifti(t)[:-500], mtime=0))


@hostile(ISLES, "not gzip", fresh=False)
def isles_trailing_garbage(t: Target) -> None:
    t.path.write_bytes(t.path.read_bytes() + b"PK\x03\x04 a zip appended")


@hostile(ISLES, "bytes after the image data")
def isles_uncompressed_with_4gib_sparse_tail(t: Target) -> None:
    raw = _raw_nifti(t)
    path = t.rename(t.path.name.replace(".nii.gz", ".nii"))
    with path.open("wb") as f:
        f.write(raw)
        f.truncate(len(raw) + 4 * 2**30)  # sparse: no disk space, 4 GiB to read


@hostile(ISLES, "not a readable NIfTI file", fresh=False)
def isles_random_bytes(t: Target) -> None:
    t.path.write_bytes(os.urandom(4096))


# NIfTI through SimpleITK (TopCoW, TopBrain) -----------------------------------------------------------
TOPCOW_SEG, TOPBRAIN = "topcow-track1-task1", "topbrain-track1"


@hostile(TOPCOW_SEG, "vox_offset 17179869184 is outside")
def topcow_reported_extension_bomb(t: Target) -> None:
    t.path.write_bytes(H.nifti_extension_bomb(_raw_nifti(t), chunks=100))


@hostile(TOPCOW_SEG, "decompresses to more than")
def topcow_gzip_bomb_after_the_voxels(t: Target) -> None:
    t.path.write_bytes(t.path.read_bytes() + H.gzip_zeros(15))


@hostile(TOPCOW_SEG, "differs from the test image", fresh=False)
def topcow_dims_32767_cubed(t: Target) -> None:
    raw = _raw_nifti(t)
    t.path.write_bytes(
        gzip.compress(H.patch_nifti1(raw, dim=(3, 32767, 32767, 32767, 1, 1, 1, 1)) + raw[348:])
    )


@hostile(TOPBRAIN, "differs from the test image")
def topbrain_4d_of_30000_volumes(t: Target) -> None:
    raw = _raw_nifti(t)
    dim = struct.unpack("<8h", raw[40:56])
    hdr = H.patch_nifti1(raw, dim=(4, *dim[1:4], 30000, 1, 1, 1))
    t.path.write_bytes(gzip.compress(hdr + raw[348:]) + H.gzip_zeros(2))


@hostile(TOPBRAIN, "vox_offset 17179869184 is outside")
def topbrain_reported_extension_bomb(t: Target) -> None:
    t.path.write_bytes(H.nifti_extension_bomb(_raw_nifti(t), chunks=30))


# MetaImage (PANTHER) ----------------------------------------------------------------------------------
PANTHER = "panther-task1"


def _mha_shape(t: Target) -> tuple[int, ...]:
    head = t.path.read_bytes()[:2000].decode("latin-1")
    line = next(x for x in head.splitlines() if x.startswith("DimSize"))
    return tuple(int(v) for v in line.split("=")[1].split())


@hostile(PANTHER, "ElementDataFile = LOCAL", fresh=False)
def panther_data_read_from_the_private_ground_truth(t: Target) -> None:
    gt = t.root / "private" / "test" / "labels" / f"{t.case_id}.mha"
    t.path.write_bytes(H.metaimage(_mha_shape(t), data_file=str(gt)))


@hostile(PANTHER, "ElementDataFile = LOCAL", fresh=False)
def panther_data_from_dev_zero(t: Target) -> None:
    t.path.write_bytes(H.metaimage(_mha_shape(t), data_file="/dev/zero"))


@hostile(PANTHER, "ElementDataFile = LOCAL", fresh=False)
def panther_lowercase_local_line_then_the_real_one(t: Target) -> None:
    """MetaIO's keys are case-sensitive: "elementdatafile = LOCAL" is an unknown field to it, and
    the next line sends it to the private ground truth; a case-blind check would stop early."""
    shape = _mha_shape(t)
    gt = t.root / "private" / "test" / "labels" / f"{t.case_id}.mha"
    blob = H.metaimage(shape).replace(b"ElementDataFile", b"elementdatafile")
    tail = f"ElementDataFile = {gt}\n".encode()
    t.path.write_bytes(blob + tail + bytes(max(0, shape[0] * shape[1] * shape[2] - len(tail))))


@hostile(PANTHER, "differs from the test image", fresh=False)
def panther_dimsize_10_to_the_15(t: Target) -> None:
    t.path.write_bytes(H.metaimage((100000, 100000, 100000), b"\x00" * 64))


@hostile(PANTHER, "decompresses to more than")
def panther_zlib_bomb_768mib(t: Target) -> None:
    t.path.write_bytes(H.metaimage(_mha_shape(t), H.zlib_zeros(12), compressed=True))


@hostile(PANTHER, "is more than the file holds", fresh=False)
def panther_compressed_data_size_a_petabyte(t: Target) -> None:
    blob = H.zlib_zeros(1)
    t.path.write_bytes(
        H.metaimage(_mha_shape(t), blob, compressed=True, fields=[("CompressedDataSize", str(10**15))])
    )


@hostile(PANTHER, "BinaryData = True", fresh=False)
def panther_ascii_data(t: Target) -> None:
    shape = _mha_shape(t)
    blob = H.metaimage(shape, b"0 " * (shape[0] * shape[1] * shape[2]))
    t.path.write_bytes(blob.replace(b"BinaryData = True", b"BinaryData = False"))


@hostile(PANTHER, "no ElementDataFile line", fresh=False)
def panther_header_without_end(t: Target) -> None:
    t.path.write_bytes(b"ObjectType = Image\n" + b"".join(b"Key%d = v\n" % k for k in range(200_000)))


@hostile(PANTHER, "ElementNumberOfChannels must be 1-16", fresh=False)
def panther_a_million_channels(t: Target) -> None:
    t.path.write_bytes(H.metaimage(_mha_shape(t), fields=[("ElementNumberOfChannels", "1000000")]))


@hostile(PANTHER, "repeats DimSize", fresh=False)
def panther_two_dimsizes(t: Target) -> None:
    t.path.write_bytes(H.metaimage(_mha_shape(t), bytes(64), fields=[("DimSize", "4 4 4")]))


@hostile(PANTHER, "data is truncated", fresh=False)
def panther_truncated(t: Target) -> None:
    t.path.write_bytes(H.metaimage(_mha_shape(t), bytes(100)))


# NRRD (SEG.A) -------------------------------------------------------------------------------------------
SEGA = "seg_a"


def _nrrd_shape(t: Target) -> tuple[int, ...]:
    head = t.path.read_bytes()[:2000].decode("latin-1")
    line = next(x for x in head.splitlines() if x.startswith("sizes:"))
    return tuple(int(v) for v in line.split(":")[1].split())


@hostile(SEGA, "no 'data file' field", fresh=False)
def sega_data_read_from_the_private_ground_truth(t: Target) -> None:
    gt = t.root / "private" / "test" / "labels" / f"{t.case_id}.seg.nrrd"
    t.path.write_bytes(H.nrrd(_nrrd_shape(t), fields=[("data file", str(gt))]))


@hostile(SEGA, "no 'data file' field", fresh=False)
def sega_data_from_dev_zero(t: Target) -> None:
    t.path.write_bytes(H.nrrd(_nrrd_shape(t), fields=[("datafile", "/dev/zero")]))


@hostile(SEGA, "differs from the test image", fresh=False)
def sega_sizes_4000_cubed(t: Target) -> None:
    t.path.write_bytes(H.nrrd((4000, 4000, 4000), bytes(64)))


@hostile(SEGA, "decompresses to more than")
def sega_gzip_bomb(t: Target) -> None:
    t.path.write_bytes(H.nrrd(_nrrd_shape(t), H.gzip_zeros(15), encoding="gzip"))


@hostile(SEGA, "encoding 'ascii' is not accepted", fresh=False)
def sega_ascii_encoding(t: Target) -> None:
    t.path.write_bytes(H.nrrd(_nrrd_shape(t), b"0 " * 2_000_000, encoding="ascii"))


@hostile(SEGA, "encoding 'bzip2'", fresh=False)
def sega_bzip2_encoding(t: Target) -> None:
    t.path.write_bytes(H.nrrd(_nrrd_shape(t), b"BZh9", encoding="bzip2"))


@hostile(SEGA, "'byteskip' is not accepted", fresh=False)
def sega_byte_skip_from_the_end(t: Target) -> None:
    s = _nrrd_shape(t)
    t.path.write_bytes(H.nrrd(s, bytes(s[0] * s[1] * s[2]), fields=[("byte skip", "-1")]))


@hostile(SEGA, "longer than 1 MiB", fresh=False)
def sega_header_without_end(t: Target) -> None:
    t.path.write_bytes(b"NRRD0004\ntype: uchar\n" + b"# comment\n" * 200_000)


@hostile(SEGA, "bytes after the image data")
def sega_raw_with_4gib_sparse_tail(t: Target) -> None:
    s = _nrrd_shape(t)
    blob = H.nrrd(s, bytes(s[0] * s[1] * s[2]))
    with t.path.open("wb") as f:
        f.write(blob)
        f.truncate(len(blob) + 4 * 2**30)


# TIFF / PNG through tifffile and Pillow (NeurIPS Cell Seg) -----------------------------------------------
CELL, CELL_CASE, CELL_HW = "neurips-cellseg", "cell_00013", (209, 221)


@hostile(CELL, "more than 16 pages", case=CELL_CASE)
def cellseg_reported_200000_pages(t: Target) -> None:
    h, w = CELL_HW
    t.path.write_bytes(H.many_pages_tiff(200_000, w, h))  # ~23 MB: tifffile's series took minutes


@hostile(CELL, "more than 16 pages", case=CELL_CASE)
def cellseg_bigtiff_100000_pages(t: Target) -> None:
    h, w = CELL_HW
    t.path.write_bytes(H.many_pages_tiff(100_000, w, h, big=True))


@hostile(CELL, "loop", case=CELL_CASE, fresh=False)
def cellseg_page_loop(t: Target) -> None:
    h, w = CELL_HW
    one = bytearray(H.many_pages_tiff(1, w, h))
    one[-4:] = one[4:8]  # the page's next page is itself
    t.path.write_bytes(bytes(one))


@hostile(CELL, "deflate strip inflates to more than", case=CELL_CASE)
def cellseg_deflate_strip_bomb_2gib(t: Target) -> None:
    h, w = CELL_HW
    bomb = H.zlib_zeros(32)  # ~2 MB; tifffile without imagecodecs calls zlib.decompress on it
    t.path.write_bytes(H.tiff([(H.page_entries(w, h, 0, len(bomb), compression=8), bomb)]))


@hostile(CELL, "lzma strip inflates to more than", case=CELL_CASE)
def cellseg_lzma_strip_bomb_1gib(t: Target) -> None:
    h, w = CELL_HW
    bomb = H.lzma_zeros(64)
    t.path.write_bytes(H.tiff([(H.page_entries(w, h, 0, len(bomb), compression=34925), bomb)]))


@hostile(CELL, "far larger than the test image", case=CELL_CASE, fresh=False)
def cellseg_tiff_2_to_the_31_squared(t: Target) -> None:
    t.path.write_bytes(H.tiff([(H.page_entries(2**31, 2**31, 0, 16), bytes(16))]))


@hostile(CELL, "outside the file", case=CELL_CASE, fresh=False)
def cellseg_strip_past_the_end(t: Target) -> None:
    h, w = CELL_HW
    t.path.write_bytes(H.tiff([(H.page_entries(w, h, 0, 2**31), bytes(16))]))


@hostile(CELL, "tag 270 holds 1024 MiB", case=CELL_CASE, fresh=False)
def cellseg_gib_image_description(t: Target) -> None:
    h, w = CELL_HW
    entries = [*H.page_entries(w, h, 0, w * h), (270, 2, b"x" * 20)]
    blob = bytearray(H.tiff([(entries, bytes(w * h))]))
    at = blob.index(struct.pack("<HHI", 270, 2, 20))
    struct.pack_into("<I", blob, at + 4, 2**30)
    t.path.write_bytes(bytes(blob))


@hostile(CELL, "tags (at most 4096)", case=CELL_CASE, fresh=False)
def cellseg_60000_tags(t: Target) -> None:
    h, w = CELL_HW
    blob = bytearray(H.tiff([(H.page_entries(w, h, 0, w * h), bytes(w * h))]))
    ifd = struct.unpack("<I", blob[4:8])[0]
    struct.pack_into("<H", blob, ifd, 60000)
    t.path.write_bytes(bytes(blob) + bytes(60000 * 12))


@hostile(CELL, "compression 7 is not supported", case=CELL_CASE, fresh=False)
def cellseg_jpeg_compressed(t: Target) -> None:
    h, w = CELL_HW
    t.path.write_bytes(H.tiff([(H.page_entries(w, h, 0, 100, compression=7), bytes(100))]))


@hostile(CELL, "PackBits strip is longer", case=CELL_CASE, fresh=False)
def cellseg_packbits_strip_of_20mb(t: Target) -> None:
    h, w = CELL_HW
    strip = b"\x00\x00" * 10_000_000  # literal runs: pure-Python PackBits decoding, 20 MB of it
    t.path.write_bytes(H.tiff([(H.page_entries(w, h, 0, len(strip), compression=32773), strip)]))


@hostile(CELL, "sub-images", case=CELL_CASE, fresh=False)
def cellseg_100000_subifds(t: Target) -> None:
    h, w = CELL_HW
    entries = [*H.page_entries(w, h, 0, w * h), (330, 4, [8] * 100_000)]
    t.path.write_bytes(H.tiff([(entries, bytes(w * h))]))


@hostile(CELL, "image is 100000 x 100000 pixels", case=CELL_CASE, fresh=False)
def cellseg_png_claiming_10_gigapixels(t: Target) -> None:
    t.rename(f"{CELL_CASE}.png").write_bytes(H.png(100_000, 100_000, idat=b"x"))


@hostile(CELL, "chunks", case=CELL_CASE)
def cellseg_png_million_chunks(t: Target) -> None:
    h, w = CELL_HW
    flood = [H.chunk(b"tEXt", b"k\x00v")] * 1_000_000
    t.rename(f"{CELL_CASE}.png").write_bytes(H.png(w, h, before=flood))


# PUMA: tissue masks through Pillow, nuclei JSON ---------------------------------------------------------
PUMA_T, PUMA_N = "puma-track1-task1", "puma-track1-task2"


@hostile(PUMA_T, "image is 65535 x 65535 pixels", fresh=False)
def puma_png_claiming_4_gigapixels(t: Target) -> None:
    t.rename(f"{t.case_id}.png").write_bytes(H.png(65535, 65535, idat=b"x"))


@hostile(PUMA_T, "more than 16 pages")
def puma_tiff_200000_pages(t: Target) -> None:
    t.path.write_bytes(H.many_pages_tiff(200_000, 64, 64))


@hostile(PUMA_T, "cannot read the mask", fresh=False)  # Pillow's own bomb check answers first
def puma_jpeg_claiming_4_gigapixels(t: Target) -> None:
    t.rename(f"{t.case_id}.png").write_bytes(H.jpeg_claiming(65000, 65000))


@hostile(PUMA_T, "cannot read the mask", fresh=False)
def puma_png_ztxt_bomb(t: Target) -> None:
    ztxt = H.chunk(b"zTXt", b"k\x00\x00" + H.zlib_zeros(16))  # 1 GiB of text
    t.rename(f"{t.case_id}.png").write_bytes(H.png(1024, 1024, before=[ztxt]))


@hostile(PUMA_N, "nested too deeply")
def puma_nuclei_nested_100000_deep(t: Target) -> None:
    t.path.write_bytes(b'{"polygons": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")


@hostile(PUMA_N, "JSON arrays and objects")
def puma_nuclei_60mb_of_points(t: Target) -> None:
    pts = b"[0,0]," * 10_000_000
    t.path.write_bytes(b'{"polygons": [{"name": "nuclei_tumor", "path_points": [' + pts + b"[0,0]]}]}")


@hostile(PUMA_N, "JSON values")
def puma_nuclei_8_million_numbers(t: Target) -> None:
    t.path.write_bytes(b'{"polygons": [' + b"0.5," * 9_000_000 + b"0]}")


@hostile(PUMA_N, "larger than 64 MiB")
def puma_nuclei_65mib(t: Target) -> None:
    t.path.write_bytes(b'{"polygons": []}' + b" " * (65 * 2**20))


@hostile(PUMA_N, "integer of 100000 digits", fresh=False)
def puma_nuclei_100000_digit_integer(t: Target) -> None:
    t.path.write_bytes(b'{"polygons": [{"name": "x", "path_points": [[' + b"9" * 100_000 + b", 0]]}]}")


@hostile(PUMA_N, "not UTF-8", fresh=False)
def puma_nuclei_utf16(t: Target) -> None:
    t.path.write_bytes(json.dumps({"polygons": []}).encode("utf-16"))


# DENTEX --------------------------------------------------------------------------------------------------
DENTEX = "dentex"
GOOD = {"bbox": [1, 2, 3, 4], "category_id_1": 0, "category_id_2": 0, "category_id_3": 0, "score": 0.5}


@hostile(DENTEX, "nested too deeply", fresh=False)
def dentex_nested_200000_deep(t: Target) -> None:
    t.path.write_bytes(b"[" * 200_000 + b"]" * 200_000)


@hostile(DENTEX, "larger than 8 MiB", fresh=False)
def dentex_9mib(t: Target) -> None:
    t.path.write_bytes(b"[" + b" " * (9 * 2**20) + b"]")


@hostile(DENTEX, "integer of 30 digits", fresh=False)
def dentex_30_digit_category(t: Target) -> None:
    t.path.write_text(json.dumps([GOOD]).replace('"category_id_1": 0', '"category_id_1": ' + "7" * 30))


@hostile(DENTEX, "score must be a finite number, got inf", fresh=False)
def dentex_score_1e999(t: Target) -> None:
    t.path.write_text(json.dumps([GOOD]).replace('"score": 0.5', '"score": 1e999'))


@hostile(DENTEX, "bbox must be 4 finite numbers", fresh=False)
def dentex_nan_bbox(t: Target) -> None:
    t.path.write_text(json.dumps([GOOD]).replace("[1, 2, 3, 4]", "[NaN, 2, 3, 4]"))


@hostile(DENTEX, "detections (at most 10000 per image)", fresh=False)
def dentex_250000_detections(t: Target) -> None:
    t.path.write_bytes(b"[" + b"{}," * 250_000 + b"{}]")


@hostile(DENTEX, "JSON arrays and objects", fresh=False)
def dentex_2_million_arrays(t: Target) -> None:
    t.path.write_bytes(b"[" + b"[]," * 2_000_000 + b"[]]")


# TopCoW boxes and edge lists: JSON, YAML, text ------------------------------------------------------------
TOPCOW_BOX, TOPCOW_EDGES = "topcow-track1-task2", "topcow-track1-task3"


@hostile(TOPCOW_BOX, "larger than 0.0625 MiB", fresh=False)
def topcow_box_1mib(t: Target) -> None:
    t.path.write_bytes(b'{"size": [1, 1, 1], "location": [0, 0, 0]}' + b" " * 2**20)


@hostile(TOPCOW_BOX, "integer of 40 digits", fresh=False)
def topcow_box_40_digit_size(t: Target) -> None:
    t.path.write_text('{"size": [' + "9" * 40 + ', 1, 1], "location": [0, 0, 0]}')


@hostile(TOPCOW_BOX, "nested too deeply", fresh=False)
def topcow_box_nested(t: Target) -> None:
    t.path.write_bytes(b"[" * 1500 + b"]" * 1500)


@hostile(TOPCOW_BOX, "three integers each", fresh=False)
def topcow_box_txt_with_a_60000_digit_size(t: Target) -> None:
    text = "Spacing: 1 1 1\nSize: " + "9" * 60_000 + " 1 1\nLocation: 0 0 0\n"
    t.rename(f"{t.case_id}_bbox.txt").write_text(text)


@hostile(TOPCOW_EDGES, "not valid YAML", fresh=False)
def topcow_edges_yaml_nested(t: Target) -> None:
    t.rename(f"{t.case_id}_edges.yml").write_text("[" * 30_000 + "]" * 30_000)


@hostile(TOPCOW_EDGES, "not valid YAML", fresh=False)
def topcow_edges_yaml_python_object(t: Target) -> None:
    t.rename(f"{t.case_id}_edges.yml").write_text("anterior: !!python/object/apply:os.system ['true']\n")


@hostile(TOPCOW_EDGES, "not valid YAML", fresh=False)
def topcow_edges_yaml_60000_digit_integer(t: Target) -> None:
    t.rename(f"{t.case_id}_edges.yml").write_text("anterior: " + "9" * 60_000 + "\n")


@hostile(TOPCOW_EDGES, "anterior must have exactly the edges", fresh=False)
def topcow_edges_yaml_billion_laughs(t: Target) -> None:
    lines = ["anterior:", '  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"  a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 9)}]" for k in range(1, 10)]
    lines += ["posterior: *a9"]  # 9**10 "lol"s if anything expanded the aliases
    t.rename(f"{t.case_id}_edges.yml").write_text("\n".join(lines) + "\n")


@hostile(TOPCOW_EDGES, "larger than 0.0625 MiB", fresh=False)
def topcow_edges_yaml_1mib(t: Target) -> None:
    t.rename(f"{t.case_id}_edges.yml").write_text("# padding\n" * 100_000)


# USenhance, RAVIR: PNG through Pillow ----------------------------------------------------------------------
US, RAVIR = "usenhance", "ravir"


def _test_size(t: Target) -> tuple[int, int]:
    """The test input's (width, height)."""
    with Image.open(t.root / "public" / "test" / "low_quality" / f"{t.case_id}.png") as im:
        return im.size


@hostile(US, "image is 100000 x 100000 pixels", fresh=False)
def usenhance_png_claiming_10_gigapixels(t: Target) -> None:
    t.path.write_bytes(H.png(100_000, 100_000, idat=b"x"))


@hostile(US, "not a readable PNG (ValueError)", fresh=False)
def usenhance_png_ztxt_bomb(t: Target) -> None:
    ztxt = H.chunk(b"zTXt", b"k\x00\x00" + H.zlib_zeros(16))
    t.path.write_bytes(H.png(*_test_size(t), before=[ztxt]))


@hostile(US, "chunks")
def usenhance_png_million_chunks(t: Target) -> None:
    t.path.write_bytes(H.png(*_test_size(t), after=[H.chunk(b"IDAT", b"")] * 1_000_000))


@hostile(US, "far larger than its")
def usenhance_png_idat_of_40mb(t: Target) -> None:
    t.path.write_bytes(H.png(*_test_size(t), idat=H.zlib_zeros(1) + bytes(40 * 2**20)))


@hostile(RAVIR, "image is 65535 x 65535 pixels", fresh=False)
def ravir_png_claiming_4_gigapixels(t: Target) -> None:
    t.path.write_bytes(H.png(65535, 65535, idat=b"x"))


@hostile(RAVIR, "more than 16 pages")
def ravir_tiff_200000_pages_named_png(t: Target) -> None:
    t.path.write_bytes(H.many_pages_tiff(200_000, 64, 64))


@hostile(RAVIR, "chunks", fresh=False)
def ravir_png_chunk_flood(t: Target) -> None:
    t.path.write_bytes(H.png(128, 128, before=[H.chunk(b"zzZz", b"")] * 100_000))


# CSV: values (LDCT-IQA) and file paths (USenhance) ---------------------------------------------------------
LDCT = "ldct-iqa"


@hostile(LDCT, "far more rows", names_case=False)
def ldct_8_million_rows_under_16mib(t: Target) -> None:
    (t.sub / "submission.csv").write_bytes(b"image_id,quality_score\n" + b"x\n" * 8_000_000)


@hostile(LDCT, "larger than 16 MiB", names_case=False, fresh=False)
def ldct_17mib_csv(t: Target) -> None:
    (t.sub / "submission.csv").write_bytes(b"image_id,quality_score\n" + b" " * (17 * 2**20))


@hostile(LDCT, "not a finite number", fresh=False)
def ldct_100000_digit_score(t: Target) -> None:
    rows = read_rows(t.sub)
    rows[0]["quality_score"] = "9" * 100_000
    write_rows(t.sub, rows)


@hostile(LDCT, "not a finite number", fresh=False)
def ldct_nan_score(t: Target) -> None:
    rows = read_rows(t.sub)
    rows[0]["quality_score"] = "nan"
    write_rows(t.sub, rows)


@hostile(LDCT, "submission.csv", names_case=False, fresh=False)
def ldct_nul_bytes(t: Target) -> None:
    text = (t.sub / "submission.csv").read_bytes()
    (t.sub / "submission.csv").write_bytes(text.replace(b",", b"\x00,", 3))


@hostile(LDCT, "not UTF-8", names_case=False, fresh=False)
def ldct_utf16_with_bom(t: Target) -> None:
    (t.sub / "submission.csv").write_bytes((t.sub / "submission.csv").read_text().encode("utf-16"))


@hostile(LDCT, "repeats a column name", names_case=False, fresh=False)
def ldct_duplicated_column(t: Target) -> None:
    lines = (t.sub / "submission.csv").read_text().splitlines()
    (t.sub / "submission.csv").write_text("\n".join(line + "," + line.split(",")[1] for line in lines) + "\n")


@hostile(LDCT, "unexpected column", names_case=False, fresh=False)
def ldct_extra_column(t: Target) -> None:
    lines = (t.sub / "submission.csv").read_text().splitlines()
    (t.sub / "submission.csv").write_text(
        "\n".join([lines[0] + ",notes"] + [x + ",hi" for x in lines[1:]]) + "\n"
    )


@hostile(LDCT, "not a regular file", names_case=False, fresh=False)
def ldct_csv_is_a_fifo(t: Target) -> None:
    (t.sub / "submission.csv").unlink()
    os.mkfifo(t.sub / "submission.csv")


@hostile(LDCT, "leaves the submission folder", names_case=False, fresh=False)
def ldct_csv_is_dev_zero(t: Target) -> None:
    (t.sub / "submission.csv").unlink()
    os.symlink("/dev/zero", t.sub / "submission.csv")


def _point_at(t: Target, rel: str) -> None:
    rows = read_rows(t.sub)
    rows[0][t.column] = rel
    write_rows(t.sub, rows)


@hostile(US, "leaves the submission folder", fresh=False)
def usenhance_path_traversal_to_the_ground_truth(t: Target) -> None:
    _point_at(t, f"../../../../{t.root.name}/private/test/high_quality/{t.case_id}.png")


@hostile(US, "symlink", fresh=False)
def usenhance_symlink_to_the_ground_truth(t: Target) -> None:
    t.path.unlink()
    os.symlink(t.root / "private" / "test" / "high_quality" / f"{t.case_id}.png", t.path)


@hostile(US, "not a regular file", fresh=False)
def usenhance_prediction_is_a_fifo(t: Target) -> None:
    t.path.unlink()
    os.mkfifo(t.path)


@hostile(US, "leaves the submission folder", fresh=False)
def usenhance_symlink_to_dev_zero(t: Target) -> None:
    t.path.unlink()
    os.symlink("/dev/zero", t.path)


@hostile(US, "must be relative", fresh=False)
def usenhance_absolute_path(t: Target) -> None:
    _point_at(t, str(t.root / "private" / "test" / "high_quality" / f"{t.case_id}.png"))


@hostile(US, "not a regular file", fresh=False)
def usenhance_prediction_is_a_directory(t: Target) -> None:
    t.path.unlink()
    t.path.mkdir()


# --- the tests -----------------------------------------------------------------------------------------


def _build(h: Hostile, root: Path, dst: Path) -> Target:
    sub = copy_sample(root, dst)
    t = target(sub, root, h.case)
    h.build(t)
    return t


@pytest.fixture(scope="session")
def batches(
    roots: Callable[[str], Path], meter: Meter, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], dict[str, tuple[dict[str, Any], Outcome, str]]]:
    """The cheap hostile files of one challenge, graded in one fresh process: name -> (result,
    the process's outcome, the case id the reason must name)."""
    cache: dict[str, dict[str, tuple[dict[str, Any], Outcome, str]]] = {}

    def get(cid: str) -> dict[str, tuple[dict[str, Any], Outcome, str]]:
        if cid not in cache:
            root = roots(cid)
            base = tmp_path_factory.mktemp(f"batch-{cid}")
            members = [h for h in HOSTILE if h.cid == cid and not h.fresh]
            targets = {h.name: _build(h, root, base / h.name) for h in members}
            o = meter.grade(cid, root, [targets[h.name].sub for h in members])
            by_sub = {r["submission"]: r for r in o.results}
            cache[cid] = {
                h.name: (by_sub.get(str(targets[h.name].sub), {}), o, targets[h.name].case_id)
                for h in members
            }
        return cache[cid]

    return get


def _check(
    h: Hostile, result: dict[str, Any], o: Outcome, case_id: str, wall: float, baseline: float
) -> None:
    _log(
        {"name": h.name, "cid": h.cid, "fresh": h.fresh, "valid": result.get("valid"),
         "reason": result.get("reason"), "wall_s": round(wall, 2), "peak_mib": round(o.peak_mib),
         "baseline_mib": round(baseline)}
    )  # fmt: skip
    assert o.rc == 0 and result, f"the grading process failed (rc {o.rc}): {o.stderr[-3000:]}"
    reason = result["reason"]
    assert result["valid"] is False, result
    assert reason and "\n" not in reason and "Traceback" not in reason, reason
    if h.names_case:
        assert reason.startswith(f"case {case_id}: "), reason
    assert h.expect in reason, reason
    # refused by a check before decoding, not by the pool's backstop or a library's exception
    for backstop in ("grading worker", "took longer than", "could not be graded", "too large to load"):
        assert backstop not in reason, reason
    assert "Traceback" not in o.stderr, o.stderr[-3000:]
    assert wall < WALL_S, f"{wall:.1f} s"
    assert o.peak_mib < baseline + MEMORY_MARGIN_MIB, f"peak {o.peak_mib:.0f} MiB, valid {baseline:.0f} MiB"


@pytest.mark.parametrize("h", [h for h in HOSTILE if h.fresh], ids=lambda h: h.name)
def test_bomb_is_refused_fast_and_small(
    h: Hostile,
    roots: Callable[[str], Path],
    baselines: Callable[[str], float],
    meter: Meter,
    tmp_path: Path,
) -> None:
    root = roots(h.cid)
    baseline = baselines(h.cid)
    t = _build(h, root, tmp_path / "sub")
    o = meter.grade(h.cid, root, [t.sub])
    _check(h, o.results[0] if o.results else {}, o, t.case_id, o.wall_s, baseline)


@pytest.mark.parametrize("h", [h for h in HOSTILE if not h.fresh], ids=lambda h: h.name)
def test_malformed_file_is_refused_with_one_line(
    h: Hostile,
    batches: Callable[[str], dict[str, tuple[dict[str, Any], Outcome, str]]],
    baselines: Callable[[str], float],
) -> None:
    baseline = baselines(h.cid)
    result, o, case_id = batches(h.cid)[h.name]
    assert o.wall_s < WALL_S * 4, f"the batch took {o.wall_s:.1f} s"
    _check(h, result, o, case_id, float(result.get("grade_s", 0.0)), baseline)


def test_corpus_size() -> None:
    assert len(HOSTILE) >= 60
    assert len({h.name for h in HOSTILE}) == len(HOSTILE)


# Bombs a decoder already bounds: graded (as the zeros they hold) within the same limits.
# Pillow stops inflating IDAT once the image is full; libtiff inflates a strip into its size.


@pytest.mark.parametrize(
    ("cid", "build"),
    [
        (US, lambda t: t.path.write_bytes(H.png(*_test_size(t), idat=H.zlib_zeros(15)))),
        (
            PUMA_T,
            lambda t: t.path.write_bytes(
                H.tiff(
                    [(H.page_entries(1024, 1024, 0, len(H.zlib_zeros(16)), compression=8), H.zlib_zeros(16))]
                )
            ),
        ),
    ],
    ids=["usenhance-png-idat-bomb", "puma-libtiff-deflate-bomb"],
)
def test_bounded_bombs_are_graded_within_limits(
    cid: str,
    build: Callable[[Target], None],
    roots: Callable[[str], Path],
    baselines: Callable[[str], float],
    meter: Meter,
    tmp_path: Path,
) -> None:
    root = roots(cid)
    baseline = baselines(cid)
    sub = copy_sample(root, tmp_path / "sub")
    build(target(sub, root, None))
    o = meter.grade(cid, root, [sub])
    _log({"name": f"bounded-{cid}", "cid": cid, "valid": o.results[0]["valid"] if o.results else None,
          "wall_s": round(o.wall_s, 2), "peak_mib": round(o.peak_mib), "baseline_mib": round(baseline)})  # fmt: skip
    assert o.rc == 0 and o.results, o.stderr[-3000:]
    assert o.results[0]["reason"] is None or "\n" not in o.results[0]["reason"]
    assert "Traceback" not in o.stderr
    assert o.wall_s < WALL_S and o.peak_mib < baseline + MEMORY_MARGIN_MIB
