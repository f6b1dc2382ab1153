"""Hostile calibration images (quantize/png.py, quantize/images.py): PNG files crafted byte by byte with
zlib/struct (huge declared sizes, a decompression bomb, truncated or corrupt chunks, missing chunks, bad
filter bytes, unsupported formats), image folders holding symlinks out of the folder, non-images and
thousands of files, and JPEG through Pillow (its own bomb limit, the size checked before decoding, only
the JPEG decoder tried). Each must give one QuantizationError naming the file, bounded memory, and on
the CLI exit 1 with one line and no output file."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from keras2edge.cli import main
from keras2edge.errors import QuantizationError
from keras2edge.quantize import images as images_module
from keras2edge.quantize.images import ImageFolder, open_images, read_image
from keras2edge.quantize.png import MAX_PIXELS, SIGNATURE, decode_png, read_png

from .png_writer import encode_png
from .test_trained_fixtures import TRAINED

INPUT = [("x", [None, 8, 8, 1])]


def chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    """One PNG chunk; ``crc`` overrides the correct CRC."""
    crc = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def ihdr(width: int, height: int, depth: int = 8, colour: int = 0, interlace: int = 0) -> bytes:
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace))


def png(*chunks: bytes) -> bytes:
    return SIGNATURE + b"".join(chunks)


def grey(width: int, height: int, filter_byte: int = 0) -> bytes:
    """A valid grey PNG of zeros whose rows use ``filter_byte``."""
    raw = (bytes([filter_byte]) + bytes(width)) * height
    return png(ihdr(width, height), chunk(b"IDAT", zlib.compress(raw)), chunk(b"IEND", b""))


def refused(data: bytes, *words: str) -> str:
    with pytest.raises(QuantizationError) as e:
        decode_png(data, "calibration image 'h.png'")
    msg = str(e.value)
    assert "'h.png'" in msg and "\n" not in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


def test_valid_baseline() -> None:
    np.testing.assert_array_equal(decode_png(grey(3, 2)), np.zeros((2, 3, 1), np.uint8))


@pytest.mark.parametrize("width,height", [(1 << 31, 1 << 31), (1 << 31, 1), (1, (1 << 32) - 1), (MAX_PIXELS + 1, 1),
                                          (0, 5), (5, 0)])
def test_declared_size_refused_before_allocation(width: int, height: int) -> None:
    # the IDAT is tiny: nothing of the declared size may be allocated or inflated before the refusal
    refused(png(ihdr(width, height), chunk(b"IDAT", zlib.compress(b"\x00\x00")), chunk(b"IEND", b"")), "pixels")


def test_decompression_bomb_bounded() -> None:
    """IHDR says 1x1 but the IDAT inflates to 1 GiB: inflation stops at the declared size + 1 byte."""
    bomb = zlib.compressobj(9)
    stream = b"".join(bomb.compress(bytes(1 << 20)) for _ in range(1 << 10)) + bomb.flush()
    assert len(stream) < 2 << 20  # ~1 MB of file for 1 GiB of zeros
    refused(png(ihdr(1, 1), chunk(b"IDAT", stream), chunk(b"IEND", b"")), "the header declares 2")


def test_decompressor_called_with_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every decompress call made for a PNG carries ``max_length`` (the bomb test's proof is the bound)."""
    calls: list[tuple[int, int]] = []
    real = zlib.decompressobj

    class Spy:
        def __init__(self) -> None:
            self.obj = real()

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            calls.append((len(data), max_length))
            return self.obj.decompress(data, max_length)

        def __getattr__(self, name: str) -> object:
            return getattr(self.obj, name)

    monkeypatch.setattr(zlib, "decompressobj", Spy)
    decode_png(grey(4, 3))
    assert calls and all(0 < bound <= 3 * 5 + 1 for _, bound in calls), calls


