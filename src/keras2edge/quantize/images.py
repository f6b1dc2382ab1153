"""Calibration images: a folder of ``.png``/``.jpg``/``.jpeg`` files (or one file) -> batches for a model
with one NHWC image input, streamed ``batch_size`` images at a time (memory: one batch).

Each image, in file-name order, becomes one sample:

1. decoded to 8-bit samples: PNG by keras2edge's own decoder (:mod:`.png`: grey, grey+alpha, RGB,
   RGBA; no dependency), JPEG by Pillow, an optional extra (``pip install keras2edge[images]``): a
   JPEG decoder is too large and too exposed to hostile files to write here, and Pillow is the
   maintained one; without it a JPEG is refused with a message naming the extra;
2. to the input's channels, in **RGB order**: 3 channels take RGB (grey repeated; alpha dropped), 1
   channel takes grey (RGB by ITU-R BT.601 luma, 0.299 R + 0.587 G + 0.114 B); other channel counts
   are refused. A model trained on BGR (Caffe-style) images needs arrays (``.npy``) instead;
3. resized to the input's height and width (bilinear, half-pixel centres: TensorFlow's
   ``tf.image.resize(..., "bilinear")`` without antialiasing; no crop, the aspect ratio is not kept);
4. ``x = pixel * scale + offset`` on the 0..255 values (``--preprocess SCALE,OFFSET``; default 1, 0:
   raw pixel values). E.g. ``1/127.5,-1`` for MobileNet's [-1, 1], ``1/255,0`` for [0, 1].

:class:`ImageFolder` carries a path and its preprocessing as a calibration source
(``keras2edge.quantize(..., calibration=ImageFolder("imgs/", 1/127.5, -1))``); a plain path to a
folder of images is read with the default preprocessing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import QuantizationError
from .datacheck import InputSpec
from .png import read_png

PNG_SUFFIXES = (".png",)
JPEG_SUFFIXES = (".jpg", ".jpeg")
SUFFIXES = PNG_SUFFIXES + JPEG_SUFFIXES
#: BT.601 luma weights (R, G, B).
LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class ImageFolder:
    """A folder of images (or one image file) and the preprocessing ``x = pixel * scale + offset``."""

    path: str | os.PathLike[str]
    scale: float = 1.0
    offset: float = 0.0

    def __str__(self) -> str:
        return str(self.path)


def parse_preprocess(text: str) -> tuple[float, float]:
    """``"SCALE,OFFSET"`` (each a number or a fraction like ``1/127.5``) -> (scale, offset)."""
    parts = text.split(",")
    if len(parts) != 2:
        raise QuantizationError(f"--preprocess {text!r}: expected SCALE,OFFSET, e.g. 1/127.5,-1")
    out = []
    for p in parts:
        num, _, den = p.strip().partition("/")
        try:
            out.append(float(num) / (float(den) if den else 1.0))
        except (ValueError, ZeroDivisionError):
            raise QuantizationError(f"--preprocess {text!r}: {p.strip()!r} is not a number") from None
    return out[0], out[1]


def is_image(path: Path) -> bool:
    """Whether ``path``'s suffix is an image this module reads."""
    return path.suffix.lower() in SUFFIXES


