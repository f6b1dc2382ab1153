"""The one table of TFLite tensor types and fused activation codes (runtime/codes.py) against the schema."""

from __future__ import annotations

import numpy as np

from keras2edge.runtime import codes, schema


def test_every_schema_tensor_type_has_one_row() -> None:
    assert {t.name: c for c, t in codes.TENSOR_TYPES.items()} == schema.ENUMS["TensorType"]
    assert codes.TENSOR_TYPE_BY_NAME == schema.ENUMS["TensorType"]


def test_numpy_dtypes_agree_with_the_schema_bit_widths() -> None:
    for t in codes.TENSOR_TYPES.values():
        if t.dtype is not None:
            assert t.bits == 8 * t.itemsize, t
            assert codes.TENSOR_TYPE_CODES[t.dtype] == t.code
            assert codes.NUMPY_DTYPES[t.code] == t.dtype
        else:
            assert t.itemsize is None and t.code not in codes.NUMPY_DTYPES
    assert codes.NUMPY_DTYPES[codes.TENSOR_TYPE_BY_NAME["INT8"]] == np.int8
    assert codes.TENSOR_TYPE_CODES[np.dtype(np.float32)] == 0


def test_tensor_type_names() -> None:
    assert codes.tensor_type_name(9) == "INT8"
    assert codes.tensor_type_name(99) == "99"


def test_activation_codes_are_the_schema_enum() -> None:
    assert codes.ACTIVATION_CODES == schema.ENUMS["ActivationFunctionType"]
    assert {codes.ACTIVATIONS[c]: c for c in codes.ACTIVATIONS} == codes.ACTIVATION_CODES
    assert (codes.ACT_NONE, codes.ACT_RELU, codes.ACT_RELU_N1_TO_1, codes.ACT_RELU6, codes.ACT_TANH,
            codes.ACT_SIGN_BIT) == (0, 1, 2, 3, 4, 5)
    assert codes.activation_name(codes.ACT_RELU6) == "RELU6"
    assert codes.activation_name(42) == "42"


def test_every_fused_activation_code_has_a_float_kernel_clamp() -> None:
    from keras2edge.runtime.kernels.base import ACTIVATION_FNS

    assert set(ACTIVATION_FNS) == set(codes.ACTIVATIONS)
    x = np.array([-3.0, -0.5, 0.5, 7.0], np.float32)
    want = {"NONE": x, "RELU": np.maximum(x, 0), "RELU_N1_TO_1": np.clip(x, -1, 1), "RELU6": np.clip(x, 0, 6),
            "TANH": x, "SIGN_BIT": x}  # TFLite's float kernels ignore TANH / SIGN_BIT (unbounded range)
    for code, fn in ACTIVATION_FNS.items():
        y = x.copy()
        fn(y)
        np.testing.assert_array_equal(y, want[codes.ACTIVATIONS[code]])