def test_truncated_and_corrupt_chunks() -> None:
    good = grey(4, 4)
    for cut in (len(SIGNATURE) + 3, len(SIGNATURE) + 10, 40, len(good) - 13, len(good) - 1):
        refused(good[:cut], "truncated")
    # a chunk length larger than the whole file
    refused(png(ihdr(2, 2), struct.pack(">I", 0x7FFFFFFF) + b"IDAT" + bytes(10)), "truncated IDAT chunk")
    refused(png(ihdr(2, 2), struct.pack(">I", 0xFFFFFFFF) + b"IDAT" + bytes(10)), "truncated IDAT chunk")
    # bad CRCs are refused, on critical and ancillary chunks alike
    refused(png(chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0), crc=0), chunk(b"IEND", b"")), "CRC")
    refused(png(ihdr(1, 1), chunk(b"tEXt", b"a\x00b", crc=1), chunk(b"IDAT", zlib.compress(b"\x00\x00")),
                chunk(b"IEND", b"")), "tEXt chunk fails its CRC")
    # not a zlib stream
    refused(png(ihdr(1, 1), chunk(b"IDAT", b"\x00garbage"), chunk(b"IEND", b"")), "not a valid zlib stream")
    # a zlib stream cut short
    refused(png(ihdr(4, 4), chunk(b"IDAT", zlib.compress(bytes(20))[:-6]), chunk(b"IEND", b"")))


def test_missing_chunks() -> None:
    data = zlib.compress(b"\x00\x00")
    refused(png(chunk(b"IDAT", data), chunk(b"IEND", b"")), "IHDR")
    refused(png(ihdr(1, 1), chunk(b"IEND", b"")), "declares 2")  # no IDAT: no image data
    refused(png(ihdr(1, 1), chunk(b"IDAT", data)), "no IEND")
    refused(SIGNATURE, "no IEND")
    refused(b"", "bad signature")
    # IHDR must come first, once (PNG §5.6)
    refused(png(chunk(b"IDAT", data), ihdr(1, 1), chunk(b"IEND", b"")), "IHDR")
    refused(png(ihdr(1, 1), ihdr(1 << 12, 1 << 12), chunk(b"IDAT", data), chunk(b"IEND", b"")), "IHDR")


def test_chunk_type_with_control_bytes_reported_on_one_line() -> None:
    """A chunk type is 4 ASCII letters; anything else (a newline) is refused without printing raw bytes."""
    msg = refused(png(ihdr(1, 1), struct.pack(">I", 99) + b"a\nb\x1b" + bytes(3)), "chunk")
    assert "\x1b" not in msg
    refused(png(ihdr(1, 1), chunk(b"\x00\n\r\x1b", b""), chunk(b"IDAT", zlib.compress(b"\x00\x00")),
                chunk(b"IEND", b"")), "chunk type")


@pytest.mark.parametrize("kind", [5, 6, 255])
def test_bad_filter_byte(kind: int) -> None:
    refused(grey(3, 3, kind), f"unknown filter type {kind}")


@pytest.mark.parametrize("depth,colour,interlace,word", [
    (16, 0, 0, "16-bit"), (16, 6, 0, "16-bit"), (1, 0, 0, "1-bit"), (4, 0, 0, "4-bit"),
    (8, 3, 0, "palette"), (8, 1, 0, "colour type 1"), (8, 7, 0, "colour type 7"), (8, 2, 1, "interlaced"),
    (8, 2, 2, "interlaced"),
])
def test_unsupported_formats(depth: int, colour: int, interlace: int, word: str) -> None:
    refused(png(ihdr(2, 2, depth, colour, interlace), chunk(b"IDAT", zlib.compress(bytes(20))),
                chunk(b"IEND", b"")), word, "supported PNG")


def test_oversized_file_refused_before_reading(tmp_path: Path) -> None:
    """A file larger than any image the decoder accepts is refused from its size, not read into memory."""
    path = tmp_path / "big.png"
    with open(path, "wb") as f:
        f.write(grey(1, 1))
        f.truncate(1 << 40)  # a sparse 1 TiB file
    with pytest.raises(QuantizationError, match="big.png.*bytes"):
        read_png(path)


# --- the image folder -------------------------------------------------------------------------------


def _image(path: Path) -> Path:
    path.write_bytes(encode_png(np.full((8, 8, 1), 7, np.uint8)))
    return path