def holds_images(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an image file, or a folder with at least one image (read by :func:`open_images`)."""
    p = Path(path)
    if p.is_dir():
        return any(is_image(e) for e in p.iterdir() if not e.name.startswith("."))
    return is_image(p)


def read_image(path: Path) -> np.ndarray:
    """The image in ``path`` as (height, width, channels) uint8 (PNG: own decoder; JPEG: Pillow)."""
    if path.suffix.lower() in PNG_SUFFIXES:
        return read_png(path)
    try:
        from PIL import Image
    except ImportError:
        raise QuantizationError(f"calibration image '{path}': reading JPEG needs Pillow, an optional extra: "
                                "pip install 'keras2edge[images]' (or use PNG, which keras2edge reads itself)") from None
    try:
        with Image.open(path) as im:
            im = im.convert("RGB" if im.mode not in ("L", "RGB") else im.mode)
            arr = np.asarray(im, np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise QuantizationError(f"calibration image '{path}': cannot decode it ({e})") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def to_channels(img: np.ndarray, channels: int, where: str) -> np.ndarray:
    """(H, W, c) uint8 with c in 1..4 -> (H, W, ``channels``) float32 in RGB order (see the module)."""
    c = img.shape[2]
    colour = img[:, :, :3] if c >= 3 else img[:, :, :1]  # alpha dropped
    x = colour.astype(np.float32)
    if channels == 3:
        return np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x
    if channels == 1:
        if x.shape[2] == 1:
            return x
        return (x @ np.array(LUMA, np.float32))[:, :, None]
    raise QuantizationError(f"{where}: the model input has {channels} channels; images feed 1 (grey) or 3 (RGB)")


def resize_bilinear(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, C) float32 -> (height, width, C), bilinear with half-pixel centres (no antialiasing)."""

    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (src - lo).astype(np.float32)

    if x.shape[:2] == (height, width):
        return x
    r0, r1, fr = axis(x.shape[0], height)
    c0, c1, fc = axis(x.shape[1], width)
    rows = x[r0] * (1 - fr)[:, None, None] + x[r1] * fr[:, None, None]
    return rows[:, c0] * (1 - fc)[None, :, None] + rows[:, c1] * fc[None, :, None]


class ImagePart:
    """The images of a folder (or one file) as samples of the model's single image input."""

    def __init__(self, files: Sequence[Path], inputs: Sequence[InputSpec], scale: float = 1.0,
                 offset: float = 0.0, where: str = "calibration images") -> None:
        self.where = where
        if len(inputs) != 1:
            raise QuantizationError(f"{where}: images feed a model with one input; this one has {len(inputs)} "
                                    f"({', '.join(n for n, _ in inputs)}): use an .npz keyed by input name")
        self.name, shape = inputs[0]
        dims = list(shape)
        if len(dims) != 4 or any(d is None or d == -1 for d in dims[1:]):
            raise QuantizationError(f"{where}: input {self.name!r} has shape {dims}; images need an NHWC input "
                                    "with a fixed height, width and channels (pin it with --input-shape)")
        self.height, self.width, self.channels = (int(d) for d in dims[1:])  # type: ignore[arg-type]
        if self.channels not in (1, 3):
            raise QuantizationError(f"{where}: input {self.name!r} has {self.channels} channels; images feed 1 "
                                    "(grey) or 3 (RGB)")
        self.files = list(files)
        self.scale, self.offset = float(scale), float(offset)
        self.count: int | None = len(self.files)

    def sample(self, path: Path) -> np.ndarray:
        """One image as the model's (height, width, channels) float32 input, preprocessed."""
        x = to_channels(read_image(path), self.channels, f"calibration image '{path}'")
        x = resize_bilinear(x, self.height, self.width)
        return (x * np.float32(self.scale) + np.float32(self.offset)).astype(np.float32, copy=False)

    def chunks(self, size: int) -> Iterator[tuple[dict[str, np.ndarray], str]]:
        for s in range(0, len(self.files), size):
            group = self.files[s:s + size]
            batch = np.stack([self.sample(p) for p in group])
            yield {self.name: batch}, f"{self.where} {group[0].name}..{group[-1].name}"


def open_images(source: ImageFolder | str | os.PathLike[str], inputs: Sequence[InputSpec]) -> list[ImagePart]:
    """The image part of ``source`` (a folder of images or one image file; an :class:`ImageFolder`
    carries its preprocessing). A folder with anything but images (hidden files aside) is refused."""
    folder = source if isinstance(source, ImageFolder) else ImageFolder(source)
    p = Path(folder.path)
    where = f"calibration images '{p}'"
    if p.is_dir():
        entries = sorted((e for e in p.iterdir() if not e.name.startswith(".")), key=lambda e: e.name)
        others = [e.name for e in entries if not (e.is_file() and is_image(e))]
        if others:
            raise QuantizationError(f"{where}: '{others[0]}' is not a .png/.jpg/.jpeg image; an image folder holds "
                                    "only images (arrays go in a folder of .npy/.npz)")
        files = entries
    elif p.is_file() and is_image(p):
        files = [p]
    else:
        raise QuantizationError(f"{where}: not an image file or a folder of images (.png, .jpg, .jpeg)")
    if not files:
        raise QuantizationError(f"{where}: the folder holds no images")
    return [ImagePart(files, inputs, folder.scale, folder.offset, where)]


__all__ = ["JPEG_SUFFIXES", "PNG_SUFFIXES", "SUFFIXES", "ImageFolder", "ImagePart", "holds_images", "is_image",
           "open_images",
           "parse_preprocess", "read_image", "resize_bilinear", "to_channels"]
