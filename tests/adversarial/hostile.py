"""Builders of hostile submission files: small on disk (a few MB at most), built in memory in
milliseconds, and expensive to decode naively (gigabytes inflated, hundreds of thousands of
TIFF pages, headers that send a reader elsewhere).

Used by ``tests/adversarial`` (graded end to end) and ``tests/test_safe_io.py`` (the header
checks alone)."""

from __future__ import annotations

import functools
import gzip
import io
import lzma
import struct
import zlib
from collections.abc import Iterable, Sequence

import numpy as np
from PIL import Image

MIB = 1 << 20
CHUNK = 64 * MIB  # one compressed block of zeros inflates to this


# --- compressed zeros --------------------------------------------------------------------------


@functools.cache
def _gzip_member() -> bytes:
    return gzip.compress(bytes(CHUNK), 9, mtime=0)  # ~65 KB


def gzip_zeros(chunks: int) -> bytes:
    """A gzip file of ``chunks`` members, each 64 MiB of zeros (~65 KB each)."""
    return _gzip_member() * chunks


@functools.cache
def _deflate_body() -> tuple[bytes, bytes]:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = c.compress(bytes(CHUNK)) + c.flush(zlib.Z_FULL_FLUSH)  # self-contained blocks
    return body, c.flush()  # ... and the final empty block


@functools.cache
def _adler_of_zeros(chunks: int) -> int:
    adler = 1
    zeros = bytes(CHUNK)
    for _ in range(chunks):
        adler = zlib.adler32(zeros, adler)
    return adler


def zlib_zeros(chunks: int) -> bytes:
    """ONE zlib stream (header, blocks, Adler-32) inflating to ``chunks`` x 64 MiB of zeros, ~1 MB
    per GiB: what a TIFF deflate strip or a compressed MetaImage holds."""
    body, tail = _deflate_body()
    return b"\x78\xda" + body * chunks + tail + struct.pack(">I", _adler_of_zeros(chunks))


@functools.cache
def _xz_member() -> bytes:
    return lzma.compress(bytes(16 * MIB), preset=0)


def lzma_zeros(chunks16: int) -> bytes:
    """Concatenated .xz streams of 16 MiB of zeros each (``lzma.decompress`` reads them all)."""
    return _xz_member() * chunks16


# --- NIfTI --------------------------------------------------------------------------------------


def patch_nifti1(header: bytes, **fields: object) -> bytes:
    """A NIfTI-1 header (348 bytes, little-endian) with fields replaced: ``dim`` (8 ints),
    ``datatype``, ``bitpix``, ``vox_offset``, ``magic``, ``sizeof_hdr``."""
    at = {
        "sizeof_hdr": (0, "<i"),
        "dim": (40, "<8h"),
        "datatype": (70, "<h"),
        "bitpix": (72, "<h"),
        "vox_offset": (108, "<f"),
        "magic": (344, "4s"),
    }
    out = bytearray(header[:348])
    for name, value in fields.items():
        offset, fmt = at[name]
        values = value if isinstance(value, tuple | list) else (value,)
        struct.pack_into(fmt, out, offset, *values)
    return bytes(out)


def nifti1_header(shape: Sequence[int], datatype: int = 2, bitpix: int = 8) -> bytes:
    h = bytearray(348)
    struct.pack_into("<i", h, 0, 348)
    dim = [len(shape), *shape] + [1] * (7 - len(shape))
    struct.pack_into("<8h", h, 40, *dim)
    struct.pack_into("<2h", h, 70, datatype, bitpix)
    struct.pack_into("<8f", h, 76, 1, *([1.0] * 7))
    struct.pack_into("<f", h, 108, 352.0)
    struct.pack_into("<f", h, 112, 1.0)
    h[344:348] = b"n+1\x00"
    return bytes(h)


