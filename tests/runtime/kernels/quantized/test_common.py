"""runtime/kernels/quantized/common.py: quantization parameters are checked before a kernel uses them,
and the requantization step equals fixed_point.mbqm plus zero point and clamp."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.runtime import fixed_point as fp
from keras2edge.runtime.errors import RuntimeModelError
from keras2edge.runtime.kernels.base import OpContext, TensorSpec
from keras2edge.runtime.kernels.quantized.common import activation_clamp, per_tensor, qparams, requantize
from keras2edge.runtime.model import Quantization


def _spec(shape, dtype="int8", scale=(0.5,), zp=(0,), axis=0) -> TensorSpec:
    q = None if scale is None else Quantization(np.asarray(scale, np.float32), np.asarray(zp, np.int64), axis)
    return TensorSpec(0, "t", tuple(shape), np.dtype(dtype), None, q)


def _ctx(out: TensorSpec, act: int = 0) -> OpContext:
    return OpContext(3, "CONV_2D", 1, {"fused_activation_function": act}, [out], [out])


def test_per_tensor_and_per_axis() -> None:
    t = _spec((4, 3), scale=(0.25,), zp=(-3,))
    assert per_tensor(_ctx(t), t) == (0.25, -3)
    w = _spec((3, 2), scale=(0.1, 0.2, 0.3), zp=(0,), axis=0)
    p = qparams(_ctx(w), w)
    assert p.axis == 0 and p.zero_point.tolist() == [0, 0, 0] and p.scale.dtype == np.float32
    with pytest.raises(RuntimeModelError, match="per axis"):
        per_tensor(_ctx(w), w)


@pytest.mark.parametrize("kw, message", [
    ({"scale": None}, "no quantization parameters"),
    ({"scale": (0.0,)}, "finite and > 0"),
    ({"scale": (float("nan"),)}, "finite and > 0"),
    ({"zp": (128,)}, r"within \[-128, 127\]"),
    ({"dtype": "uint8", "zp": (-1,)}, r"within \[0, 255\]"),
    ({"scale": (0.1, 0.2), "axis": 1}, "quantized_dimension 1"),
    ({"dtype": "float32"}, "must be int8"),
])
def test_bad_quantization_is_refused_with_the_tensor_named(kw, message) -> None:
    t = _spec((3, 4), **kw)
    with pytest.raises(RuntimeModelError, match=message) as e:
        qparams(_ctx(t), t)
    assert "op #3 CONV_2D" in str(e.value) and "'t'" in str(e.value)


def test_activation_clamp_is_tflm_calculate_activation_range() -> None:
    t = _spec((1,), scale=(0.05,), zp=(-20,))
    assert activation_clamp(_ctx(t, 0), t) == (-128, 127)
    assert activation_clamp(_ctx(t, 1), t) == (-20, 127)  # RELU: q(0) = zp
    assert activation_clamp(_ctx(t, 3), t) == (-20, 100)  # RELU6: zp + round(6 / 0.05) = 100


def test_requantize_is_mbqm_plus_zero_point_clamped() -> None:
    rng = np.random.default_rng(0)
    acc = rng.integers(-(1 << 24), 1 << 24, size=(5, 7)).astype(np.int32)
    m, s = fp.quantize_multiplier(rng.uniform(1e-5, 0.9, size=7))
    out = np.empty(acc.shape, np.int8)
    requantize(acc, m, s, -5, -100, 127, out)
    ref = np.clip(fp.mbqm(acc, m, s) - 5, -100, 127)
    assert np.array_equal(out, ref)
