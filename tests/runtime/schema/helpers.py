"""Test helpers: Model comparison, an independent reader on the PyPI ``tflite`` package, tiny models,
and runners for LiteRT and TFLite Micro."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from keras2edge.runtime import schema
from keras2edge.runtime.model import (Metadata, Model, Operator, OperatorCode, Quantization, SignatureDef, SubGraph,
                                      Tensor)

# ---------------------------------------------------------------------------------------------
# Comparison


def camel(name: str) -> str:
    """flatc's Python accessor name of a schema field (``stride_w`` -> ``StrideW``)."""
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def _norm_options(tag: int, opts: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in schema.complete_options(tag, opts).items():
        if isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, tuple):
            v = list(v)
        if isinstance(v, float) or (isinstance(v, list) and v and isinstance(v[0], float)):
            v = np.asarray(v, np.float32).tolist()  # options floats are float32 in the file
        out[k] = v
    return out


def _arr_eq(a: Any, b: Any, dtype: Any, what: str) -> None:
    if a is None or b is None:
        assert a is None and b is None, f"{what}: {a!r} != {b!r}"
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == np.dtype(dtype) and b.dtype == np.dtype(dtype), f"{what}: dtypes {a.dtype}, {b.dtype}"
    assert a.shape == b.shape and np.array_equal(a, b), f"{what}: {a!r} != {b!r}"


def assert_models_equal(got: Model, want: Model, fill_defaults: bool = True) -> None:
    """Field-by-field equality (arrays by value and dtype). ``fill_defaults``: options compared with
    schema defaults filled in (what the reader returns) and a None deprecated_builtin_code taken as the
    canonical min(code, 127)."""
    assert got.version == want.version
    assert got.description == want.description
    assert len(got.buffers) == len(want.buffers), "number of buffers"
    for i, (a, b) in enumerate(zip(got.buffers, want.buffers)):
        _arr_eq(a, b, np.uint8, f"buffers[{i}]")
    assert len(got.operator_codes) == len(want.operator_codes), "number of operator codes"
    for i, (a, b) in enumerate(zip(got.operator_codes, want.operator_codes)):
        assert (a.builtin_code, a.version, a.custom_code) == (b.builtin_code, b.version, b.custom_code), \
            f"operator_codes[{i}]: {a} != {b}"
        da, db = a.deprecated_builtin_code, b.deprecated_builtin_code
        if fill_defaults:
            da = min(a.builtin_code, 127) if da is None else da
            db = min(b.builtin_code, 127) if db is None else db
        assert da == db, f"operator_codes[{i}].deprecated_builtin_code {da} != {db}"
    assert got.metadata == want.metadata
    assert got.signature_defs == want.signature_defs
    assert len(got.subgraphs) == len(want.subgraphs)
    for si, (ga, gb) in enumerate(zip(got.subgraphs, want.subgraphs)):
        assert (ga.name, tuple(ga.inputs), tuple(ga.outputs)) == (gb.name, tuple(gb.inputs), tuple(gb.outputs))
        assert len(ga.tensors) == len(gb.tensors)
        for ti, (a, b) in enumerate(zip(ga.tensors, gb.tensors)):
            w = f"subgraph {si} tensor {ti} ({b.name})"
            assert (a.name, tuple(a.shape), a.type, a.buffer, a.is_variable, a.has_rank) == \
                (b.name, tuple(b.shape), b.type, b.buffer, b.is_variable, b.has_rank), f"{w}: {a} != {b}"
            sa = None if a.shape_signature is None else tuple(a.shape_signature)
            sb = None if b.shape_signature is None else tuple(b.shape_signature)
            assert sa == sb, f"{w}: shape_signature {sa} != {sb}"
            qa, qb = a.quantization, b.quantization
            assert (qa is None) == (qb is None), f"{w}: quantization {qa} != {qb}"
            if qa is not None:
                _arr_eq(qa.scale, qb.scale, np.float32, f"{w} scale")
                _arr_eq(qa.zero_point, qb.zero_point, np.int64, f"{w} zero_point")
                _arr_eq(qa.min, qb.min, np.float32, f"{w} min")
                _arr_eq(qa.max, qb.max, np.float32, f"{w} max")
                assert qa.quantized_dimension == qb.quantized_dimension, w
        assert len(ga.operators) == len(gb.operators)
        for oi, (a, b) in enumerate(zip(ga.operators, gb.operators)):
            w = f"subgraph {si} operator {oi}"
            assert (a.opcode_index, tuple(a.inputs), tuple(a.outputs), a.options_type, a.custom_options,
                    tuple(a.intermediates)) == (b.opcode_index, tuple(b.inputs), tuple(b.outputs), b.options_type,
                                                b.custom_options, tuple(b.intermediates)), f"{w}: {a} != {b}"
            oa, ob = a.options, b.options
            if fill_defaults:
                oa, ob = _norm_options(a.options_type, oa), _norm_options(b.options_type, ob)
            assert oa == ob, f"{w} options: {oa} != {ob}"


