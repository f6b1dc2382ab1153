"""Operator versions as the official TFLite converter assigns them, and ``min_runtime_version``.

Both tables are facts taken from LiteRT (github ``google-ai-edge/LiteRT``):

* :func:`op_version` follows ``tflite/converter/tools/versioning/op_version.cc``
  (``GetBuiltinOperatorVersion``) for the builtins keras2edge emits. The checks run in the
  same order as there, because the order decides the result (FULLY_CONNECTED without a bias
  input is 6 before keep_num_dims is 5 before int8 is 4). Float models get version 1 except
  in the cases listed there: DEPTHWISE_CONV_2D with dilation (2), grouped CONV_2D (6),
  FULLY_CONNECTED with two inputs (6) or keep_num_dims (5), TRANSPOSE_CONV with a bias (3) or
  a fused activation (4), resizes with align_corners / half_pixel_centers (3), FLOOR_DIV on
  float (2), and the rank / broadcast cases of SUB, DIV, MAXIMUM, MINIMUM, TRANSPOSE, PAD,
  STRIDED_SLICE and SELECT.
* :data:`MIN_RUNTIME` is the ``(op, version) -> release`` map of
  ``tflite/converter/tools/versioning/runtime_version.cc`` for the same builtins; a pair
  missing from the map is skipped, as the converter does.

A runtime registers each builtin for a range of versions and refuses a file whose version is
above its range; the versions therefore say which (older) runtimes can load the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...runtime.codes import TENSOR_TYPE_BY_NAME as _TT
from ...runtime.model import Tensor

# TensorType codes the version rules test, from the one table.
FLOAT32, FLOAT16, INT32, UINT8, INT64 = _TT["FLOAT32"], _TT["FLOAT16"], _TT["INT32"], _TT["UINT8"], _TT["INT64"]
STRING, BOOL, INT16, COMPLEX64, INT8 = _TT["STRING"], _TT["BOOL"], _TT["INT16"], _TT["COMPLEX64"], _TT["INT8"]
UINT32, BFLOAT16, INT4 = _TT["UINT32"], _TT["BFLOAT16"], _TT["INT4"]

Sig = Sequence["Tensor | None"]


def _type(ts: Sig, i: int) -> int | None:
    """Type of input/output ``i``; None for an omitted optional input (-1) or a missing one."""
    if i >= len(ts) or ts[i] is None:
        return None
    return ts[i].type  # type: ignore[union-attr]


def _rank(ts: Sig, i: int) -> int:
    t = ts[i] if i < len(ts) else None
    return 0 if t is None else len(t.shape)


def _broadcast_over_4d(inputs: Sig) -> bool:
    """op_version.cc NeedBroadcastForBinaryInputs && GetInputMaxDims > 4."""
    if len(inputs) < 2 or inputs[0] is None or inputs[1] is None:
        return False
    need = tuple(inputs[0].shape) != tuple(inputs[1].shape)
    return need and max(len(t.shape) for t in inputs if t is not None) > 4


def _per_channel(t: Tensor | None) -> bool:
    q = None if t is None else t.quantization
    return q is not None and len(q.scale) > 1


def op_version(op: str, inputs: Sig, outputs: Sig, options: Mapping[str, Any] | None = None) -> int:
    """The version the official converter writes for one operator.

    Args:
        op: BuiltinOperator name (``"CONV_2D"``).
        inputs: the operator's input tensors in order, None where the file has -1.
        outputs: its output tensors.
        options: the builtin options (schema field names).
    """
    o = dict(options or {})
    i0, i1, out0 = _type(inputs, 0), _type(inputs, 1), _type(outputs, 0)

    if op == "CONV_2D":
        if i0 == INT16 and i1 == INT8 and out0 == INT16 and o.get("quantized_bias_type"):
            return 8
        x, w = inputs[0], inputs[1]
        if x is not None and w is not None and len(x.shape) == 4 and len(w.shape) == 4 and x.shape[3] != w.shape[3]:
            return 6  # grouped convolution (input channels != filter input channels)
        if i0 == INT8 and i1 == INT8 and out0 == INT8:
            return 3
        if i0 == INT8 and i1 == INT4 and out0 == INT8:
            return 7
        if i0 == FLOAT32 and i1 == INT8 and out0 == FLOAT32:
            return 5 if _per_channel(inputs[1]) else 2
        return 1
    if op == "DEPTHWISE_CONV_2D":
        if i0 == FLOAT32 and i1 == INT8 and out0 == FLOAT32:
            return 6 if _per_channel(inputs[1]) else 4
        if i0 == INT8 and i1 == INT8 and out0 == INT8:
            return 3
        if i0 == INT8 and i1 == INT4 and out0 == INT8:
            return 7
        if o.get("dilation_w_factor", 1) != 1 or o.get("dilation_h_factor", 1) != 1:
            return 2
        return 1
    if op == "FULLY_CONNECTED":
        if i0 == INT16 and i1 == INT4 and out0 == INT16:
            return 13
        if i0 == FLOAT32 and i1 == INT8 and out0 == FLOAT32 and _per_channel(inputs[1]):
            return 12
        if i0 == INT16 and i1 == INT8 and out0 == INT16 and o.get("quantized_bias_type"):
            return 11
        if i0 == INT16 and i1 == INT16 and out0 == INT16:
            return 7
        if len(inputs) == 2:
            return 6
        if o.get("keep_num_dims"):
            return 5
        if i0 == INT8 and i1 == INT8 and out0 == INT8:
            return 4
        if i0 == INT8 and i1 == INT4 and out0 == INT8:
            return 10
        if i0 == FLOAT32 and i1 == INT8 and out0 == FLOAT32:
            return 9 if o.get("asymmetric_quantize_inputs") else 3
        if o.get("weights_format", 0) == 1:  # SHUFFLED4x16INT8
            return 2
        return 1
    if op == "TRANSPOSE_CONV":
        if i0 == INT16 and i1 == INT8 and out0 == INT16 and o.get("quantized_bias_type"):
            return 5
        if o.get("fused_activation_function", 0):
            return 4
        if len(inputs) == 4 and inputs[3] is not None:
            return 3
        if i1 == INT8:
            return 2
        return 1
    if op == "GATHER":
        if i0 == INT4:
            return 7
        if i1 == INT16:
            return 6
        if o.get("batch_dims", 0) != 0:
            return 5
        return {INT16: 4, BOOL: 3, INT8: 2}.get(i0, 1)  # type: ignore[arg-type]
    if op == "SIGN":
        return 2 if i0 == INT32 else 1
    if op in ("SIN", "COS"):
        return 2 if i0 == FLOAT16 else 1
    if op == "MUL":
        if i0 == FLOAT16:
            return 8
        quantized = inputs[0] is not None and inputs[0].quantization is not None
        if (i0 == INT16 and not quantized) or i0 == UINT32:
            return 7
        if i0 == COMPLEX64:
            return 6
        if i0 == INT64:
            return 5
        if i0 == INT16:
            return 4
        scales = [None if t is None or t.quantization is None else float(t.quantization.scale[0])
                  for t in (inputs[0], inputs[1] if len(inputs) > 1 else None, outputs[0])]
        if all(scales) and scales[0] * scales[1] / scales[2] >= 1.0:  # type: ignore[operator]
            return 3
        return 2 if i0 == INT8 else 1
    if op in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        if i0 == INT16 and out0 == INT16:
            return 3
        return 2 if i0 == INT8 else 1
    if op == "TRANSPOSE":
        r = _rank(inputs, 0)
        if i0 == FLOAT16:
            return 9
        if r > 6 or i0 == BFLOAT16:
            return 8
        if i0 == INT4:
            return 7
        if r > 5:
            return 6
        if i0 == INT16:
            return 5
        if r > 4:
            return 4
        return {BOOL: 3, INT8: 2}.get(i0, 1)  # type: ignore[arg-type]
    if op == "STRIDED_SLICE":
        if o.get("offset"):
            return 8
        if i0 == UINT32:
            return 7
        if o.get("ellipsis_mask", 0) or o.get("new_axis_mask", 0):
            return 6
        if i0 == STRING:
            return 5
        if _rank(inputs, 0) > 4:
            return 4
        return {BOOL: 3, INT8: 2}.get(i0, 1)  # type: ignore[arg-type]
    if op == "RESIZE_BILINEAR":
        if i0 == INT16:
            return 4
        if o.get("half_pixel_centers"):
            return 3
        return 2 if i0 == INT8 else 1
    if op == "RESIZE_NEAREST_NEIGHBOR":
        if i0 == INT16:
            return 4
        if o.get("half_pixel_centers") or o.get("align_corners"):
            return 3
        return 2 if i0 == INT8 else 1
    if op in ("MAXIMUM", "MINIMUM"):
        if i0 == INT16 and out0 == INT16:
            return 4
        if _broadcast_over_4d(inputs):
            return 3
        return 2 if i0 == INT8 else 1
    if op == "TILE":
        return {INT8: 3, STRING: 2}.get(i0, 1)  # type: ignore[arg-type]
    if op == "SQUEEZE":
        return 2 if i0 == STRING else 1
    if op == "ADD":
        quantized = inputs[0] is not None and inputs[0].quantization is not None
        if i0 == FLOAT16:
            return 6
        if i0 == INT16 and not quantized:
            return 5
        if i0 == INT64:
            return 4
        if i0 == INT16 and out0 == INT16 and not o.get("pot_scale_int16", True):
            return 3
        return 2 if i0 == INT8 else 1
    if op == "SUB":
        if i0 == INT16 and out0 == INT16 and not o.get("pot_scale_int16", True):
            return 5
        if i0 == INT64:
            return 4
        if _broadcast_over_4d(inputs):
            return 3
        return 2 if i0 == INT8 else 1
    if op == "DIV":
        return 2 if _broadcast_over_4d(inputs) else 1
    if op in ("TANH", "LOGISTIC"):
        if i0 == INT16 and out0 == INT16:
            return 3
        return 2 if i0 == INT8 else 1
    if op == "EQUAL":
        return {INT16: 5, STRING: 3, INT8: 2}.get(i0, 1)  # type: ignore[arg-type]
    if op == "NOT_EQUAL":
        return {INT16: 4, STRING: 3, INT8: 2}.get(i0, 1)  # type: ignore[arg-type]
    if op == "LEAKY_RELU":
        return 2 if i0 == INT16 else 1
    if op == "BATCH_MATMUL":
        if i0 == INT16:
            return 3
        if i0 == INT8:
            return 2
        if i0 == FLOAT32 and i1 == INT8 and out0 == FLOAT32 and o.get("asymmetric_quantize_inputs"):
            return 4
        return 1
    if op in ("PAD", "PADV2"):
        if i0 == BOOL:
            return 5
        if _rank(inputs, 0) > 4:
            return 4
        return {INT16: 3, INT8: 2}.get(i0, 1)  # type: ignore[arg-type]
    if op == "CONCATENATION":
        return {FLOAT16: 6, INT4: 5, UINT32: 4, INT16: 3, INT8: 2}.get(i0, 1)  # type: ignore[arg-type]
    if op == "SOFTMAX":
        return {FLOAT16: 4, INT16: 3, INT8: 2}.get(i0, 1)  # type: ignore[arg-type]
    if op in ("MEAN", "MIRROR_PAD", "REDUCE_MAX", "REDUCE_MIN", "RELU6", "RSQRT"):
        return {INT16: 3, INT8: 2}.get(i0, 1)  # type: ignore[arg-type]
    if op == "RELU":
        if i0 == INT16:
            return 3
        return 2 if i0 in (INT8, UINT8) else 1
    if op == "ABS":
        if i0 == INT32:
            return 5
        if i0 == INT16:
            return 3 if inputs[0] is not None and inputs[0].quantization is not None else 4
        return 2 if i0 in (INT8, UINT8) else 1
    if op == "SELECT":
        if i0 == UINT32:
            return 4
        if any(_rank(inputs, k) == 5 for k in range(min(3, len(inputs)))):
            return 3
        return 2 if i0 == INT8 else 1
    if op == "SELECT_V2":
        return 2 if i0 == UINT32 else 1
    if op in ("LESS", "GREATER_EQUAL"):
        return {INT16: 3, INT8: 2}.get(i0, 1)  # type: ignore[arg-type]
    if op in ("SPACE_TO_DEPTH", "SPLIT_V", "SUM", "LOG_SOFTMAX", "GREATER", "LESS_EQUAL",
              "SQUARED_DIFFERENCE", "DEPTH_TO_SPACE"):
        return 2 if i0 == INT8 else 1
    if op in ("EXP", "LOG", "REDUCE_PROD", "SQRT"):
        return 2 if i0 in (INT8, INT16) else 1
    if op == "FLOOR_DIV":
        if i0 in (INT16, INT8):
            return 3
        return 2 if i0 == FLOAT32 else 1
    if op == "FLOOR_MOD":
        return 2 if i0 in (INT16, INT8) else 1
    if op == "CAST":
        types = {i0, out0}
        if types & {BFLOAT16}:
            return 7
        if i0 == INT4 and out0 == FLOAT32:
            return 6
        if types & {10, FLOAT16}:  # FLOAT64 = 10
            return 5
        if types & {16}:  # UINT16
            return 4
        if types & {INT8}:
            return 3
        if types & {UINT32}:
            return 2
        return 1
    if op == "GELU":
        return 2 if i0 in (INT8, UINT8) else 1
    if op == "QUANTIZE":
        if INT4 in (i0, out0):
            return 4
        if _per_channel(outputs[0] if outputs else None):
            return 3
        return 2 if out0 == INT16 else 1
    if op == "DEQUANTIZE":
        if i0 == INT4:
            return 6
        if i0 in (INT16, FLOAT16):
            return 3
        if i0 == INT8:
            return 5 if _per_channel(inputs[0]) else 2
        return 1
    # RESHAPE, EXPAND_DIMS, HARD_SWISH, ELU, NEG, SQUARE, FLOOR, CEIL, ROUND, PRELU, POW,
    # LOGICAL_*, REDUCE_ANY, RELU_0_TO_1, RELU_N1_TO_1, SHAPE, ...: the default branch.
    return 1


# runtime_version.cc, for the builtins in op_version above.
MIN_RUNTIME: dict[tuple[str, int], str] = {
    ("AVERAGE_POOL_2D", 1): "1.5.0", ("AVERAGE_POOL_2D", 2): "1.14.0", ("AVERAGE_POOL_2D", 3): "2.3.0",
    ("BATCH_MATMUL", 1): "2.3.0", ("BATCH_MATMUL", 2): "2.3.0", ("BATCH_MATMUL", 3): "2.4.0",
    ("BATCH_MATMUL", 4): "2.5.0",
    ("CONV_2D", 1): "1.5.0", ("CONV_2D", 2): "1.14.0", ("CONV_2D", 3): "1.14.0", ("CONV_2D", 4): "2.3.0",
    ("CONV_2D", 5): "2.4.0", ("CONV_2D", 6): "2.9.0", ("CONV_2D", 7): "2.11.0", ("CONV_2D", 8): "2.15.0",
    ("DEPTHWISE_CONV_2D", 1): "1.5.0", ("DEPTHWISE_CONV_2D", 2): "1.12.0", ("DEPTHWISE_CONV_2D", 3): "1.14.0",
    ("DEPTHWISE_CONV_2D", 4): "2.2.0", ("DEPTHWISE_CONV_2D", 5): "2.3.0", ("DEPTHWISE_CONV_2D", 6): "2.3.0",
    ("DEPTHWISE_CONV_2D", 7): "2.11.0",
    ("ADD", 1): "1.5.0", ("ADD", 2): "1.14.0", ("ADD", 3): "2.4.0", ("ADD", 4): "2.6.0", ("ADD", 5): "2.13.0",
    ("ADD", 6): "2.23.0",
    ("SUB", 1): "1.6.0", ("SUB", 2): "1.14.0", ("SUB", 3): "2.3.0", ("SUB", 4): "2.4.0", ("SUB", 5): "2.4.0",
    ("DIV", 1): "1.6.0", ("DIV", 2): "2.3.0",
    ("CAST", 1): "1.5.0", ("CAST", 2): "2.7.0", ("CAST", 3): "2.8.0", ("CAST", 4): "2.9.0", ("CAST", 5): "2.12.0",
    ("CAST", 6): "2.15.0", ("CAST", 7): "2.17.0", ("CAST", 8): "2.21.0",
    ("CONCATENATION", 1): "1.5.0", ("CONCATENATION", 2): "1.14.0", ("CONCATENATION", 3): "2.3.0",
    ("CONCATENATION", 4): "2.14.0", ("CONCATENATION", 5): "2.21.0", ("CONCATENATION", 6): "2.23.0",
    ("FULLY_CONNECTED", 1): "1.5.0", ("FULLY_CONNECTED", 2): "1.10.0", ("FULLY_CONNECTED", 3): "1.14.0",
    ("FULLY_CONNECTED", 4): "1.14.0", ("FULLY_CONNECTED", 5): "2.0.0", ("FULLY_CONNECTED", 6): "2.1.0",
    ("FULLY_CONNECTED", 7): "2.3.0", ("FULLY_CONNECTED", 8): "2.3.0", ("FULLY_CONNECTED", 9): "2.3.0",
    ("FULLY_CONNECTED", 10): "2.11.0", ("FULLY_CONNECTED", 11): "2.15.0", ("FULLY_CONNECTED", 12): "2.17.0",
    ("FULLY_CONNECTED", 13): "2.18.0", ("FULLY_CONNECTED", 14): "2.21.0",
    ("GATHER", 1): "1.6.0", ("GATHER", 2): "1.14.0", ("GATHER", 3): "1.15.0", ("GATHER", 4): "2.4.0",
    ("GATHER", 5): "2.5.0", ("GATHER", 6): "2.13.0", ("GATHER", 7): "2.15.0",
    ("MAX_POOL_2D", 1): "1.5.0", ("MAX_POOL_2D", 2): "1.14.0", ("MAX_POOL_2D", 3): "2.3.0",
    ("MAXIMUM", 1): "1.14.0", ("MAXIMUM", 2): "1.14.0", ("MAXIMUM", 3): "2.3.0", ("MAXIMUM", 4): "2.3.0",
    ("MINIMUM", 1): "1.14.0", ("MINIMUM", 2): "1.14.0", ("MINIMUM", 3): "2.3.0", ("MINIMUM", 4): "2.3.0",
    ("MUL", 1): "1.5.0", ("MUL", 2): "1.14.0", ("MUL", 3): "1.15.0", ("MUL", 4): "2.3.0", ("MUL", 5): "2.6.0",
    ("MUL", 6): "2.11.0", ("MUL", 7): "2.13.0", ("MUL", 8): "2.23.0",
    ("PAD", 1): "1.5.0", ("PAD", 2): "1.14.0", ("PAD", 3): "2.4.0", ("PAD", 4): "2.6.0", ("PAD", 5): "2.20.0",
    ("TILE", 1): "1.10.1", ("TILE", 2): "2.2.0", ("TILE", 3): "2.8.0",
    ("PADV2", 1): "1.9.0", ("PADV2", 2): "1.14.0", ("PADV2", 3): "2.4.0", ("PADV2", 4): "2.6.0",
    ("PADV2", 5): "2.20.0",
    ("RESHAPE", 1): "1.5.0",
    ("SOFTMAX", 1): "1.5.0", ("SOFTMAX", 2): "1.14.0", ("SOFTMAX", 3): "2.3.0", ("SOFTMAX", 4): "2.23.0",
    ("TRANSPOSE", 1): "1.6.0", ("TRANSPOSE", 2): "1.14.0", ("TRANSPOSE", 3): "1.15.0", ("TRANSPOSE", 4): "2.3.0",
    ("TRANSPOSE", 5): "2.4.0", ("TRANSPOSE", 6): "2.12.0", ("TRANSPOSE", 7): "2.14.4", ("TRANSPOSE", 8): "2.22.0",
    ("TRANSPOSE", 9): "2.23.0",
    ("MEAN", 1): "1.6.0", ("MEAN", 2): "1.14.0", ("MEAN", 3): "2.4.0",
    ("SUM", 1): "1.10.0", ("SUM", 2): "1.15.0",
    ("REDUCE_MAX", 1): "1.11.0", ("REDUCE_MAX", 2): "1.14.0", ("REDUCE_MAX", 3): "2.5.0",
    ("REDUCE_MIN", 1): "1.11.0", ("REDUCE_MIN", 2): "1.14.0", ("REDUCE_MIN", 3): "2.5.0",
    ("REDUCE_PROD", 1): "1.11.0", ("REDUCE_PROD", 2): "2.6.0",
    ("REDUCE_ANY", 1): "1.11.0",
    ("RELU6", 1): "1.5.0", ("RELU6", 2): "1.14.0", ("RELU6", 3): "2.5.0",
    ("RESIZE_BILINEAR", 1): "1.7.0", ("RESIZE_BILINEAR", 2): "1.14.0", ("RESIZE_BILINEAR", 3): "2.2.0",
    ("RESIZE_BILINEAR", 4): "2.5.0",
    ("RESIZE_NEAREST_NEIGHBOR", 1): "1.13.1", ("RESIZE_NEAREST_NEIGHBOR", 2): "1.14.0",
    ("RESIZE_NEAREST_NEIGHBOR", 3): "2.3.0", ("RESIZE_NEAREST_NEIGHBOR", 4): "2.4.0",
    ("SQUEEZE", 1): "1.6.0", ("SQUEEZE", 2): "2.5.0",
    ("SPLIT_V", 1): "1.13.1", ("SPLIT_V", 2): "2.3.0",
    ("STRIDED_SLICE", 1): "1.6.0", ("STRIDED_SLICE", 2): "1.14.0", ("STRIDED_SLICE", 3): "2.1.0",
    ("STRIDED_SLICE", 4): "2.2.0", ("STRIDED_SLICE", 5): "2.5.0", ("STRIDED_SLICE", 6): "2.6.0",
    ("STRIDED_SLICE", 7): "2.14.0", ("STRIDED_SLICE", 8): "2.14.0",
    ("TRANSPOSE_CONV", 1): "1.9.0", ("TRANSPOSE_CONV", 2): "2.2.0", ("TRANSPOSE_CONV", 3): "2.3.0",
    ("TRANSPOSE_CONV", 4): "2.13.0", ("TRANSPOSE_CONV", 5): "2.15.0",
    ("EXPAND_DIMS", 1): "1.10.0",
    ("SHAPE", 1): "1.10.0",
    ("TANH", 1): "1.14.0", ("TANH", 2): "1.14.0", ("TANH", 3): "2.3.0",
    ("LEAKY_RELU", 1): "1.13.1", ("LEAKY_RELU", 2): "2.3.0",
    ("LOGISTIC", 1): "1.14.0", ("LOGISTIC", 2): "1.14.0", ("LOGISTIC", 3): "2.3.0",
    ("LOG_SOFTMAX", 1): "1.14.0", ("LOG_SOFTMAX", 2): "1.14.0",
    ("SQUARED_DIFFERENCE", 1): "1.13.1", ("SQUARED_DIFFERENCE", 2): "2.5.0",
    ("DEQUANTIZE", 1): "1.13.1", ("DEQUANTIZE", 2): "1.14.0", ("DEQUANTIZE", 3): "1.15.0",
    ("DEQUANTIZE", 4): "2.2.0", ("DEQUANTIZE", 5): "2.7.0", ("DEQUANTIZE", 6): "2.18.0",
    ("EQUAL", 1): "1.14.0", ("EQUAL", 2): "1.14.0", ("EQUAL", 3): "2.3.0", ("EQUAL", 4): "2.13.0",
    ("EQUAL", 5): "2.21.0",
    ("NOT_EQUAL", 1): "1.14.0", ("NOT_EQUAL", 2): "1.14.0", ("NOT_EQUAL", 3): "2.3.0", ("NOT_EQUAL", 4): "2.21.0",
    ("GREATER", 1): "1.14.0", ("GREATER", 2): "1.14.0",
    ("GREATER_EQUAL", 1): "1.14.0", ("GREATER_EQUAL", 2): "1.14.0", ("GREATER_EQUAL", 3): "2.13.0",
    ("LESS", 1): "1.14.0", ("LESS", 2): "1.14.0", ("LESS", 3): "2.13.0",
    ("LESS_EQUAL", 1): "1.14.0", ("LESS_EQUAL", 2): "1.14.0",
    ("SELECT", 1): "1.14.0", ("SELECT", 2): "1.14.0", ("SELECT", 3): "2.12.0", ("SELECT", 4): "2.12.0",
    ("SELECT_V2", 1): "2.2.0", ("SELECT_V2", 2): "2.12.0",
    ("FLOOR_DIV", 1): "1.14.0", ("FLOOR_DIV", 2): "1.14.0", ("FLOOR_DIV", 3): "2.13.0",
    ("FLOOR", 1): "1.9.0",
    ("CEIL", 1): "1.14.0",
    ("ELU", 1): "1.14.0",
    ("QUANTIZE", 1): "1.14.0", ("QUANTIZE", 2): "1.15.0", ("QUANTIZE", 3): "2.7.0", ("QUANTIZE", 4): "2.21.0",
    ("ROUND", 1): "1.14.0",
    ("RELU", 1): "1.5.0", ("RELU", 2): "2.1.0", ("RELU", 3): "2.5.0",
    ("RELU_N1_TO_1", 1): "1.5.0",
    ("RELU_0_TO_1", 1): "2.10.0",
    ("PRELU", 1): "1.8.0",
    ("EXP", 1): "1.7.0", ("EXP", 2): "2.12.0",
    ("COS", 1): "1.14.0", ("COS", 2): "2.23.0",
    ("NEG", 1): "1.9.0",
    ("POW", 1): "1.10.0",
    ("LOGICAL_OR", 1): "1.11.0", ("LOGICAL_AND", 1): "1.11.0", ("LOGICAL_NOT", 1): "1.11.0",
    ("FLOOR_MOD", 1): "1.13.0", ("FLOOR_MOD", 2): "2.13.0",
    ("SIN", 1): "1.9.0", ("SIN", 2): "2.23.0",
    ("LOG", 1): "1.14.0", ("LOG", 2): "2.15.0",
    ("SQRT", 1): "1.10.0", ("SQRT", 2): "2.21.0",
    ("RSQRT", 1): "1.10.0", ("RSQRT", 2): "2.5.0", ("RSQRT", 3): "2.15.0",
    ("SQUARE", 1): "1.12.0",
    ("ABS", 1): "1.13.0", ("ABS", 2): "2.4.0", ("ABS", 3): "2.5.0", ("ABS", 4): "2.6.0", ("ABS", 5): "2.12.0",
    ("HARD_SWISH", 1): "1.15.0",
    ("GELU", 1): "2.9.0", ("GELU", 2): "2.9.0",
    ("SIGN", 1): "2.11.0", ("SIGN", 2): "2.12.0",
}


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def min_runtime_version(ops: Iterable[tuple[str, int]]) -> str:
    """The highest release any (op, version) pair needs (runtime_version.cc); "" if none is known."""
    known = [MIN_RUNTIME[k] for k in ops if k in MIN_RUNTIME]
    return max(known, key=_version_key) if known else ""
