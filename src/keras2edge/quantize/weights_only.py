"""Weight-only schemes (no calibration): ``dynamic`` (dynamic-range int8) and ``float16``.

What maps to what (IR in QDQ form, ``ir.quant``; the TFLite converter's choices, checked against
TensorFlow 2.21's converter on Conv2D, DepthwiseConv2D, Conv2DTranspose and Dense layers of
64..264,192 weights):

* ``dynamic`` (``optimizations=[DEFAULT]`` without a representative dataset): the weight input
  (``WeightAxes.input``) of every node whose op's ``QuantRule`` is PER_CHANNEL_WEIGHTS, when it is a
  float constant of at least ``options.min_weight_elements`` elements (1024 by default, the
  converter's ``weights_minimum_elements``: 1024-element kernels are quantized, 512 are not), becomes an int8 constant → Dequantize →
  the node. Symmetric, zero point 0, one scale per output channel (the spec's ``WeightAxes.out_axis``;
  one for the whole tensor with ``per_tensor``): ``scale = max|w| / 127`` and
  ``q = round_half_away(float64(w) · (127 / float64(max|w|)))`` in [-127, 127] (the converter's
  bytes: a float32 ``w / scale`` differs at exact float32 ties); an all-zero channel gets scale 1.
  Smaller weights, biases and the constants of every other op stay float32, as the converter
  leaves them. The emitters then write hybrid kernels (``convert/tflite/hybrid.py``) or
  DequantizeLinear (ONNX).
* ``float16`` (``supported_types=[tf.float16]``): every float32 constant a node reads with at least
  ``options.min_weight_elements`` elements becomes a float16 constant → Dequantize (no ``quant``: an
  exact widening) → its readers; TFLite writes a DEQUANTIZE of the float16 buffer, ONNX a Cast. The
  converter converts every float constant whatever its size (biases, scalars: measured), which
  ``min_weight_elements=0`` reproduces; the default keeps small constants float32, because a
  DEQUANTIZE costs more bytes than a small constant saves, and a scalar threshold (ReLU's 0.1
  → 0.099976) moves a discontinuity (tests/quantize/test_weights_only.py measures both). A constant
  beyond float16's range (65504) stays float32, with a warning naming the Keras layer.

Weights holding NaN or Inf cannot be given an int8 scale: ``dynamic`` raises a QuantizationError
naming the node and its Keras layer.

A constant read by several nodes gets one integer (or float16) constant and one Dequantize.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import QuantizationError
from ..ir.dtypes import DType
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.ops import QuantRule, op_spec
from ..ir.ops.quant import round_half_away
from ..ir.quant import QuantParams
from ..ir.value import Value
from .schemes import QuantizeOptions, register_scheme

log = logging.getLogger(__name__)

#: The largest finite float16; a constant beyond it would become Inf, so it stays float32 (warning).
F16_MAX = float(np.finfo(np.float16).max)

#: Symmetric int8 weights use [-127, 127] (TFLite quantization spec).
QMAX = 127


def quantize_weight(w: np.ndarray, axis: int | None) -> tuple[np.ndarray, QuantParams]:
    """Symmetric int8 of ``w`` per index of ``axis`` (or per tensor when None), as the converter does."""
    w64 = np.asarray(w, np.float64)
    if axis is None:
        peak = np.abs(w64).max(keepdims=True).reshape([1] * w64.ndim)
    else:
        peak = np.abs(w64).max(axis=tuple(a for a in range(w64.ndim) if a != axis), keepdims=True)
    safe = np.where(peak > 0, peak, float(QMAX))     # an all-zero channel: scale 1, every q 0
    q = np.clip(round_half_away(w64 * (QMAX / safe)), -QMAX, QMAX).astype(np.int8)
    scales = (safe / QMAX).astype(np.float32).reshape(-1)
    if axis is None:
        return q, QuantParams.per_tensor(float(scales[0]), 0, DType.INT8)
    return q, QuantParams.per_channel(scales, axis, DType.INT8)


def _insert_dequantize(graph: Graph, source: Value, stored: Value, quant: QuantParams | None,
                       uses: list[tuple[Node, int]]) -> None:
    """``stored`` → Dequantize → the ``uses`` of ``source`` (placed before the first reader)."""
    first = min((graph.nodes.index(n) for n, _ in uses))
    reader = graph.nodes[first]
    dq = graph.add_node("Dequantize", [stored], {"quant": quant}, origin=reader.origin,
                        name=f"{source.name}/dequantize", before=reader)
    for node, idx in uses:
        graph.set_input(node, idx, dq.output)


def _stored(source: Value, data: np.ndarray, quant: QuantParams | None = None) -> Value:
    """The constant that replaces ``source`` in storage, under ``source``'s name (``source`` leaves the graph)."""
    return Value(source.name, DType.from_any(data.dtype), tuple(data.shape), const=data, quant=quant)


@register_scheme("dynamic")
def dynamic(graph: Graph, options: QuantizeOptions) -> Graph:
    """Dynamic-range int8: large weights of PER_CHANNEL_WEIGHTS ops stored int8 (module docstring)."""
    g = graph.copy()
    weights: dict[int, tuple[Value, int, list[tuple[Node, int]]]] = {}   # id(const) -> (const, axis, uses)
    for node in g.nodes:
        spec = op_spec(node.op)
        if spec.quant != QuantRule.PER_CHANNEL_WEIGHTS or spec.weights is None:
            continue
        k = spec.weights.input
        w = node.inputs[k] if k < len(node.inputs) else None
        if w is None or not w.is_const or w.dtype != DType.FLOAT32:
            continue
        if w.const.size < options.min_weight_elements:  # type: ignore[union-attr]
            log.debug("%s: %s has %d weights (< %d): kept float", node.where(), w.name, w.const.size,  # type: ignore[union-attr]
                      options.min_weight_elements)
            continue
        if not np.isfinite(w.const).all():  # type: ignore[arg-type]
            raise QuantizationError(f"{node.where()}: its weights {w.name!r} hold NaN or Inf; dynamic-range int8 "
                                    "needs finite weights (the float model is broken, or use scheme 'float16')")
        entry = weights.setdefault(id(w), (w, spec.weights.out_axis, []))
        if entry[1] != spec.weights.out_axis:
            continue  # read with another channel axis by another op: leave this use float
        entry[2].append((node, k))
    for w, axis, uses in weights.values():
        q, params = quantize_weight(w.const, None if options.per_tensor else axis)  # type: ignore[arg-type]
        _insert_dequantize(g, w, _stored(w, q, params), params, uses)
    g.verify()
    return g


@register_scheme("float16")
def float16(graph: Graph, options: QuantizeOptions) -> Graph:
    """float16 storage of the float32 constants (module docstring)."""
    g = graph.copy()
    for c in g.constants():
        if c.dtype != DType.FLOAT32:
            continue
        uses = [(n, i) for n, i in c.uses if n.op != "Dequantize"]
        if not uses or c.const.size < options.min_weight_elements:  # type: ignore[union-attr]
            continue
        finite = c.const[np.isfinite(c.const)]  # type: ignore[index]
        if finite.size and np.abs(finite).max() > F16_MAX:
            log.warning("%s: constant %r reaches %.6g, beyond float16's %g: kept float32", uses[0][0].where(),
                        c.name, float(np.abs(finite).max()), F16_MAX)
            continue
        _insert_dequantize(g, c, _stored(c, c.const.astype(np.float16)), None, uses)  # type: ignore[union-attr]
    g.verify()
    return g


__all__ = ["dynamic", "float16", "quantize_weight"]