def test_symlink_out_of_the_folder_refused(tmp_path: Path) -> None:
    outside = _image(tmp_path / "secret.png")
    folder = tmp_path / "imgs"
    folder.mkdir()
    _image(folder / "a.png")
    (folder / "b.png").symlink_to(outside)
    with pytest.raises(QuantizationError, match=r"imgs.*'b.png' is a symbolic link"):
        open_images(folder, INPUT)
    # also a link to a folder, and a dangling link
    (folder / "b.png").unlink()
    (folder / "c.png").symlink_to(tmp_path)
    with pytest.raises(QuantizationError, match="symbolic link"):
        open_images(folder, INPUT)
    (folder / "c.png").unlink()
    (folder / "d.png").symlink_to(tmp_path / "nothing.png")
    with pytest.raises(QuantizationError, match="symbolic link"):
        open_images(folder, INPUT)


def test_file_swapped_for_symlink_after_listing_not_followed(tmp_path: Path) -> None:
    """The listing is checked, then each file is opened without following a link (no check-then-use race)."""
    outside = _image(tmp_path / "secret.png")
    folder = tmp_path / "imgs"
    folder.mkdir()
    _image(folder / "a.png")
    part = open_images(folder, INPUT)[0]
    (folder / "a.png").unlink()
    (folder / "a.png").symlink_to(outside)
    with pytest.raises(QuantizationError, match=r"a.png.*symbolic link"):
        next(part.chunks(1))


