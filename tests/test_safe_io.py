"""The header checks that run before any decoder sees a submitted file (rexmle.safe_io): valid
files written by the usual libraries pass, each kind of hostile header is refused with one line
naming the case. Small files only; the end-to-end corpus is tests/adversarial."""

from __future__ import annotations

import gzip
import json
import os
import struct
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import tifffile
from adversarial import hostile
from PIL import Image

from rexmle import safe_io
from rexmle.errors import InvalidSubmission

SHAPE = (12, 10, 6)  # x, y, z


def refused(match: str, fn, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidSubmission, match=match) as err:
        fn(*args, **kwargs)
    text = str(err.value)
    assert text.startswith("case 7: ") and "\n" not in text, text
    return text


# --- NIfTI ---------------------------------------------------------------------------------------


def _nifti(
    tmp_path: Path, name: str = "m.nii.gz", cls: type = nib.Nifti1Image, dtype: type = np.uint8
) -> Path:
    path = tmp_path / name
    nib.save(cls(np.zeros(SHAPE, dtype), np.eye(4)), str(path))
    return path


@pytest.mark.parametrize("name", ["m.nii.gz", "m.nii", "M.NII.GZ"])
@pytest.mark.parametrize("cls", [nib.Nifti1Image, nib.Nifti2Image])
def test_nibabel_files_pass(tmp_path: Path, name: str, cls: type) -> None:
    h = safe_io.check_volume(_nifti(tmp_path, name, cls, np.float64), "case 7", SHAPE)
    assert (h.format, h.image_io, h.shape, h.itemsize) == ("NIfTI", "NiftiImageIO", SHAPE, 8)


def test_nifti_with_small_extension_and_4d_singleton_pass(tmp_path: Path) -> None:
    img = nib.Nifti1Image(np.zeros((*SHAPE, 1), np.int16), np.eye(4))
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"a comment, as dcm2niix writes"))
    nib.save(img, str(tmp_path / "e.nii.gz"))
    assert safe_io.check_volume(tmp_path / "e.nii.gz", "case 7", SHAPE).shape == (*SHAPE, 1)


def _raw(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def _write(path: Path, raw: bytes) -> Path:
    path.write_bytes(gzip.compress(raw, mtime=0))
    return path


def test_the_reported_extension_bomb_is_refused_unread(tmp_path: Path) -> None:
    raw = _raw(_nifti(tmp_path))
    bomb = tmp_path / "bomb.nii.gz"
    bomb.write_bytes(hostile.nifti_extension_bomb(raw, chunks=3))
    refused(r"vox_offset 17179869184 is outside 352\.\.65888", safe_io.check_volume, bomb, "case 7", SHAPE)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"dim": (3, 30000, 30000, 30000, 1, 1, 1, 1)}, r"size \(30000, 30000, 30000\) differs"),
        ({"dim": (3, 12, 0, 6, 1, 1, 1, 1)}, "invalid size"),
        ({"dim": (3, 12, -10, 6, 1, 1, 1, 1)}, "invalid size"),
        ({"dim": (9, 12, 10, 6, 1, 1, 1, 1)}, r"dim\[0\] = 9"),
        ({"datatype": 32, "bitpix": 64}, "datatype 32 is not a supported"),
        ({"datatype": 2, "bitpix": 64}, "bitpix 64 does not match"),
        ({"vox_offset": 2.0**34}, "vox_offset"),
        ({"vox_offset": 100.0}, "vox_offset"),
        ({"vox_offset": float("nan")}, "not a whole number"),
        ({"magic": b"ni1\x00"}, "header/image pair"),
        ({"magic": b"xyz\x00"}, "not a readable NIfTI"),
        ({"sizeof_hdr": 1000}, "not a readable NIfTI"),
    ],
)
def test_bad_nifti1_headers(tmp_path: Path, fields: dict[str, object], match: str) -> None:
    raw = _raw(_nifti(tmp_path))
    path = _write(tmp_path / "bad.nii.gz", hostile.patch_nifti1(raw, **fields) + raw[348:])
    refused(match, safe_io.check_volume, path, "case 7", SHAPE, unreadable="not a readable NIfTI file")


def test_nifti_extensions_must_fit(tmp_path: Path) -> None:
    raw = _raw(_nifti(tmp_path))
    hdr = hostile.patch_nifti1(raw, vox_offset=352.0 + 4096)
    data = raw[352:]
    ext = struct.pack("<2i", 2**30, 0)  # claims 1 GiB
    path = _write(tmp_path / "x.nii.gz", hdr + b"\x01\x00\x00\x00" + ext + bytes(4096 - 8) + data)
    refused("extension of 1073741824 bytes does not fit", safe_io.check_volume, path, "case 7", SHAPE)


