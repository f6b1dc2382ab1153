"""A tiny PNG encoder for the image-calibration tests (stdlib zlib + NumPy): 8-bit grey/RGB/RGBA with a
chosen filter type per row, so every reconstruction path of keras2edge's decoder is exercised, and
header fields (bit depth, colour type, interlace) can be set to what the decoder must refuse."""

from __future__ import annotations

import struct
import zlib

import numpy as np

COLOUR = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filter(kind: int, row: bytes, prev: bytes, bpp: int) -> bytes:
    out = bytearray(len(row))
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        pred = {0: 0, 1: a, 2: b, 3: (a + b) // 2, 4: _paeth(a, b, c)}[kind]
        out[i] = (x - pred) & 0xFF
    return bytes(out)


def encode_png(img: np.ndarray, filters: list[int] | None = None, *, depth: int = 8, colour: int | None = None,
               interlace: int = 0) -> bytes:
    """(H, W, C) uint8 -> PNG bytes; ``filters[y % len(filters)]`` is row y's filter type (default: all 0)."""
    h, w, c = img.shape
    filters = filters or [0]
    raw = bytearray()
    prev = bytes(w * c)
    for y in range(h):
        row = img[y].tobytes()
        kind = filters[y % len(filters)]
        raw += bytes([kind]) + _filter(kind, row, prev, c)
        prev = row
    ihdr = struct.pack(">IIBBBBB", w, h, depth, COLOUR[c] if colour is None else colour, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"tEXt", b"Comment\x00test")
            + _chunk(b"IDAT", zlib.compress(bytes(raw))) + _chunk(b"IEND", b""))
