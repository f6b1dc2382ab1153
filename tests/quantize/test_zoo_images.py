"""The image reader's resize and PNG decoder against TensorFlow (zoo-marked: needs the zoo extra):
``resize_bilinear`` is documented as ``tf.image.resize(..., "bilinear")`` without antialiasing, and
``decode_png`` must read what ``tf.io.encode_png`` writes (TensorFlow's libpng)."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.quantize.images import resize_bilinear
from keras2edge.quantize.png import decode_png

pytestmark = pytest.mark.zoo


@pytest.mark.parametrize("src, dst", [((24, 24), (12, 12)), ((7, 5), (16, 9)), ((224, 300), (96, 96)),
                                      ((10, 10), (10, 3))])
def test_resize_matches_tensorflow(src: tuple[int, int], dst: tuple[int, int]) -> None:
    import tensorflow as tf

    x = np.random.default_rng(0).uniform(0, 255, (*src, 3)).astype(np.float32)
    want = tf.image.resize(x, dst, method="bilinear", antialias=False).numpy()
    # Equal up to float32 rounding of the sample positions (measured: at most 0.0023 of a 0..255 level
    # at 224x300 -> 96x96, where the scale 224/96 is not exact in binary).
    np.testing.assert_allclose(resize_bilinear(x, *dst), want, rtol=0, atol=5e-3)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_decode_what_tensorflow_encodes(channels: int) -> None:
    import tensorflow as tf

    rng = np.random.default_rng(channels)
    smooth = np.cumsum(rng.integers(0, 3, (33, 47, channels)), axis=1).astype(np.uint8)  # filters get used
    for img in (smooth, rng.integers(0, 256, (20, 31, channels), dtype=np.uint8)):
        data = tf.io.encode_png(img).numpy()
        np.testing.assert_array_equal(decode_png(data), img)