def test_nifti_data_length_is_checked_by_streaming(tmp_path: Path) -> None:
    path = _nifti(tmp_path)
    raw = _raw(path)
    # 960 MB of zeros in 15 gzip members after the image: under the compressed-size cap, so the
    # streaming count is what refuses it
    (tmp_path / "b.nii.gz").write_bytes(path.read_bytes() + hostile.gzip_zeros(15))
    refused("decompresses to more than", safe_io.check_volume, tmp_path / "b.nii.gz", "case 7", SHAPE)
    (tmp_path / "big.nii.gz").write_bytes(path.read_bytes() + hostile.gzip_zeros(40))
    refused("larger than its", safe_io.check_volume, tmp_path / "big.nii.gz", "case 7", SHAPE)
    _write(tmp_path / "t.nii.gz", raw[:-100])
    refused(r"truncated \(972 of 1072 bytes\)", safe_io.check_volume, tmp_path / "t.nii.gz", "case 7", SHAPE)
    (tmp_path / "g.nii.gz").write_bytes(path.read_bytes() + b"garbage")
    refused("not gzip", safe_io.check_volume, tmp_path / "g.nii.gz", "case 7", SHAPE)
    (tmp_path / "z.nii.gz").write_bytes(path.read_bytes() + bytes(100))  # zero padding: gzip allows it
    safe_io.check_volume(tmp_path / "z.nii.gz", "case 7", SHAPE)
    (tmp_path / "u.nii").write_bytes(raw + bytes(1 << 20))
    refused("bytes after the image data", safe_io.check_volume, tmp_path / "u.nii", "case 7", SHAPE)


def test_nifti2_huge_dims(tmp_path: Path) -> None:
    path = _write(tmp_path / "n2.nii.gz", hostile.nifti2_header((2**40, 2**20, 1)) + bytes(4) + bytes(64))
    refused("differs from the test image", safe_io.check_volume, path, "case 7", SHAPE)


def test_wrong_content_or_suffix(tmp_path: Path) -> None:
    (tmp_path / "a.nii.gz").write_bytes(gzip.compress(b"this is not a nifti file"))
    refused("not a readable NIfTI file", safe_io.check_volume, tmp_path / "a.nii.gz", "case 7", SHAPE,
            unreadable="not a readable NIfTI file")  # fmt: skip
    (tmp_path / "a.dcm").write_bytes(b"DICM")
    refused("unsupported file name", safe_io.check_volume, tmp_path / "a.dcm", "case 7", SHAPE)
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros(SHAPE[::-1], np.uint8)), str(tmp_path / "m.mha"))
    refused("unsupported", safe_io.check_volume, tmp_path / "m.mha", "case 7", SHAPE, formats=("NIfTI",))


def test_fifo_is_never_opened_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f.nii.gz")
    refused("not a regular file", safe_io.check_volume, tmp_path / "f.nii.gz", "case 7", SHAPE)


# --- MetaImage and NRRD ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["m.mha", "m.nrrd", "m.seg.nrrd", "m.nii.gz"])
@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.float32])
def test_simpleitk_files_pass(tmp_path: Path, name: str, compress: bool, dtype: type) -> None:
    img = sitk.GetImageFromArray(np.arange(np.prod(SHAPE)).reshape(SHAPE[::-1]).astype(dtype))
    sitk.WriteImage(img, str(tmp_path / name), useCompression=compress)
    h = safe_io.check_volume(tmp_path / name, "case 7", SHAPE)
    assert h.shape == SHAPE and h.itemsize == np.dtype(dtype).itemsize


