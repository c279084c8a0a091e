"""Cheap checks of a submitted file before any decoder sees it.

A submission is hostile input. nibabel reads NIfTI header extensions into memory before any
check of ours, tifffile's series detection walks every page (quadratic in their number), a
deflate strip tifffile inflates with ``zlib.decompress`` may be a thousand times its size, an
MHA or NRRD header may point its data at another file (``ElementDataFile``, ``data file``:
the private ground truth, or ``/dev/zero``). So before nibabel, SimpleITK, tifffile, Pillow or
``json`` reads a submitted file, the functions here read its header themselves, with small
fixed caps, and check it against what the caller knows a valid answer needs:

- :func:`check_volume`: NIfTI-1/2 (plain or gzip), MetaImage (.mha) and NRRD. The header's
  size (at most ``VOLUME_SLACK`` times the test image's voxels), element type, data offset,
  NIfTI extensions (at most ``MAX_NIFTI_EXTENSIONS`` bytes), where the data lies (in the file
  itself), and that the data (decompressed as a stream, with a cap, never trusting a gzip
  trailer or ``CompressedDataSize``) is as long as the header says;
- :func:`check_image`: PNG (IHDR) and TIFF (at most ``MAX_TIFF_PAGES`` pages, walked by
  their IFD offsets with a hop limit; each page's size, tag sizes, strip/tile byte ranges,
  compression, and for tifffile's unbounded inflaters each strip's inflated size);
- :func:`load_json`: a size cap, caps on the number of arrays/objects and values (what a
  parsed document costs in memory), integers that fit 64 bits, nesting depth;
- :func:`read_text`: a size cap for small text answers (YAML, box files).

Every refusal is :class:`~rexmle.errors.InvalidSubmission` with one line naming the case
(``what``). The checks cost a header read, plus one streaming pass over compressed data.
"""

from __future__ import annotations

import json
import lzma
import math
import os
import re
import stat
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from rexmle.errors import InvalidSubmission

#: A submitted volume may declare at most this many times the test image's voxels (the exact
#: comparison, with its own message, is the caller's; this only bounds what a check reads).
VOLUME_SLACK = 4
#: Total size of NIfTI header extensions accepted (vox_offset <= header + 4 + this).
MAX_NIFTI_EXTENSIONS = 64 * 1024
#: Bytes accepted after a volume's data (some writers pad).
MAX_TRAILING = 64 * 1024
#: Text headers (MetaImage, NRRD) are read at most this far.
MAX_TEXT_HEADER = 1024 * 1024
#: A 2-D answer is one image: a TIFF may hold a few more pages (a thumbnail), not thousands.
MAX_TIFF_PAGES = 16
#: TIFF: tags per page, bytes of one tag's value, strips or tiles per page.
MAX_TIFF_TAGS = 4096
MAX_TIFF_TAG_BYTES = 16 * 1024 * 1024
MAX_TIFF_SEGMENTS = 1 << 20
#: Integers in a JSON answer fit 64 bits (18 digits); anything longer is refused unparsed.
MAX_JSON_INT_DIGITS = 18
_CHUNK = 1 << 20


def _refuse(what: str, message: str) -> InvalidSubmission:
    return InvalidSubmission(f"{what}: {message}")