def test_non_images_and_subfolders_refused(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    _image(folder / "a.png")
    (folder / "notes.txt").write_text("x")
    with pytest.raises(QuantizationError, match="'notes.txt' is not a .png/.jpg/.jpeg image"):
        open_images(folder, INPUT)
    (folder / "notes.txt").unlink()
    (folder / "sub.png").mkdir()
    with pytest.raises(QuantizationError, match="'sub.png' is not"):
        open_images(folder, INPUT)
    (folder / "sub.png").rmdir()
    (folder / "x.png").write_bytes(b"just text, not a PNG")
    part = open_images(folder, INPUT)[0]
    with pytest.raises(QuantizationError, match=r"x.png.*not a PNG file"):
        list(part.chunks(8))


def test_thousands_of_files_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """3000 images: listing decodes nothing; each batch decodes only its own images."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    data = encode_png(np.full((8, 8, 1), 7, np.uint8))
    for i in range(3000):
        (folder / f"{i:05d}.png").write_bytes(data)
    decoded: list[str] = []
    real = images_module.read_image
    monkeypatch.setattr(images_module, "read_image", lambda p, *a: decoded.append(p.name) or real(p, *a))
    part = open_images(folder, INPUT)[0]
    assert part.count == 3000 and decoded == []
    batches = part.chunks(16)
    first, _ = next(batches)
    assert first["x"].shape == (16, 8, 8, 1) and len(decoded) == 16
    total = 16 + sum(b["x"].shape[0] for b, _ in batches)
    assert total == 3000 and len(decoded) == 3000


# --- JPEG through Pillow -----------------------------------------------------------------------------


def _jpeg_declaring(path: Path, width: int, height: int, mode: str = "L") -> Path:
    """A small valid JPEG whose SOF0 header is rewritten to declare ``width`` x ``height``."""
    Image.new(mode, (16, 16), 9).save(path, "JPEG")
    data = bytearray(path.read_bytes())
    struct.pack_into(">HH", data, data.index(b"\xff\xc0") + 5, height, width)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("side,words", [(10000, "10000x10000 pixels (at most"),  # ours: above MAX_PIXELS
                                         (65000, "decompression bomb")])  # Pillow's own limit, at open
def test_jpeg_size_checked_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: int,
                                           words: str) -> None:
    """A JPEG declaring more than MAX_PIXELS is refused from its header; nothing is decoded."""
    path = _jpeg_declaring(tmp_path / "huge.jpg", side, side)
    loads: list[int] = []
    real_load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: loads.append(1) or real_load(self))
    with pytest.raises(QuantizationError, match="huge.jpg") as e:
        read_image(path)
    assert words in str(e.value) and loads == []


def test_jpeg_bomb_limit_stays_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even with Pillow's global limit switched off by someone else, the size check holds."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    path = _jpeg_declaring(tmp_path / "huge.jpeg", 30000, 30000, "RGB")
    with pytest.raises(QuantizationError, match=r"huge.jpeg.*30000x30000 pixels"):
        read_image(path)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "PNG"])
def test_jpeg_suffix_only_decodes_jpeg(tmp_path: Path, fmt: str) -> None:
    """A .jpg holding another format is refused: only Pillow's JPEG decoder is ever tried (no format
    sniffing into decoders such as EPS, which runs Ghostscript)."""
    path = tmp_path / "fake.jpg"
    Image.new("RGB", (4, 4)).save(path, fmt)
    with pytest.raises(QuantizationError, match=r"fake.jpg.*not a JPEG"):
        read_image(path)


def test_eps_in_a_jpg_never_reaches_ghostscript(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import EpsImagePlugin

    path = tmp_path / "x.jpg"
    path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 4 4\nshowpage\n")
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: pytest.fail("Ghostscript called"))
    with pytest.raises(QuantizationError, match="x.jpg"):
        read_image(path)


def test_truncated_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "t.jpg"
    Image.new("RGB", (32, 32), (9, 9, 9)).save(path, "JPEG")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(QuantizationError, match=r"t.jpg.*cannot decode"):
        read_image(path)


# --- the CLI ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,data", [
    ("bomb.png", None), ("huge.png", png(ihdr(1 << 31, 1 << 31), chunk(b"IEND", b""))),
    ("crc.png", png(chunk(b"IHDR", bytes(13), crc=0))),
])
def test_cli_hostile_image_one_line_no_output(tmp_path: Path, name: str, data: bytes | None) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    if data is None:
        data = png(ihdr(8, 8), chunk(b"IDAT", zlib.compress(bytes(50 << 20))), chunk(b"IEND", b""))
    (folder / "a.png").write_bytes(encode_png(np.full((8, 8, 1), 7, np.uint8)))
    (folder / name).write_bytes(data)
    out = tmp_path / "m.tflite"
    res = CliRunner().invoke(main, ["quantize", str(TRAINED / "digits_cnn.keras"), "-o", str(out),
                                    "--calibration", str(folder), "--preprocess", "1/16,0"])
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and name in lines[0], res.output
    assert "Traceback" not in res.output and "internal error" not in res.output
    assert not out.exists() and list(tmp_path.glob("*.tflite*")) == []


def test_cli_symlink_in_folder(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    _image(folder / "a.png")
    (folder / "b.png").symlink_to(_image(tmp_path / "outside.png"))
    out = tmp_path / "m.tflite"
    res = CliRunner().invoke(main, ["quantize", str(TRAINED / "digits_cnn.keras"), "-o", str(out),
                                    "--calibration", str(folder)])
    assert res.exit_code == 1 and "symbolic link" in res.output and len(res.output.strip().splitlines()) == 1
    assert not out.exists()


def test_image_folder_object(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a.png").symlink_to(_image(tmp_path / "o.png"))
    with pytest.raises(QuantizationError, match="symbolic link"):
        open_images(ImageFolder(folder, 1 / 255, 0), INPUT)
    assert os.path.islink(folder / "a.png")


def test_file_name_with_newline_stays_one_line(tmp_path: Path) -> None:
    """A hostile file name (a newline, an escape sequence) is quoted, so the error stays one printable line."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a\n\x1b[2Jb.png").write_bytes(b"not a png")
    part = open_images(folder, INPUT)[0]
    with pytest.raises(QuantizationError) as e:
        list(part.chunks(4))
    assert "\n" not in str(e.value) and "\x1b" not in str(e.value) and "not a PNG file" in str(e.value)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_memory_limit_checked_from_the_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    """An image whose float32 form exceeds the memory limit (K2E_MAX_MEMORY, --max-memory) is refused from
    its header, before decoding: exit 1, one line naming the file, no output."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    if suffix == ".png":
        (folder / "big.png").write_bytes(grey(1024, 1024))  # 4 MB of float32 x 3 channels, a 1 kB file
    else:
        _jpeg_declaring(folder / "big.jpg", 1024, 1024)
    monkeypatch.setenv("K2E_MAX_MEMORY", "2M")
    out = tmp_path / "m.tflite"
    res = CliRunner().invoke(main, ["quantize", str(TRAINED / "digits_cnn.keras"), "-o", str(out),
                                    "--calibration", str(folder)])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 1 and len(lines) == 1, res.output
    assert f"big{suffix}" in lines[0] and "1024x1024" in lines[0] and "memory limit" in lines[0], lines[0]
    assert not out.exists()
