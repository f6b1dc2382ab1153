"""The full-int8 scheme ("int8"): calibrate, choose each value's parameters by its producer's
``QuantRule`` (read from the op spec in ``ir/ops/``), then rewrite the graph into QDQ form (``qdq``).

Producer's rule -> parameters of its float output (shared/docs/int8-arithmetic.md §1):

* OWN_SCALE, PER_CHANNEL_WEIGHTS -> asymmetric int8 from the calibrated range (``params``);
* SAME_SCALE -> its float input's parameters; with several float inputs (Concatenation,
  Maximum, Minimum, Select) the output's own range, and each input of other parameters is
  requantized to it (TFLite requires equal parameters, the converter inserts a QUANTIZE);
* FIXED_OUTPUT -> the spec's ``fixed_output`` (Logistic/Softmax 1/256, -128; Tanh 1/128, 0; ...);
* FLOAT -> the op stays float (a warning names the Keras layer); its output, like an INDEX op's
  float output and every graph input, is quantized from its range for the int8 ops that read it;
* INDEX, BOUNDARY -> untouched.

Constants: a PER_CHANNEL_WEIGHTS op's weight (``spec.weights``) -> int8 symmetric per output channel
(``per_tensor``: one scale); its bias -> int32 with scale s_in * s_w[c]; another float constant read
by an int8 op (an Add or Mul operand, a PReLU alpha, a BatchMatMul operand) -> int8 per tensor from
its own min/max (SAME_SCALE ops: the output's parameters). Normalization ops keep their float
statistics (their lowering folds them into a scale and an offset).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..errors import QuantizationError
from ..ir.dtypes import DType
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.ops import op_spec
from ..ir.ops.core import Family, QuantRule
from ..ir.quant import QuantParams
from ..ir.value import Value
from . import params as P
from .calibrate import calibrate
from .qdq import QdqPlan, rewrite
from .schemes import QuantizeOptions, register_scheme

log = logging.getLogger(__name__)

#: The family whose float constant inputs stay float: a normalization's statistics (mean, variance,
#: gamma, beta), which its lowering folds into a scale and an offset.
_FLOAT_STATISTICS = Family.NORMALIZATION
IO_TYPES = {"float": None, "int8": DType.INT8, "uint8": DType.UINT8}


def _is_act(v: Value | None) -> bool:
    return v is not None and not v.is_const and v.dtype == DType.FLOAT32


def _is_float_const(v: Value | None) -> bool:
    return v is not None and v.is_const and v.dtype == DType.FLOAT32


@dataclass
class _Planner:
    graph: Graph
    ranges: dict[str, tuple[float, float]]
    per_tensor: bool
    plan: QdqPlan = field(default_factory=QdqPlan)
    kept_float: list[str] = field(default_factory=list)
    quiet: bool = False  # no warnings (the algorithms' measuring builds; the final build warns)

    def own(self, v: Value) -> QuantParams | None:
        r = self.ranges.get(v.name)
        return None if r is None else P.activation_params(*r)

    def run(self) -> QdqPlan:
        for v in self.graph.inputs:
            if _is_act(v) and (p := self.own(v)) is not None:
                self.plan.acts[id(v)] = p
        for node in self.graph.nodes:
            self.node(node)
        return self.plan

    def node(self, node: Node) -> None:
        spec = op_spec(node.op)
        rule = spec.quant
        if rule == QuantRule.BOUNDARY:
            raise QuantizationError(f"{node.where()}: the graph is already quantized; quantize a float model")
        if rule == QuantRule.FLOAT:
            self.kept_float.append(node.where())
            if not self.quiet:
                    log.warning("%s has no int8 kernel with TFLite's semantics: kept float between DEQUANTIZE and "
                            "QUANTIZE", node.where())
        outs = [v for v in node.outputs if _is_act(v)]
        if rule == QuantRule.FIXED_OUTPUT:
            fixed = spec.fixed_output
            if fixed is None:
                raise QuantizationError(f"{node.where()}: op {node.op} has a fixed output rule but no fixed_output")
            for v in outs:
                self.plan.acts[id(v)] = P.fixed_params(fixed)
        elif rule == QuantRule.SAME_SCALE:
            self.same_scale(node, outs)
        else:
            for v in outs:
                if (p := self.own(v)) is not None:
                    self.plan.acts[id(v)] = p
        if rule == QuantRule.PER_CHANNEL_WEIGHTS:
            self.weights(node)
        elif rule in (QuantRule.OWN_SCALE, QuantRule.FIXED_OUTPUT) and spec.family != _FLOAT_STATISTICS:
            for idx, c in enumerate(node.inputs):
                if _is_float_const(c):
                    self.plan.consts[(id(node), idx)] = P.constant_params(c.const)  # type: ignore[union-attr,arg-type]

    def same_scale(self, node: Node, outs: list[Value]) -> None:
        acts = [(i, v) for i, v in enumerate(node.inputs) if _is_act(v)]
        consts = [(i, v) for i, v in enumerate(node.inputs) if _is_float_const(v)]
        known = [(i, v) for i, v in acts if id(v) in self.plan.acts]
        if len(acts) == 1 and known:
            p: QuantParams | None = self.plan.acts[id(known[0][1])]
        elif not acts and len(consts) == 1:
            p = P.constant_params(consts[0][1].const)  # type: ignore[arg-type]
        else:
            p = self.own(outs[0]) if outs else None
            for i, v in known:
                if p is not None and self.plan.acts[id(v)] != p:
                    self.plan.requant[(id(node), i)] = p
        if p is None:
            return
        for v in outs:
            self.plan.acts[id(v)] = p
        for i, _c in consts:
            self.plan.consts[(id(node), i)] = p

    def weights(self, node: Node) -> None:
        spec = op_spec(node.op)
        axes = spec.weights
        x = node.inputs[0]
        if axes is None or x is None or id(x) not in self.plan.acts:
            return
        w = node.inputs[axes.input]
        if not _is_float_const(w):
            return
        wp = P.weight_params(w.const, axes.out_axis, self.per_tensor)  # type: ignore[union-attr,arg-type]
        self.plan.weights[(id(node), axes.input)] = wp
        b = node.inputs[2] if len(node.inputs) > 2 else None
        if _is_float_const(b):
            s_in = float(self.plan.acts[id(x)].scale[0])
            self.plan.biases[(id(node), 2)] = P.bias_params(s_in, wp)


def quantize_int8(graph: Graph, options: QuantizeOptions) -> Graph:
    """The "int8" scheme: a new graph in QDQ form (``graph`` is not modified)."""
    if options.io not in IO_TYPES:
        raise QuantizationError(f"unknown --io {options.io!r}; supported: {', '.join(IO_TYPES)}")
    if options.calibration is None:
        raise QuantizationError("int8 quantization needs calibration data (--calibration / calibration=...)")
    from .algorithms import after_calibration, before_calibration, report_line

    ran: dict[str, str] = {}
    graph = before_calibration(graph, options, ran)
    cal = calibrate(graph, options.calibration, options.method, options.batch_size)
    g = cal.graph  # the lowered copy: what ships, with the caller's value names

    def build(io: DType | None = None, quiet: bool = True) -> Graph:
        """``g`` as it is now, in QDQ form (a copy: ``g`` stays float)."""
        q = g.copy()
        rewrite(q, _Planner(q, cal.ranges, options.per_tensor, quiet=quiet).run(), io)
        return q

    after_calibration(g, build, options, ran)
    q = build(IO_TYPES[options.io], quiet=False)
    q.metadata["quantization"] = "int8"
    q.metadata["quantization_algorithms"] = report_line(ran)
    q.verify()
    return q


register_scheme("int8")(quantize_int8)


def summary(graph: Graph) -> dict[str, object]:
    """What a quantized graph holds: quantized activation values (Quantize nodes), int8 and float16
    weight tensors, the Keras layers of the ops kept float (QuantRule.FLOAT), and which
    accuracy-preserving algorithms ran (``algorithms``: one line, empty for other schemes)."""
    kept: list[str] = []
    for n in graph.nodes:
        if op_spec(n.op).quant == QuantRule.FLOAT:
            name = str(n.origin) if n.origin else n.name
            if name not in kept:
                kept.append(name)
    return {"quantized_values": sum(1 for n in graph.nodes if n.op == "Quantize"),
            "int8_weights": sum(1 for v in graph.constants() if v.quant is not None and v.dtype == DType.INT8),
            "float16_weights": sum(1 for v in graph.constants() if v.dtype == DType.FLOAT16),
            "kept_float": kept,
            "algorithms": str(graph.metadata.get("quantization_algorithms", ""))}


__all__ = ["IO_TYPES", "quantize_int8", "summary"]
