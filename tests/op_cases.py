"""The per-op cases of the backend tests, written once: op, attrs, input shapes and dtypes.

Each case is a one-node IR graph (``tests/ir_graphs.build_case``) that every backend runs and
compares with an oracle that shares no arithmetic with it (``tests/op_oracles.py``: LiteRT on the
case's ``.tflite`` for ONNX, onnxruntime on the case's ONNX for TFLite and the runtime, NumPy for
the ops whose emitters share axis arithmetic; never ``keras2edge.ir.evaluate``):

- ``onnx``: the ONNX emitter, run in onnxruntime for several opsets, with NHWC and NCHW inputs
  (tests/convert/onnx/test_ops.py);
- ``tflite``: the TFLite emitter, run in LiteRT (default and reference kernels) and TFLite Micro,
  and read back by the PyPI ``tflite`` package (tests/convert/tflite/test_ops.py);
- ``runtime``: the emitted ``.tflite`` run by keras2edge.runtime, also against LiteRT's reference
  kernels on the same file (tests/runtime/test_emitted_ops.py).

Every IR op has at least one case (checked per backend by ``test_every_op_has_a_case``); the cases
cover each emitter's branches (padding modes, grouped convolutions, TransposeConv2D geometries,
keep_num_dims, PAD vs PADV2, masks, constant and computed indices, ...). Axis 0 of graph inputs is
dynamic, so every case also exercises a dynamic batch. A case a backend is known to get wrong
names it in ``xfail`` with the reason; it then runs there as a strict xfail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from keras2edge.errors import UnsupportedOpError
from keras2edge.ir import DType, QuantParams

BACKENDS = ("onnx", "tflite", "runtime")


@dataclass
class In:
    """One input of a test op: a graph input (random data) or a constant.

    ``kind``: randn (normal·scale), pos (uniform 0.5..2.5), bool, int (uniform low..high),
    nonzero (|randn| + 0.5 with random sign), or ``data`` given explicitly.
    ``batch``: axis 0 of a graph input is declared dynamic (None) in the IR.
    """

    shape: tuple[int, ...]
    dtype: str = "float32"
    kind: str = "randn"
    const: bool = False
    scale: float = 1.0
    low: int = -5
    high: int = 6
    data: Any = None
    batch: bool = True
    quant: Any = None  # QuantParams the value carries (the input of a Dequantize)


@dataclass
class Case:
    """One op test, written once and run through every backend.

    ``xfail``: backend (one of ``BACKENDS``) -> (why that backend is known to fail the case, the
    exception it fails with); any other failure, or a pass, fails the test.
    """

    name: str
    op: str
    inputs: list[In | None]
    attrs: dict[str, Any] = field(default_factory=dict)
    xfail: dict[str, tuple[str, type[BaseException]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.xfail) - set(BACKENDS)
        assert not unknown, f"{self.name}: xfail names unknown backends {sorted(unknown)}"
        assert all(r.strip() and issubclass(e, BaseException) for r, e in self.xfail.values()), \
            f"{self.name}: every xfail needs a reason and the exception expected"

    def __str__(self) -> str:
        return self.name


def params(backend: str) -> list[Any]:
    """The cases as pytest params for ``backend``: ids are the case names; known failures are strict xfails."""
    assert backend in BACKENDS, backend
    return [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(reason=c.xfail[backend][0], raises=c.xfail[backend][1],
                                                                strict=True)]
                         if backend in c.xfail else []) for c in CASES]


def covered_ops(backend: str) -> set[str]:
    """The IR ops with at least one case that ``backend`` is expected to pass."""
    return {c.op for c in CASES if backend not in c.xfail}


X4 = (2, 4, 5, 3)
X = In(X4, scale=3.0)
POS = In(X4, kind="pos")
BOOL = In(X4, dtype="bool", kind="bool")

CASES: list[Case] = []


def case(name: str, op: str, inputs: list[In | None], xfail: dict[str, tuple[str, type[BaseException]]] | None = None,
         **attrs: object) -> None:
    CASES.append(Case(name, op, inputs, dict(attrs), dict(xfail or {})))


# ---------------------------------------------------------------- unary
for _op in ("Identity", "Relu", "Relu6", "ReluN1To1", "Relu0To1", "Elu", "Logistic", "Tanh", "HardSwish",
            "Exp", "Abs", "Neg", "Sin", "Cos", "Floor", "Ceil", "Round", "Sign", "Square", "Softsign"):
    case(_op, _op, [X])
for _op in ("Log", "Sqrt", "Rsqrt"):
    case(_op, _op, [POS])
case("LeakyRelu", "LeakyRelu", [X], alpha=0.2)
case("Gelu", "Gelu", [X])
case("Gelu/tanh", "Gelu", [X], approximate=True)
case("Round/ties", "Round", [In((2, 8), data=[[-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 0.49]] * 2)])
case("Identity/rank2", "Identity", [In((3, 7))])
case("LogicalNot", "LogicalNot", [BOOL])
case("Abs/int", "Abs", [In(X4, "int32", "int")])
case("Sign/int", "Sign", [In(X4, "int32", "int")])

# ---------------------------------------------------------------- binary
for _op in ("Add", "Sub", "Mul", "Maximum", "Minimum", "SquaredDifference"):
    case(_op, _op, [X, X])
case("Add/const_channel", "Add", [X, In((3,), const=True)])
case("Mul/const_1113", "Mul", [X, In((1, 1, 1, 3), const=True)])
case("Sub/const_first", "Sub", [In((5, 3), const=True), X])
case("Mul/scalar", "Mul", [X, In((), const=True, data=2.5)])
case("Add/rank1_input", "Add", [X, In((3,), batch=False)])
case("Add/rank2_input", "Add", [X, In((5, 3), batch=False)])
case("Maximum/broadcast_11", "Maximum", [X, In((2, 1, 1, 3))])
case("Add/rank3", "Add", [In((2, 6, 4)), In((2, 6, 4))])
case("Add/int", "Add", [In(X4, "int32", "int"), In((3,), "int32", const=True, data=[1, -2, 3])])
case("Sub/rank5_broadcast", "Sub", [In((2, 2, 3, 4, 5)), In((1, 3, 1, 5), const=True)])
case("Div", "Div", [X, In(X4, kind="nonzero")])
case("Div/int", "Div", [In(X4, "int32", "int", low=-20, high=20), In(X4, "int32", "int", low=1, high=6)])
case("FloorDiv", "FloorDiv", [X, In(X4, kind="nonzero")])
case("FloorDiv/int", "FloorDiv", [In(X4, "int32", "int", low=-20, high=20),
                                  In((3,), "int32", const=True, data=[3, -4, 5])])
case("FloorMod", "FloorMod", [X, In(X4, kind="nonzero")])
case("FloorMod/int", "FloorMod", [In(X4, "int32", "int", low=-20, high=20),
                                  In((3,), "int32", const=True, data=[3, -4, 5])])
case("Pow", "Pow", [POS, In(X4, kind="randn")])
case("Pow/const", "Pow", [X, In((), const=True, data=2.0)])
case("LogicalAnd", "LogicalAnd", [BOOL, BOOL])
case("LogicalOr", "LogicalOr", [BOOL, In((3,), "bool", const=True, data=[True, False, False])])
for _op in ("Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual"):
    case(_op, _op, [In(X4, kind="int", low=-2, high=3), In(X4, kind="int", low=-2, high=3)])
case("Greater/const", "Greater", [X, In((3,), const=True, data=[0.0, 1.0, -1.0])])
case("Equal/int", "Equal", [In(X4, "int32", "int", low=0, high=3), In((), "int32", const=True, data=1)])
case("Select", "Select", [BOOL, X, X])
case("Select/const_cond", "Select", [In((3,), "bool", const=True, data=[True, False, True]), X, X])
case("PRelu", "PRelu", [X, In((3,), const=True)])
case("PRelu/shared_axes", "PRelu", [X, In((1, 1, 3), const=True)])
case("PRelu/full", "PRelu", [X, In((4, 5, 3), const=True)])
case("Cast/to_int", "Cast", [X], to="int32")
case("Cast/to_bool", "Cast", [In(X4, kind="int", low=-1, high=2)], to="bool")
case("Cast/int_to_float", "Cast", [In(X4, "int32", "int")], to="float32")
case("Cast/bool_to_float", "Cast", [BOOL], to="float32")

# ---------------------------------------------------------------- softmax
case("Softmax", "Softmax", [X])
case("Softmax/beta", "Softmax", [X], beta=0.5)
case("Softmax/rank2", "Softmax", [In((3, 10), scale=3.0)])
case("Softmax/rank3", "Softmax", [In((2, 6, 7), scale=3.0)])
case("LogSoftmax", "LogSoftmax", [X])
case("LogSoftmax/rank2", "LogSoftmax", [In((3, 10), scale=3.0)])

# ---------------------------------------------------------------- convolution
_W = In((3, 3, 3, 4), const=True)
_B4 = In((4,), const=True)
case("Conv2D/valid", "Conv2D", [In((2, 7, 9, 3)), _W, _B4])
case("Conv2D/same_s2_odd", "Conv2D", [In((2, 7, 9, 3)), _W, _B4], padding="same", strides=(2, 2))
case("Conv2D/same_s2_even", "Conv2D", [In((2, 8, 10, 3)), In((5, 5, 3, 4), const=True), _B4],
     padding="same", strides=(2, 2))
case("Conv2D/same_s1_no_bias", "Conv2D", [In((2, 7, 9, 3)), _W, None], padding="same")
case("Conv2D/dilation", "Conv2D", [In((2, 9, 10, 3)), _W, _B4], padding="same", dilations=(2, 2))
case("Conv2D/dilation_valid", "Conv2D", [In((2, 9, 10, 3)), _W, _B4], dilations=(2, 1))
case("Conv2D/groups", "Conv2D", [In((2, 6, 6, 4)), In((3, 3, 2, 6), const=True), In((6,), const=True)],
     padding="same")
case("Conv2D/groups_no_bias", "Conv2D", [In((2, 6, 6, 6)), In((1, 1, 2, 6), const=True), None])
case("Conv2D/groups_bias_input", "Conv2D", [In((2, 6, 6, 4)), In((3, 3, 2, 6), const=True),
                                            In((6,), batch=False)], padding="same")
case("Conv2D/1x1", "Conv2D", [In((2, 5, 6, 3)), In((1, 1, 3, 8), const=True)])
case("Conv2D/stride_hw", "Conv2D", [In((2, 9, 11, 3)), _W, _B4], padding="same", strides=(1, 3))
case("DepthwiseConv2D", "DepthwiseConv2D", [In((2, 7, 9, 3)), In((1, 3, 3, 3), const=True), In((3,), const=True)],
     padding="same")
case("DepthwiseConv2D/mult2_s2", "DepthwiseConv2D",
     [In((2, 7, 9, 3)), In((1, 3, 3, 6), const=True), In((6,), const=True)], strides=(2, 2))
case("DepthwiseConv2D/mult2_same_s2_no_bias", "DepthwiseConv2D",
     [In((2, 8, 9, 3)), In((1, 3, 3, 6), const=True), None], strides=(2, 2), padding="same")
case("DepthwiseConv2D/dilation", "DepthwiseConv2D",
     [In((2, 9, 9, 3)), In((1, 3, 3, 3), const=True), None], dilations=(2, 2), padding="same")


def _tconv(name: str, hw: tuple[int, int], k: int, s: int, padding: str, bias: bool = True) -> None:
    """Keras Conv2DTranspose geometry: 'same' gives in·s, 'valid' in·s + max(k − s, 0)."""
    out, before = [], []
    for n in hw:
        o = n * s if padding == "same" else n * s + max(k - s, 0)
        out.append(o)
        before.append(max((n - 1) * s + k - o, 0) // 2 if padding == "same" else 0)
    case(f"TransposeConv2D/{name}", "TransposeConv2D",
         [In((2,) + hw + (3,)), In((k, k, 4, 3), const=True), In((4,), const=True) if bias else None],
         strides=(s, s), output_size=tuple(out), pad_before=tuple(before))


_tconv("same_k3_s2", (4, 5), 3, 2, "same")
_tconv("valid_k3_s2", (4, 5), 3, 2, "valid")
_tconv("same_k4_s2_no_bias", (3, 5), 4, 2, "same", bias=False)
_tconv("valid_k2_s3", (3, 4), 2, 3, "valid")
_tconv("same_k1_s2", (3, 4), 1, 2, "same")
_tconv("same_k1_s3", (3, 4), 1, 3, "same")   # output_padding 2 < stride 3: extra zeros + bias
_tconv("valid_k1_s4", (3, 3), 1, 4, "valid")  # extra 3 < 4
_tconv("same_k3_s1", (5, 6), 3, 1, "same")
# pad_before that neither SAME nor VALID gives: VALID + STRIDED_SLICE (+ PAD, bias added last).
case("TransposeConv2D/oversized", "TransposeConv2D", [In((2, 3, 3, 3)), In((2, 2, 4, 3), const=True),
                                                      In((4,), const=True)],
     strides=(2, 2), output_size=(9, 10), pad_before=(0, 1))
case("TransposeConv2D/crop_only", "TransposeConv2D", [In((2, 4, 4, 3)), In((3, 3, 4, 3), const=True),
                                                      In((4,), const=True)],
     strides=(2, 2), output_size=(6, 7), pad_before=(2, 1))
case("TransposeConv2D/crop_pad_no_bias", "TransposeConv2D", [In((2, 3, 3, 3)), In((3, 3, 4, 3), const=True)],
     strides=(1, 1), output_size=(6, 4), pad_before=(1, 0))

case("FullyConnected", "FullyConnected", [In((3, 6)), In((6, 4), const=True), In((4,), const=True)])
case("FullyConnected/no_bias", "FullyConnected", [In((3, 6)), In((6, 4), const=True)])
case("FullyConnected/rank4", "FullyConnected", [X, In((3, 7), const=True), In((7,), const=True)])
case("FullyConnected/rank3", "FullyConnected", [In((2, 5, 6)), In((6, 4), const=True), In((4,), const=True)])
case("FullyConnected/weights_input", "FullyConnected", [In((3, 6)), In((6, 4), batch=False)])
case("BatchMatMul", "BatchMatMul", [In((2, 3, 4)), In((2, 4, 5))])
case("BatchMatMul/adj", "BatchMatMul", [In((2, 4, 3)), In((2, 5, 4))], adj_x=True, adj_y=True)
case("BatchMatMul/rank4", "BatchMatMul", [In((2, 3, 4, 5)), In((2, 3, 5, 2))])
case("BatchMatMul/const_b", "BatchMatMul", [In((2, 3, 4)), In((4, 5), const=True)])
case("BatchNorm", "BatchNorm", [X, In((3,), const=True), In((3,), kind="pos", const=True),
                                In((3,), const=True), In((3,), const=True)], epsilon=1e-3)
case("BatchNorm/no_affine", "BatchNorm", [X, In((3,), const=True), In((3,), kind="pos", const=True)])
case("BatchNorm/rank2", "BatchNorm", [In((4, 3)), In((3,), const=True), In((3,), kind="pos", const=True),
                                      In((3,), const=True), In((3,), const=True)])
case("BatchNorm/stats_inputs", "BatchNorm", [X, In((3,), batch=False), In((3,), kind="pos", batch=False),
                                             In((3,), batch=False), None])

# ---------------------------------------------------------------- pooling
for _op in ("MaxPool2D", "AveragePool2D"):
    case(f"{_op}/valid", _op, [In((2, 8, 9, 3))], pool_size=(2, 2), strides=(2, 2))
    case(f"{_op}/same_s2_odd", _op, [In((2, 7, 9, 3))], pool_size=(3, 3), strides=(2, 2), padding="same")
    case(f"{_op}/same_s1", _op, [In((2, 7, 8, 3))], pool_size=(2, 3), strides=(1, 1), padding="same")
    case(f"{_op}/valid_overlap", _op, [In((2, 7, 8, 3))], pool_size=(3, 3), strides=(2, 1))

# ---------------------------------------------------------------- reductions
case("Mean/hw", "Mean", [X], axes=(1, 2))
case("Mean/hw_keep", "Mean", [X], axes=(1, 2), keepdims=True)
case("Mean/all_but_batch", "Mean", [X], axes=(1, 2, 3))
case("Sum/channels", "Sum", [X], axes=(3,))
case("Sum/channels_keep", "Sum", [X], axes=(-1,), keepdims=True)
case("ReduceMax/h", "ReduceMax", [X], axes=(1,))
case("ReduceMax/w", "ReduceMax", [X], axes=(2,))
case("ReduceMin/neg_axis_keep", "ReduceMin", [X], axes=(-1,), keepdims=True)
case("ReduceProd/w", "ReduceProd", [In(X4, kind="pos")], axes=(2,))
case("ReduceAny/hw", "ReduceAny", [BOOL], axes=(1, 2))
case("ReduceAny/float", "ReduceAny", [In(X4, kind="int", dtype="float32", low=0, high=2)], axes=(3,))
case("Mean/batch", "Mean", [X], axes=(0,))
case("Mean/none", "Mean", [X], axes=())
case("Sum/rank3", "Sum", [In((2, 6, 7))], axes=(1,))
case("Mean/h_c", "Mean", [X], axes=(1, 3))

# ---------------------------------------------------------------- shape ops
case("Reshape/flatten", "Reshape", [X], shape=(-1, 60))
case("Reshape/rank3", "Reshape", [X], shape=(-1, 5, 12))
case("Reshape/trivial", "Reshape", [In((2, 1, 1, 6))], shape=(-1, 6))
case("Reshape/expand", "Reshape", [In((2, 6))], shape=(-1, 1, 1, 6))
case("Transpose/to_nchw", "Transpose", [X], perm=(0, 3, 1, 2))
case("Transpose/swap_hw", "Transpose", [X], perm=(0, 2, 1, 3))
case("Transpose/to_nhwc", "Transpose", [X], perm=(0, 2, 3, 1))
case("Transpose/rank3", "Transpose", [In((2, 5, 6))], perm=(0, 2, 1))
case("Transpose/rank2", "Transpose", [In((3, 6))], perm=(1, 0))
case("Transpose/identity", "Transpose", [X], perm=(0, 1, 2, 3))
case("Transpose/rank5", "Transpose", [In((2, 3, 1, 4, 5))], perm=(0, 4, 2, 1, 3))
case("Concatenation/channels", "Concatenation", [X, In((2, 4, 5, 2))], axis=-1)
case("Concatenation/h_const", "Concatenation", [In(X4, batch=False), In((2, 2, 5, 3), const=True)], axis=1)
_PINNED = ("the constant's batch of 2 pins the dynamic batch, which the TFLite emitter writes as 1: "
           "refused (batch 1 does not fit)", UnsupportedOpError)
case("Concatenation/h_const_dynamic_batch", "Concatenation", [X, In((2, 2, 5, 3), const=True)],
     xfail={"tflite": _PINNED, "runtime": _PINNED}, axis=1)
case("Concatenation/three", "Concatenation", [X, X, X], axis=2)
case("Concatenation/twelve", "Concatenation", [In((2, 1, 3))] * 12, axis=1)  # > TFLM's 10 inputs
case("Concatenation/bool", "Concatenation", [BOOL, BOOL], axis=-1)
case("Concatenation/rank2", "Concatenation", [In((2, 3)), In((2, 4))], axis=1)
case("Pad", "Pad", [X], pads=((0, 0), (1, 2), (2, 1), (0, 0)), value=0.5)
case("Pad/channels", "Pad", [X], pads=((0, 0), (0, 0), (0, 0), (1, 2)))
case("StridedSlice", "StridedSlice", [X], begin=(0, 1, 0, 0), end=(None, 4, None, None), strides=(1, 2, 1, 1))
case("StridedSlice/reverse", "StridedSlice", [X], begin=(0, None, 0, 2), end=(None, None, None, 0),
     strides=(1, -1, 1, -1))
case("StridedSlice/channels_neg", "StridedSlice", [X], begin=(0, -3, 1, 1), end=(None, -1, None, 3),
     strides=(1, 1, 2, 1))
case("StridedSlice/none", "StridedSlice", [X], begin=(0, 0, 0, 0), end=(None, None, None, None),
     strides=(1, 1, 1, 1))
case("StridedSlice/big_end", "StridedSlice", [In((2, 6, 4))], begin=(0, 2, 0), end=(None, 2**40, None),
     strides=(1, 1, 1))
case("Gather/embedding", "Gather", [In((10, 4), const=True), In((2, 5), "int32", "int", low=0, high=10)])
case("Gather/float_indices", "Gather", [In((10, 4), const=True), In((2, 5), "float32", "int", low=0, high=10)])
case("Gather/channels", "Gather", [X, In((2,), "int32", const=True, data=[2, 0])], axis=3)
case("Gather/w_scalar", "Gather", [X, In((), "int64", const=True, data=3)], axis=2)
case("Gather/h_vector_negative", "Gather", [X, In((3,), "int64", const=True, data=[3, -1, 0])], axis=1)
case("Gather/table_rank4_indices", "Gather", [In((7,), const=True), In(X4, "int32", "int", low=0, high=7)])
case("Gather/table_rank4_indices_int64", "Gather", [In((7,), const=True), In(X4, "int64", "int", low=0, high=7)])
case("Gather/params_rank4_indices_rank2", "Gather", [X, In((2, 2), "int32", const=True, data=[[0, 1], [2, 2]])],
     axis=3)
for _op in ("ResizeNearestNeighbor", "ResizeBilinear"):
    for _mode, _kw in (("asymmetric", {}), ("half_pixel", {"half_pixel_centers": True}),
                       ("align_corners", {"align_corners": True})):
        case(f"{_op}/{_mode}/up", _op, [In((2, 4, 5, 3))], size=(9, 11), **_kw)
        case(f"{_op}/{_mode}/down", _op, [In((2, 7, 9, 3))], size=(3, 4), **_kw)
    case(f"{_op}/x2", _op, [In((2, 4, 5, 3))], size=(8, 10))
    case(f"{_op}/static_batch", _op, [In((2, 4, 5, 3), batch=False)], size=(7, 3), half_pixel_centers=True)
case("ResizeNearestNeighbor/align_corners_tie", "ResizeNearestNeighbor", [In((1, 2, 2, 1))], size=(3, 3),
     align_corners=True)
case("ResizeBilinear/align_corners_out1", "ResizeBilinear", [In((2, 4, 5, 3))], size=(1, 1), align_corners=True)
case("ExpandDims/axis1", "ExpandDims", [X], axis=1)
case("ExpandDims/axis2", "ExpandDims", [X], axis=2)
case("ExpandDims/last", "ExpandDims", [X], axis=-1)
case("ExpandDims/rank2", "ExpandDims", [In((3, 6))], axis=1)
case("ExpandDims/rank3_mid", "ExpandDims", [In((2, 5, 6))], axis=2)
case("Squeeze/h", "Squeeze", [In((2, 1, 5, 3))], axes=(1,))
case("Squeeze/channels", "Squeeze", [In((2, 4, 5, 1))], axes=(3,))
case("Squeeze/hw", "Squeeze", [In((2, 1, 1, 3))], axes=(1, 2))
case("Squeeze/batch", "Squeeze", [In((1, 4, 5, 3), batch=False)], axes=(0,))
case("Squeeze/w_rank5", "Squeeze", [In((2, 3, 1, 4, 5))], axes=(2,))
case("Squeeze/none", "Squeeze", [In((2, 1, 5, 3))], axes=())
case("Split/channels", "Split", [X], axis=-1, sizes=(1, 2))
case("Split/h", "Split", [X], axis=1, sizes=(1, 3))
case("Split/w3", "Split", [X], axis=2, sizes=(2, 2, 1))
case("Split/bool", "Split", [BOOL], axis=1, sizes=(1, 1, 2))
case("Tile", "Tile", [X], multiples=(1, 2, 1, 3))
case("Tile/rank2", "Tile", [In((3, 2))], multiples=(2, 3))

# ---------------------------------------------------------------- quantization (the IR follows TFLite Micro)
_PER_TENSOR_ONLY = ("TFLite's QUANTIZE is per tensor; the emitter refuses a per-channel Quantize", UnsupportedOpError)
case("Quantize/int8_saturating", "Quantize", [X], quant=QuantParams.per_tensor(0.05, -3, DType.INT8))
# TFLite Micro's QUANTIZE has no float -> uint8 kernel (LiteRT has): keras2edge.check.support says so, and
# test_ops.py then asserts that TFLite Micro refuses it.
case("Quantize/uint8", "Quantize", [X], quant=QuantParams.per_tensor(0.1, 128, DType.UINT8))
case("Quantize/int8_per_channel", "Quantize", [X],
     {"tflite": _PER_TENSOR_ONLY, "runtime": _PER_TENSOR_ONLY},
     quant=QuantParams.per_channel([0.02, 0.05, 0.1], axis=3, qtype=DType.INT8))
_Q8 = QuantParams.per_tensor(0.1, 5, DType.INT8)
case("Dequantize/int8", "Dequantize", [In(X4, "int8", "int", low=-128, high=128, quant=_Q8)], quant=_Q8)
_U8 = QuantParams.per_tensor(0.25, 128, DType.UINT8)
case("Dequantize/uint8", "Dequantize", [In(X4, "uint8", "int", low=0, high=256, quant=_U8)], quant=_U8)
_W8 = QuantParams.per_channel([0.01, 0.02, 0.03, 0.04], axis=3, qtype=DType.INT8)
case("Dequantize/int8_per_channel", "Dequantize", [In((3, 3, 3, 4), "int8", "int", low=-127, high=128, quant=_W8)],
     {"tflite": ("TFLite Micro's DEQUANTIZE applies the first scale to every channel (LiteRT is per channel)",
                 AssertionError)}, quant=_W8)