# ---------------------------------------------------------------------------------------------
# An independent reader: the PyPI `tflite` package (flatc-generated, TF 2.18 schema)


def tflite_class(table: str) -> type | None:
    try:
        return getattr(importlib.import_module(f"tflite.{table}"), table)
    except (ImportError, AttributeError):
        return None


#: fields the TF 2.18 `tflite` package does not know (newer schema) — skipped when comparing options.
SKIPPED_BY_TFLITE: set[tuple[str, str]] = set()


def _tfl_options(op: Any, tag: int) -> dict[str, Any]:
    table = schema.options_table(tag)
    cls = tflite_class(table.name)
    assert cls is not None, f"tflite package lacks {table.name}"
    t = op.BuiltinOptions()
    out: dict[str, Any] = {}
    if t is None:
        return schema.default_options(tag)
    inst = cls()
    inst.Init(t.Bytes, t.Pos)
    for f in table.live_fields:
        acc = camel(f.name)
        if not hasattr(inst, acc):
            SKIPPED_BY_TFLITE.add((table.name, f.name))
            out[f.name] = f.default
            continue
        if f.kind == "vector":
            out[f.name] = None if getattr(inst, acc + "IsNone")() else getattr(inst, acc + "AsNumpy")().tolist()
        elif f.kind == "string":
            v = getattr(inst, acc)()
            out[f.name] = None if v is None else v.decode()
        else:
            v = getattr(inst, acc)()
            out[f.name] = bool(v) if f.kind == "bool" else v
    return out


def _np_or_none(obj: Any, acc: str) -> np.ndarray | None:
    if getattr(obj, acc + "IsNone")():
        return None
    v = getattr(obj, acc + "AsNumpy")()
    return v if isinstance(v, np.ndarray) else np.zeros(0)


