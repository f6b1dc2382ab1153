"""IR graph → TFLite model (:class:`keras2edge.runtime.model.Model`), float32, builtins only.

Usage::

    emission = emit_tflite(graph)       # the Model, the lowered graph it holds, IR value -> tensor
    model = to_tflite(graph)            # runtime.model.Model (dataclasses)
    data = tflite_bytes(graph)          # the .tflite flatbuffer bytes
    save_tflite(graph, "model.tflite")  # atomic write

Emitters live in the ``ops_*`` modules (imported by the package), one table
:data:`TFLITE_EMITTERS` keyed by IR op; this module holds the emit context (tensors, buffers,
operators, fused activations) and the model assembly: operator versions and
``min_runtime_version`` (:mod:`.versions`), one OperatorCode per builtin (at the highest version
its operators need, as the converter's UpdateOpVersion does), the ``serving_default`` signature.
Nodes no graph output depends on are not emitted.

What the file looks like, and why:

* Tensor names are the IR value names (Keras layer names); helper tensors are named
  ``<IR node name>/<what>``. The integer output of an op written as an integer kernel takes the name
  of the op's float output (which the file never holds), not its Quantize's ``<name>/Quantize``. A
  value internal to one Keras layer (an unrolled recurrent layer's steps: :mod:`.names`) is named
  ``<layer>/<tensor index>``. Shapes are concrete (a dynamic dimension is written as the batch,
  1 by default) and tensors depending on a dynamic dimension carry ``shape_signature`` with -1
  there, so LiteRT's ``resize_tensor_input`` works. Every tensor has ``has_rank`` set.
* buffers[0] is the empty sentinel; each constant has its own buffer. Index constants (axes,
  shapes, paddings, sizes, perms, begin/end/strides) are INT32 and shared by content, as the
  converter shares them.
* The graph is first lowered (:mod:`.lowering`: a copy, with ``FuseActivationPass`` run), so a
  Relu, Relu6 or ReluN1To1 that the official converter would fold into a CONV_2D,
  DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, SUB, MUL, DIV, AVERAGE_POOL_2D or MAX_POOL_2D is the
  node's ``activation`` attribute; the emitter only maps it to ``fused_activation_function``
  (:data:`ACTIVATION_CODES`). The fused operator's output tensor has the activation's name.
* A quantized graph (QDQ form, ``ir.quant``) is written with integer kernels, as the converter writes
  a full-integer model: :mod:`.integer` decides node by node which Dequantize → op → Quantize become
  one int8/int16 builtin (the others: QUANTIZE, DEQUANTIZE, or a requantizing QUANTIZE int → int).
* No Flex or custom operators, ever: an IR op without a builtin mapping is composed from
  builtins or refused with :class:`~keras2edge.errors.UnsupportedOpError`.
* :func:`emit_tflite` also returns where each IR value went (:attr:`TFLiteEmission.values`), so
  ranges calibrated on the emitted bytes (the runtime's ``observer``) are attributed to IR values
  and, through their producers' ``origin``, to Keras layers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ...errors import LimitExceededError, ShapeInferenceError, UnsupportedOpError
from ...fileio import PathLike, open_atomic
from ...ir.activation import NONE, fused_activation
from ...ir.dtypes import DType
from ...ir.graph import Graph
from ...ir.node import Node
from ...ir.quant import QuantParams, outside_qdq
from ...ir.registry import OpTable
from ...ir.shapes import infer_shapes
from ...ir.value import Value
from ...runtime import schema
from ...runtime.codes import ACT_NONE, ACT_RELU, ACT_RELU6, ACT_RELU_N1_TO_1, TENSOR_TYPE_CODES
from ...runtime.model import (Metadata, Model, Operator, OperatorCode, Quantization, SignatureDef, SubGraph,
                              Tensor)
from .hybrid import WeightStorage
from .integer import IntegerLowering, transformed_quant
from .names import layer_internal
from .lowering import lower
from .versions import min_runtime_version, op_version
from ..rawbytes import raw_bytes
from .writer import ArrayBuffer, write_model, write_model_to

EmitFn = Callable[["TFLiteContext", Node], None]

log = logging.getLogger("keras2edge.convert.tflite")
TFLITE_OWNER = "TFLite emitter"  # who fails, in every error the TFLite emitter raises
TFLITE_EMITTERS: OpTable[EmitFn] = OpTable(TFLITE_OWNER)

#: IR ops with no TFLite emitter, with the reason (none: every op maps to builtins).
KNOWN_GAPS: dict[str, str] = {}

#: IR ``activation`` attribute -> the ActivationFunctionType written in the operator's options.
ACTIVATION_CODES: dict[str, int] = {NONE: ACT_NONE, "relu": ACT_RELU, "relu6": ACT_RELU6,
                                    "relu_n1_to_1": ACT_RELU_N1_TO_1}

SIGNATURE_KEY = "serving_default"
MIN_RUNTIME_METADATA = "min_runtime_version"
_MIN_RUNTIME_BYTES = 16  # the converter's fixed buffer size for the version string

Shape = tuple[int, ...]


def tensor_type(dtype: DType | np.dtype) -> int:
    """TensorType code of an IR dtype (or NumPy dtype)."""
    np_dtype = dtype.np if isinstance(dtype, DType) else np.dtype(dtype)
    try:
        return TENSOR_TYPE_CODES[np_dtype]
    except KeyError:
        raise UnsupportedOpError(TFLITE_OWNER, f"no TFLite tensor type for {np_dtype}",
                                 supported=(str(d) for d in TENSOR_TYPE_CODES)) from None


def tflite_quantization(q: QuantParams) -> Quantization:
    """An IR value's quantization as TFLite's QuantizationParameters (per-axis: quantized_dimension)."""
    return Quantization(scale=q.scale, zero_point=q.zero_point, quantized_dimension=q.axis or 0)


def keras2edge_version() -> str:
    try:
        from importlib.metadata import version

        return version("keras2edge")
    except Exception:  # noqa: BLE001 - running from a checkout
        from ... import __version__

        return __version__


class EmittedTensor(NamedTuple):
    """Where an IR value is held in the emitted model: a tensor of subgraph 0."""

    index: int   # the tensor's index in ``subgraphs[0].tensors``
    name: str    # the tensor's name (the IR value's, suffixed if taken; <layer>/<k> inside a layer)


@dataclass(frozen=True)
class TFLiteEmission:
    """What :func:`emit_tflite` made of an IR graph.

    Attributes:
        model: the TFLite model (:func:`~keras2edge.convert.tflite.write_model` gives its bytes).
        graph: the IR graph that was written: ``lower(graph)``, a copy with the activations fused
            (the graph calibration must see; its values share names with the caller's graph).
        values: IR value name (of ``graph``) -> the tensor holding that value, for the graph inputs
            and every node output some graph output depends on; the tensor has the value's shape
            (the batch written as the emission's ``batch``). Absent: constants (weights, biases,
            folded constants: their data is the IR array, written in the layout the builtin wants),
            nodes no output depends on (not emitted), and — comparing with the caller's graph —
            a fused activation's input, which TFLite never materializes: the activation's output
            maps to the fused operator's output; likewise, in a quantized graph, the float output of an
            op written as an integer kernel and the Dequantize outputs it reads (the kernel writes the
            Quantize's integer value). A value an emitter forwards without an operator
            (an Identity, a Cast to its own type) maps to the tensor that carries it.
    """

    model: Model
    graph: Graph
    values: dict[str, EmittedTensor]


@dataclass
class PendingOp:
    """An operator before opcode indices and versions are assigned."""

    op: str
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any] | None
    node: Node | None = None


class TFLiteContext:
    """State of one IR → TFLite emission.

    Args:
        graph: the IR graph being emitted.
        batch: the size written for dynamic dimensions (axis 0 of the inputs); 1 if None.
    """

    def __init__(self, graph: Graph, batch: int | None = None) -> None:
        self.graph = graph
        self.batch = 1 if batch is None else int(batch)
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.tensors: list[Tensor] = []
        self.buffers: list[np.ndarray] = [np.zeros(0, np.uint8)]   # each buffer's data, any layout
        self.ops: list[PendingOp] = []
        self.current: Node | None = None
        self._value_tensor: dict[int, int] = {}
        self._consts: dict[tuple[Any, ...], int] = {}
        self._names: set[str] = set()
        self._reserved = {v.name for v in graph.values()}
        self._output_ids = {id(v) for v in graph.outputs}
        #: IR value id -> the value whose name its tensor takes instead (see :meth:`declare`).
        self.stands_for: dict[int, Value] = {}
        self._internal = layer_internal(graph)   # values named <layer>/<k> (names.py)
        self._shapes: dict[int, Shape] = {}
        self._infer_shapes()

    # ------------------------------------------------------------------ shapes
    def _infer_shapes(self) -> None:
        """Concrete shapes of every value: dynamic input dims set to the batch, then re-inferred."""
        pins: dict[str, tuple[int, ...]] = {}
        for v in self.graph.inputs:
            for k, d in enumerate(v.shape):
                if d is None and k != 0:
                    raise UnsupportedOpError(
                        TFLITE_OWNER, f"dimension {k} of input {v.name!r} {self._fmt(v.shape)} is unknown; "
                        f"only the batch (axis 0) may be dynamic. Pin the shape when loading the model "
                        f"(keras2edge.load(..., input_shapes={{{v.name!r}: (...)}}))")
            pins[v.name] = tuple(self.batch if d is None else int(d) for d in v.shape)
        try:
            types = infer_shapes(self.graph, pins)
        except ShapeInferenceError as e:
            raise UnsupportedOpError(TFLITE_OWNER, f"batch {self.batch} does not fit: {e.reason}", node=e.node.where()
                                     if hasattr(e.node, "where") else None) from e
        for node in self.graph.nodes:
            for v in node.outputs:
                if any(d is None for d in types[id(v)][1]):
                    raise UnsupportedOpError(TFLITE_OWNER, f"the shape of {v.name!r} is unknown even with the inputs' "
                                             f"shapes fixed", op=node.op, node=node.where())
        self._shapes = {k: tuple(int(d) for d in shape) for k, (_, shape) in types.items()}  # type: ignore[arg-type]

    @staticmethod
    def _fmt(shape: Sequence[int | None]) -> str:
        return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"

    def shape(self, v: Value) -> Shape:
        """The concrete shape of ``v`` as written in the file."""
        if v.is_const:
            return tuple(int(d) for d in v.const.shape)  # type: ignore[union-attr]
        return self._shapes.get(id(v)) or tuple(int(d) for d in v.shape)  # type: ignore[arg-type]

    @staticmethod
    def signature(v: Value) -> Shape | None:
        """``shape_signature`` of ``v``: -1 for its dynamic dims; None when it has none."""
        if v.is_const or all(d is not None for d in v.shape):
            return None
        return tuple(-1 if d is None else int(d) for d in v.shape)

    def reshape_target(self, v: Value) -> list[int]:
        """A RESHAPE target for ``v``: its shape with -1 at its dynamic dim (concrete if none or several)."""
        sig = self.signature(v)
        if sig is None or list(sig).count(-1) != 1:
            return list(self.shape(v))
        return list(sig)

    # ------------------------------------------------------------------ naming
    def _unique(self, name: str, avoid_reserved: bool = False) -> str:
        """``name``, or ``name_1``, ``name_2``, ... if taken (by a tensor, or by an IR value if asked)."""
        cand, i = name, 0
        while cand in self._names or (avoid_reserved and cand in self._reserved):
            i += 1
            cand = f"{name}_{i}"
        self._names.add(cand)
        return cand

    def _helper_name(self, suffix: str) -> str:
        """``<current IR node>/<suffix>``, never an IR value's name."""
        base = self.current.name if self.current is not None else "k2e"
        return self._unique(f"{base}/{suffix}", avoid_reserved=True)

    def _claim(self, name: str) -> str:
        """``name`` (an IR value's) for its tensor, or a suffixed variant if a tensor already has it."""
        if name not in self._names:
            self._names.add(name)
            return name
        return self._unique(name, avoid_reserved=True)

    # ------------------------------------------------------------------ tensors
    def _add_tensor(self, name: str, shape: Sequence[int], ttype: int, buffer: int = 0,
                    signature: Sequence[int] | None = None, quant: QuantParams | None = None) -> int:
        self.tensors.append(Tensor(name=name, shape=tuple(int(d) for d in shape), type=ttype, buffer=buffer,
                                   shape_signature=None if signature is None else tuple(int(d) for d in signature),
                                   quantization=None if quant is None else tflite_quantization(quant)))
        return len(self.tensors) - 1

    def _add_buffer(self, arr: np.ndarray) -> int:
        # The array itself (often a transposed view of an IR weight): bytes are made when written.
        self.buffers.append(np.asarray(arr))
        return len(self.buffers) - 1

    def const_tensor(self, arr: np.ndarray, name: str) -> int:
        """A new constant tensor (own buffer) holding ``arr``, named ``name`` (suffixed if taken)."""
        arr = np.asarray(arr)
        ttype = tensor_type(arr.dtype)
        return self._add_tensor(self._claim(name), arr.shape, ttype, self._add_buffer(arr))

    def const(self, arr: np.ndarray | Sequence[Any] | float | int, dtype: Any = None, name: str = "const",
              share: bool = True) -> int:
        """A helper constant named ``<IR node>/<name>``; shared by content (dtype, shape and bytes) unless
        ``share`` is False (weights such as a zero bias get their own tensor and buffer)."""
        a = np.asarray(arr, dtype=dtype)
        key = ("content", a.dtype.str, a.shape, a.tobytes())
        if not share or key not in self._consts:
            idx = self._add_tensor(self._helper_name(name), a.shape, tensor_type(a.dtype), self._add_buffer(a))
            if not share:
                return idx
            self._consts[key] = idx
        return self._consts[key]

    def int32(self, values: Sequence[int] | int, name: str) -> int:
        """An INT32 index constant (axes, shapes, paddings, ...), values clamped to the int32 range."""
        a = np.clip(np.asarray(values, dtype=np.int64), -2**31, 2**31 - 1).astype(np.int32)
        return self.const(a, name=name)

    def const_value(self, v: Value, key: str = "", fn: Callable[[np.ndarray], np.ndarray] | None = None) -> int:
        """The tensor of IR constant ``v`` (transformed by ``fn`` and cached under ``key``)."""
        assert v.const is not None
        k = ("value", id(v), key)
        if k not in self._consts:
            arr = np.asarray(v.const if fn is None else fn(v.const))
            if arr.dtype == np.float64:
                arr = arr.astype(np.float32)
            self._consts[k] = self.const_tensor(arr, v.name)
            if v.quant is not None:  # quantized weights: per-channel parameters follow the layout change
                q = v.quant if fn is None else transformed_quant(v.quant, tuple(v.const.shape), fn)
                if q is None:
                    raise UnsupportedOpError(TFLITE_OWNER, f"the per-channel axis of {v.name!r} does not survive "
                                             "its layout change", node=None if self.current is None
                                             else self.current.where())
                self.tensors[self._consts[k]].quantization = tflite_quantization(q)
        return self._consts[k]

    def tensor(self, v: Value) -> int:
        """The tensor index holding ``v`` (constants are created on first use)."""
        if v.is_const:
            return self.const_value(v)
        try:
            return self._value_tensor[id(v)]
        except KeyError:
            raise UnsupportedOpError(TFLITE_OWNER, f"value {v.name!r} is used before it is produced") from None

    def declare(self, v: Value) -> int:
        """A fresh activation tensor for IR value ``v``: named after it (or after the value it stands for,
        ``stands_for``), or ``<Keras layer>/<k>`` if that value is internal to its layer (names.py)."""
        if id(v) in self._value_tensor:
            raise UnsupportedOpError(TFLITE_OWNER, f"value {v.name!r} produced twice")
        src = self.stands_for.get(id(v), v)
        layer = self._internal.get(id(src))
        name = self._claim(src.name) if layer is None else self._unique(f"{layer}/{len(self.tensors)}", True)
        idx = self._add_tensor(name, self.shape(v), tensor_type(v.dtype), 0, self.signature(v), v.quant)
        self._value_tensor[id(v)] = idx
        return idx

    def out(self, v: Value) -> int:
        """Declare the tensor the current node writes for ``v``."""
        return self.declare(v)

    def adopt(self, v: Value, like: Value) -> None:
        """``v``, a value made by the emission (not in the graph), has the concrete shape of ``like``."""
        self._shapes[id(v)] = self.shape(like)

    def alias(self, v: Value, tensor: int) -> None:
        """``v`` is the existing tensor ``tensor`` (no operator)."""
        self._value_tensor[id(v)] = tensor

    def value_tensors(self) -> dict[str, EmittedTensor]:
        """IR value name -> its tensor, for the graph inputs and the node outputs emitted so far."""
        held = [*self.graph.inputs, *(v for node in self.graph.nodes for v in node.outputs)]
        return {v.name: EmittedTensor(t, self.tensors[t].name) for v in held
                if (t := self._value_tensor.get(id(v))) is not None}

    def tmp(self, shape: Sequence[int], dtype: DType, suffix: str) -> int:
        """A helper activation tensor of a static shape (named ``<IR node>/<suffix>``)."""
        return self._add_tensor(self._helper_name(suffix), shape, tensor_type(dtype), 0)

    def tmp_like(self, v: Value, suffix: str, shape: Sequence[int] | None = None,
                 dtype: DType | None = None) -> int:
        """A helper tensor with ``v``'s dtype, shape (or ``shape`` of the same rank) and dynamic batch; with
        ``v``'s quantization when it keeps ``v``'s dtype (a step of a quantized op's composition)."""
        shp = self.shape(v) if shape is None else tuple(shape)
        sig = self.signature(v)
        if sig is not None:
            if len(sig) != len(shp):
                sig = None if sig[0] != -1 else (-1,) + tuple(shp[1:])
            else:
                sig = tuple(-1 if s == -1 else int(d) for s, d in zip(sig, shp))
        quant = v.quant if dtype in (None, v.dtype) and not v.dtype.is_float else None
        return self._add_tensor(self._helper_name(suffix), shp, tensor_type(dtype or v.dtype), 0, sig, quant)

    # ------------------------------------------------------------------ operators
    def add(self, op: str, inputs: Sequence[int | None], outputs: Sequence[int],
            options: dict[str, Any] | None = None) -> PendingOp:
        """Append a builtin operator (None / -1 inputs are omitted optional inputs)."""
        if op == "CUSTOM" or op.startswith("FLEX"):
            raise UnsupportedOpError(TFLITE_OWNER, f"{op}: custom and Flex operators are never emitted")
        schema.op_code(op)  # KeyError for an unknown builtin
        if options is not None:
            table = schema.options_for_op(op)
            if table is None:
                raise UnsupportedOpError(TFLITE_OWNER, f"{op} takes no options, got {sorted(options)}")
            known = schema.TABLES[table[1]].by_name
            bad = [k for k in options if k not in known or known[k].deprecated]
            if bad:
                raise UnsupportedOpError(TFLITE_OWNER, f"{table[1]} of {op} has no field(s) {bad}",
                                         supported=(k for k, f in known.items() if not f.deprecated))
        p = PendingOp(op, [-1 if i is None else int(i) for i in inputs], [int(o) for o in outputs],
                      None if options is None else dict(options), self.current)
        self.ops.append(p)
        return p

    def add1(self, op: str, inputs: Sequence[int | None], output: int, options: dict[str, Any] | None = None) -> int:
        self.add(op, inputs, [output], options)
        return output

    # ------------------------------------------------------------------ fused activations
    def fused_output(self, node: Node) -> tuple[int, int]:
        """(output tensor, ActivationFunctionType of the node's ``activation`` attribute) for a fusing builtin."""
        return self.out(node.output), ACTIVATION_CODES[fused_activation(node)]

    def is_output(self, v: Value) -> bool:
        """Whether ``v`` is a graph output."""
        return id(v) in self._output_ids

    def unsupported(self, node: Node, why: str) -> UnsupportedOpError:
        return UnsupportedOpError(TFLITE_OWNER, why, op=node.op, node=node.where())

    # ------------------------------------------------------------------ assembly
    def finish(self, description: str, *, deferred: bool = False) -> Model:
        """Operator codes (one per builtin, highest version), versions, signature and metadata.

        The buffers are raw bytes (views of the constants when their layout allows), or with
        ``deferred`` :class:`ArrayBuffer` s that become bytes only when the file is written."""
        graph = self.graph
        inputs = [self.tensor(v) for v in graph.inputs]
        outputs = []
        for v in graph.outputs:
            t = self.tensor(v)
            if v.is_const:
                t = self._copy_to_output(v, t)
            outputs.append(t)

        versions: list[int] = []
        for p in self.ops:
            ins = [None if i < 0 else self.tensors[i] for i in p.inputs]
            outs = [self.tensors[o] for o in p.outputs]
            versions.append(op_version(p.op, ins, outs, p.options))
        best: dict[str, int] = {}
        order: list[str] = []
        for p, ver in zip(self.ops, versions):
            if p.op not in best:
                order.append(p.op)
                best[p.op] = ver
            else:
                best[p.op] = max(best[p.op], ver)
        index = {op: k for k, op in enumerate(order)}
        codes = [OperatorCode(builtin_code=schema.op_code(op), version=best[op]) for op in order]
        operators = []
        for p in self.ops:
            tag = 0
            if p.options is not None:
                found = schema.options_for_op(p.op)
                assert found is not None
                tag = found[0]
            operators.append(Operator(opcode_index=index[p.op], inputs=tuple(p.inputs), outputs=tuple(p.outputs),
                                      options_type=tag, options=dict(p.options or {})))

        sub = SubGraph(tensors=self.tensors, inputs=tuple(inputs), outputs=tuple(outputs), operators=operators,
                       name="main")
        metadata: list[Metadata] = []
        runtime = min_runtime_version((op, best[op]) for op in order)
        if runtime and len(runtime) < _MIN_RUNTIME_BYTES:
            raw = runtime.encode("ascii").ljust(_MIN_RUNTIME_BYTES, b"\0")
            self.buffers.append(np.frombuffer(raw, dtype=np.uint8))
            metadata.append(Metadata(MIN_RUNTIME_METADATA, len(self.buffers) - 1))
        sig = SignatureDef(SIGNATURE_KEY, 0,
                           inputs=[(v.name, t) for v, t in zip(graph.inputs, inputs)],
                           outputs=self._signature_outputs(outputs))
        buffers = [ArrayBuffer(a) if deferred else raw_bytes(a) for a in self.buffers]
        return Model(operator_codes=codes, subgraphs=[sub], buffers=buffers, version=3,  # type: ignore[arg-type]
                     description=description, metadata=metadata, signature_defs=[sig])

    def _signature_outputs(self, outputs: list[int]) -> list[tuple[str, int]]:
        seen: set[str] = set()
        res = []
        for v, t in zip(self.graph.outputs, outputs):
            name, i = v.name, 0
            while name in seen:
                i += 1
                name = f"{v.name}_{i}"
            seen.add(name)
            res.append((name, t))
        return res

    def _copy_to_output(self, v: Value, src: int) -> int:
        """A graph output that is a constant (or a graph input): copied by a RESHAPE to its own tensor."""
        self.current = None
        out = self._add_tensor(self._unique(f"{v.name}/output"), self.shape(v), tensor_type(v.dtype), 0,
                               self.signature(v))
        target = self.reshape_target(v)
        self.add("RESHAPE", [src, self.int32(target, "shape")], [out], {"new_shape": target})
        return out


def _live_nodes(graph: Graph) -> set[int]:
    """Nodes some graph output depends on (others are not emitted)."""
    live: set[int] = set()
    stack = [v.producer for v in graph.outputs if v.producer is not None]
    while stack:
        n = stack.pop()
        if id(n) in live:
            continue
        live.add(id(n))
        stack.extend(v.producer for v in n.inputs if v is not None and v.producer is not None)
    return live


def _check_float(graph: Graph) -> None:
    """Integer values only between a Quantize and a Dequantize (``ir.quant.outside_qdq``)."""
    quantized = outside_qdq(graph.values(), graph.outputs)
    if quantized:
        raise UnsupportedOpError(TFLITE_OWNER, f"to_tflite emits float models with Quantize/Dequantize at most, but "
                                 f"{len(quantized)} quantized values are read by other ops (first: {quantized[0]!r})")


def to_tflite(graph: Graph, *, batch: int | None = None) -> Model:
    """Emit a float IR graph as a TFLite model (dataclasses of :mod:`keras2edge.runtime.model`).

    Args:
        graph: the IR graph (NHWC, Keras weight layouts). Only the batch (axis 0 of the inputs)
            may be dynamic.
        batch: the size written for the dynamic batch (default 1). Tensors that depend on it keep
            ``shape_signature`` -1 there, so runtimes can resize the inputs.

    Returns:
        The model: one subgraph "main", builtin operators only, opcodes one per builtin at the
        version the official converter would write, metadata ``min_runtime_version``, signature
        ``serving_default`` (inputs and outputs named after the Keras inputs / output layers).

    Raises:
        UnsupportedOpError: an op (or configuration) no builtin can express, naming the node.
    """
    return emit_tflite(graph, batch=batch).model


def emit_tflite(graph: Graph, *, batch: int | None = None) -> TFLiteEmission:
    """Emit ``graph`` as :func:`to_tflite` does (same arguments, same model) and say where each IR
    value went (see :class:`TFLiteEmission`)."""
    ctx = _emit(graph, batch)
    return TFLiteEmission(ctx.finish(_description()), ctx.graph, ctx.value_tensors())


def _description() -> str:
    return f"keras2edge {keras2edge_version()}"


def _emit(graph: Graph, batch: int | None) -> TFLiteContext:
    """Every live node of the lowered graph emitted into a new context (the model is made by ``finish``)."""
    _check_float(graph)
    graph = lower(graph)
    ctx = TFLiteContext(graph, batch)
    for v in graph.inputs:
        ctx.declare(v)
    live = _live_nodes(graph)
    integer = IntegerLowering(graph)
    ctx.stands_for.update(integer.stands_for)
    stored = WeightStorage(graph)
    for node in graph.nodes:
        if id(node) not in live:
            continue
        ctx.current = node
        if integer.emit(ctx, node, lambda n: TFLITE_EMITTERS.lookup(n.op, n.where())):
            ctx.current = None
            continue  # written as an integer kernel (or absorbed by one): integer.py
        if stored.emit(ctx, node, lambda n: TFLITE_EMITTERS.lookup(n.op, n.where())):
            ctx.current = None
            continue  # int8 weights of a hybrid kernel, float16 constants: hybrid.py
        emit = TFLITE_EMITTERS.lookup(node.op, node.where())
        emit(ctx, node)
        for v in node.outputs:
            if id(v) not in ctx._value_tensor:
                raise UnsupportedOpError(TFLITE_OWNER, f"the emitter did not produce {v.name}", op=node.op,
                                         node=node.where())
        ctx.current = None
    return ctx


def tflite_bytes(graph: Graph, *, batch: int | None = None, sparse: bool = False) -> bytes:
    """The ``.tflite`` flatbuffer bytes of :func:`to_tflite` (``graph``, ``batch``); with ``sparse``,
    float32 weights with zeros stored sparse where it makes the file smaller (``sparse.py``)."""
    model = to_tflite(graph, batch=batch)
    if sparse:
        _sparsify(model)
    return write_model(model)


def _sparsify(model: Model) -> None:
    from .sparse import sparsify_model

    report = sparsify_model(model)
    log.info("sparse weights: %d of %d stored sparse, %d -> %d bytes", sum(w.sparse for w in report.weights),
             len(report.weights), report.dense_bytes, report.stored_bytes)


def save_tflite(graph: Graph, path: PathLike, *, batch: int | None = None,
                inputs: Sequence[PathLike | None] = (), sparse: bool = False) -> int:
    """Emit ``graph`` and write the ``.tflite`` file to ``path`` atomically; returns its size.

    The file holds the bytes of :func:`tflite_bytes`, but the weights go from the graph's arrays
    to the file one buffer at a time (a transposed weight is copied only as it is written), so
    the memory used is about the graph's own plus the largest weight. The bytes go to a temporary
    file in the same directory, which replaces ``path`` only once complete, so a failure never
    leaves a partial file. ``path`` is checked as :func:`keras2edge.fileio.check_output` does
    (``inputs``: the files the graph was read from, which it may not be).

    Raises:
        LimitExceededError: the model would reach 2 GiB, more than a flatbuffer can address.
        OutputPathError: ``path`` may not be written, or the write failed.
        UnsupportedOpError: ``sparse`` with integer weights (stored dense only).
    """
    model = _emit(graph, batch).finish(_description(), deferred=True)
    if sparse:
        _sparsify(model)
    try:
        with open_atomic(path, inputs=inputs) as f:
            return write_model_to(f, model)
    except LimitExceededError as e:
        raise LimitExceededError(f"cannot write {os.fspath(path)!r}: {e}") from None


__all__ = ["ACTIVATION_CODES", "TFLITE_EMITTERS", "EmittedTensor", "TFLiteContext", "TFLiteEmission", "emit_tflite",
           "save_tflite", "tensor_type", "tflite_bytes", "to_tflite"]