def nifti2_header(shape: Sequence[int], datatype: int = 2, bitpix: int = 8, vox_offset: int = 544) -> bytes:
    h = bytearray(540)
    struct.pack_into("<i", h, 0, 540)
    h[4:12] = b"n+2\x00\r\n\x1a\n"
    struct.pack_into("<2h", h, 12, datatype, bitpix)
    struct.pack_into("<8q", h, 16, len(shape), *shape, *([1] * (7 - len(shape))))
    struct.pack_into("<8d", h, 104, 1, *([1.0] * 7))
    struct.pack_into("<q", h, 168, vox_offset)
    return bytes(h)


def nifti_extension_bomb(header: bytes, chunks: int = 100) -> bytes:
    """The reported finding: a header of the right shape with extensions on and vox_offset 2**34,
    one extension claiming ~2 GiB, then ``chunks`` x 64 MiB of gzip'd zeros (6.4 GB from ~6.5 MB):
    nibabel reads extensions into memory until vox_offset before checking anything."""
    h = patch_nifti1(header, vox_offset=float(2**34))
    first = gzip.compress(h + b"\x01\x00\x00\x00" + struct.pack("<2i", 2**31 - 16, 0), mtime=0)
    return first + gzip_zeros(chunks)


# --- MetaImage and NRRD -----------------------------------------------------------------------


def metaimage(
    shape: Sequence[int],
    data: bytes = b"",
    element_type: str = "MET_UCHAR",
    compressed: bool = False,
    fields: Iterable[tuple[str, str]] = (),
    data_file: str = "LOCAL",
) -> bytes:
    lines = [
        ("ObjectType", "Image"),
        ("NDims", str(len(shape))),
        ("BinaryData", "True"),
        ("BinaryDataByteOrderMSB", "False"),
        ("CompressedData", "True" if compressed else "False"),
        *fields,
        ("DimSize", " ".join(map(str, shape))),
        ("ElementType", element_type),
        ("ElementDataFile", data_file),
    ]
    return "".join(f"{k} = {v}\n" for k, v in lines).encode() + data


def nrrd(
    shape: Sequence[int],
    data: bytes = b"",
    type_: str = "unsigned char",
    encoding: str = "raw",
    fields: Iterable[tuple[str, str]] = (),
) -> bytes:
    lines = [
        ("type", type_),
        ("dimension", str(len(shape))),
        ("sizes", " ".join(map(str, shape))),
        ("endian", "little"),
        ("encoding", encoding),
        *fields,
    ]
    return b"NRRD0004\n" + "".join(f"{k}: {v}\n" for k, v in lines).encode() + b"\n" + data


def header_size(blob: bytes, end: bytes) -> int:
    return blob.index(end) + len(end)


# --- TIFF ------------------------------------------------------------------------------------------

Entry = tuple[int, int, Sequence[int] | bytes]  # tag, type, values (or raw bytes for type 7)
_FMT = {1: "B", 2: "s", 3: "H", 4: "I", 7: "s", 16: "Q"}
_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 7: 1, 16: 8}


def page_entries(
    width: int,
    height: int,
    strip_offset: int,
    strip_bytes: int,
    bits: int = 8,
    samples: int = 1,
    compression: int = 1,
    rows: int | None = None,
) -> list[Entry]:
    return [
        (256, 4, [width]),
        (257, 4, [height]),
        (258, 3, [bits] * samples),
        (259, 3, [compression]),
        (262, 3, [1 if samples == 1 else 2]),
        (273, 4, [strip_offset]),
        (277, 3, [samples]),
        (278, 4, [rows or height]),
        (279, 4, [strip_bytes]),
    ]


