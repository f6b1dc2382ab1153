"""IR graph → ONNX ModelProto (float), converting the NHWC graph to NCHW as a whole.

Usage::

    emission = emit_onnx(graph)                  # the pieces, the graph emitted, IR value -> ONNX value
    data = onnx_bytes(graph)                     # serialized ModelProto, checked by onnx.checker
    model = to_onnx(graph)                       # the same, parsed into an onnx.ModelProto
    save_onnx(graph, "model.onnx", input_shapes={"input_1": (1, 224, 224, 3)})   # the same bytes, streamed

Emitters live in the ``ops_*`` modules, one table :data:`ONNX_EMITTERS` keyed by IR op; the
layout rules are in :mod:`.layout`, the naming and conversion machinery in :mod:`.context`. The
protobuf messages are encoded by :mod:`.proto` and checked by onnx's C++ checker (:mod:`.check`),
so writing a file never imports the ``onnx`` Python package (``to_onnx`` does, to return a proto).

Memory: the model is encoded as pieces whose initializer data are the IR arrays themselves (views,
never copied whole); the checker parses a version with the large initializers declared as graph
inputs, and :func:`save_onnx` streams the pieces into the file. Peak memory while saving is the
graph's weights once plus a small slice (``tests/test_convert_memory.py``).
"""

from __future__ import annotations

import functools
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...errors import LimitExceededError, OptionError, UnsupportedOpError
from ...fileio import PathLike, open_atomic
from ...ir.activation import NONE, fused_activation
from ...ir.dtypes import DType
from ...ir.graph import Graph
from ...ir.passes import UnfuseActivationPass
from ...ir.quant import outside_qdq
from . import (ops_activation, ops_conv, ops_dense, ops_elementwise, ops_normalization,  # noqa: F401 - fill ONNX_EMITTERS
               ops_pool, ops_quant, ops_reduce, ops_resize, ops_shape)
from .check import CHECK_INLINE_BYTES, check_model_bytes, checker_errors
from .context import ONNX_EMITTERS, ONNX_OWNER, OnnxContext, OnnxValue
from .proto import Chunks, encode_model, join, raw_pieces, total_size

if TYPE_CHECKING:
    import onnx

# Opset 21 (ONNX 1.16, IR version 10): onnxruntime has implemented it fully since 1.18 and onnx
# checks it since 1.16, so the default model loads in runtimes a couple of years old; it has Gelu (20)
# and axes-as-input reductions (18). MIN..MAX is the range the tests run (onnx 1.23, onnxruntime 1.31).
DEFAULT_OPSET = 21
MIN_OPSET = 13   # Split/Squeeze/Unsqueeze/ReduceSum take axes as inputs, Softmax works per axis
MAX_OPSET = 24
# Quantized (int8/uint8 QDQ) graphs default to opset 20: onnxruntime 1.32's QDQ propagation
# (ORT_ENABLE_EXTENDED and above) moves a DequantizeLinear past a Transpose/Reshape at opset >= 21 by
# creating a QuantizeLinear with output_dtype INT8 and a uint8 zero point, and the model fails to
# load (checked on a 4-node Q -> DQ -> Transpose -> Relu model: opset 13..20 load, 21 fails).
QDQ_OPSET = 20


def default_opset(graph: Graph) -> int:
    """The opset written when none is asked: ``QDQ_OPSET`` for a graph with int8/uint8 quantized
    values (int16 needs 21), else ``DEFAULT_OPSET``."""
    types = {v.dtype for v in graph.values() if v.quant is not None} | {
        n.attrs["quant"].qtype for n in graph.nodes if n.op == "Quantize"}
    if types and DType.INT16 not in types:
        return QDQ_OPSET
    return DEFAULT_OPSET

__all__ = ["DEFAULT_OPSET", "MAX_OPSET", "MIN_OPSET", "ONNX_EMITTERS", "OnnxContext", "OnnxEmission", "OnnxValue",
           "check_opset", "default_opset", "emit_onnx", "onnx_bytes", "onnx_pieces", "save_onnx", "to_onnx"]


def check_opset(opset: object) -> int:
    """``opset`` if keras2edge can write it (an int in ``MIN_OPSET..MAX_OPSET``); else OptionError."""
    if isinstance(opset, bool) or not isinstance(opset, numbers.Integral) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise OptionError(f"ONNX opset {opset!r} is not supported; use {MIN_OPSET}..{MAX_OPSET} "
                                   f"(default {DEFAULT_OPSET})")
    return int(opset)