DATA = bytes(int(np.prod(SHAPE)))


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (hostile.metaimage(SHAPE, data_file="/dev/zero"), "ElementDataFile = LOCAL"),
        (hostile.metaimage(SHAPE, data_file="../../private/test/labels/x.raw"), "ElementDataFile = LOCAL"),
        (hostile.metaimage((100000, 100000, 100000), DATA), "differs from the test image"),
        (hostile.metaimage(SHAPE, DATA, fields=[("DimSize", "1 1 1")]), "repeats DimSize"),
        (hostile.metaimage(SHAPE, DATA, fields=[("ElementNumberOfChannels", "1000")]), "1-16"),
        (hostile.metaimage(SHAPE, DATA, "MET_UCHAR_ARRAY"), "not a numeric scalar type"),
        (hostile.metaimage(SHAPE, DATA, fields=[("HeaderSize", "-1")]), "HeaderSize"),
        (hostile.metaimage(SHAPE, DATA, compressed=True).replace(b"= True", b"= 1"), "must be True or False"),
        (  # MetaIO's keys are case-sensitive: it would read on to the second line, and /dev/zero
            hostile.metaimage(SHAPE, data_file="LOCAL").replace(b"ElementDataFile", b"elementdatafile")
            + b"ElementDataFile = /dev/zero\n",
            "ElementDataFile = LOCAL",
        ),
        (hostile.metaimage(SHAPE, DATA[:-1]), r"truncated \(719 of 720 bytes\)"),
        (hostile.metaimage(SHAPE, DATA + bytes(1 << 20)), "bytes after the image data"),
        (
            hostile.metaimage(
                SHAPE, hostile.zlib_zeros(1), compressed=True, fields=[("CompressedDataSize", str(10**12))]
            ),
            "CompressedDataSize 1000000000000 is more than the file holds",
        ),
        (
            hostile.metaimage(SHAPE, hostile.zlib_zeros(4), compressed=True),
            "decompresses to more than the 720",
        ),
        (
            b"ObjectType = Image\n" + b"".join(b"C%d = x\n" % k for k in range(150000)),
            "no ElementDataFile line in the first 1 MiB",
        ),
        (b"\x00\x01binary\n", "not a MetaImage header line"),
    ],
)
def test_bad_metaimage(tmp_path: Path, blob: bytes, match: str) -> None:
    (tmp_path / "x.mha").write_bytes(blob)
    refused(match, safe_io.check_volume, tmp_path / "x.mha", "case 7", SHAPE)


def test_metaimage_ascii_refused(tmp_path: Path) -> None:
    blob = hostile.metaimage(SHAPE, b"0 " * 720).replace(b"BinaryData = True", b"BinaryData = False")
    (tmp_path / "x.mha").write_bytes(blob)
    refused("BinaryData = True", safe_io.check_volume, tmp_path / "x.mha", "case 7", SHAPE)


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (hostile.nrrd(SHAPE, fields=[("data file", "/dev/zero")]), "no 'data file' field"),
        (hostile.nrrd(SHAPE, fields=[("datafile", "../../private/test/labels/x.raw")]), "no 'data file'"),
        (hostile.nrrd(SHAPE, DATA, fields=[("byte skip", "-1")]), "'byteskip' is not accepted"),
        (hostile.nrrd(SHAPE, b"0 " * 720, encoding="ascii"), "encoding 'ascii' is not accepted"),
        (hostile.nrrd(SHAPE, DATA, encoding="bzip2"), "encoding 'bzip2'"),
        (hostile.nrrd((4000, 4000, 4000), DATA), "differs from the test image"),
        (hostile.nrrd(SHAPE, DATA, type_="block"), "not a numeric scalar type"),
        (hostile.nrrd(SHAPE, DATA, fields=[("sizes", "1 1 1")]), "repeats the field"),
        (hostile.nrrd(SHAPE, hostile.gzip_zeros(15), encoding="gzip"), "decompresses to more than"),
        (hostile.nrrd(SHAPE, DATA, encoding="gzip"), "not gzip data"),
        (hostile.nrrd(SHAPE, DATA)[:-1], "truncated"),
        (b"NRRD0004\ntype: uchar\n" + b"# comment\n" * 200000, "longer than 1 MiB"),
        (b"NRRD0004\ntype: uchar\ndimension: 3\n", "no data after its header"),
    ],
)
def test_bad_nrrd(tmp_path: Path, blob: bytes, match: str) -> None:
    (tmp_path / "x.nrrd").write_bytes(blob)
    refused(match, safe_io.check_volume, tmp_path / "x.nrrd", "case 7", SHAPE)


# --- PNG and TIFF ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["L", "I;16", "RGB", "RGBA", "P", "1"])
def test_pillow_pngs_pass(tmp_path: Path, mode: str) -> None:
    Image.new(mode, (40, 30)).save(tmp_path / "a.png")
    h = safe_io.check_image(tmp_path / "a.png", "case 7", 1200)
    assert (h.format, h.width, h.height) == ("PNG", 40, 30)


