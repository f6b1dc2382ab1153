"""Image calibration data (quantize/png.py, quantize/images.py): keras2edge's PNG decoder against its
own test encoder (every filter type) and against Pillow (the oracle for files made by a real encoder),
the refusals, JPEG through the optional Pillow extra (and the error naming the extra without it), the
bilinear resize on hand-computed values, channel conversion, preprocessing, streaming a batch of images
at a time, and ``keras2edge quantize --calibration DIR --preprocess``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import keras2edge
from keras2edge.cli import main
from keras2edge.errors import QuantizationError
from keras2edge.quantize.data import CalibrationData
from keras2edge.quantize.images import ImageFolder, parse_preprocess, read_image, resize_bilinear, to_channels
from keras2edge.quantize.png import decode_png

from .algorithm_graphs import mobilenet_like
from .png_writer import encode_png
from .test_trained_fixtures import MANIFEST, TRAINED, _data

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_every_filter_type(channels: int) -> None:
    img = RNG.integers(0, 256, (7, 9, channels), dtype=np.uint8)
    for filters in ([0], [1], [2], [3], [4], [0, 1, 2, 3, 4]):
        np.testing.assert_array_equal(decode_png(encode_png(img, filters)), img, err_msg=str(filters))


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_pillow_written_png(tmp_path: Path, mode: str) -> None:
    """Pillow's encoder (adaptive filters, zlib level 9, split IDAT chunks) decoded as Pillow reads it."""
    x = np.linspace(0, 255, 40 * 33).reshape(40, 33).astype(np.uint8)
    smooth = np.stack([x, np.flipud(x), (x // 2 + 60), 255 - x], axis=2)
    img = Image.fromarray(smooth[:, :, :len(mode)] if len(mode) > 1 else smooth[:, :, 0], mode)
    path = tmp_path / f"{mode}.png"
    img.save(path, optimize=True)
    want = np.asarray(Image.open(path))
    got = read_image(path)
    np.testing.assert_array_equal(got, want.reshape(got.shape))


def test_refusals(tmp_path: Path) -> None:
    img = RNG.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    cases = {
        "palette": (encode_png(img[:, :, :1], colour=3), "palette"),
        "deep": (encode_png(img, depth=16), "16-bit samples"),
        "interlaced": (encode_png(img, interlace=1), "Adam7-interlaced"),
        "signature": (b"GIF89a" + bytes(20), "not a PNG file"),
        "truncated": (encode_png(img)[:-20], "truncated"),
    }
    bad_crc = bytearray(encode_png(img))
    bad_crc[40] ^= 0xFF  # inside the tEXt chunk
    cases["crc"] = (bytes(bad_crc), "fails its CRC")
    for name, (data, why) in cases.items():
        with pytest.raises(QuantizationError, match=why) as e:
            decode_png(data, f"calibration image '{name}.png'")
        assert f"'{name}.png'" in str(e.value) and "supported PNG: 8-bit grey" in str(e.value)
    p = Path(tmp_path / "pal.png")
    Image.fromarray(img).convert("P").save(p)
    with pytest.raises(QuantizationError, match=r"pal.png': palette \(indexed-colour\) image"):
        read_image(p)


def test_jpeg_needs_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img = np.full((6, 5, 3), (200, 100, 50), np.uint8)
    path = tmp_path / "a.jpg"
    Image.fromarray(img).save(path, quality=95)
    got = read_image(path)
    np.testing.assert_array_equal(got, np.asarray(Image.open(path).convert("RGB")))
    assert np.abs(got.astype(int) - img).max() <= 3
    monkeypatch.setitem(sys.modules, "PIL", None)  # Pillow not installed
    with pytest.raises(QuantizationError, match=r"a.jpg': reading JPEG needs Pillow, an optional extra: pip install "
                                                r"'keras2edge\[images\]'"):
        read_image(path)


def test_resize_hand_computed() -> None:
    """2 -> 4 with half-pixel centres: source positions -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped
    to 1), so [0, 4] becomes [0, 1, 3, 4] on each axis; 4 -> 2 samples at 0.5 and 2.5."""
    x = np.array([[0.0, 4.0], [8.0, 12.0]], np.float32)[:, :, None]
    got = resize_bilinear(x, 4, 4)[:, :, 0]
    np.testing.assert_allclose(got[0], [0, 1, 3, 4])
    np.testing.assert_allclose(got[:, 0], [0, 2, 6, 8])
    np.testing.assert_allclose(got[1, 1], 2 + 1)
    y = np.arange(4, dtype=np.float32)[None, :, None] * np.ones((2, 1, 1), np.float32)
    np.testing.assert_allclose(resize_bilinear(y, 2, 2)[0, :, 0], [0.5, 2.5])
    assert resize_bilinear(x, 2, 2) is x


def test_channels_and_preprocess() -> None:
    rgb = np.array([[[255, 0, 0], [0, 255, 0]]], np.uint8)
    np.testing.assert_allclose(to_channels(rgb, 1, "t")[0, :, 0], [0.299 * 255, 0.587 * 255], rtol=1e-6)
    grey = np.array([[[10], [20]]], np.uint8)
    np.testing.assert_array_equal(to_channels(grey, 3, "t")[0, 1], [20, 20, 20])
    rgba = np.array([[[1, 2, 3, 4]]], np.uint8)
    np.testing.assert_array_equal(to_channels(rgba, 3, "t")[0, 0], [1, 2, 3])
    assert parse_preprocess("1/127.5,-1") == (1 / 127.5, -1.0)
    for bad in ("1", "a,1", "1/0,0"):
        with pytest.raises(QuantizationError, match="--preprocess"):
            parse_preprocess(bad)


def _folder(tmp_path: Path, n: int, size: tuple[int, int], channels: int = 3) -> tuple[Path, list[np.ndarray]]:
    d = tmp_path / "imgs"
    d.mkdir()
    imgs = []
    for k in range(n):
        img = RNG.integers(0, 256, (*size, channels), dtype=np.uint8)
        (d / f"{k:03d}.png").write_bytes(encode_png(img, [k % 5]))
        imgs.append(img)
    (d / ".DS_Store").write_bytes(b"ignored")
    return d, imgs


def test_streamed_in_batches(tmp_path: Path) -> None:
    """Images are read a batch at a time: the calibration data's batches are the images, in name order,
    RGB, resized to the input (12x12 from 24x24) and preprocessed."""
    d, imgs = _folder(tmp_path, 10, (24, 24))
    data = CalibrationData(ImageFolder(d, 1 / 127.5, -1.0), [("x", (None, 12, 12, 3))], batch_size=4)
    assert data.count == 10
    (part,) = data.parts
    sizes = [c["x"].shape[0] for c, _ in part.chunks(4)]
    assert sizes == [4, 4, 2]
    batches = list(data)
    assert [b["x"].shape for b in batches] == [(4, 12, 12, 3), (4, 12, 12, 3), (2, 12, 12, 3)]
    want = np.stack([resize_bilinear(i.astype(np.float32), 12, 12) for i in imgs]) / 127.5 - 1
    np.testing.assert_allclose(np.concatenate([b["x"] for b in batches]), want, atol=1e-6)
    # A 2x2 average, exactly: 24 -> 12 samples at source positions 0.5, 2.5, ...
    np.testing.assert_allclose(batches[0]["x"][0, 0, 0], (imgs[0][:2, :2].astype(np.float64).mean((0, 1))) / 127.5 - 1,
                               atol=1e-5)


def test_wrong_models(tmp_path: Path) -> None:
    d, _ = _folder(tmp_path, 2, (8, 8))
    with pytest.raises(QuantizationError, match="images feed a model with one input; this one has 2"):
        CalibrationData(d, [("a", (None, 8, 8, 3)), ("b", (None, 4))])
    with pytest.raises(QuantizationError, match=r"input 'x' has 4 channels; images feed 1 \(grey\) or 3 \(RGB\)"):
        CalibrationData(d, [("x", (None, 8, 8, 4))])
    with pytest.raises(QuantizationError, match=r"shape \[None, None, None, 3\]; images need an NHWC input with a "
                                                r"fixed height"):
        CalibrationData(d, [("x", (None, None, None, 3))])


def test_quantize_from_images_equals_arrays(tmp_path: Path) -> None:
    """The API calibrated on an image folder gives the graph calibrated on the same samples as arrays."""
    g = mobilenet_like("Relu")
    d, imgs = _folder(tmp_path, 12, (12, 12))
    arrays = np.stack(imgs).astype(np.float32) / 127.5 - 1
    a = keras2edge.quantize(g, calibration=ImageFolder(d, 1 / 127.5, -1.0), bias_correction=False)
    b = keras2edge.quantize(g, calibration=arrays, bias_correction=False)
    qa = {n.name: n.attrs["quant"] for n in a.nodes if n.op == "Quantize"}
    qb = {n.name: n.attrs["quant"] for n in b.nodes if n.op == "Quantize"}
    assert qa.keys() == qb.keys()
    for k in qa:
        np.testing.assert_allclose(qa[k].scale, qb[k].scale, rtol=1e-6)


def test_cli_image_folder(tmp_path: Path) -> None:
    """The digits CNN (8x8 grey) calibrated from grey PNGs of its calibration digits (0..16 stored as
    pixel = 15 * v; --preprocess 1/15,0 restores them)."""
    x = _data()["x_calib"][:20].reshape((-1, *MANIFEST["models"]["digits_cnn"]["input_shape"]))
    d = tmp_path / "digits"
    d.mkdir()
    for k, v in enumerate(x):
        Image.fromarray(np.round(v[:, :, 0] * 15).astype(np.uint8), "L").save(d / f"{k:02d}.png")
    out = tmp_path / "q.tflite"
    res = CliRunner().invoke(main, ["quantize", str(TRAINED / "digits_cnn.keras"), "-o", str(out), "--calibration",
                                    str(d), "--preprocess", "1/15,0", "--json"])
    assert res.exit_code == 0, res.output
    assert out.exists()
    res = CliRunner().invoke(main, ["quantize", str(TRAINED / "digits_cnn.keras"), "-o", str(tmp_path / "r.tflite"),
                                    "--calibration", str(d / "00.png"), "--preprocess", "1/15,0"])
    assert res.exit_code == 0, res.output  # one image file
    np.save(tmp_path / "x.npy", x)
    res = CliRunner().invoke(main, ["quantize", str(TRAINED / "digits_cnn.keras"), "-o", str(tmp_path / "s.tflite"),
                                    "--calibration", str(tmp_path / "x.npy"), "--preprocess", "1/15,0"])
    assert res.exit_code == 2 and "--preprocess applies to image calibration data" in res.output