# A serialized protobuf message cannot reach 2 GiB (protobuf sizes are signed 32-bit: at most
# 2**31 - 1 bytes); bigger models need ONNX external data, which keras2edge does not write.
MAX_PROTOBUF_BYTES = 2**31 - 1


def _default_producer_version() -> str:
    try:
        from importlib.metadata import version

        return version("keras2edge")
    except Exception:  # noqa: BLE001 - not installed (running from a checkout)
        return "0.0.0"


def _check_input_shapes(graph: Graph, input_shapes: Mapping[str, Sequence[int]]) -> dict[str, tuple[int, ...]]:
    """Validate pinned input shapes (IR/NHWC order) against the inputs' known dims."""
    by_name = {v.name: v for v in graph.inputs}
    pins: dict[str, tuple[int, ...]] = {}
    for name, shape in input_shapes.items():
        if name not in by_name:
            raise OptionError(f"input_shapes names {name!r}, which is not a graph input; "
                             f"inputs are {sorted(by_name)}")
        v = by_name[name]
        try:
            dims = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            raise OptionError(f"input_shapes[{name!r}] = {shape!r} is not a sequence of integers") from None
        ok = len(dims) == v.rank and all(d > 0 and (k is None or k == d) for d, k in zip(dims, v.shape))
        if not ok:
            want = "(" + ", ".join("?" if k is None else str(k) for k in v.shape) + ")"
            raise OptionError(f"input_shapes[{name!r}] = {dims} does not fit input {name!r} of shape {want} "
                             f"(NHWC order; only the ? dims can be set)")
        pins[name] = dims
    return pins


def _unfused(graph: Graph) -> Graph:
    """``graph``, or a copy with every fused ``activation`` attribute turned back into its op (ONNX has
    no fused activations; the cleanup never fuses, only a graph lowered for TFLite has them)."""
    if all(fused_activation(n) == NONE for n in graph.nodes):
        return graph
    copy = graph.copy()
    UnfuseActivationPass().run(copy)
    return copy


@dataclass(frozen=True)
class OnnxEmission:
    """What :func:`emit_onnx` made of an IR graph.

    Attributes:
        pieces: the serialized ModelProto in pieces (:func:`~.proto.join` gives its bytes).
        graph: the IR graph that was written: the caller's, or a copy with fused activations
            unfused (ONNX has none); its values share names with the caller's graph.
        values: IR value name (of ``graph``) -> the ONNX value holding it (:class:`OnnxValue`: its
            name and layout), for the graph inputs and every node output (every node is emitted).
            Each is the tensor the producer wrote, in the value's home layout: the IR shape, or
            permuted by ``cf_perm`` when ``channels_first``; ``flat_cf`` is a rank-2 value held as
            the flatten of a channels-first tensor (same shape, elements in C, H, W order). A value
            forwarded without a node (a Transpose that cancels the layout) maps to the tensor that
            carries it. A graph output delivered in another layout is also in the file, under the
            output's name. Constants (weights, biases) are absent: their data is the IR array,
            permuted as each op needs.
    """

    pieces: Chunks
    graph: Graph
    values: dict[str, OnnxValue]


