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

Shared weights: PER_CHANNEL_WEIGHTS nodes reading the same float weight and the same float bias (the
steps of an unrolled LSTM/GRU reading its recurrent kernel and bias) have their data inputs quantized
from the union of their ranges (where each input's parameters are its own range's), so s_in, and
with it the bias's int32 scale s_in * s_w[c], is one: the QDQ rewrite then stores one integer weight
and one integer bias for all of them (as TFLite's fused sequence kernels keep one state scale).

Constants: a PER_CHANNEL_WEIGHTS op's weight (``spec.weights``) -> int8 symmetric per output channel
(``per_tensor``: one scale); its bias -> int32 with scale s_in * s_w[c]; another float constant read
by an int8 op (an Add or Mul operand, a PReLU alpha, a BatchMatMul operand) -> int8 per tensor from
its own min/max (SAME_SCALE ops: the output's parameters). Normalization ops keep their float
statistics (their lowering folds them into a scale and an offset).

Precision per node (``quantize_full``, shared with the "int16x8" scheme): with ``keep_float`` /
``int16`` globs or 16x8 activations, ``precision.plan_precision`` gives each node int8, int16 or float.
An int16 node's parameters are the 16x8 ones (symmetric int16 activations, ``fixed_output16``, int64
bias, int16 constant operands); an activation input of the other integer type is requantized to its own
range in the node's type; a float node's output is quantized only for its integer readers (in the first
one's type) or an integer model output; the float nodes of integer rules are listed under
``integer.FLOAT_NODES`` so the TFLite lowering leaves them float.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from ..convert.tflite.integer import FLOAT_NODES
from ..errors import QuantizationError
from ..ir.dtypes import DType
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.ops import op_spec
from ..ir.ops.core import Family, QuantRule
from ..ir.quant import QUANT_RANGES, QuantParams
from ..ir.value import Value
from ..runtime.blas import blas_threads
from . import params as P
from .calibrate import calibrate
from .precision import INTEGER_RULES, Precision, layer_precisions, match_layers, plan_precision
from .qdq import QdqPlan, rewrite
from .schemes import QuantizeOptions, register_scheme

log = logging.getLogger(__name__)

#: The family whose float constant inputs stay float: a normalization's statistics (mean, variance,
#: gamma, beta), which its lowering folds into a scale and an offset.
_FLOAT_STATISTICS = Family.NORMALIZATION
IO_TYPES = {"float": None, "int8": DType.INT8, "uint8": DType.UINT8, "int16": DType.INT16}


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
    precision: Precision | None = None  # each node's type (None: every integer-rule op int8)
    io: DType | None = None             # integer model inputs/outputs: their type (uint8 as int8)
    merged: dict[str, tuple[float, float]] = field(default_factory=dict)  # value name -> shared range
    quiet: bool = False  # no warnings (the algorithms' measuring builds; the final build warns)

    def type_of(self, node: Node) -> DType | None:
        """The type ``node`` computes in (None: float)."""
        if self.precision is None:
            return None if op_spec(node.op).quant == QuantRule.FLOAT else DType.INT8
        return self.precision.of(node)

    def reader_type(self, v: Value) -> DType | None:
        """The type a value no integer kernel writes is quantized in: the model's integer io type for a
        graph input or output, else its first integer reader's type (None: only float readers)."""
        if self.io is not None and any(o is v for o in (*self.graph.inputs, *self.graph.outputs)):
            return self.io
        for user, _ in v.uses:
            if op_spec(user.op).quant in INTEGER_RULES and (t := self.type_of(user)) is not None:
                return t
        return DType.INT8 if self.precision is None else None

    def own(self, v: Value, qtype: DType = DType.INT8) -> QuantParams | None:
        r = self.merged.get(v.name) or self.ranges.get(v.name)
        if r is None:
            return None
        return P.activation_params16(*r) if qtype == DType.INT16 else P.activation_params(*r)

    def merge_shared_inputs(self) -> dict[str, tuple[float, float]]:
        """The union range of the data inputs of PER_CHANNEL_WEIGHTS nodes sharing one float weight and one
        float bias, for each of those inputs (module docstring: one bias scale for all of them)."""
        groups: dict[tuple[int, int], list[Value]] = {}
        for node in self.graph.nodes:
            spec = op_spec(node.op)
            if spec.quant != QuantRule.PER_CHANNEL_WEIGHTS or spec.weights is None:
                continue
            x, w = node.inputs[0], node.inputs[spec.weights.input]
            b = node.inputs[2] if len(node.inputs) > 2 else None
            if _is_act(x) and _is_float_const(w) and _is_float_const(b):
                groups.setdefault((id(w), id(b)), []).append(x)  # type: ignore[arg-type]
        merged: dict[str, tuple[float, float]] = {}
        for xs in groups.values():
            rs = [self.ranges[x.name] for x in xs if x.name in self.ranges]
            if len({id(x) for x in xs}) < 2 or len(rs) != len(xs):
                continue
            lo, hi = min(r[0] for r in rs), max(r[1] for r in rs)
            for x in xs:
                old = merged.get(x.name, (lo, hi))
                merged[x.name] = (min(lo, old[0]), max(hi, old[1]))
        return merged

    def run(self) -> QdqPlan:
        self.merged = self.merge_shared_inputs()
        for v in self.graph.inputs:
            if _is_act(v) and (t := self.reader_type(v)) is not None and (p := self.own(v, t)) is not None:
                self.plan.acts[id(v)] = p
        for node in self.graph.nodes:
            self.node(node)
        return self.plan

    def requantize_inputs(self, node: Node, t: DType) -> None:
        """Activation inputs of another type than ``t`` (a region boundary): requantized to their own
        range in ``t`` (Dequantize -> Quantize: TFLite's QUANTIZE int8 <-> int16)."""
        for i, v in enumerate(node.inputs):
            p = self.plan.acts.get(id(v)) if _is_act(v) else None
            if p is not None and p.qtype != t and (q := self.own(v, t)) is not None:  # type: ignore[arg-type]
                self.plan.requant[(id(node), i)] = q

    def input_params(self, node: Node, i: int) -> QuantParams | None:
        """The parameters input ``i`` of ``node`` is read in (after any requantize)."""
        v = node.inputs[i]
        return self.plan.requant.get((id(node), i)) or (self.plan.acts.get(id(v)) if v is not None else None)

    def node(self, node: Node) -> None:
        spec = op_spec(node.op)
        rule = spec.quant
        if rule == QuantRule.BOUNDARY:
            raise QuantizationError(f"{node.where()}: the graph is already quantized; quantize a float model")
        t = self.type_of(node)
        outs = [v for v in node.outputs if _is_act(v)]
        if rule == QuantRule.FLOAT:
            self.kept_float.append(node.where())
            if not self.quiet:
                log.warning("%s has no int8 kernel with TFLite's semantics: kept float between DEQUANTIZE and "
                            "QUANTIZE", node.where())
        if t is None or rule not in INTEGER_RULES:
            for v in outs:
                if (rt := self.reader_type(v)) is not None and (p := self.own(v, rt)) is not None:
                    self.plan.acts[id(v)] = p
            return
        if rule != QuantRule.SAME_SCALE:
            self.requantize_inputs(node, t)
        if rule == QuantRule.FIXED_OUTPUT:
            fixed = spec.fixed_output16 if t == DType.INT16 else spec.fixed_output
            if fixed is None:
                raise QuantizationError(f"{node.where()}: op {node.op} has a fixed output rule but no fixed "
                                        f"{t.value} output")
            for v in outs:
                self.plan.acts[id(v)] = P.fixed_params(fixed, t)
        elif rule == QuantRule.SAME_SCALE:
            self.same_scale(node, outs, t)
        elif rule == QuantRule.NEGATED:
            self.negated(node, outs, t)
        else:
            for v in outs:
                if (p := self.own(v, t)) is not None:
                    self.plan.acts[id(v)] = p
        if rule == QuantRule.PER_CHANNEL_WEIGHTS:
            self.weights(node, t)
        elif rule in (QuantRule.OWN_SCALE, QuantRule.FIXED_OUTPUT) and spec.family != _FLOAT_STATISTICS:
            for idx, c in enumerate(node.inputs):
                if _is_float_const(c):
                    data = c.const  # type: ignore[union-attr]
                    cp = (P.constant_params16(data) if t == DType.INT16  # type: ignore[arg-type]
                          else P.constant_params(data))  # type: ignore[arg-type]
                    if t == DType.INT16 and not any(data.ravel()):  # type: ignore[union-attr]
                        # All zeros (an un-adapted Normalization mean): any scale holds them, and the
                        # degenerate range's scale 1 would put an int16 ADD/SUB's input multiplier above
                        # 1, which TFLite Micro aborts on: take the activation input's parameters.
                        act = next((self.input_params(node, i) for i, v in enumerate(node.inputs) if _is_act(v)), None)
                        cp = act if act is not None and act.axis is None else cp
                    self.plan.consts[(id(node), idx)] = cp

    def negated(self, node: Node, outs: list[Value], t: DType) -> None:
        """NEG on the raw integers (LiteRT's kernel: q_out = -q_in): the output takes the input's scale
        and zero point -z. An input at zero point -128 (no representable -z) is first requantized to
        zero point -127 at the same scale (its top value saturates one step lower)."""
        x = node.inputs[0]
        p = self.input_params(node, 0) if _is_act(x) else None
        if p is None or p.axis is not None:
            return
        scale, zp = float(p.scale[0]), int(p.zero_point[0])
        if -zp > QUANT_RANGES[p.qtype or t][1]:
            zp += 1
            self.plan.requant[(id(node), 0)] = QuantParams.per_tensor(scale, zp, p.qtype)
        for v in outs:
            self.plan.acts[id(v)] = QuantParams.per_tensor(scale, -zp, p.qtype)

    def same_scale(self, node: Node, outs: list[Value], t: DType = DType.INT8) -> None:
        acts = [(i, v) for i, v in enumerate(node.inputs) if _is_act(v)]
        consts = [(i, v) for i, v in enumerate(node.inputs) if _is_float_const(v)]
        known = [(i, v) for i, v in acts if id(v) in self.plan.acts]
        if len(acts) == 1 and known and self.plan.acts[id(known[0][1])].qtype == t:
            p: QuantParams | None = self.plan.acts[id(known[0][1])]
        elif not acts and len(consts) == 1:
            c = consts[0][1].const
            p = P.constant_params16(c) if t == DType.INT16 else P.constant_params(c)  # type: ignore[arg-type]
        else:
            p = self.own(outs[0], t) if outs else None
            for i, v in known:
                if p is not None and self.plan.acts[id(v)] != p:
                    self.plan.requant[(id(node), i)] = p
        if p is None:
            return
        for v in outs:
            self.plan.acts[id(v)] = p
        for i, _c in consts:
            self.plan.consts[(id(node), i)] = p

    def weights(self, node: Node, t: DType = DType.INT8) -> None:
        spec = op_spec(node.op)
        axes = spec.weights
        x = node.inputs[0]
        x_params = self.input_params(node, 0)
        if axes is None or x is None or x_params is None:
            return
        w = node.inputs[axes.input]
        if not _is_float_const(w):
            return
        wp = P.weight_params(w.const, axes.out_axis, self.per_tensor)  # type: ignore[union-attr,arg-type]
        self.plan.weights[(id(node), axes.input)] = wp
        b = node.inputs[2] if len(node.inputs) > 2 else None
        if _is_float_const(b):
            s_in = float(x_params.scale[0])
            self.plan.biases[(id(node), 2)] = P.bias_params(s_in, wp, DType.INT64 if t == DType.INT16 else DType.INT32)


#: OpenBLAS threads while calibration and the algorithms run the model (``runtime.blas``): they call
#: thousands of small GEMMs between single-threaded NumPy work, and OpenBLAS's idle threads spin.
#: MobileNetV2, 100 samples, this 2-core VM under load (load average 5-7): 1 thread 5.7-11.9 s wall,
#: 5.2 s CPU; the default 2 threads 19-32 s wall, 18-19 s CPU (the spinning thread took the core
#: the work needed).
CALIBRATION_BLAS_THREADS = 1


def quantize_full(graph: Graph, options: QuantizeOptions, default: DType = DType.INT8) -> Graph:
    """Full-integer quantization with ``default`` activations (int8, or int16 for 16x8) and the layers of
    ``options.keep_float`` float, of ``options.int16`` 16x8 (``precision``): a new graph in QDQ form
    (``graph`` is not modified)."""
    scheme_name = "int16x8" if default == DType.INT16 else "int8"
    if options.io not in IO_TYPES:
        raise QuantizationError(f"unknown --io {options.io!r}; supported: {', '.join(IO_TYPES)}")
    io = IO_TYPES[options.io]
    if options.calibration is None:
        raise QuantizationError(f"{scheme_name} quantization needs calibration data (--calibration / calibration=...)")
    mixed = bool(options.keep_float or options.int16) or default != DType.INT8
    match_layers(graph, tuple(options.keep_float), "--keep-float")  # a glob matching no layer fails first
    match_layers(graph, tuple(options.int16), "--int16")
    from .algorithms import after_calibration, before_calibration, output_samples, patch_samples, report_line

    algorithms = default == DType.INT8  # the int8 scheme's accuracy-preserving algorithms
    ran: dict[str, str] = {}
    if algorithms:
        graph = before_calibration(graph, options, ran)
    with blas_threads(CALIBRATION_BLAS_THREADS):
        cal = calibrate(graph, options.calibration, options.method, options.batch_size,
                        patches=patch_samples(graph, options) if algorithms else 0,
                        outputs=output_samples(graph, options) if algorithms else 0)
    f = cal.graph  # the lowered copy, float: what the algorithms change and every build quantizes

    def build(io: DType | None = None, quiet: bool = True) -> Graph:
        """``f`` as it is now, in QDQ form (a copy: ``f`` stays float)."""
        q = f.copy()
        precision = plan_precision(q, default, tuple(options.keep_float), tuple(options.int16)) if mixed else None
        kio = DType.INT8 if io == DType.UINT8 else io
        plan = _Planner(q, cal.ranges, options.per_tensor, precision=precision, io=kio, quiet=quiet).run()
        _check_io(q, plan, kio, options.io)
        rewrite(q, plan, io)
        if precision is not None:  # integer-rule nodes kept float: the TFLite lowering must not fuse them
            floats = [n.name for n in q.nodes if id(n) in precision.types and precision.types[id(n)] is None
                      and op_spec(n.op).quant in INTEGER_RULES]
            if floats:
                q.metadata[FLOAT_NODES] = json.dumps(floats)
        return q

    if algorithms:
        with blas_threads(CALIBRATION_BLAS_THREADS):
            after_calibration(f, build, options, ran, cal)
    g = build(io, quiet=False)
    g.metadata["quantization"] = scheme_name
    if algorithms:
        g.metadata["quantization_algorithms"] = report_line(ran)
    g.verify()
    return g


def _check_io(g: Graph, plan: QdqPlan, io: DType | None, name: str) -> None:
    """Integer model outputs must be in the io type (a graph output written by an int16 op cannot be
    an int8 output): QuantizationError naming the Keras layer."""
    if io is None:
        return
    for v in g.outputs:
        p = plan.acts.get(id(v))
        if p is not None and p.qtype != io:
            where = v.producer.where() if v.producer is not None else repr(v.name)
            raise QuantizationError(f"--io {name}: model output {v.name!r} is {(p.qtype or DType.INT8).value} "
                                    f"({where}); use --io float or --io {(p.qtype or DType.INT8).value}")


def quantize_int8(graph: Graph, options: QuantizeOptions) -> Graph:
    """The "int8" scheme (``keep_float`` / ``int16`` layers honoured, the accuracy-preserving
    algorithms of ``quantize/algorithms.py`` run): a new graph in QDQ form."""
    return quantize_full(graph, options, DType.INT8)


register_scheme("int8")(quantize_int8)


def summary(graph: Graph) -> dict[str, object]:
    """What a quantized graph holds: quantized activation values (Quantize nodes), int8 and float16
    weight tensors, the Keras layers of the ops kept float (QuantRule.FLOAT; in a full-integer graph
    every op the TFLite emitter does not write as an integer kernel: ``keep_float`` layers, ops without
    a 16x8 kernel), in a full-integer graph the layers whose ops run 16x8 (``int16_layers``), and which
    accuracy-preserving algorithms ran (``algorithms``: one line, empty for other schemes)."""
    kept: list[str] = []
    wide: list[str] = []
    if graph.metadata.get("quantization") in ("int8", "int16x8"):
        kept, wide = layer_precisions(graph)
    else:
        for n in graph.nodes:
            if op_spec(n.op).quant == QuantRule.FLOAT:
                name = str(n.origin) if n.origin else n.name
                if name not in kept:
                    kept.append(name)
    return {"quantized_values": sum(1 for n in graph.nodes if n.op == "Quantize"),
            "int8_weights": sum(1 for v in graph.constants() if v.quant is not None and v.dtype == DType.INT8),
            "float16_weights": sum(1 for v in graph.constants() if v.dtype == DType.FLOAT16),
            "kept_float": kept, "int16_layers": wide,
            "algorithms": str(graph.metadata.get("quantization_algorithms", ""))}


__all__ = ["IO_TYPES", "quantize_int8", "summary"]