def _open(path: Path, what: str) -> IO[bytes]:
    """A submitted file opened for reading, refused unless it is a regular file (never blocks
    on a FIFO that took its place)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise _refuse(what, f"{path.name} cannot be opened ({type(exc).__name__})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _refuse(what, f"{path.name} is not a regular file")
    return os.fdopen(fd, "rb")


def _size(f: IO[bytes]) -> int:
    return os.fstat(f.fileno()).st_size


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"


# --- streaming decompression with a cap ------------------------------------------------------


@dataclass
class _Inflated:
    total: int  # bytes that came out (stops a little past the cap)
    head: bytes  # the first ``keep`` of them
    complete: bool  # every stream ended properly


def _inflate(
    f: IO[bytes], start: int, end: int, cap: int, *, gzip: bool, keep: int = 0, what: str = ""
) -> _Inflated:
    """Decompress ``f[start:end]`` as a stream, chunk by chunk, counting the output and keeping
    only its first ``keep`` bytes; stops as soon as more than ``cap`` bytes came out.

    ``gzip``: a gzip file, possibly several members, possibly zero-padded (what Python's gzip
    module, hence nibabel, accepts; other trailing bytes are refused). Otherwise one zlib or
    gzip stream (auto-detected) and whatever follows it is ignored, as MetaIO does."""
    f.seek(start)
    remaining = end - start
    d = zlib.decompressobj(31 if gzip else 47)
    total, head, pending = 0, bytearray(), b""
    while True:
        if not pending:
            if remaining <= 0:
                return _Inflated(total, bytes(head), d.eof)
            pending = f.read(min(_CHUNK, remaining))
            remaining -= len(pending)
            if not pending:
                return _Inflated(total, bytes(head), d.eof)
        try:
            out = d.decompress(pending, _CHUNK)
        except zlib.error:
            raise _refuse(what, "compressed data is corrupt") from None
        pending = d.unconsumed_tail
        total += len(out)
        if len(head) < keep:
            head += out[: keep - len(head)]
        if total > cap:
            return _Inflated(total, bytes(head), False)
        if not d.eof:
            continue
        if not gzip:
            return _Inflated(total, bytes(head), True)
        pending = d.unused_data
        while len(pending) < 2 and remaining > 0:  # what follows this member
            more = f.read(min(_CHUNK, remaining))
            remaining -= len(more)
            pending += more
        if not pending:
            return _Inflated(total, bytes(head), True)
        if pending[:2] == b"\x1f\x8b":
            d = zlib.decompressobj(31)
            continue
        while True:  # zero padding to the end, or garbage
            if pending.strip(b"\x00"):
                raise _refuse(what, "has bytes after its gzip data that are not gzip")
            if remaining <= 0:
                return _Inflated(total, bytes(head), True)
            pending = f.read(min(_CHUNK, remaining))
            remaining -= len(pending)


def _compressed_cap(raw: int) -> int:
    """The largest compressed size of ``raw`` bytes of data (deflate never grows data by more
    than a few bytes per 16 KiB block), with room for headers."""
    return raw + raw // 64 + (1 << 20)


# --- volumes: NIfTI, MetaImage, NRRD ---------------------------------------------------------

#: NIfTI datatype -> bits per voxel: the numeric scalar types nibabel and ITK both read.
NIFTI_TYPES = {2: 8, 4: 16, 8: 32, 16: 32, 64: 64, 256: 8, 512: 16, 768: 32, 1024: 64, 1280: 64}
METAIMAGE_TYPES = {
    "MET_CHAR": 1,
    "MET_UCHAR": 1,
    "MET_SHORT": 2,
    "MET_USHORT": 2,
    "MET_INT": 4,
    "MET_UINT": 4,
    "MET_LONG": 4,  # MetaIO's long is 32-bit
    "MET_ULONG": 4,
    "MET_LONG_LONG": 8,
    "MET_ULONG_LONG": 8,
    "MET_FLOAT": 4,
    "MET_DOUBLE": 8,
}
_NRRD_TYPE_NAMES = {
    1: "signed char, int8, int8_t, uchar, unsigned char, uint8, uint8_t",
    2: "short, short int, signed short, signed short int, int16, int16_t, ushort, unsigned short, "
    "unsigned short int, uint16, uint16_t",
    4: "int, signed int, int32, int32_t, uint, unsigned int, uint32, uint32_t, float",
    8: "longlong, long long, long long int, signed long long, signed long long int, int64, int64_t, "
    "ulonglong, unsigned long long, unsigned long long int, uint64, uint64_t, double",
}
NRRD_TYPES = {name: size for size, names in _NRRD_TYPE_NAMES.items() for name in names.split(", ")}
#: suffix -> (format, the SimpleITK ImageIO that must read it)
VOLUME_SUFFIXES = {
    ".nii.gz": ("NIfTI", "NiftiImageIO"),
    ".nii": ("NIfTI", "NiftiImageIO"),
    ".mha": ("MetaImage", "MetaImageIO"),
    ".nrrd": ("NRRD", "NrrdImageIO"),
}


@dataclass(frozen=True)
class VolumeHeader:
    """What :func:`check_volume` read: the format, the SimpleITK ImageIO to read it with (so
    the reader is the one the check was for), the size (fastest axis first, as NIfTI's dim,
    MetaImage's DimSize, NRRD's sizes and ITK's GetSize list it) and the bytes per element."""

    format: str
    image_io: str
    shape: tuple[int, ...]
    itemsize: int


def volume_format(path: Path) -> tuple[str, str] | None:
    name = path.name.lower()
    for suffix, fmt in VOLUME_SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    return None


def check_volume(
    path: Path,
    what: str,
    expected: Iterable[int],
    formats: Iterable[str] = ("NIfTI", "MetaImage", "NRRD"),
    unreadable: str = "not a readable image (NIfTI, MHA or NRRD)",
) -> VolumeHeader:
    """Check a submitted volume's header and data length before a library reads it.

    ``expected``: the test image's size, fastest axis first. The file may declare at most
    ``VOLUME_SLACK`` times its voxels (the caller compares the exact size, with its own
    message, before decoding). ``unreadable`` words the refusal of a file that is not one of
    ``formats`` (by its suffix and content)."""
    expected = tuple(int(n) for n in expected)
    max_voxels = VOLUME_SLACK * math.prod(expected)
    fmt = volume_format(path)
    if fmt is None or fmt[0] not in tuple(formats):
        raise _refuse(what, f"{unreadable}: unsupported file name {path.name!r}")
    with _open(path, what) as f:
        if fmt[0] == "NIfTI":
            shape, itemsize = _check_nifti(f, what, unreadable, max_voxels, expected)
        elif fmt[0] == "MetaImage":
            shape, itemsize = _check_metaimage(f, what, unreadable, max_voxels, expected)
        else:
            shape, itemsize = _check_nrrd(f, what, unreadable, max_voxels, expected)
    return VolumeHeader(fmt[0], fmt[1], shape, itemsize)


def _too_big(what: str, shape: tuple[int, ...], expected: tuple[int, ...]) -> InvalidSubmission:
    return _refuse(what, f"size {shape} differs from the test image's {expected}")


def _check_shape(
    what: str, shape: tuple[int, ...], max_voxels: int, expected: tuple[int, ...], name: str
) -> int:
    if not 1 <= len(shape) <= 7 or any(n < 1 for n in shape):
        raise _refuse(what, f"{name} declares an invalid size {shape}")
    voxels = math.prod(shape)
    if voxels > max_voxels:
        raise _too_big(what, shape, expected)
    return voxels


def _check_nifti(
    f: IO[bytes], what: str, unreadable: str, max_voxels: int, expected: tuple[int, ...]
) -> tuple[tuple[int, ...], int]:
    size = _size(f)
    keep = 540 + 4 + MAX_NIFTI_EXTENSIONS
    gz = f.read(2) == b"\x1f\x8b"
    if gz:
        head = _inflate(f, 0, size, keep, gzip=True, keep=keep, what=what).head
    else:
        f.seek(0)
        head = f.read(keep)
    if len(head) < 4:
        raise _refuse(what, f"{unreadable} (no NIfTI header)")
    for endian in "<>":
        (sizeof_hdr,) = struct.unpack(endian + "i", head[:4])
        if sizeof_hdr in (348, 540):
            break
    else:
        raise _refuse(what, f"{unreadable} (no NIfTI-1 or NIfTI-2 header)")
    if len(head) < sizeof_hdr + 4:
        raise _refuse(what, "NIfTI header is truncated")
    if sizeof_hdr == 348:
        magic = head[344:348]
        if magic == b"ni1\x00":
            raise _refuse(what, "a NIfTI header/image pair (.hdr/.img) is not a single-file .nii")
        if magic != b"n+1\x00":
            raise _refuse(what, f"{unreadable} (bad NIfTI-1 magic {magic!r})")
        dim = struct.unpack(endian + "8h", head[40:56])
        datatype, bitpix = struct.unpack(endian + "2h", head[70:74])
        (offset_f,) = struct.unpack(endian + "f", head[108:112])
        if not math.isfinite(offset_f) or offset_f != int(offset_f):
            raise _refuse(what, f"NIfTI vox_offset {offset_f} is not a whole number")
        vox_offset = int(offset_f)
    else:
        magic = head[4:12]
        if magic != b"n+2\x00\r\n\x1a\n":
            raise _refuse(what, f"{unreadable} (bad NIfTI-2 magic {magic!r})")
        datatype, bitpix = struct.unpack(endian + "2h", head[12:16])
        dim = struct.unpack(endian + "8q", head[16:80])
        (vox_offset,) = struct.unpack(endian + "q", head[168:176])
    ndim = dim[0]
    if not 1 <= ndim <= 7:
        raise _refuse(what, f"NIfTI dim[0] = {ndim} is not 1-7")
    shape = tuple(int(n) for n in dim[1 : ndim + 1])
    voxels = _check_shape(what, shape, max_voxels, expected, "NIfTI header")
    if NIFTI_TYPES.get(datatype) is None:
        raise _refuse(what, f"NIfTI datatype {datatype} is not a supported numeric scalar type")
    if bitpix != NIFTI_TYPES[datatype]:
        raise _refuse(what, f"NIfTI bitpix {bitpix} does not match datatype {datatype}")
    first = sizeof_hdr + 4
    if not first <= vox_offset <= first + MAX_NIFTI_EXTENSIONS:
        raise _refuse(
            what,
            f"NIfTI vox_offset {vox_offset} is outside {first}..{first + MAX_NIFTI_EXTENSIONS} "
            f"(header extensions are limited to {MAX_NIFTI_EXTENSIONS // 1024} KiB)",
        )
    if head[sizeof_hdr] != 0:  # extensions: each (esize, ecode, data), all before vox_offset
        pos = first
        while pos + 8 <= vox_offset:
            esize, _ecode = struct.unpack(endian + "2i", head[pos : pos + 8])
            if esize < 16 or esize % 16 or pos + esize > vox_offset:
                raise _refuse(what, f"NIfTI header extension of {esize} bytes does not fit before the data")
            pos += esize
    data = voxels * bitpix // 8
    need = vox_offset + data
    if gz:
        if size > _compressed_cap(need):
            raise _refuse(what, f"gzip file of {_mib(size)} is larger than its {_mib(need)} of data can be")
        out = _inflate(f, 0, size, need + MAX_TRAILING, gzip=True, what=what)
        if out.total > need + MAX_TRAILING:
            raise _refuse(what, f"decompresses to more than the {need} bytes its header declares")
        if out.total < need or not out.complete:
            raise _refuse(what, f"NIfTI data is truncated ({out.total} of {need} bytes)")
    elif size < need:
        raise _refuse(what, f"NIfTI data is truncated ({size} of {need} bytes)")
    elif size > need + MAX_TRAILING:
        raise _refuse(what, f"has {size - need} bytes after the image data its header declares")
    return shape, bitpix // 8


def _header_lines(head: bytes) -> Iterable[tuple[int, bytes]]:
    """(offset just past the line, the line without its end of line)."""
    pos = 0
    while True:
        nl = head.find(b"\n", pos)
        if nl < 0:
            return
        yield nl + 1, head[pos:nl].rstrip(b"\r")
        pos = nl + 1


def _ints(text: str, what: str, name: str) -> tuple[int, ...]:
    parts = text.split()
    if not parts or not all(re.fullmatch(r"\d{1,18}", p) for p in parts):
        raise _refuse(what, f"{name} {text[:40]!r} is not a list of sizes")
    return tuple(int(p) for p in parts)


def _check_data_length(
    f: IO[bytes], what: str, start: int, data: int, compressed: bool, gzip: bool, end: int | None = None
) -> None:
    """The data at ``start`` (until ``end`` or the end of the file) holds ``data`` bytes:
    raw, exactly that many (plus a little padding); compressed, inflating to that many."""
    size = _size(f)
    stop = size if end is None else end
    if compressed:
        if stop - start > _compressed_cap(data):
            raise _refuse(
                what, f"{_mib(stop - start)} of compressed data is more than {_mib(data)} of image needs"
            )
        out = _inflate(f, start, stop, data + MAX_TRAILING, gzip=gzip, what=what)
        if out.total > data + MAX_TRAILING:
            raise _refuse(what, f"data decompresses to more than the {data} bytes its header declares")
        if out.total < data or not out.complete:
            raise _refuse(what, f"data is truncated ({out.total} of {data} bytes)")
    elif stop - start < data:
        raise _refuse(what, f"data is truncated ({stop - start} of {data} bytes)")
    elif stop - start > data + MAX_TRAILING:
        raise _refuse(what, f"has {stop - start - data} bytes after the image data its header declares")


def _flag(fields: dict[str, str], key: str, what: str) -> bool | None:
    """A MetaImage boolean: True or False (any case), None if absent; anything else (MetaIO reads
    "T..." or "1..." as true) is refused, so that MetaIO and this check cannot disagree."""
    if key not in fields:
        return None
    value = fields[key].lower()
    if value not in ("true", "false"):
        raise _refuse(what, f"MetaImage {key} must be True or False, not {fields[key][:20]!r}")
    return value == "true"


def _check_metaimage(
    f: IO[bytes], what: str, unreadable: str, max_voxels: int, expected: tuple[int, ...]
) -> tuple[tuple[int, ...], int]:
    # Keys are case-sensitive, as MetaIO's are ("elementdatafile" is an unknown field to it), and
    # the header ends at the first ElementDataFile line, where MetaIO's ends.
    head = f.read(MAX_TEXT_HEADER)
    fields: dict[str, str] = {}
    start = None
    for end, raw in _header_lines(head):
        if not raw.strip():
            continue
        key_b, sep, value_b = raw.partition(b"=")
        try:
            key, value = key_b.decode("ascii").strip(), value_b.decode("ascii").strip()
        except UnicodeDecodeError:
            raise _refuse(what, f"{unreadable} (MetaImage header is not ASCII text)") from None
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise _refuse(what, f"{unreadable} (not a MetaImage header line: {raw[:40]!r})")
        if key in fields:
            raise _refuse(what, f"MetaImage header repeats {key}")
        fields[key] = value
        if key == "ElementDataFile":
            start = end
            break
    if start is None:
        raise _refuse(
            what, f"{unreadable} (no ElementDataFile line in the first {_mib(MAX_TEXT_HEADER)} of header)"
        )
    if fields["ElementDataFile"].upper() != "LOCAL":
        raise _refuse(what, "MetaImage data must be in the file itself (ElementDataFile = LOCAL)")
    if fields.get("ObjectType", "Image").lower() != "image":
        raise _refuse(what, f"MetaImage ObjectType {fields['ObjectType'][:40]!r} is not Image")
    if fields.get("HeaderSize", "0") != "0":
        raise _refuse(what, "MetaImage HeaderSize must be 0")
    if _flag(fields, "BinaryData", what) is not True:
        raise _refuse(what, "MetaImage data must be binary (BinaryData = True)")
    if "NDims" not in fields or "DimSize" not in fields or "ElementType" not in fields:
        raise _refuse(what, f"{unreadable} (MetaImage header lacks NDims, DimSize or ElementType)")
    (ndims,) = _ints(fields["NDims"], what, "NDims")
    shape = _ints(fields["DimSize"], what, "DimSize")
    if len(shape) != ndims:
        raise _refuse(what, f"MetaImage DimSize {shape} does not have NDims = {ndims} values")
    channels = _ints(fields.get("ElementNumberOfChannels", "1"), what, "ElementNumberOfChannels")
    if len(channels) != 1 or not 1 <= channels[0] <= 16:
        raise _refuse(what, "MetaImage ElementNumberOfChannels must be 1-16")
    voxels = _check_shape(what, shape, max_voxels, expected, "MetaImage header")
    itemsize = METAIMAGE_TYPES.get(fields["ElementType"].upper())
    if itemsize is None:
        raise _refuse(
            what, f"MetaImage ElementType {fields['ElementType'][:40]!r} is not a numeric scalar type"
        )
    data = voxels * channels[0] * itemsize
    if data > max_voxels * 8:
        raise _too_big(what, (*shape, channels[0]), expected)
    compressed = _flag(fields, "CompressedData", what) is True
    data_end = None
    if compressed and "CompressedDataSize" in fields:
        (declared,) = _ints(fields["CompressedDataSize"], what, "CompressedDataSize")
        if declared > _size(f) - start:
            raise _refuse(what, f"MetaImage CompressedDataSize {declared} is more than the file holds")
        data_end = start + declared
    _check_data_length(f, what, start, data, compressed, gzip=False, end=data_end)
    return shape, itemsize


def _check_nrrd(
    f: IO[bytes], what: str, unreadable: str, max_voxels: int, expected: tuple[int, ...]
) -> tuple[tuple[int, ...], int]:
    head = f.read(MAX_TEXT_HEADER)
    if not re.match(rb"NRRD000[1-9]\r?\n", head):
        raise _refuse(what, f"{unreadable} (no NRRD magic line)")
    fields: dict[str, str] = {}
    start = None
    for n, (end, raw) in enumerate(_header_lines(head)):
        if n == 0 or raw.startswith(b"#"):
            continue
        if not raw:
            start = end
            break
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            raise _refuse(what, f"{unreadable} (NRRD header is not ASCII text)") from None
        kv, field = line.find(":="), line.find(": ")
        if kv >= 0 and (field < 0 or kv < field):
            continue  # key/value pair: metadata
        if field < 0:
            raise _refuse(what, f"{unreadable} (not a NRRD header line: {line[:40]!r})")
        key = line[:field].strip().lower().replace(" ", "")
        if key in fields:
            raise _refuse(what, f"NRRD header repeats the field {line[:field]!r}")
        fields[key] = line[field + 2 :].strip()
    if start is None:
        if len(head) < MAX_TEXT_HEADER:
            raise _refuse(what, "NRRD file has no data after its header (detached data is not accepted)")
        raise _refuse(what, f"NRRD header is longer than {_mib(MAX_TEXT_HEADER)}")
    if "datafile" in fields:
        raise _refuse(what, "NRRD data must be in the file itself (no 'data file' field)")
    for skip in ("lineskip", "byteskip"):
        if fields.get(skip, "0") != "0":
            raise _refuse(what, f"NRRD field {skip!r} is not accepted")
    if "dimension" not in fields or "sizes" not in fields or "type" not in fields:
        raise _refuse(what, f"{unreadable} (NRRD header lacks dimension, sizes or type)")
    (ndim,) = _ints(fields["dimension"], what, "dimension")
    shape = _ints(fields["sizes"], what, "sizes")
    if len(shape) != ndim:
        raise _refuse(what, f"NRRD sizes {shape} do not have dimension = {ndim} values")
    voxels = _check_shape(what, shape, max_voxels, expected, "NRRD header")
    itemsize = NRRD_TYPES.get(fields["type"].lower())
    if itemsize is None:
        raise _refuse(what, f"NRRD type {fields['type'][:40]!r} is not a numeric scalar type")
    encoding = fields.get("encoding", "").lower()
    if encoding not in ("raw", "gzip", "gz"):
        raise _refuse(what, f"NRRD encoding {encoding[:20]!r} is not accepted (write raw or gzip)")
    if encoding != "raw":
        f.seek(start)
        if f.read(2) != b"\x1f\x8b":
            raise _refuse(what, "NRRD data is not gzip data, as its encoding says")
    _check_data_length(f, what, start, voxels * itemsize, encoding != "raw", gzip=True)
    return shape, itemsize


# --- 2-D images: PNG and TIFF ----------------------------------------------------------------


@dataclass(frozen=True)
class ImageHeader:
    """What :func:`check_image` read: ``format`` "PNG", "TIFF" or None (another format, left to
    its reader); for TIFF, the first page's geometry and the number of pages."""

    format: str | None
    width: int = 0
    height: int = 0
    samples: int = 1
    depth: int = 1
    planar: int = 1
    pages: int = 1

    @property
    def shape(self) -> tuple[int, ...]:
        """The first page as tifffile shapes it, singleton axes dropped."""
        if self.planar == 2 and self.samples > 1:
            full: tuple[int, ...] = (self.samples, self.depth, self.height, self.width)
        else:
            full = (self.depth, self.height, self.width, self.samples)
        return tuple(n for n in full if n != 1)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
#: TIFF compressions tifffile decodes without imagecodecs (the harness does not install it):
#: none, zlib/deflate, LZMA, PackBits. Pillow (libtiff) decodes into the declared strip size,
#: whatever the compression, so it is not held to these.
TIFF_COMPRESSIONS = {1: "none", 8: "deflate", 32946: "deflate", 34925: "lzma", 32773: "packbits"}
_TIFF_TYPE_SIZES = {
    1: 1,
    2: 1,
    3: 2,
    4: 4,
    5: 8,
    6: 1,
    7: 1,
    8: 2,
    9: 4,
    10: 8,
    11: 4,
    12: 8,
    13: 4,
    16: 8,
    17: 8,
    18: 8,
}
_TIFF_INT_TYPES = {1: "u1", 3: "u2", 4: "u4", 13: "u4", 16: "u8", 18: "u8"}


def check_image(path: Path, what: str, max_pixels: int, decoder: str = "tifffile") -> ImageHeader:
    """Check a submitted PNG or TIFF from its header before a decoder sees it.

    Refuses an image of more than ``max_pixels`` pixels (the caller passes a bound a few
    times the test image's, and compares the exact size with its own message), a PNG file far
    larger than its pixels or of too many chunks, a TIFF of more than ``MAX_TIFF_PAGES`` pages
    or with tags, strips or tiles outside the file. ``decoder`` "tifffile" (its zlib/LZMA inflaters are unbounded, and
    it needs imagecodecs for most codecs) also checks the compression and that every strip
    inflates to no more than its share of the page; "pillow" (libtiff decodes into the
    declared size) does not. Another format returns ``ImageHeader(None)``: its reader's header
    must be checked by the caller (``check_pixels``) before decoding."""
    with _open(path, what) as f:
        magic = f.read(8)
        if magic == _PNG_SIGNATURE:
            return _check_png(f, what, max_pixels)
        if magic[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            return _check_tiff(f, what, max_pixels, decoder)
    return ImageHeader(None)


def check_pixels(what: str, width: int, height: int, max_pixels: int) -> None:
    """Refuse a decoder's header size (Pillow's ``im.size``) above ``max_pixels``."""
    if width * height > max_pixels:
        raise _refuse(
            what, f"image is {width} x {height} pixels (width x height), far larger than the test image"
        )


def _check_png(f: IO[bytes], what: str, max_pixels: int) -> ImageHeader:
    ihdr = f.read(25)
    if len(ihdr) < 25 or ihdr[:8] != b"\x00\x00\x00\x0dIHDR":
        raise _refuse(what, "not a readable PNG image (no IHDR chunk first)")
    width, height, bits, colour, method, filt, interlace = struct.unpack(">IIBBBBB", ihdr[8:21])
    if colour not in _PNG_SAMPLES or bits not in _PNG_DEPTHS[colour] or method or filt or interlace > 1:
        raise _refuse(
            what, f"not a readable PNG image (invalid IHDR: colour type {colour}, bit depth {bits})"
        )
    if width < 1 or height < 1:
        raise _refuse(what, f"PNG image is {width} x {height} pixels")
    check_pixels(what, width, height, max_pixels)
    raw = height * (1 + math.ceil(width * _PNG_SAMPLES[colour] * bits / 8))
    size = _size(f)
    if size > 2 * raw + 16 * 2**20:
        raise _refuse(what, f"PNG file of {_mib(size)} is far larger than its {width} x {height} pixels need")
    # Pillow walks every chunk (a million empty ones take seconds): writers use a handful plus
    # one IDAT per 8-64 KiB of data
    limit, count, pos = 1024 + size // 256, 0, 33
    while pos + 12 <= size:
        f.seek(pos)
        length, kind = struct.unpack(">I4s", f.read(8))
        if pos + 12 + length > size:
            raise _refuse(what, f"PNG chunk {kind!r} runs past the end of the file")
        count += 1
        if count > limit:
            raise _refuse(what, f"PNG file has more than {limit} chunks")
        if kind == b"IEND":
            break
        pos += 12 + length
    return ImageHeader("PNG", width, height, _PNG_SAMPLES[colour])


@dataclass
class _Ifd:
    tags: dict[int, tuple[int, int, int]]  # tag -> (type, count, offset of the value)
    next: int


class _Tiff:
    def __init__(self, f: IO[bytes], what: str) -> None:
        self.f, self.what, self.size = f, what, _size(f)
        f.seek(0)
        head = f.read(16)
        self.e = "<" if head[:2] == b"II" else ">"
        (version,) = struct.unpack(self.e + "H", head[2:4])
        self.big = version == 43
        if len(head) < (16 if self.big else 8):
            raise _refuse(what, "TIFF file is truncated")
        if self.big:
            bytesize, _zero, first = struct.unpack(self.e + "HHQ", head[4:16])
            if bytesize != 8:
                raise _refuse(what, "not a readable TIFF (BigTIFF offset size is not 8)")
        else:
            (first,) = struct.unpack(self.e + "I", head[4:8])
        self.first = first

    def ifd(self, offset: int) -> _Ifd:
        n_fmt, n_size, entry, tail = ("Q", 8, 20, "Q") if self.big else ("H", 2, 12, "I")
        if offset < 8 or offset + n_size > self.size:
            raise _refuse(self.what, f"TIFF page offset {offset} is outside the file")
        self.f.seek(offset)
        (n,) = struct.unpack(self.e + n_fmt, self.f.read(n_size))
        if n > MAX_TIFF_TAGS:
            raise _refuse(self.what, f"TIFF page has {n} tags (at most {MAX_TIFF_TAGS})")
        body = self.f.read(n * entry + struct.calcsize(tail))
        if len(body) < n * entry + struct.calcsize(tail):
            raise _refuse(self.what, "TIFF page directory is truncated")
        tags: dict[int, tuple[int, int, int]] = {}
        inline = 8 if self.big else 4
        for k in range(n):
            e = body[k * entry : (k + 1) * entry]
            if self.big:
                tag, typ, count = struct.unpack(self.e + "HHQ", e[:12])
                value_at = offset + n_size + k * entry + 12
                pointer = struct.unpack(self.e + "Q", e[12:20])[0]
            else:
                tag, typ, count = struct.unpack(self.e + "HHI", e[:8])
                value_at = offset + n_size + k * entry + 8
                pointer = struct.unpack(self.e + "I", e[8:12])[0]
            itemsize = _TIFF_TYPE_SIZES.get(typ)
            if itemsize is None:
                continue  # unknown type: readers skip it
            nbytes = count * itemsize
            if nbytes > MAX_TIFF_TAG_BYTES:
                raise _refuse(
                    self.what, f"TIFF tag {tag} holds {_mib(nbytes)} (at most {_mib(MAX_TIFF_TAG_BYTES)})"
                )
            if nbytes > inline:
                value_at = pointer
                if value_at + nbytes > self.size:
                    raise _refuse(self.what, f"TIFF tag {tag} points outside the file")
            tags[tag] = (typ, count, value_at)
        (nxt,) = struct.unpack(self.e + tail, body[n * entry :])
        return _Ifd(tags, nxt)

    def values(self, ifd: _Ifd, tag: int, default: int | None = None) -> np.ndarray:
        if tag not in ifd.tags:
            if default is None:
                raise _refuse(self.what, f"TIFF page lacks tag {tag}")
            return np.array([default], dtype=np.uint64)
        typ, count, at = ifd.tags[tag]
        kind = _TIFF_INT_TYPES.get(typ)
        if kind is None or count < 1:
            raise _refuse(self.what, f"TIFF tag {tag} is not an unsigned integer")
        self.f.seek(at)
        dt = np.dtype(self.e + kind)
        data = self.f.read(count * dt.itemsize)
        return np.frombuffer(data, dtype=dt).astype(np.uint64)

    def one(self, ifd: _Ifd, tag: int, default: int | None = None) -> int:
        return int(self.values(ifd, tag, default)[0])


def _check_tiff(f: IO[bytes], what: str, max_pixels: int, decoder: str) -> ImageHeader:
    t = _Tiff(f, what)
    pages: list[_Ifd] = []
    seen: set[int] = set()
    offset = t.first
    while offset:
        if offset in seen:
            raise _refuse(what, "TIFF page directories form a loop")
        if len(pages) == MAX_TIFF_PAGES:
            raise _refuse(
                what, f"TIFF file has more than {MAX_TIFF_PAGES} pages (an answer is one 2-D image)"
            )
        seen.add(offset)
        ifd = t.ifd(offset)
        pages.append(ifd)
        offset = ifd.next
    if not pages:
        raise _refuse(what, "TIFF file has no image")
    first: ImageHeader | None = None
    for ifd in pages:
        header = _check_tiff_page(t, ifd, what, max_pixels, decoder)
        first = first or header
    assert first is not None
    return ImageHeader(
        "TIFF", first.width, first.height, first.samples, first.depth, first.planar, len(pages)
    )


def _check_tiff_page(t: _Tiff, ifd: _Ifd, what: str, max_pixels: int, decoder: str) -> ImageHeader:
    width, height = t.one(ifd, 256), t.one(ifd, 257)
    depth = t.one(ifd, 32997, 1)
    samples = t.one(ifd, 277, 1)
    planar = t.one(ifd, 284, 1)
    if min(width, height, depth, samples) < 1 or samples > 16:
        raise _refuse(what, f"TIFF page is {width} x {height} x {depth} pixels of {samples} samples")
    if width * height * depth > max_pixels:
        raise _refuse(
            what, f"TIFF page is {width} x {height} pixels (width x height), far larger than the test image"
        )
    bits = t.values(ifd, 258, 1)
    if len(bits) not in (1, samples) or int(bits.max()) > 64 or int(bits.min()) < 1:
        raise _refuse(what, "TIFF BitsPerSample is not 1-64 per sample")
    bits_px = int(bits[0]) * samples if len(bits) == 1 else int(bits.sum())
    if width * height * depth * bits_px > max_pixels * 64:
        raise _refuse(
            what,
            f"TIFF page of {width} x {height} pixels of {bits_px} bits is far larger than the test image",
        )
    if 330 in ifd.tags and ifd.tags[330][1] > MAX_TIFF_PAGES:
        raise _refuse(what, f"TIFF page has more than {MAX_TIFF_PAGES} sub-images")
    header = ImageHeader("TIFF", width, height, samples, depth, planar)
    compression = t.one(ifd, 259, 1)
    tiled = 322 in ifd.tags
    offsets = t.values(ifd, 324 if tiled else 273)
    counts = t.values(ifd, 325 if tiled else 279)
    if len(offsets) != len(counts) or len(offsets) > MAX_TIFF_SEGMENTS:
        raise _refuse(what, f"TIFF page has {len(offsets)} strip/tile offsets and {len(counts)} byte counts")
    if (
        max(int(offsets.max(initial=0)), int(counts.max(initial=0)), int((offsets + counts).max(initial=0)))
        > t.size
    ):
        raise _refuse(what, "TIFF strip or tile lies outside the file")
    if decoder != "tifffile":
        return header
    name = TIFF_COMPRESSIONS.get(compression)
    if name is None:
        raise _refuse(
            what,
            f"TIFF compression {compression} is not supported (write it uncompressed or with zlib/deflate)",
        )
    # bits of one pixel in one strip/tile: all samples, or one when planes are separate
    seg_bits = bits_px // samples if planar == 2 and samples > 1 else bits_px
    if tiled:
        tw, tl, td = t.one(ifd, 322), t.one(ifd, 323), t.one(ifd, 32998, 1)
        if min(tw, tl, td) < 1 or tw * tl * td > max(max_pixels, 1 << 16) * 4:
            raise _refuse(what, f"TIFF tile of {tw} x {tl} pixels is not valid here")
        segment = math.ceil(tw * seg_bits / 8) * tl * td
    else:
        rows = min(t.one(ifd, 278, height * depth), height) if depth == 1 else height * depth
        if rows < 1:
            raise _refuse(what, "TIFF RowsPerStrip is 0")
        segment = math.ceil(width * seg_bits / 8) * rows
    cap = 2 * segment + 4096
    if name == "none":
        return header
    if name == "packbits":
        if int(counts.max(initial=0)) > cap:
            raise _refuse(what, "a TIFF PackBits strip is longer than its pixels can need")
        return header
    for at, n in zip(offsets.tolist(), counts.tolist(), strict=True):
        if n and _inflated_size(t.f, at, n, cap, name) > cap:
            raise _refuse(what, f"a TIFF {name} strip inflates to more than its {segment} bytes of pixels")
    return header


def _inflated_size(f: IO[bytes], offset: int, length: int, cap: int, name: str) -> int:
    """How many bytes one zlib or LZMA strip inflates to, counting at most ``cap + 1``
    (concatenated LZMA streams included, as ``lzma.decompress`` reads them)."""
    f.seek(offset)
    remaining = length

    def more() -> bytes:
        nonlocal remaining
        chunk = f.read(min(_CHUNK, remaining)) if remaining > 0 else b""
        remaining -= len(chunk)
        return chunk

    total = 0
    try:
        if name == "deflate":
            z = zlib.decompressobj()
            pending = more()
            while pending and total <= cap and not z.eof:
                total += len(z.decompress(pending, cap + 1 - total))
                pending = z.unconsumed_tail or more()
            return total
        x = lzma.LZMADecompressor()
        while total <= cap:
            if x.eof:
                rest = x.unused_data + more()
                if not rest.strip(b"\x00"):
                    break
                x = lzma.LZMADecompressor()
                total += len(x.decompress(rest, cap + 1 - total))
            elif x.needs_input:
                chunk = more()
                if not chunk:
                    break
                total += len(x.decompress(chunk, cap + 1 - total))
            else:
                total += len(x.decompress(b"", cap + 1 - total))
    except (zlib.error, lzma.LZMAError):
        return 0  # corrupt: the decoder will say so
    return total


# --- JSON and small text files -----------------------------------------------------------------


def read_bytes(path: Path, what: str, max_bytes: int) -> bytes:
    """A submitted file's bytes, refused if it holds more than ``max_bytes`` (read at most one
    byte past the cap, whatever the file system says its size is)."""
    with _open(path, what) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _refuse(what, f"{path.name} is larger than {_mib(max_bytes)}")
    return data


def read_text(path: Path, what: str, max_bytes: int) -> str:
    """A small submitted text file (UTF-8, a BOM allowed), at most ``max_bytes``."""
    try:
        return read_bytes(path, what, max_bytes).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refuse(what, f"{path.name} is not UTF-8 text") from None


def load_json(path: Path, what: str, max_bytes: int) -> Any:
    """A submitted JSON document, parsed within bounds: at most ``max_bytes`` bytes, at most one
    array or object per 32 bytes of that cap and one value separator per 8 (what a parsed
    document costs in memory: a few hundred bytes per container, tens per value, whatever
    whitespace the file holds), integers of at most 18 digits (huge ones take quadratic time
    to convert and overflow every consumer), nesting within Python's recursion limit."""
    data = read_bytes(path, what, max_bytes)
    containers = data.count(b"[") + data.count(b"{")
    if containers > max_bytes // 32:
        raise _refuse(what, f"{path.name} holds more than {max_bytes // 32} JSON arrays and objects")
    if data.count(b",") > max_bytes // 8:
        raise _refuse(what, f"{path.name} holds more than {max_bytes // 8} JSON values")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refuse(what, f"{path.name} is not UTF-8 text") from None

    def integer(s: str) -> int:
        if len(s.lstrip("-")) > MAX_JSON_INT_DIGITS:
            raise _refuse(what, f"{path.name} holds an integer of {len(s)} digits")
        return int(s)

    try:
        return json.loads(text, parse_int=integer)
    except json.JSONDecodeError as exc:
        raise _refuse(what, f"{path.name} is not valid JSON: {exc}") from None
    except RecursionError:
        raise _refuse(what, f"{path.name} is nested too deeply") from None
    except ValueError as exc:
        raise _refuse(what, f"{path.name} is not valid JSON: {exc}") from None