def emit_onnx(
    graph: Graph,
    *,
    opset: int | None = None,
    nchw_inputs: bool = False,
    nchw_outputs: bool = False,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    producer_version: str | None = None,
) -> OnnxEmission:
    """Emit a float IR graph as a serialized ONNX model (checked with ``onnx.checker``, full check),
    in pieces (bytes, and the initializers' arrays as they are: see :mod:`.proto`), with the map
    from IR value to ONNX value (:class:`OnnxEmission`).

    Args:
        graph: the IR graph (NHWC).
        opset: default-domain opset, ``MIN_OPSET``..``MAX_OPSET`` (None: :func:`default_opset`); ops newer than it are decomposed
            (Gelu below 20) or use the older form (reductions' axes, Resize sizes).
        nchw_inputs: expose graph inputs of rank >= 3 channels first (no Transpose at the inputs).
        nchw_outputs: deliver graph outputs of rank >= 3 channels first.
        input_shapes: input name -> full shape in NHWC order, fixing the dynamic dims (batch).
        producer_version: recorded in the model; defaults to the installed keras2edge version.

    Returns:
        The emission; :func:`onnx_bytes` joins its pieces. Inputs and outputs keep the IR value
        names (Keras layer names); dynamic dims are named ``batch`` (axis 0) or ``d<k>``.

    Raises:
        OptionError: bad opset or ``input_shapes`` (naming the input and both shapes).
        UnsupportedOpError: an op (or op configuration) the emitter cannot express.
        LimitExceededError: the model would take more than 2 GiB, the limit of a protobuf file.
    """
    opset = check_opset(default_opset(graph) if opset is None else opset)
    quantized = outside_qdq(graph.values(), graph.outputs)
    if quantized:
        raise UnsupportedOpError(ONNX_OWNER, f"to_onnx emits float models with Quantize/Dequantize at most, but "
                                 f"{len(quantized)} quantized values are read by other ops (first: {quantized[0]!r})")
    pins = _check_input_shapes(graph, input_shapes or {})
    graph = _unfused(graph)
    ctx = OnnxContext(graph, opset, nchw_inputs=nchw_inputs, nchw_outputs=nchw_outputs, input_shapes=pins)
    ctx.short_values = ops_quant.short_values(graph)
    ctx.integer_moves = ops_quant.integer_moves(graph)
    for v in graph.inputs:
        ctx.declare_input(v)
    for node in graph.nodes:
        emit = ONNX_EMITTERS.lookup(node.op, node.where())
        ctx.begin(node)
        emit(ctx, node)
        ctx.end(node)
    ctx.finish_outputs()

    encode = functools.partial(
        encode_model, nodes=ctx.nodes, name=graph.name or "model", initializers=ctx.initializers,
        inputs=ctx.inputs, outputs=ctx.outputs, opset=opset, producer_name="keras2edge",
        producer_version=producer_version or _default_producer_version(),
        metadata={str(k): str(v) for k, v in graph.metadata.items()})
    pieces = encode()
    size = total_size(pieces)
    if size > MAX_PROTOBUF_BYTES:
        raise LimitExceededError(f"the ONNX model of graph {graph.name!r} would take {size} bytes ({size / 2**30:.1f} "
                                 "GiB); ONNX protobuf files cannot exceed 2 GiB and keras2edge does not write "
                                 "ONNX external data (write a .tflite file instead)")
    try:
        check_model_bytes(join(encode(declare_above=CHECK_INLINE_BYTES)), full_check=True)
    except checker_errors() as e:
        # An emitter bug, not the user's: re-raised with a note (BaseException.add_note is 3.11+).
        note = (f"keras2edge: the ONNX model emitted for graph {graph.name!r} failed onnx.checker "
                "(an emitter bug; please report it)")
        raise type(e)(f"{e}\n{note}") from e
    return OnnxEmission(pieces, graph, ctx.value_names())


def onnx_pieces(graph: Graph, **kwargs: object) -> Chunks:
    """The pieces of the ONNX model :func:`emit_onnx` emits (same keyword arguments)."""
    return emit_onnx(graph, **kwargs).pieces  # type: ignore[arg-type]


def onnx_bytes(graph: Graph, **kwargs: object) -> bytes:
    """The bytes of the ONNX model :func:`emit_onnx` emits (same keyword arguments)."""
    return join(onnx_pieces(graph, **kwargs))


def to_onnx(graph: Graph, **kwargs: object) -> onnx.ModelProto:
    """:func:`onnx_bytes` (same keyword arguments as :func:`emit_onnx`) parsed into an ``onnx.ModelProto`` (imports onnx)."""
    import onnx

    return onnx.ModelProto.FromString(onnx_bytes(graph, **kwargs))


def save_onnx(graph: Graph, path: PathLike, *, inputs: Sequence[PathLike | None] = (), **kwargs: object) -> int:
    """Emit ``graph`` with :func:`emit_onnx` (same keyword arguments) and write it to ``path`` atomically.

    The file holds the bytes of :func:`onnx_bytes`, streamed: the weights go from the graph's arrays
    to the file one at a time (a transposed view copied in slices), never gathered into one bytes
    object. The bytes go to a temporary file in the same directory, which replaces ``path`` only
    once complete, so a failure never leaves a partial file. ``path`` is checked as
    :func:`keras2edge.fileio.check_output` does (``inputs``: the files the graph was read from,
    which it may not be). Returns the number of bytes written.

    Raises:
        LimitExceededError: the model would take more than 2 GiB (the message names ``path``).
        OutputPathError: ``path`` may not be written, or the write failed.
    """
    try:
        pieces = onnx_pieces(graph, **kwargs)  # type: ignore[arg-type]
    except LimitExceededError as e:
        raise LimitExceededError(f"cannot write {os.fspath(path)!r}: {e}") from None
    with open_atomic(path, inputs=inputs) as f:
        for piece in raw_pieces(pieces):
            f.write(piece)
    return total_size(pieces)
