"""runtime.schema against two independent flatc-generated bindings of schema.fbs.

Every slot number, scalar default, enum value, BuiltinOperator code and BuiltinOptions tag we
declare is checked against the PyPI ``tflite`` package (TF 2.18 schema) and against
``ai_edge_litert.schema_py_generated`` (the current schema): flatc writes a field's vtable offset
(4 + 2 * slot) into each accessor's source, and its default into the accessor's last ``return``.
"""

from __future__ import annotations

import inspect
import re

import pytest

from keras2edge.runtime import schema

from .helpers import camel, tflite_class

_OFFSET = re.compile(r"self\._tab\.Offset\((\d+)\)")


def _litert_class(table: str) -> type | None:
    mod = pytest.importorskip("ai_edge_litert.schema_py_generated")
    return getattr(mod, table, None)


def _check_table(cls: type, table: schema.Table, missing: list[str]) -> int:
    checked = 0
    for f in table.live_fields:
        acc = getattr(cls, camel(f.name), None)
        if acc is None:
            missing.append(f"{table.name}.{f.name}")
            continue
        src = inspect.getsource(acc)
        m = _OFFSET.search(src)
        assert m, src
        assert int(m.group(1)) == 4 + 2 * f.slot, f"{table.name}.{f.name}: slot {f.slot}, flatc offset {m.group(1)}"
        if f.is_scalar or f.kind == "union_type":
            last = src.strip().splitlines()[-1].strip()
            if last == "return o":  # PyPI tflite patches OperatorCode.BuiltinCode (falls back to the byte)
                continue
            want = {True: "True", False: "False"}.get(f.default) if isinstance(f.default, bool) else repr(f.default)
            assert last == f"return {want}", f"{table.name}.{f.name}: default {f.default!r}, flatc: {last}"
        checked += 1
    return checked


def test_slots_and_defaults_match_litert_bindings() -> None:
    missing: list[str] = []
    checked = 0
    for table in schema.TABLES.values():
        cls = _litert_class(table.name)
        assert cls is not None, f"ai_edge_litert bindings have no table {table.name}"
        checked += _check_table(cls, table, missing)
    assert missing == []  # the ai-edge-litert 2.3.0 bindings have every table and field we declare
    assert checked > 200


def test_slots_and_defaults_match_pypi_tflite() -> None:
    missing: list[str] = []
    checked = 0
    for table in schema.TABLES.values():
        cls = tflite_class(table.name)
        if cls is None:
            missing.append(table.name)
            continue
        checked += _check_table(cls, table, missing)
    # TF 2.18's schema lacks the tables/fields added since; everything else must be there.
    newer = {"BlockwiseQuantization", "MultiAxisQuantization", "ExternalBufferGroup", "ExternalBuffer",
             "Model.external_buffer_groups", "Model.external_buffers", "Tensor.external_buffer"}
    assert set(missing) == newer, sorted(set(missing) ^ newer)
    assert checked > 200


