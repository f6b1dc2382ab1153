"""Operator versions and min_runtime_version against LiteRT's op_version.cc / runtime_version.cc.

Float cases are also checked on emitted files (test_structure.VERSION_CASES); these direct
cases pin the order-dependent rules and the int8 versions the official converter wrote for a full
int8 Keras model (docs: tflite-flatbuffer.md §11).
"""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.convert.tflite.versions import MIN_RUNTIME, min_runtime_version, op_version
from keras2edge.runtime import schema
from keras2edge.runtime.model import Quantization, Tensor

F32, I32, I8, I16, BOOL = 0, 2, 9, 7, 6


def t(shape: tuple[int, ...], ttype: int = F32, channels: int = 0) -> Tensor:
    q = None
    if ttype in (I8, I16):
        n = max(channels, 1)
        q = Quantization(np.full(n, 0.1, np.float32), np.zeros(n, np.int64))
    return Tensor("t", shape, ttype, quantization=q)


X = t((1, 8, 8, 4))
X8 = t((1, 8, 8, 4), I8)

CASES = [
    # (op, inputs, outputs, options, version)
    ("CONV_2D", [X, t((6, 3, 3, 4)), t((6,))], [X], {}, 1),
    ("CONV_2D", [X, t((6, 3, 3, 2)), t((6,))], [X], {}, 6),                     # grouped
    ("CONV_2D", [X8, t((6, 3, 3, 4), I8, 6), t((6,), I32)], [X8], {}, 3),
    ("CONV_2D", [X8, t((6, 3, 3, 2), I8, 6), t((6,), I32)], [X8], {}, 6),       # grouped wins over int8
    ("CONV_2D", [X, t((6, 3, 3, 4), I8, 6), t((6,))], [X], {}, 5),               # hybrid per-channel
    ("DEPTHWISE_CONV_2D", [X, t((1, 3, 3, 4)), t((4,))], [X], {"dilation_w_factor": 1}, 1),
    ("DEPTHWISE_CONV_2D", [X, t((1, 3, 3, 4)), t((4,))], [X], {"dilation_h_factor": 2}, 2),
    ("DEPTHWISE_CONV_2D", [X8, t((1, 3, 3, 4), I8, 4), t((4,), I32)], [X8], {"dilation_h_factor": 2}, 3),
    ("FULLY_CONNECTED", [t((1, 4)), t((3, 4)), t((3,))], [t((1, 3))], {}, 1),
    ("FULLY_CONNECTED", [t((1, 4)), t((3, 4)), None], [t((1, 3))], {}, 1),          # bias -1: still 3 inputs
    ("FULLY_CONNECTED", [t((1, 4)), t((3, 4))], [t((1, 3))], {}, 6),                 # two inputs
    ("FULLY_CONNECTED", [t((1, 2, 4)), t((3, 4)), t((3,))], [t((1, 2, 3))], {"keep_num_dims": True}, 5),
    ("FULLY_CONNECTED", [t((1, 4), I8), t((3, 4), I8, 3), t((3,), I32)], [t((1, 3), I8)], {}, 4),
    ("FULLY_CONNECTED", [t((1, 2, 4), I8), t((3, 4), I8, 3), t((3,), I32)], [t((1, 2, 3), I8)],
     {"keep_num_dims": True}, 5),                                                      # keep_num_dims before int8
    ("TRANSPOSE_CONV", [t((4,), I32), t((6, 3, 3, 4)), X], [X], {}, 1),
    ("TRANSPOSE_CONV", [t((4,), I32), t((6, 3, 3, 4)), X, t((6,))], [X], {}, 3),
    ("TRANSPOSE_CONV", [t((4,), I32), t((6, 3, 3, 4)), X, None], [X], {}, 1),
    ("TRANSPOSE_CONV", [t((4,), I32), t((6, 3, 3, 4), I8, 6), X8], [X8], {}, 2),
    ("TRANSPOSE_CONV", [t((4,), I32), t((6, 3, 3, 4)), X, t((6,))], [X], {"fused_activation_function": 1}, 4),
    ("ADD", [X, X], [X], {}, 1), ("ADD", [X8, X8], [X8], {}, 2),
    ("SUB", [t((2, 2, 3, 4, 5)), t((1, 3, 1, 5))], [t((2, 2, 3, 4, 5))], {}, 3),
    ("SUB", [X, X], [X], {}, 1),
    ("MUL", [X8, X8], [X8], {}, 2),
    ("MUL", [X8, X8], [t((1, 8, 8, 4), I8)], {}, 2),
    ("MAX_POOL_2D", [X8], [X8], {}, 2), ("AVERAGE_POOL_2D", [X], [X], {}, 1),
    ("CONCATENATION", [X8, X8], [X8], {}, 2), ("CONCATENATION", [t((2,), BOOL)], [t((2,), BOOL)], {}, 1),
    ("SOFTMAX", [X8], [X8], {}, 2), ("LOGISTIC", [X8], [X8], {}, 2), ("TANH", [X8], [X8], {}, 2),
    ("MEAN", [X8, t((2,), I32)], [X8], {}, 2), ("PAD", [X8, t((4, 2), I32)], [X8], {}, 2),
    ("HARD_SWISH", [X8], [X8], {}, 1), ("RESHAPE", [X8, t((2,), I32)], [X8], {}, 1),
    ("QUANTIZE", [X], [X8], {}, 1), ("DEQUANTIZE", [X8], [X], {}, 2),
    ("RESIZE_NEAREST_NEIGHBOR", [X, t((2,), I32)], [X], {"half_pixel_centers": True}, 3),
    ("RESIZE_BILINEAR", [X, t((2,), I32)], [X], {"align_corners": True}, 1),
    ("FLOOR_DIV", [X, X], [X], {}, 2), ("FLOOR_DIV", [t((2,), I32)] * 2, [t((2,), I32)], {}, 1),
    ("GATHER", [t((4, 2), BOOL), t((3,), I32)], [t((3, 2), BOOL)], {}, 3),
    ("STRIDED_SLICE", [t((1, 2, 3, 4, 5))], [t((1, 2, 3, 4, 5))], {}, 4),
    ("TRANSPOSE", [t((1, 2, 3, 4, 5))], [t((1, 2, 3, 4, 5))], {}, 4),
    ("SIGN", [t((2,), I32)], [t((2,), I32)], {}, 2), ("ABS", [t((2,), I32)], [t((2,), I32)], {}, 5),
    ("CAST", [t((2,), F32)], [t((2,), I32)], {}, 1), ("GELU", [X], [X], {}, 1), ("SELECT_V2", [X], [X], {}, 1),
]


@pytest.mark.parametrize("op, ins, outs, opts, want", CASES, ids=[f"{c[0]}-{k}" for k, c in enumerate(CASES)])
def test_op_version(op: str, ins: list, outs: list, opts: dict, want: int) -> None:
    assert op_version(op, ins, outs, opts) == want


def test_min_runtime_table() -> None:
    assert all(op in schema.BUILTIN_OPERATORS for op, _ in MIN_RUNTIME)
    assert min_runtime_version([("CONV_2D", 1), ("HARD_SWISH", 1)]) == "1.15.0"  # the converter's float twin
    assert min_runtime_version([("CONV_2D", 3), ("DEPTHWISE_CONV_2D", 3), ("TRANSPOSE_CONV", 2),
                                ("FULLY_CONNECTED", 4), ("QUANTIZE", 1), ("MEAN", 2)]) == "2.2.0"
    assert min_runtime_version([("SIGN", 1), ("CONV_2D", 6)]) == "2.11.0"
    assert min_runtime_version([("RESHAPE", 1), ("TRANSPOSE", 7)]) == "2.14.4"  # numeric, not string, order
    assert min_runtime_version([("CUSTOM", 1)]) == ""