def test_bad_pngs(tmp_path: Path) -> None:
    p = tmp_path / "a.png"
    p.write_bytes(hostile.png(100000, 100000, idat=b"x"))
    refused(r"image is 100000 x 100000 pixels", safe_io.check_image, p, "case 7", 4 * 1200)
    p.write_bytes(hostile.png(40, 30, colour=7))
    refused("invalid IHDR", safe_io.check_image, p, "case 7", 4 * 1200)
    p.write_bytes(hostile.png(40, 30, idat=bytes(20 * 2**20)))
    refused("far larger than its 40 x 30 pixels need", safe_io.check_image, p, "case 7", 4 * 1200)
    p.write_bytes(hostile.png(40, 30, before=[hostile.chunk(b"tEXt", b"k\x00v")] * 5000))
    refused(r"more than \d+ chunks", safe_io.check_image, p, "case 7", 4 * 1200)
    p.write_bytes(hostile.png(40, 30)[:-20])
    refused("runs past the end", safe_io.check_image, p, "case 7", 4 * 1200)


def test_tifffile_tiffs_pass(tmp_path: Path) -> None:
    a = np.arange(60 * 50, dtype=np.int32).reshape(60, 50)
    for kwargs in (
        {},
        {"compression": "zlib"},
        {"compression": "lzma"},
        {"tile": (32, 32)},
        {"bigtiff": True},
    ):
        tifffile.imwrite(tmp_path / "a.tif", a, **kwargs)  # type: ignore[arg-type]
        h = safe_io.check_image(tmp_path / "a.tif", "case 7", 3000)
        assert (h.format, h.shape, h.pages) == ("TIFF", (60, 50), 1), kwargs
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((60, 50, 3), np.uint8))
    assert safe_io.check_image(tmp_path / "rgb.tif", "case 7", 3000).shape == (60, 50, 3)
    Image.new("I;16", (50, 60)).save(tmp_path / "p.tif", compression="tiff_lzw")  # libtiff
    assert safe_io.check_image(tmp_path / "p.tif", "case 7", 3000, decoder="pillow").shape == (60, 50)
    refused("compression 5 is not supported", safe_io.check_image, tmp_path / "p.tif", "case 7", 3000)


def test_bad_tiffs(tmp_path: Path) -> None:
    p = tmp_path / "a.tif"
    p.write_bytes(hostile.many_pages_tiff(1000, 50, 60))
    refused("more than 16 pages", safe_io.check_image, p, "case 7", 3000)
    p.write_bytes(hostile.many_pages_tiff(1000, 50, 60, big=True))
    refused("more than 16 pages", safe_io.check_image, p, "case 7", 3000)
    one = hostile.many_pages_tiff(1, 50, 60)
    loop = bytearray(one)
    loop[-4:] = struct.pack("<I", struct.unpack("<I", one[4:8])[0])  # next page = this page
    p.write_bytes(bytes(loop))
    refused("loop", safe_io.check_image, p, "case 7", 3000)
    p.write_bytes(hostile.tiff([(hostile.page_entries(2**31, 2**31, 0, 16), bytes(16))]))
    refused("far larger than the test image", safe_io.check_image, p, "case 7", 3000)
    bomb = hostile.zlib_zeros(2)
    p.write_bytes(hostile.tiff([(hostile.page_entries(50, 60, 0, len(bomb), compression=8), bomb)]))
    refused("deflate strip inflates to more than its 3000 bytes", safe_io.check_image, p, "case 7", 3000)
    safe_io.check_image(p, "case 7", 3000, decoder="pillow")  # libtiff stops at the strip's size
    xz = hostile.lzma_zeros(2)
    p.write_bytes(hostile.tiff([(hostile.page_entries(50, 60, 0, len(xz), compression=34925), xz)]))
    refused("lzma strip inflates", safe_io.check_image, p, "case 7", 3000)
    p.write_bytes(hostile.tiff([(hostile.page_entries(50, 60, 0, 10**6), bytes(16))]))
    refused("outside the file", safe_io.check_image, p, "case 7", 3000)
    entries = [*hostile.page_entries(50, 60, 0, 3000), (270, 2, b"x" * 20)]
    blob = bytearray(hostile.tiff([(entries, bytes(3000))]))
    at = blob.index(struct.pack("<HHI", 270, 2, 20))
    struct.pack_into("<I", blob, at + 4, 2**30)  # ImageDescription of 1 GiB
    p.write_bytes(bytes(blob))
    refused("tag 270 holds 1024 MiB", safe_io.check_image, p, "case 7", 3000)
    p.write_bytes(hostile.tiff([(hostile.page_entries(50, 60, 0, 3000, compression=7), bytes(3000))]))
    refused("compression 7", safe_io.check_image, p, "case 7", 3000)
    p.write_bytes(hostile.tiff([(hostile.page_entries(50, 60, 0, 3000, samples=200), bytes(3000))]))
    refused("200 samples", safe_io.check_image, p, "case 7", 3000)