def tflite_read(data: bytes) -> Model:
    """Parse ``data`` with the PyPI ``tflite`` package into a Model (same normalizations as ours)."""
    import tflite

    m = tflite.Model.GetRootAsModel(data, 0)
    assert tflite.Model.ModelBufferHasIdentifier(data, 0)
    buffers = []
    for i in range(m.BuffersLength()):
        b = m.Buffers(i)
        buffers.append(np.zeros(0, np.uint8) if b.DataIsNone() else b.DataAsNumpy().astype(np.uint8))
    codes = []
    for i in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(i)
        code = max(oc.DeprecatedBuiltinCode(), oc.BuiltinCode())
        dep = oc.DeprecatedBuiltinCode()
        cc = oc.CustomCode()
        codes.append(OperatorCode(code, oc.Version(), None if cc is None else cc.decode(),
                                  None if dep == min(code, 127) else dep))
    subgraphs = []
    for si in range(m.SubgraphsLength()):
        sg = m.Subgraphs(si)
        tensors = []
        for ti in range(sg.TensorsLength()):
            t = sg.Tensors(ti)
            q = t.Quantization()
            quant = None
            if q is not None:
                scale, zp = _np_or_none(q, "Scale"), _np_or_none(q, "ZeroPoint")
                lo, hi = _np_or_none(q, "Min"), _np_or_none(q, "Max")
                lo = None if lo is None or lo.size == 0 else lo.astype(np.float32)
                hi = None if hi is None or hi.size == 0 else hi.astype(np.float32)
                if not ((scale is None or scale.size == 0) and (zp is None or zp.size == 0) and lo is None
                        and hi is None):
                    quant = Quantization(np.zeros(0, np.float32) if scale is None else scale.astype(np.float32),
                                         np.zeros(0, np.int64) if zp is None else zp.astype(np.int64),
                                         q.QuantizedDimension(), lo, hi)
            shape = () if t.ShapeIsNone() else tuple(t.ShapeAsNumpy().tolist()) if t.ShapeLength() else ()
            sig = None if t.ShapeSignatureIsNone() else (tuple(t.ShapeSignatureAsNumpy().tolist())
                                                         if t.ShapeSignatureLength() else ())
            name = t.Name()
            tensors.append(Tensor(name="" if name is None else name.decode(), shape=shape, type=t.Type(),
                                  buffer=t.Buffer(), shape_signature=sig, quantization=quant,
                                  is_variable=bool(t.IsVariable()), has_rank=bool(t.HasRank())))
        ops = []
        for oi in range(sg.OperatorsLength()):
            op = sg.Operators(oi)
            tag = op.BuiltinOptionsType()
            ints = lambda acc: () if getattr(op, acc + "IsNone")() or not getattr(op, acc + "Length")() \
                else tuple(getattr(op, acc + "AsNumpy")().tolist())  # noqa: E731
            ops.append(Operator(op.OpcodeIndex(), ints("Inputs"), ints("Outputs"), tag,
                                _tfl_options(op, tag) if tag else {},
                                None if op.CustomOptionsIsNone() else op.CustomOptionsAsNumpy().tobytes(),
                                ints("Intermediates")))
        name = sg.Name()
        io = lambda acc: (() if not getattr(sg, acc + "Length")()  # noqa: E731
                          else tuple(getattr(sg, acc + "AsNumpy")().tolist()))
        subgraphs.append(SubGraph(tensors, io("Inputs"), io("Outputs"), ops, "" if name is None else name.decode()))
    metadata = [Metadata(m.Metadata(i).Name().decode(), m.Metadata(i).Buffer()) for i in range(m.MetadataLength())]
    sigs = []
    for i in range(m.SignatureDefsLength()):
        sd = m.SignatureDefs(i)
        sigs.append(SignatureDef(
            sd.SignatureKey().decode(), sd.SubgraphIndex(),
            [(sd.Inputs(k).Name().decode(), sd.Inputs(k).TensorIndex()) for k in range(sd.InputsLength())],
            [(sd.Outputs(k).Name().decode(), sd.Outputs(k).TensorIndex()) for k in range(sd.OutputsLength())]))
    desc = m.Description()
    return Model(codes, subgraphs, buffers, m.Version(), "" if desc is None else desc.decode(), metadata, sigs)


def buffer_data_offsets(data: bytes) -> list[int]:
    """File offsets of the first byte of every non-empty buffer (via the `tflite` package)."""
    import tflite

    m = tflite.Model.GetRootAsModel(data, 0)
    out = []
    for i in range(m.BuffersLength()):
        b = m.Buffers(i)
        if b.DataLength():
            out.append(b._tab.Vector(b._tab.Offset(4)))
    return out


# ---------------------------------------------------------------------------------------------
# Building models by hand


def raw(a: np.ndarray) -> np.ndarray:
    return np.frombuffer(np.ascontiguousarray(a).tobytes(), np.uint8)


