"""The quantization contract (ir/quant.py): construction rules, value semantics, verify()."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.errors import QuantizationError
from keras2edge.ir import DType, Graph, QuantParams


def test_per_channel_params_compare_and_hash_by_value() -> None:
    a = QuantParams(np.array([0.1, 0.2, 0.3]), np.zeros(3, np.int32), axis=0)
    b = QuantParams([0.1, 0.2, 0.3], [0, 0, 0], axis=0)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != QuantParams([0.1, 0.2, 0.31], [0, 0, 0], axis=0)
    assert a != QuantParams([0.1, 0.2, 0.3], [0, 0, 0], axis=3)
    assert a != QuantParams([0.1, 0.2, 0.3], [0, 0, 0], axis=0, qtype=DType.INT8)
    assert QuantParams.per_tensor(0.5, -3) == QuantParams(np.float32(0.5), np.int64(-3))
    assert QuantParams.per_tensor(0.5, -3) != "QuantParams"


def test_params_are_immutable_copies() -> None:
    scales = np.array([0.5, 0.25], np.float32)
    q = QuantParams.per_channel(scales, axis=1)
    scales[0] = 9.0
    assert q.scale.tolist() == [0.5, 0.25] and q.scale.dtype == np.float32 and q.zero_point.dtype == np.int64
    with pytest.raises(ValueError):
        q.scale[0] = 1.0
    with pytest.raises(AttributeError):
        q.axis = 0  # type: ignore[misc]


@pytest.mark.parametrize(("scale", "zero_point", "axis", "message"), [
    ([], [], None, "at least one"),
    ([0.1, 0.2], [0], 0, "one zero point per scale"),
    ([0.1, 0.2], [0, 0], None, "per-tensor quantization"),
    ([0.0], [0], None, "finite and positive"),
    ([-0.1], [0], None, "finite and positive"),
    ([float("nan")], [0], None, "finite and positive"),
    ([float("inf")], [0], None, "finite and positive"),
    ([0.1], [0.5], None, "must be integers"),
    ([0.1], [2**40], None, "int32 range"),
    ([[0.1]], [[0]], None, "1-D"),
    (["a"], [0], None, "number"),
    ([0.1], [0], -1, "non-negative int"),
    ([0.1], [0], True, "non-negative int"),
])
def test_invalid_params_are_refused(scale: object, zero_point: object, axis: object, message: str) -> None:
    with pytest.raises(QuantizationError, match=message):
        QuantParams(scale, zero_point, axis)  # type: ignore[arg-type]


@pytest.mark.parametrize(("params", "shape", "dtype", "message"), [
    (QuantParams.per_tensor(0.1, 128), (1, 4), DType.INT8, r"outside the int8 range \[-128, 127\]"),
    (QuantParams.per_tensor(0.1, -1), (1, 4), DType.UINT8, "outside the uint8 range"),
    (QuantParams.per_tensor(0.1, 3), (1, 4), DType.INT16, "symmetric"),
    (QuantParams.per_tensor(0.1, 1), (4,), DType.INT32, "symmetric"),
    (QuantParams.per_channel([0.1, 0.2], axis=3), (2, 2, 2), DType.INT8, "axis 3 out of range"),
    (QuantParams.per_channel([0.1, 0.2], axis=0), (3, 2), DType.INT8, "2 per-channel scales for 3 channels"),
    (QuantParams([0.1, 0.2], [1, 0], axis=0), (2, 2), DType.INT8, "symmetric"),
    (QuantParams.per_tensor(0.1, 0), (4,), DType.FLOAT32, "must say which integer type"),
    (QuantParams.per_tensor(0.1, 0), (4,), DType.BOOL, "cannot carry"),
    (QuantParams.per_tensor(0.1, 0, DType.INT16), (4,), DType.INT8, "planned as int16"),
])
def test_verify_against_the_value(params: QuantParams, shape: tuple[int, ...], dtype: DType, message: str) -> None:
    with pytest.raises(QuantizationError, match=message):
        params.verify(shape, dtype, "value x")


def test_valid_params_verify() -> None:
    QuantParams.per_tensor(1 / 256, -128).verify((1, 10), DType.INT8, "softmax")
    QuantParams.per_tensor(0.02, 255).verify((1, 10), DType.UINT8, "u8")
    QuantParams.per_channel(np.full(16, 0.01), axis=3).verify((1, 3, 3, 16), DType.INT8, "dw weights")
    QuantParams.per_channel(np.full(8, 0.01), axis=0).verify((None, 4), DType.INT8, "unknown dim")  # type: ignore[arg-type]
    QuantParams.per_tensor(0.1, 0, DType.INT16).verify((4,), DType.FLOAT32, "planned 16x8 activation")


def test_graph_verify_checks_every_quantized_value() -> None:
    g = Graph("q")
    x = g.add_input("x", DType.INT8, (1, 4))
    y = g.add_node("Relu", [x]).output
    g.outputs = [y]
    y.quant = QuantParams.per_tensor(0.1, 3)
    g.verify()
    x.quant = QuantParams.per_tensor(0.1, 200)
    with pytest.raises(QuantizationError, match="value x: zero point"):
        g.verify()
