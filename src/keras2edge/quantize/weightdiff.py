"""What quantization did to each layer's weights and biases, measured: the largest distance, in units
of the last place (LSB = the constant's scale, per channel), between the float model's constant and
the quantized model's integer constant dequantized.

Plain rounding is at most 0.5 LSB; a rounding *choice* (AdaRound: floor or ceil per weight) at most
1 LSB; more means the constant was changed before rounding — rescaled by cross-layer equalization,
moved by bias correction, or clipped (an MSE weight clip, a saturated bias). So the report can say
which algorithm changed what without trusting any bookkeeping: :func:`constant_changes` compares the
weight-op nodes of the two graphs by node name (the quantized graph keeps the float graph's node
names) through each op spec's ``WeightAxes`` (weight input, output-channel axis; the bias is the
input after it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.graph import Graph
from ..ir.ops import op_spec
from ..ir.value import Value

#: Above this many LSB a constant was changed before rounding (0.5 is rounding; 1 a rounding choice).
ROUNDING_LSB = 0.5 + 1e-3
CHOICE_LSB = 1.0 + 1e-3


@dataclass
class ConstantChange:
    """The largest distance (LSB) between float and dequantized weights / bias of one layer (None: not
    quantized or absent)."""

    weights_lsb: float | None = None
    bias_lsb: float | None = None

    def describe(self) -> str:
        """'rounded', 'rounding chosen', 'changed' per constant, e.g. ``weights rounded, bias changed``."""
        parts = []
        for what, v in (("weights", self.weights_lsb), ("bias", self.bias_lsb)):
            if v is not None:
                verdict = "rounded" if v <= ROUNDING_LSB else ("rounding chosen" if v <= CHOICE_LSB else "changed")
                parts.append(f"{what} {verdict}")
        return ", ".join(parts)


def _integer_source(v: Value | None) -> Value | None:
    """The integer constant behind a Dequantize feeding an op (None if the input is not one)."""
    p = None if v is None else v.producer
    if p is None or p.op != "Dequantize" or p.inputs[0] is None:
        return None
    c = p.inputs[0]
    return c if c.is_const and c.quant is not None else None


def _lsb(float_const: np.ndarray, c: Value) -> float | None:
    """max |dequant(c) - float| / scale over the constant, scales per channel on the quant axis."""
    q = c.quant
    assert q is not None and c.const is not None
    if float_const.shape != c.const.shape:
        return None
    shape = [1] * c.const.ndim
    if q.axis is not None and c.const.ndim:
        shape[q.axis] = -1
    scale = q.scale.astype(np.float64).reshape(shape) if q.axis is not None else float(q.scale[0])
    zp = q.zero_point.astype(np.float64).reshape(shape) if q.axis is not None else float(q.zero_point[0])
    real = (c.const.astype(np.float64) - zp) * scale
    if not real.size:
        return 0.0
    return float(np.max(np.abs(real - float_const.astype(np.float64)) / scale))


def constant_changes(float_graph: Graph, quant_graph: Graph) -> dict[str, ConstantChange]:
    """Keras layer -> :class:`ConstantChange` of its weight ops (the largest over its nodes)."""
    qnodes = {n.name: n for n in quant_graph.nodes}
    out: dict[str, ConstantChange] = {}
    for n in float_graph.nodes:
        axes = op_spec(n.op).weights
        qn = qnodes.get(n.name)
        if axes is None or n.origin is None or qn is None or qn.op != n.op:
            continue
        change = out.setdefault(n.origin.layer, ConstantChange())
        for idx, field in ((axes.input, "weights_lsb"), (axes.input + 1, "bias_lsb")):
            if idx >= len(n.inputs) or idx >= len(qn.inputs):
                continue
            fv, src = n.inputs[idx], _integer_source(qn.inputs[idx])
            if fv is None or not fv.is_const or src is None:
                continue
            lsb = _lsb(fv.const, src)  # type: ignore[arg-type]
            if lsb is not None:
                old = getattr(change, field)
                setattr(change, field, lsb if old is None else max(old, lsb))
    return out


__all__ = ["CHOICE_LSB", "ROUNDING_LSB", "ConstantChange", "constant_changes"]
