"""A small PNG decoder (standard library zlib + NumPy) for calibration images: PNG file bytes -> a
(height, width, channels) uint8 array.

Supported, per the PNG specification (ISO/IEC 15948): bit depth 8, colour types 0 (grey, 1 channel),
2 (RGB, 3), 4 (grey + alpha, 2) and 6 (RGBA, 4), no interlacing; every filter type (None, Sub, Up,
Average, Paeth). Refused with a :class:`~keras2edge.errors.QuantizationError` naming the file and what
is supported: palette images (colour type 3), 1/2/4/16-bit samples, Adam7 interlacing (re-save them as
8-bit non-interlaced RGB or grey), a bad signature, a chunk whose CRC does not match, truncated or
oversized image data, and images above :data:`MAX_PIXELS` (checked from the header before anything is
allocated; the zlib stream is inflated with a cap at the size the header declares).

Chunks other than IHDR, IDAT and IEND are skipped (gamma, colour profiles and text are not applied:
calibration wants the stored sample values). Sub and Up rows are reconstructed with NumPy; Average and
Paeth, where each byte depends on the one before it, byte by byte in Python (about 0.1 s for a
224x224 RGB image whose rows all use them).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import QuantizationError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: colour type -> channels
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}
#: Larger images are refused before decoding (64 Mpx).
MAX_PIXELS = 1 << 26


def _fail(where: str, why: str) -> QuantizationError:
    return QuantizationError(f"{where}: {why}; supported PNG: 8-bit grey, grey+alpha, RGB or RGBA, not interlaced")


def read_png(path: str | Path) -> np.ndarray:
    """The image in ``path`` as a (height, width, channels) uint8 array (see the module)."""
    where = f"calibration image '{path}'"
    return decode_png(Path(path).read_bytes(), where)


def decode_png(data: bytes, where: str = "PNG image") -> np.ndarray:
    """PNG bytes -> (height, width, channels) uint8 (see the module); ``where`` names the source in errors."""
    if not data.startswith(SIGNATURE):
        raise _fail(where, "not a PNG file (bad signature)")
    pos, header, idat = len(SIGNATURE), None, []
    while True:
        if pos + 8 > len(data):
            raise _fail(where, "truncated (no IEND chunk)")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            raise _fail(where, f"truncated {kind.decode('latin-1')} chunk")
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise _fail(where, f"{kind.decode('latin-1')} chunk fails its CRC (corrupt file)")
        pos += 12 + length
        if kind == b"IHDR":
            header = _ihdr(body, where)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise _fail(where, "no IHDR chunk")
    width, height, channels = header
    stride = width * channels
    want = height * (1 + stride)
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(b"".join(idat), want + 1)
    except zlib.error as e:
        raise _fail(where, f"image data is not a valid zlib stream ({e})") from None
    if len(raw) != want:
        raise _fail(where, f"image data holds {len(raw)}{'+' if len(raw) > want else ''} bytes, the header "
                           f"declares {want}")
    rows = np.frombuffer(raw, np.uint8).reshape(height, 1 + stride)
    return _unfilter(rows, channels, where).reshape(height, width, channels)


def _ihdr(body: bytes, where: str) -> tuple[int, int, int]:
    if len(body) != 13:
        raise _fail(where, "malformed IHDR chunk")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
    if colour == 3:
        raise _fail(where, "palette (indexed-colour) image")
    if colour not in CHANNELS:
        raise _fail(where, f"unknown colour type {colour}")
    if depth != 8:
        raise _fail(where, f"{depth}-bit samples")
    if interlace:
        raise _fail(where, "Adam7-interlaced image")
    if compression or filtering:
        raise _fail(where, f"unknown compression {compression} / filter method {filtering}")
    if not width or not height or width * height > MAX_PIXELS:
        raise _fail(where, f"{width}x{height} pixels (at most {MAX_PIXELS} pixels are read)")
    return width, height, CHANNELS[colour]


def _unfilter(rows: np.ndarray, bpp: int, where: str) -> np.ndarray:
    """Reverse each row's filter (PNG §9.2); ``bpp`` bytes per pixel. Returns (height, stride) uint8."""
    height, stride = rows.shape[0], rows.shape[1] - 1
    out = np.empty((height, stride), np.uint8)
    prev = np.zeros(stride, np.uint8)
    for y in range(height):
        kind, line = int(rows[y, 0]), rows[y, 1:]
        if kind == 0:
            cur = line.copy()
        elif kind == 1:  # Sub: a running sum of each channel along the row, modulo 256
            cur = (np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.int64) & 0xFF).astype(np.uint8).reshape(-1)
        elif kind == 2:  # Up
            cur = line + prev  # uint8 wraps modulo 256
        elif kind in (3, 4):
            cur = np.frombuffer(_sequential(kind, line.tobytes(), prev.tobytes(), bpp), np.uint8)
        else:
            raise _fail(where, f"row {y} has unknown filter type {kind}")
        out[y] = cur
        prev = cur
    return out


def _sequential(kind: int, line: bytes, prev: bytes, bpp: int) -> bytes:
    """Average (3) or Paeth (4) reconstruction of one row, byte by byte."""
    cur = bytearray(line)
    for i in range(len(cur)):
        a = cur[i - bpp] if i >= bpp else 0
        b = prev[i]
        if kind == 3:
            cur[i] = (cur[i] + ((a + b) >> 1)) & 0xFF
            continue
        c = prev[i - bpp] if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    return bytes(cur)


__all__ = ["CHANNELS", "MAX_PIXELS", "SIGNATURE", "decode_png", "read_png"]
