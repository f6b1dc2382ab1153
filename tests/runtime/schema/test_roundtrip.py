"""Model -> bytes -> Model round trips, checked by our reader and by the PyPI ``tflite`` package.

Covers every BuiltinOptions table with non-default values in every field, quantization
(per-tensor, per-axis, min/max), shape_signature, scalars, variables, custom ops, intermediates,
metadata, signatures, the 127 rule, opcode de-duplication, 16-byte buffer alignment, zero-copy
reading, and the writer's refusal of invalid models.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from keras2edge.convert.tflite import write_model
from keras2edge.runtime import schema
from keras2edge.runtime.model import Metadata, Model, Operator, OperatorCode, Quantization, SignatureDef, Tensor
from keras2edge.runtime.reader import load_model

from ...corpus import FIXTURES, corpus, corpus_paths
from .helpers import (
    SKIPPED_BY_TFLITE,
    ModelBuilder,
    assert_models_equal,
    buffer_data_offsets,
    raw,
    tflite_read,
)

CONVERTER_FILES = [str(FIXTURES / "tflite" / n) for n in ("ops_float.tflite", "ops_int8.tflite",
                                                           "ops_int8_float_io.tflite")]
# The corpus' .tflite files (CATALOG.md), listed so a missing one fails instead of dropping its cases.
CORPUS_TFLITE = ["tflite-micro/hello_world_int8.tflite", "tflite-micro/hello_world_float.tflite",
                 "tflite-micro/person_detect.tflite"]
FOREIGN_FILES = CONVERTER_FILES + CORPUS_TFLITE  # corpus entries are relative: resolve with foreign_path


def foreign_path(name: str) -> str:
    """Path of a FOREIGN_FILES entry (a corpus entry skips its test when the corpus is absent)."""
    return corpus(name) if name in CORPUS_TFLITE else name


def foreign_files() -> list[str]:
    """Paths of every foreign file there is (the corpus' ones only when the corpus is present)."""
    return CONVERTER_FILES + corpus_paths(CORPUS_TFLITE)


def _nondefault(f: schema.Field, i: int) -> object:
    if f.kind == "bool":
        return not f.default
    if f.kind in ("float", "double"):
        return f.default + 2.5 + i
    if f.kind == "long":
        return -(2**40) - i
    if f.kind == "ulong":
        return 2**40 + i
    if f.kind in schema.INT_RANGES:
        return f.default + 3 + i
    if f.kind == "string":
        return f"{f.name}_{i}"
    if f.kind == "vector":
        return [0.5, -1.5, 2.0 + i] if f.elem in ("float", "double") else [1, -2, 3 + i]
    raise AssertionError(f.kind)


def _table_op() -> dict[str, str]:
    """options table -> an op that uses it."""
    out: dict[str, str] = {}
    for op, table in schema.OP_OPTIONS.items():
        out.setdefault(table, op)
    return out


def all_options_model() -> Model:
    """One operator per BuiltinOptions table, every field set to a non-default value."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 2))
    y = mb.tensor("y", (1, 2))
    ops = _table_op()
    for tag, name in enumerate(schema.BUILTIN_OPTIONS, start=1):
        table = schema.TABLES[name]
        opts = {f.name: _nondefault(f, i) for i, f in enumerate(table.live_fields)}
        op = ops.get(name, "ADD")
        mb.op(op, [x], [y], {}, with_options=False)
        mb.ops[-1] = dataclasses.replace(mb.ops[-1], options_type=tag, options=opts)
    return mb.model([x], [y])


def rich_model() -> Model:
    """Quantization, signatures, metadata, custom op, intermediates, big opcodes, odd buffer sizes."""
    mb = ModelBuilder()
    q_in = Quantization(np.array([0.5], np.float32), np.array([-3], np.int64))
    x = mb.tensor("input", (1, 4, 4, 3), 9, quantization=q_in, shape_signature=(-1, 4, 4, 3))
    w = mb.tensor("w", (1, 3, 3, 3), 9, data=np.arange(27, dtype=np.int8),
                  quantization=Quantization(np.array([0.1, 0.2, 0.25], np.float32), np.zeros(3, np.int64), 3,
                                            min=np.array([-1, -2, -3], np.float32),
                                            max=np.array([1, 2, 3], np.float32)))
    b = mb.tensor("b", (3,), 2, data=np.array([1, -2, 3], np.int32),
                  quantization=Quantization(np.array([0.05, 0.1, 0.125], np.float32), np.zeros(3, np.int64), 0))
    h = mb.tensor("h", (1, 4, 4, 3), 9, quantization=q_in, shape_signature=(-1, 4, 4, 3))
    scalar = mb.tensor("scalar", (), 0, data=np.array(1.5, np.float32))
    odd = mb.tensor("odd", (3,), 3, data=np.array([1, 2, 3], np.uint8))
    odd17 = mb.tensor("odd17", (17,), 9, data=np.arange(17, dtype=np.int8))
    state = mb.tensor("state", (1, 8), 7, is_variable=True)
    unknown_rank = mb.tensor("unknown_rank", (), 0, has_rank=False)
    inter = mb.tensor("inter", (1,), 7, quantization=Quantization(np.array([2.0**-12], np.float32),
                                                                    np.zeros(1, np.int64)))
    out = mb.tensor("out", (1, 4, 4, 3), 0)
    mb.op("DEPTHWISE_CONV_2D", [x, w, b], [h], {"padding": 0, "stride_w": 1, "stride_h": 1, "depth_multiplier": 1},
          version=3)
    mb.op("GELU", [h], [out], {"approximate": True})  # 150: the 127 rule
    mb.op("BATCH_MATMUL", [h, -1], [out])  # 126: last code below the placeholder
    mb.op("CUMSUM", [h, odd], [out], {"exclusive": True})  # 128
    mb.op("FULLY_CONNECTED", [h, w, -1], [out], {"keep_num_dims": True}, version=5)
    mb.codes.append(OperatorCode(schema.CUSTOM, 1, "MyCustomOp"))
    mb.ops.append(Operator(len(mb.codes) - 1, (h, scalar, odd17), (out,), custom_options=b"\x01\x02\x03"))
    mb.codes.append(OperatorCode(schema.op_code("UNIDIRECTIONAL_SEQUENCE_LSTM"), 1))
    mb.ops.append(Operator(len(mb.codes) - 1, (h, -1, state), (out,), 71,
                           schema.complete_options(71, {"fused_activation_function": 4, "cell_clip": 10.0}),
                           intermediates=(inter, unknown_rank)))
    mb.buffers.append(raw(np.frombuffer(b"1.15.0".ljust(16, b"\0"), np.uint8)))
    mb.buffers.append(raw(np.arange(5, dtype=np.uint8)))
    nb = len(mb.buffers)
    return mb.model([x], [out], description="keras2edge test",
                    metadata=[Metadata("min_runtime_version", nb - 2), Metadata("other", nb - 1)],
                    signature_defs=[SignatureDef("serving_default", 0, [("input", x)], [("output_0", out)]),
                                    SignatureDef("second", 0, [], [("h", h), ("out", out)])])


def _raw_opcode_fields(data: bytes) -> list[tuple[int, int]]:
    """(deprecated_builtin_code, builtin_code) exactly as stored (not through the tflite fallback)."""
    import flatbuffers
    import tflite

    m = tflite.Model.GetRootAsModel(data, 0)
    out = []
    for i in range(m.OperatorCodesLength()):
        tab = m.OperatorCodes(i)._tab
        o = tab.Offset(10)
        code = tab.Get(flatbuffers.number_types.Int32Flags, o + tab.Pos) if o else 0
        out.append((m.OperatorCodes(i).DeprecatedBuiltinCode(), code))
    return out


@pytest.mark.parametrize("make", [all_options_model, rich_model])
def test_model_bytes_model(make) -> None:  # noqa: ANN001
    model = make()
    data = write_model(model)
    assert data[4:8] == b"TFL3"
    ours = load_model(data)
    assert_models_equal(ours, model)
    assert write_model(ours) == data  # bytes -> Model -> bytes is the identity on our own files
    theirs = tflite_read(data)
    assert_models_equal(theirs, model)
    assert_models_equal(theirs, ours, fill_defaults=False)
    # the `tflite` package (TF 2.18 schema) knows every options field we declare: none was skipped
    assert not SKIPPED_BY_TFLITE


def test_every_options_field_is_written() -> None:
    model = all_options_model()
    ours = load_model(write_model(model))
    n = 0
    for op in ours.subgraphs[0].operators:
        table = schema.options_table(op.options_type)
        assert set(op.options) == {f.name for f in table.live_fields}
        for f in table.live_fields:  # each value differs from the default, so it was really stored
            assert op.options[f.name] != f.default, (table.name, f.name)
        n += len(op.options)
    assert len(ours.subgraphs[0].operators) == len(schema.BUILTIN_OPTIONS) == 126
    assert n == sum(len(schema.TABLES[t].live_fields) for t in schema.BUILTIN_OPTIONS) > 140


def test_opcodes_127_rule_and_versions() -> None:
    model = rich_model()
    data = write_model(model)
    stored = _raw_opcode_fields(data)
    for (dep, code), oc in zip(stored, model.operator_codes):
        assert code == oc.builtin_code
        assert dep == min(oc.builtin_code, 127)
    assert (127, 150) in stored and (126, 126) in stored and (127, 128) in stored
    ours = load_model(data)
    assert [(c.builtin_code, c.version) for c in ours.operator_codes][:2] == [(4, 3), (150, 1)]
    assert all(c.deprecated_builtin_code is None for c in ours.operator_codes)


def test_old_style_opcode_is_read_with_max_rule() -> None:
    """A file with only deprecated_builtin_code (old converters) reads as that code; non-canonical
    deprecated values are kept as read."""
    model = rich_model()
    data = bytearray(write_model(model))
    import tflite

    m = tflite.Model.GetRootAsModel(bytes(data), 0)
    tab = m.OperatorCodes(0)._tab  # DEPTHWISE_CONV_2D = 4: zero its builtin_code in place
    data[tab.Pos + tab.Offset(10):tab.Pos + tab.Offset(10) + 4] = b"\0\0\0\0"
    oc = load_model(bytes(data)).operator_codes[0]
    assert oc.builtin_code == 4 and oc.deprecated_builtin_code is None
    data[tab.Pos + tab.Offset(4)] = 3  # deprecated byte 3 < builtin 4 would now be non-canonical
    data[tab.Pos + tab.Offset(10):tab.Pos + tab.Offset(10) + 4] = (4).to_bytes(4, "little")
    oc = load_model(bytes(data)).operator_codes[0]
    assert oc.builtin_code == 4 and oc.deprecated_builtin_code == 3


def test_opcodes_are_deduplicated() -> None:
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 2))
    y = mb.tensor("y", (1, 2))
    mb.codes = [OperatorCode(19), OperatorCode(19), OperatorCode(21), OperatorCode(19, 2)]
    mb.ops = [Operator(i, (x,), (y,)) for i in (1, 0, 2, 3, 1)]
    got = load_model(write_model(mb.model([x], [y])))
    assert [(c.builtin_code, c.version) for c in got.operator_codes] == [(19, 1), (21, 1), (19, 2)]
    assert [op.opcode_index for op in got.subgraphs[0].operators] == [0, 0, 1, 2, 0]


def test_buffers_are_16_byte_aligned() -> None:
    for make in (rich_model, all_options_model):
        data = write_model(make())
        offsets = buffer_data_offsets(data)
        assert offsets or make is all_options_model
        assert all(o % 16 == 0 for o in offsets), offsets
    for path in foreign_files():
        data = write_model(load_model(open(path, "rb").read()))
        offsets = buffer_data_offsets(data)
        assert offsets and all(o % 16 == 0 for o in offsets), (path, [o % 16 for o in offsets])


def test_reader_is_zero_copy() -> None:
    data = bytearray(write_model(rich_model()))
    model = load_model(data)
    w = model.buffers[1]
    assert np.shares_memory(w, np.frombuffer(data, np.uint8))
    scale = model.subgraphs[0].tensors[1].quantization.scale
    assert np.shares_memory(scale, np.frombuffer(data, np.uint8))
    before = int(w[0])
    data[buffer_data_offsets(bytes(data))[0]] ^= 0xFF  # the view follows the bytes
    assert int(w[0]) == before ^ 0xFF
    ro = load_model(bytes(data)).buffers[1]
    assert not ro.flags.writeable
    assert model.tensor_data(0, 1).shape == (1, 3, 3, 3)


@pytest.mark.parametrize("name", FOREIGN_FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_foreign_files_read_write_read_stable(name: str) -> None:
    original = open(foreign_path(name), "rb").read()
    first = load_model(original)
    # our reader and the independent one agree on the converter's own bytes
    assert_models_equal(tflite_read(original), first, fill_defaults=False)
    data = write_model(first)
    second = load_model(data)
    assert_models_equal(second, first, fill_defaults=False)
    assert write_model(second) == data
    assert_models_equal(tflite_read(data), second, fill_defaults=False)


def test_converter_fixtures_present_and_small() -> None:
    assert all(len(open(p, "rb").read()) < 100_000 for p in CONVERTER_FILES)
    ops = set()
    for p in CONVERTER_FILES:
        ops |= {schema.op_name(c.builtin_code) for c in load_model(open(p, "rb").read()).operator_codes}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "AVERAGE_POOL_2D", "ADD", "MUL",
            "CONCATENATION", "RESHAPE", "SOFTMAX", "MEAN", "PAD", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR",
            "TRANSPOSE_CONV", "QUANTIZE", "DEQUANTIZE", "HARD_SWISH", "LOGISTIC"} <= ops


# ---------------------------------------------------------------------------------------------
# The writer refuses invalid models


def _small() -> Model:
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 2))
    w = mb.tensor("w", (2, 2), data=np.ones((2, 2), np.float32))
    y = mb.tensor("y", (1, 2))
    mb.op("FULLY_CONNECTED", [x, w, -1], [y])
    return mb.model([x], [y], signature_defs=[SignatureDef("s", 0, [("x", x)], [("y", y)])])


def _set(model: Model, path: str, value: object) -> Model:
    """Replace model.<path> (dotted; [i] for lists) in a copy-free way (tests build fresh models)."""
    obj = model
    parts = path.replace("]", "").replace("[", ".").split(".")
    for p in parts[:-1]:
        obj = obj[int(p)] if p.isdigit() else getattr(obj, p)
    last = parts[-1]
    if last.isdigit():
        obj[int(last)] = value
    else:
        setattr(obj, last, value)
    return model


BAD = [
    ("buffers[0]", np.ones(4, np.uint8), "buffers\\[0\\] holds 4 bytes"),
    ("buffers", [], "buffers is empty"),
    ("buffers[1]", np.ones((2, 8), np.uint8), "1-D uint8"),
    ("buffers[1]", np.ones(16, np.float32), "1-D uint8"),
    ("buffers[1]", np.ones(15, np.uint8), "holds 15 bytes, the tensor .* needs 16"),
    ("subgraphs[0].tensors[1].buffer", 7, "buffer 7 out of range"),
    ("subgraphs[0].tensors[1].is_variable", True, "variable tensor must not have buffer data"),
    ("subgraphs[0].tensors[1].type", 99, "unknown TensorType 99"),
    ("subgraphs[0].tensors[0].shape", (1, -5), "out of range"),
    ("subgraphs[0].tensors[0].name", None, "expected a str"),
    ("subgraphs[0].operators[0].inputs", (0, 1, 9), "inputs .* value 9 out of range"),
    ("subgraphs[0].operators[0].outputs", (-1,), "outputs .* value -1 out of range"),
    ("subgraphs[0].operators[0].opcode_index", 3, "opcode_index 3 out of range"),
    ("subgraphs[0].operators[0].options", {"stride": 1}, "no field\\(s\\) \\['stride'\\]"),
    ("subgraphs[0].operators[0].options", {"fused_activation_function": 300}, "outside the range of byte"),
    ("subgraphs[0].operators[0].options", {"keep_num_dims": "yes"}, "expected an integer"),
    ("subgraphs[0].operators[0].options_type", 200, "unknown BuiltinOptions type 200"),
    ("subgraphs[0].inputs", (5,), "inputs: value 5 out of range"),
    ("subgraphs", [], "subgraphs is empty"),
    ("operator_codes[0].builtin_code", -1, "codes are >= 0"),
    ("version", 2, "version is 2"),
    ("metadata", [Metadata("m", 9)], "buffer 9 out of range"),
    ("signature_defs[0].outputs", [("y", 3)], "tensor 3 out of range"),
    ("signature_defs[0].subgraph_index", 1, "subgraph_index 1 out of range"),
]


@pytest.mark.parametrize("path,value,match", BAD, ids=[f"{p}={v!r}"[:60] for p, v, _ in BAD])
def test_writer_rejects_invalid_models(path: str, value: object, match: str) -> None:
    model = _set(_small(), path, value)
    with pytest.raises(ValueError, match=match):
        write_model(model)


def test_writer_rejects_options_without_type() -> None:
    model = _small()
    model.subgraphs[0].operators[0] = Operator(0, (0, 1, -1), (2,), 0, {"keep_num_dims": True})
    with pytest.raises(ValueError, match="options_type 0"):
        write_model(model)


def test_writer_accepts_partial_options_and_fills_defaults() -> None:
    model = _small()
    model.subgraphs[0].operators[0].options = {"keep_num_dims": True}
    got = load_model(write_model(model)).subgraphs[0].operators[0].options
    assert got == {**schema.default_options("FullyConnectedOptions"), "keep_num_dims": True}


def test_writer_does_not_modify_the_model() -> None:
    model = rich_model()
    before = write_model(model)
    assert write_model(model) == before
    assert isinstance(model.subgraphs[0].tensors[0], Tensor)