def _consts(cls: type) -> dict[str, int]:
    return {k: v for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def test_builtin_operator_codes() -> None:
    mod = pytest.importorskip("ai_edge_litert.schema_py_generated")
    theirs = _consts(mod.BuiltinOperator)
    assert {k: schema.BUILTIN_OPERATORS[k] for k in theirs} == theirs
    from tflite.BuiltinOperator import BuiltinOperator

    old = _consts(BuiltinOperator)
    assert {k: schema.BUILTIN_OPERATORS[k] for k in old} == old


def test_builtin_options_union_tags() -> None:
    mod = pytest.importorskip("ai_edge_litert.schema_py_generated")
    theirs = {k: v for k, v in _consts(mod.BuiltinOptions).items() if k != "NONE"}
    assert theirs == schema.OPTIONS_TAGS
    from tflite.BuiltinOptions import BuiltinOptions

    old = {k: v for k, v in _consts(BuiltinOptions).items() if k != "NONE"}
    assert old == schema.OPTIONS_TAGS
    # every union member has a declared table
    assert all(name in schema.TABLES for name in schema.BUILTIN_OPTIONS)


def test_enums() -> None:
    mod = pytest.importorskip("ai_edge_litert.schema_py_generated")
    for name, values in schema.ENUMS.items():
        cls = getattr(mod, name)
        assert _consts(cls) == values, name


def test_doc_table_values() -> None:
    """The codes and tags listed in docs/tflite-flatbuffer.md §3."""
    codes = {"ADD": 0, "AVERAGE_POOL_2D": 1, "CONCATENATION": 2, "CONV_2D": 3, "DEPTHWISE_CONV_2D": 4,
             "DEQUANTIZE": 6, "FULLY_CONNECTED": 9, "LOGISTIC": 14, "MAX_POOL_2D": 17, "MUL": 18, "RELU": 19,
             "RELU_N1_TO_1": 20, "RELU6": 21, "QUANTIZE": 114, "HARD_SWISH": 117, "GELU": 150, "RESHAPE": 22,
             "RESIZE_BILINEAR": 23, "SOFTMAX": 25, "TANH": 28, "PAD": 34, "MEAN": 40, "SUB": 41, "SQUEEZE": 43,
             "UNIDIRECTIONAL_SEQUENCE_LSTM": 44, "PADV2": 60, "TRANSPOSE_CONV": 67, "EXPAND_DIMS": 70,
             "RESIZE_NEAREST_NEIGHBOR": 97, "LEAKY_RELU": 98, "BATCH_MATMUL": 126, "CUSTOM": 32, "REDUCE_MAX": 82}
    assert {k: schema.op_code(k) for k in codes} == codes
    tags = {"Conv2DOptions": 1, "DepthwiseConv2DOptions": 2, "Pool2DOptions": 5, "FullyConnectedOptions": 8,
            "SoftmaxOptions": 9, "ConcatenationOptions": 10, "AddOptions": 11, "LSTMOptions": 14,
            "ResizeBilinearOptions": 15, "ReshapeOptions": 17, "MulOptions": 21, "PadOptions": 22,
            "TransposeOptions": 26, "ReducerOptions": 27, "SubOptions": 28, "SqueezeOptions": 30,
            "StridedSliceOptions": 32, "DequantizeOptions": 38, "PadV2Options": 43, "TransposeConvOptions": 49,
            "ExpandDimsOptions": 52, "UnidirectionalSequenceLSTMOptions": 71, "ResizeNearestNeighborOptions": 74,
            "LeakyReluOptions": 75, "QuantizeOptions": 89, "HardSwishOptions": 91, "BatchMatMulOptions": 101,
            "GeluOptions": 116}
    assert {k: schema.OPTIONS_TAGS[k] for k in tags} == tags


ZOO_OPS = """CONV_2D DEPTHWISE_CONV_2D FULLY_CONNECTED ADD SUB MUL DIV MAXIMUM MINIMUM POW SQUARED_DIFFERENCE
AVERAGE_POOL_2D MAX_POOL_2D MEAN SUM REDUCE_MAX REDUCE_MIN REDUCE_PROD REDUCE_ANY CONCATENATION RESHAPE TRANSPOSE
PAD PADV2 MIRROR_PAD STRIDED_SLICE SLICE GATHER SPLIT SPLIT_V SQUEEZE EXPAND_DIMS TILE PACK UNPACK SHAPE CAST
QUANTIZE DEQUANTIZE RELU RELU6 RELU_N1_TO_1 RELU_0_TO_1 LEAKY_RELU PRELU ELU LOGISTIC TANH HARD_SWISH GELU EXP LOG
ABS NEG SQRT RSQRT SQUARE SIN COS FLOOR CEIL ROUND SIGN SOFTMAX LOG_SOFTMAX BATCH_MATMUL TRANSPOSE_CONV
RESIZE_NEAREST_NEIGHBOR RESIZE_BILINEAR SELECT SELECT_V2 LESS LESS_EQUAL GREATER GREATER_EQUAL EQUAL NOT_EQUAL
LOGICAL_AND LOGICAL_OR LOGICAL_NOT FLOOR_DIV FLOOR_MOD UNIDIRECTIONAL_SEQUENCE_LSTM L2_NORMALIZATION
LOCAL_RESPONSE_NORMALIZATION SPACE_TO_DEPTH DEPTH_TO_SPACE ARG_MAX ARG_MIN ZEROS_LIKE FILL BROADCAST_TO
CUMSUM""".split()


def test_op_options_mapping() -> None:
    for op in ZOO_OPS:
        schema.op_code(op)
    for op, table in schema.OP_OPTIONS.items():
        assert op in schema.BUILTIN_OPERATORS, op
        assert table in schema.OPTIONS_TAGS, table
    # each options table whose name is derived from an op is that op's table
    assert schema.options_for_op("CONV_2D") == (1, "Conv2DOptions")
    assert schema.options_for_op(40) == (27, "ReducerOptions")
    assert schema.options_for_op("RELU") is None
    assert schema.options_for_op("GELU") == (116, "GeluOptions")
    # ops without a table in OP_OPTIONS have none in the schema either (checked by name)
    for op in ("LOGISTIC", "TANH", "RELU", "RELU6", "PRELU", "ELU", "SIN", "LOG", "SQRT", "RSQRT", "CEIL", "FLOOR",
               "ROUND", "RELU_0_TO_1", "CUSTOM"):
        assert op not in schema.OP_OPTIONS


def test_helpers() -> None:
    assert schema.op_name(3) == "CONV_2D" and schema.op_name(9999) == "UNKNOWN_9999"
    with pytest.raises(KeyError, match="NOPE"):
        schema.op_code("NOPE")
    assert schema.options_table(0) is None and schema.options_table(500) is None
    assert schema.default_options("Conv2DOptions") == {
        "padding": 0, "stride_w": 0, "stride_h": 0, "fused_activation_function": 0, "dilation_w_factor": 1,
        "dilation_h_factor": 1, "quantized_bias_type": 0}
    assert schema.default_options("AddOptions")["pot_scale_int16"] is True
    assert schema.default_options("ReshapeOptions") == {"new_shape": None}
    # deprecated fields keep their slot but are not live
    rb = schema.TABLES["ResizeBilinearOptions"]
    assert [f.name for f in rb.live_fields] == ["align_corners", "half_pixel_centers"]
    assert rb.by_name["align_corners"].slot == 2
    op = schema.TABLES["Operator"]
    assert op.by_name["builtin_options_type"].slot == 3 and op.by_name["builtin_options"].slot == 4
    assert op.by_name["custom_options"].slot == 5
    assert schema.tensor_nbytes((2, 3), 0) == 24 and schema.tensor_nbytes((3,), 17) == 2
    assert schema.tensor_nbytes((-1, 3), 0) is None and schema.tensor_nbytes((3,), 5) is None
    assert schema.enum_name("Padding", 1) == "VALID"