def test_other_formats_are_left_to_their_reader(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(hostile.jpeg_claiming(60000, 60000))
    assert safe_io.check_image(tmp_path / "a.png", "case 7", 3000).format is None
    refused("far larger", safe_io.check_pixels, "case 7", 60000, 60000, 3000)


# --- JSON and text ---------------------------------------------------------------------------------


def test_json_bounds(tmp_path: Path) -> None:
    p = tmp_path / "a.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps({"a": [1, 2.5, None]}).encode())  # a BOM is fine
    assert safe_io.load_json(p, "case 7", 1000) == {"a": [1, 2.5, None]}
    for blob, match in (
        (b"[" * 2000 + b"]" * 2000, "nested too deeply"),
        (b"[1" + b"0" * 5000 + b"]", "integer of 5001 digits"),
        (b"[-1234567890123456789]", "integer of 20 digits"),
        (b"[" + b"[]," * 4000 + b"[]]", "more than 3125 JSON arrays and objects"),
        (b"[" + b"0," * 20000 + b"0]", "more than 12500 JSON values"),
        (b"x" * 100_001, r"larger than 0\.0953674 MiB"),
        (json.dumps([1]).encode("utf-16"), "not UTF-8 text"),
        (b"{not json", "not valid JSON: Expecting property name"),
    ):
        p.write_bytes(blob)
        refused(match, safe_io.load_json, p, "case 7", 100_000)


def test_read_text_bounds(tmp_path: Path) -> None:
    p = tmp_path / "a.yml"
    p.write_text("anterior: 1\n")
    assert safe_io.read_text(p, "case 7", 100) == "anterior: 1\n"
    p.write_bytes(b"x" * 101)
    refused("larger than", safe_io.read_text, p, "case 7", 100)


def test_corrupted_files_raise_only_invalid_submission(tmp_path: Path) -> None:
    """Random byte flips, 32-bit extremes and truncations of valid files: every outcome is a pass
    or a one-line refusal, never another exception (struct.error, IndexError, ...)."""
    import random

    sitk_img = sitk.GetImageFromArray(np.zeros(SHAPE[::-1], np.uint8))
    _nifti(tmp_path, "a.nii.gz")
    _nifti(tmp_path, "b.nii", nib.Nifti2Image)
    sitk.WriteImage(sitk_img, str(tmp_path / "a.mha"), useCompression=True)
    sitk.WriteImage(sitk_img, str(tmp_path / "a.nrrd"), useCompression=True)
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((30, 40), np.uint16), compression="zlib")
    tifffile.imwrite(tmp_path / "b.tif", np.zeros((30, 40), np.uint8), tile=(16, 16), bigtiff=True)
    Image.new("L", (40, 30)).save(tmp_path / "a.png")
    (tmp_path / "a.json").write_text('{"polygons": [{"name": "x", "path_points": [[1, 2], [3, 4.5]]}]}')
    originals = {p: p.read_bytes() for p in sorted(tmp_path.iterdir())}
    rng = random.Random(7)
    for _ in range(400):
        path, blob = rng.choice(list(originals.items()))
        b = bytearray(blob)
        for _ in range(rng.randint(1, 3)):
            k = rng.randrange(len(b))
            if rng.random() < 0.5:
                b[k] = rng.randrange(256)
            elif rng.random() < 0.7:
                b[k : k + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x80", b"\xff\xff\xff\x7f"])
            else:
                del b[k:]
                break
        mutant = path.with_name("m_" + path.name)
        mutant.write_bytes(bytes(b))
        try:
            if path.suffix in (".tif", ".png"):
                safe_io.check_image(mutant, "case 7", 4800, rng.choice(["tifffile", "pillow"]))
            elif path.suffix == ".json":
                safe_io.load_json(mutant, "case 7", 10_000)
            else:
                safe_io.check_volume(mutant, "case 7", SHAPE)
        except InvalidSubmission as exc:
            assert str(exc).startswith("case 7: ") and "\n" not in str(exc)