def tiff(pages: Sequence[tuple[Sequence[Entry], bytes]]) -> bytes:
    """A classic little-endian TIFF: each page's data (its StripOffsets, 273, is filled in to point
    at it), then its IFD, values that do not fit inline right after."""
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    prev_next = 4
    for entries, data in pages:
        data_at = len(out)
        out += data
        if len(out) % 2:
            out += b"\x00"
        ifd_at = len(out)
        struct.pack_into("<I", out, prev_next, ifd_at)
        ents = sorted(((t, ty, [data_at] if t == 273 else v) for t, ty, v in entries), key=lambda e: e[0])
        extra_at = ifd_at + 2 + 12 * len(ents) + 4
        body, extra = bytearray(struct.pack("<H", len(ents))), bytearray()
        for tag, typ, values in ents:
            raw = (
                bytes(values)
                if isinstance(values, bytes)
                else struct.pack(f"<{len(values)}{_FMT[typ]}", *values)
            )
            count = len(raw) // _SIZE[typ]
            if len(raw) <= 4:
                body += struct.pack("<HHI", tag, typ, count) + raw.ljust(4, b"\x00")
            else:
                body += struct.pack("<HHII", tag, typ, count, extra_at + len(extra))
                extra += raw + (b"\x00" if len(raw) % 2 else b"")
        out += body
        prev_next = len(out)
        out += b"\x00\x00\x00\x00" + extra
    return bytes(out)


def many_pages_tiff(pages: int, width: int, height: int, big: bool = False) -> bytes:
    """``pages`` pages of ``width`` x ``height`` uint8 zeros, all pointing at the same strip: the
    reported 200,000-page TIFF (~23 MB classic, ~37 MB BigTIFF)."""
    strip = bytes(width * height)
    if big:
        head = b"II+\x00\x08\x00\x00\x00" + struct.pack("<Q", 16)
        data_at = 16
        tags = page_entries(width, height, 0, len(strip))
        ifd_size = 8 + 20 * len(tags) + 8
        first = data_at + len(strip)
        out = bytearray(head[:8] + struct.pack("<Q", first)) + strip
        entries = b"".join(
            struct.pack("<HHQQ", t, 16 if ty == 4 else ty, 1, data_at if t == 273 else v[0])
            for t, ty, v in tags
        )
        # BigTIFF entries: type LONG8 (16) for the LONGs above; SHORT values fit inline too
        template = struct.pack("<Q", len(tags)) + entries
        blocks = [
            template + struct.pack("<Q", first + (k + 1) * ifd_size if k + 1 < pages else 0)
            for k in range(pages)
        ]
        return bytes(out) + b"".join(blocks)
    tags = page_entries(width, height, 8, len(strip))
    first = 8 + len(strip) + (len(strip) % 2)
    out = bytearray(b"II*\x00" + struct.pack("<I", first)) + strip + b"\x00" * (len(strip) % 2)
    entries = b"".join(
        struct.pack("<HHI", t, ty, 1) + struct.pack("<I" if ty == 4 else "<H2x", v[0]) for t, ty, v in tags
    )
    ifd_size = 2 + 12 * len(tags) + 4
    template = struct.pack("<H", len(tags)) + entries
    blocks = [
        template + struct.pack("<I", first + (k + 1) * ifd_size if k + 1 < pages else 0) for k in range(pages)
    ]
    return bytes(out) + b"".join(blocks)


# --- PNG and JPEG ------------------------------------------------------------------------------


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(
    width: int,
    height: int,
    idat: bytes | None = None,
    before: Sequence[bytes] = (),
    after: Sequence[bytes] = (),
    colour: int = 0,
    bits: int = 8,
) -> bytes:
    """A grayscale PNG of zeros (or the given IDAT payload), with extra chunks around IDAT."""
    if idat is None:
        idat = zlib.compress(bytes(height * (width + 1)))
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bits, colour, 0, 0, 0))
    return (
        b"\x89PNG\r\n\x1a\n"
        + ihdr
        + b"".join(before)
        + chunk(b"IDAT", idat)
        + b"".join(after)
        + chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A tiny JPEG whose frame header (SOF0) claims ``width`` x ``height`` (at most 65535 each)."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buf, format="JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)