class ModelBuilder:
    """Append tensors/ops to a one-subgraph Model (test convenience)."""

    def __init__(self) -> None:
        self.buffers: list[np.ndarray] = [np.zeros(0, np.uint8)]
        self.tensors: list[Tensor] = []
        self.ops: list[Operator] = []
        self.codes: list[OperatorCode] = []

    def tensor(self, name: str, shape: tuple[int, ...], ttype: int = 0, data: np.ndarray | None = None,
               **kw: Any) -> int:
        b = 0
        if data is not None:
            self.buffers.append(raw(data))
            b = len(self.buffers) - 1
        self.tensors.append(Tensor(name=name, shape=tuple(shape), type=ttype, buffer=b, **kw))
        return len(self.tensors) - 1

    def op(self, name: str, inputs: list[int], outputs: list[int], options: dict | None = None,
           version: int = 1, with_options: bool = True) -> None:
        code = schema.op_code(name)
        key = next((i for i, c in enumerate(self.codes) if c.builtin_code == code and c.version == version), None)
        if key is None:
            self.codes.append(OperatorCode(code, version))
            key = len(self.codes) - 1
        found = schema.options_for_op(name) if with_options else None
        tag = found[0] if found else 0
        self.ops.append(Operator(key, tuple(inputs), tuple(outputs), tag,
                                 schema.complete_options(tag, options or {}) if tag else {}))

    def model(self, inputs: list[int], outputs: list[int], **kw: Any) -> Model:
        return Model(self.codes, [SubGraph(self.tensors, tuple(inputs), tuple(outputs), self.ops)], self.buffers,
                     **kw)


def fc_relu_model() -> tuple[Model, Any]:
    """x[1,4] -> FULLY_CONNECTED (W[3,4], b[3]) -> RELU; returns (model, numpy reference)."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 4))
    wt = mb.tensor("w", (3, 4), data=w)
    bt = mb.tensor("b", (3,), data=bias)
    h = mb.tensor("h", (1, 3))
    y = mb.tensor("y", (1, 3))
    mb.op("FULLY_CONNECTED", [x, wt, bt], [h])
    mb.op("RELU", [h], [y])
    model = mb.model([x], [y], signature_defs=[SignatureDef("serving_default", 0, [("x", x)], [("y", y)])])
    return model, lambda xv: np.maximum(xv @ w.T + bias, 0)


def conv_mean_model() -> tuple[Model, Any]:
    """x[1,5,5,2] -> CONV_2D 3x3 VALID (OHWI [3,3,3,2]) + RELU6 -> MEAN over H,W -> [1,3]."""
    rng = np.random.default_rng(2)
    w = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 5, 5, 2))
    wt = mb.tensor("w", (3, 3, 3, 2), data=w)
    bt = mb.tensor("b", (3,), data=bias)
    c = mb.tensor("c", (1, 3, 3, 3))
    axes = mb.tensor("axes", (2,), ttype=2, data=np.array([1, 2], np.int32))
    y = mb.tensor("y", (1, 3))
    mb.op("CONV_2D", [x, wt, bt], [c], {"padding": 1, "stride_w": 1, "stride_h": 1, "fused_activation_function": 3})
    mb.op("MEAN", [c, axes], [y], {"keep_dims": False})

    def ref(xv: np.ndarray) -> np.ndarray:
        out = np.zeros((1, 3, 3, 3), np.float64)
        for i in range(3):
            for j in range(3):
                patch = xv[0, i:i + 3, j:j + 3, :]
                out[0, i, j] = np.einsum("hwc,ohwc->o", patch, w) + bias
        return np.clip(out, 0, 6).mean(axis=(1, 2))

    return mb.model([x], [y]), ref


def gelu_model() -> tuple[Model, Any]:
    """x[1,6] -> GELU (code 150: the 127 rule) -> y, with a signature."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 6))
    y = mb.tensor("y", (1, 6))
    mb.op("GELU", [x], [y], {"approximate": False})
    from math import erf

    model = mb.model([x], [y], signature_defs=[SignatureDef("serving_default", 0, [("x", x)], [("y", y)])])
    return model, lambda xv: np.vectorize(lambda v: 0.5 * v * (1 + erf(v / np.sqrt(2))))(xv.astype(np.float64))
