"""IR graph → ONNX ModelProto (float), converting the NHWC graph to NCHW as a whole.

Usage::

    model = to_onnx(graph)                       # onnx.ModelProto, checked by onnx.checker
    save_onnx(graph, "model.onnx", input_shapes={"input_1": (1, 224, 224, 3)})

Emitters live in the ``ops_*`` modules, one table :data:`ONNX_EMITTERS` keyed by IR op; the
layout rules are in :mod:`.layout`, the naming and conversion machinery in :mod:`.context`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import onnx
from onnx import helper

from ...errors import LimitExceededError, UnsupportedOpError
from ...fileio import open_atomic
from ...ir.graph import Graph
from . import ops_conv, ops_elementwise, ops_misc, ops_pool, ops_shape  # noqa: F401 - fill ONNX_EMITTERS
from .context import ONNX_EMITTERS, OnnxContext
from .serialize import MAX_PROTOBUF_BYTES, Initializer, check_skeleton, serialized_size, write_model

# Opset 21 (ONNX 1.16, IR version 10): onnxruntime has implemented it fully since 1.18 and onnx
# checks it since 1.16, so the default model loads in runtimes a couple of years old; it has Gelu (20)
# and axes-as-input reductions (18). MIN..MAX is the range the tests run (onnx 1.23, onnxruntime 1.31).
DEFAULT_OPSET = 21
MIN_OPSET = 13   # Split/Squeeze/Unsqueeze/ReduceSum take axes as inputs, Softmax works per axis
MAX_OPSET = 24

__all__ = ["DEFAULT_OPSET", "MAX_OPSET", "MIN_OPSET", "ONNX_EMITTERS", "OnnxContext", "emit_onnx", "save_onnx", "to_onnx"]


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
            raise ValueError(f"input_shapes names {name!r}, which is not a graph input; "
                             f"inputs are {sorted(by_name)}")
        v = by_name[name]
        try:
            dims = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            raise ValueError(f"input_shapes[{name!r}] = {shape!r} is not a sequence of integers") from None
        ok = len(dims) == v.rank and all(d > 0 and (k is None or k == d) for d, k in zip(dims, v.shape))
        if not ok:
            want = "(" + ", ".join("?" if k is None else str(k) for k in v.shape) + ")"
            raise ValueError(f"input_shapes[{name!r}] = {dims} does not fit input {name!r} of shape {want} "
                             f"(NHWC order; only the ? dims can be set)")
        pins[name] = dims
    return pins


def to_onnx(
    graph: Graph,
    *,
    opset: int = DEFAULT_OPSET,
    nchw_inputs: bool = False,
    nchw_outputs: bool = False,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    producer_version: str | None = None,
) -> onnx.ModelProto:
    """Emit a float IR graph as an ONNX model (checked with ``onnx.checker`` before it is returned).

    Args:
        graph: the IR graph (NHWC).
        opset: default-domain opset, ``MIN_OPSET``..``MAX_OPSET``; ops newer than it are decomposed
            (Gelu below 20) or use the older form (reductions' axes, Resize sizes).
        nchw_inputs: expose graph inputs of rank >= 3 channels first (no Transpose at the inputs).
        nchw_outputs: deliver graph outputs of rank >= 3 channels first.
        input_shapes: input name -> full shape in NHWC order, fixing the dynamic dims (batch).
        producer_version: recorded in the model; defaults to the installed keras2edge version.

    Returns:
        The ModelProto. Inputs and outputs keep the IR value names (Keras layer names); dynamic
        dims are named ``batch`` (axis 0) or ``d<k>``.

    Raises:
        ValueError: bad opset or ``input_shapes`` (naming the input and both shapes).
        UnsupportedOpError: an op (or op configuration) the emitter cannot express.
    """
    model, initializers = emit_onnx(graph, opset=opset, nchw_inputs=nchw_inputs, nchw_outputs=nchw_outputs,
                                    input_shapes=input_shapes, producer_version=producer_version)
    for init in initializers:   # one at a time: no second copy of every weight in a list
        model.graph.initializer.append(init.to_proto())
    return model


def emit_onnx(
    graph: Graph,
    *,
    opset: int = DEFAULT_OPSET,
    nchw_inputs: bool = False,
    nchw_outputs: bool = False,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    producer_version: str | None = None,
) -> tuple[onnx.ModelProto, list[Initializer]]:
    """:func:`to_onnx` without building the initializers: the model (checked) minus its
    initializers, and the initializers as arrays (views of the IR constants where possible)."""
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"ONNX opset {opset} is not supported; use {MIN_OPSET}..{MAX_OPSET} "
                         f"(default {DEFAULT_OPSET})")
    quantized = [v.name for v in graph.values() if v.quant is not None]
    if quantized:
        raise UnsupportedOpError(f"ONNX emitter: to_onnx emits float models, but {len(quantized)} values are "
                                 f"quantized (first: {quantized[0]!r}); emit the float graph or use the QDQ emitter")
    pins = _check_input_shapes(graph, input_shapes or {})
    ctx = OnnxContext(graph, opset, nchw_inputs=nchw_inputs, nchw_outputs=nchw_outputs, input_shapes=pins)
    for v in graph.inputs:
        ctx.declare_input(v)
    for node in graph.nodes:
        emit = ONNX_EMITTERS.lookup(node.op, node.where())
        ctx.begin(node)
        emit(ctx, node)
        ctx.end(node)
    ctx.finish_outputs()

    g = helper.make_graph(ctx.nodes, graph.name or "model", ctx.inputs, ctx.outputs)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(g, opset_imports=opsets, producer_name="keras2edge",
                              producer_version=producer_version or _default_producer_version(),
                              ir_version=helper.find_min_ir_version_for(opsets))
    if graph.metadata:
        helper.set_model_props(model, {str(k): str(v) for k, v in graph.metadata.items()})
    try:
        check_skeleton(model, ctx.initializers)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        e.add_note(f"keras2edge: the ONNX model emitted for graph {graph.name!r} failed onnx.checker "
                   f"(an emitter bug; please report it)")
        raise
    return model, ctx.initializers


def save_onnx(graph: Graph, path: str | os.PathLike[str], **kwargs: object) -> int:
    """Emit ``graph`` as :func:`to_onnx` does (same keyword arguments) and write it to ``path`` atomically.

    The file holds the bytes of ``to_onnx(graph, ...).SerializeToString()``, but the ModelProto is
    never built: the weights are streamed from the graph's arrays into the file one at a time, so
    the memory used is about the graph's own plus the largest weight. The bytes go to a temporary
    file in the same directory, which replaces ``path`` only once complete, so a failure never
    leaves a partial file. Returns the size of the file.

    Raises:
        LimitExceededError: the model would reach 2 GiB, more than a protobuf file can hold.
    """
    model, initializers = emit_onnx(graph, **kwargs)  # type: ignore[arg-type]
    size = serialized_size(model, initializers)
    if size > MAX_PROTOBUF_BYTES:
        raise LimitExceededError(
            f"cannot write {os.fspath(path)!r}: the ONNX model of graph {graph.name!r} would take {size} bytes, "
            f"more than the {MAX_PROTOBUF_BYTES} a protobuf file can hold; write a .tflite file instead")
    with open_atomic(path) as f:
        write_model(f, model, initializers)
    return size
