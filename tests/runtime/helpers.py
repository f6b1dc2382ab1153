"""Test helpers for keras2edge.runtime: single-op ``.tflite`` models for the LiteRT oracle (``tests/litert.py``).

``op_model`` builds a one-operator model as a runtime ``Model`` and serializes it with the project's
writer (``convert.tflite.writer.write_model``). Output tensors are written with unknown rank
(``shape []``, ``has_rank False``) unless a shape is given, so both LiteRT and keras2edge.runtime
must infer the output shapes themselves; the tests then compare shapes and values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keras2edge.runtime import schema
from keras2edge.runtime.codes import TENSOR_TYPE_CODES
from keras2edge.runtime.model import (
    Model,
    Operator,
    OperatorCode,
    Quantization,
    SignatureDef,
    SubGraph,
    Tensor,
)


@dataclass
class X:
    """A graph input placeholder: random data of this shape/dtype is fed at run time."""

    shape: tuple[int, ...]
    dtype: Any = np.float32
    low: float = -2.0
    high: float = 2.0
    signature: tuple[int, ...] | None = None  # shape_signature (-1 = dynamic)
    quant: tuple[float, int] | None = None
    value: np.ndarray | None = None  # fixed data to feed instead of random values


@dataclass
class Sparse:
    """A sparse constant: ``dense`` stored as ``values`` with ``sparsity`` (runtime.model.Sparsity)."""

    dense: np.ndarray
    values: np.ndarray
    sparsity: Any


@dataclass
class Out:
    dtype: Any = np.float32
    shape: tuple[int, ...] | None = None  # None: unknown rank in the file (inferred by the runtimes)
    quant: tuple[float, int] | None = None


@dataclass
class OpCase:
    name: str
    op: str
    inputs: list[Any]  # X, np.ndarray (constant), Sparse (sparse constant) or None (omitted optional input)
    options: dict[str, Any] = field(default_factory=dict)
    outputs: list[Out] = field(default_factory=lambda: [Out()])
    version: int = 1
    rtol: float = 2e-6
    oracle_inputs: list[Any] | None = None  # what LiteRT runs instead, where it needs another form

    def __str__(self) -> str:
        return self.name


def _quant(q: tuple[float, int] | None) -> Quantization | None:
    if q is None:
        return None
    return Quantization(np.array([q[0]], np.float32), np.array([q[1]], np.int64))


def op_model(op: str, inputs: Sequence[Any], outputs: Sequence[Out], options: dict[str, Any] | None = None,
             version: int = 1, signature: bool = False) -> Model:
    """A one-op Model: graph inputs for the ``X`` entries, constants for the arrays."""
    buffers = [np.zeros(0, np.uint8)]
    tensors: list[Tensor] = []
    op_inputs: list[int] = []
    graph_inputs: list[int] = []
    for k, spec in enumerate(inputs):
        if spec is None:
            op_inputs.append(-1)
            continue
        if isinstance(spec, X):
            dt = np.dtype(spec.dtype)
            tensors.append(Tensor(f"in{k}", tuple(spec.shape), TENSOR_TYPE_CODES[dt],
                                  shape_signature=spec.signature, quantization=_quant(spec.quant)))
            graph_inputs.append(len(tensors) - 1)
        elif isinstance(spec, Sparse):
            buffers.append(np.frombuffer(np.ascontiguousarray(spec.values).tobytes(), np.uint8))
            tensors.append(Tensor(f"const{k}", tuple(spec.dense.shape), TENSOR_TYPE_CODES[spec.dense.dtype],
                                  buffer=len(buffers) - 1, sparsity=spec.sparsity))
        else:
            a = np.asarray(spec)
            buffers.append(np.frombuffer(np.ascontiguousarray(a).tobytes(), np.uint8))
            tensors.append(Tensor(f"const{k}", tuple(a.shape), TENSOR_TYPE_CODES[a.dtype], buffer=len(buffers) - 1))
        op_inputs.append(len(tensors) - 1)
    op_outputs = []
    for k, o in enumerate(outputs):
        dt = np.dtype(o.dtype)
        if o.shape is None:
            tensors.append(Tensor(f"out{k}", (), TENSOR_TYPE_CODES[dt], has_rank=False, quantization=_quant(o.quant)))
        else:
            tensors.append(Tensor(f"out{k}", tuple(o.shape), TENSOR_TYPE_CODES[dt], quantization=_quant(o.quant)))
        op_outputs.append(len(tensors) - 1)
    code = schema.op_code(op)
    opts = schema.options_for_op(op)
    tag = 0
    full: dict[str, Any] = {}
    if opts is not None and (options or op not in _NONE_OK):
        tag = opts[0]
        full = dict(options or {})
    elif options:
        raise ValueError(f"{op} takes no options")
    sg = SubGraph(tensors, tuple(graph_inputs), tuple(op_outputs),
                  [Operator(0, tuple(op_inputs), tuple(op_outputs), tag, full)])
    sigs = []
    if signature:
        sigs = [SignatureDef("serving_default", 0, [(f"x{k}", i) for k, i in enumerate(graph_inputs)],
                             [(f"y{k}", i) for k, i in enumerate(op_outputs)])]
    return Model([OperatorCode(code, version)], [sg], buffers, signature_defs=sigs)


# Ops whose options table may be omitted (written as NONE), as the converter does.
_NONE_OK = {"HARD_SWISH", "LOGISTIC", "TANH", "RESHAPE", "QUANTIZE", "DEQUANTIZE", "PAD", "PADV2", "RELU", "RELU6",
            "EXP", "LOG", "ABS", "NEG", "SQRT", "RSQRT", "SQUARE", "SIN", "COS", "FLOOR", "CEIL", "ROUND", "SIGN",
            "ELU", "PRELU", "RELU_N1_TO_1", "RELU_0_TO_1", "SELECT", "SELECT_V2", "MAXIMUM", "MINIMUM", "POW",
            "SQUARED_DIFFERENCE", "FLOOR_DIV", "FLOOR_MOD", "TRANSPOSE", "SLICE", "TILE", "EXPAND_DIMS",
            "LOGICAL_AND", "LOGICAL_OR", "LOGICAL_NOT", "EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER",
            "GREATER_EQUAL", "BROADCAST_TO", "LOG_SOFTMAX", "MIRROR_PAD", "SPLIT_V", "CAST"}


def to_bytes(model: Model) -> bytes:
    from keras2edge.convert.tflite.writer import write_model

    return write_model(model)


def make_feeds(inputs: Sequence[Any], rng: np.random.Generator, batch: int | None = None) -> list[np.ndarray]:
    feeds = []
    for spec in inputs:
        if not isinstance(spec, X):
            continue
        shape = tuple(spec.shape)
        if spec.value is not None and batch is None:
            feeds.append(np.asarray(spec.value, spec.dtype).reshape(shape))
            continue
        if batch is not None:
            shape = (batch,) + shape[1:]
        dt = np.dtype(spec.dtype)
        if dt == np.bool_:
            feeds.append(rng.random(shape) < 0.5)
        elif dt.kind in "iu":
            feeds.append(rng.integers(int(spec.low), int(spec.high) + 1, shape).astype(dt))
        else:
            feeds.append(rng.uniform(spec.low, spec.high, shape).astype(dt))
    return feeds


class GraphBuilder:
    """A small multi-op Model builder for tests: ``x = g.input(...); y = g.op("RELU", [x]); g.output(y)``."""

    def __init__(self) -> None:
        self.buffers = [np.zeros(0, np.uint8)]
        self.tensors: list[Tensor] = []
        self.ops: list[tuple[str, int, tuple[int, ...], tuple[int, ...], dict[str, Any]]] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    def _tensor(self, name: str, shape: tuple[int, ...] | None, dtype: Any, **kw: Any) -> int:
        code = TENSOR_TYPE_CODES[np.dtype(dtype)]
        if shape is None:
            self.tensors.append(Tensor(name, (), code, has_rank=False, **kw))
        else:
            self.tensors.append(Tensor(name, tuple(shape), code, **kw))
        return len(self.tensors) - 1

    def input(self, name: str, shape: tuple[int, ...], dtype: Any = np.float32,
              signature: tuple[int, ...] | None = None, quant: tuple[float, int] | None = None) -> int:
        i = self._tensor(name, shape, dtype, shape_signature=signature, quantization=_quant(quant))
        self.inputs.append(i)
        return i

    def const(self, a: np.ndarray, name: str | None = None) -> int:
        a = np.asarray(a)
        self.buffers.append(np.frombuffer(a.tobytes(), np.uint8))
        return self._tensor(name or f"c{len(self.tensors)}", a.shape, a.dtype, buffer=len(self.buffers) - 1)

    def op(self, op: str, inputs: Sequence[int | np.ndarray | None], options: dict[str, Any] | None = None, *,
           n_out: int = 1, dtype: Any = np.float32, version: int = 1, name: str | None = None,
           shapes: Sequence[tuple[int, ...] | None] | None = None) -> Any:
        ins = tuple(-1 if i is None else self.const(i) if isinstance(i, np.ndarray) else i for i in inputs)
        base = name or f"{op.lower()}_{len(self.ops)}"
        outs = tuple(self._tensor(base if n_out == 1 else f"{base}:{k}", shapes[k] if shapes else None, dtype)
                     for k in range(n_out))
        self.ops.append((op, version, ins, outs, dict(options or {})))
        return outs[0] if n_out == 1 else outs

    def output(self, *ts: int) -> None:
        self.outputs.extend(ts)

    def model(self, signature: dict[str, list[str]] | None = None) -> Model:
        codes: list[OperatorCode] = []
        index: dict[tuple[int, int], int] = {}
        operators = []
        for op, version, ins, outs, opts in self.ops:
            key = (schema.op_code(op), version)
            if key not in index:
                index[key] = len(codes)
                codes.append(OperatorCode(key[0], version))
            o = schema.options_for_op(op)
            tag = 0 if o is None or (not opts and op in _NONE_OK) else o[0]
            operators.append(Operator(index[key], ins, outs, tag, opts if tag else {}))
        sg = SubGraph(self.tensors, tuple(self.inputs), tuple(self.outputs), operators)
        sigs = []
        if signature is not None:
            sigs = [SignatureDef("serving_default", 0, list(zip(signature["inputs"], self.inputs)),
                                 list(zip(signature["outputs"], self.outputs)))]
        return Model(codes, [sg], self.buffers, signature_defs=sigs)
