"""QDQ IR graph → integer TFLite operators: which nodes the TFLite emitter writes as int8/int16 kernels.

A quantized IR graph is in QDQ form (``ir.quant``; quantize/schemes.py): integer constants and values
appear only between a Quantize and a Dequantize. The TFLite converter writes such a model with integer
kernels, and so does this lowering, applied by the emitter node by node (:meth:`IntegerLowering.emit`):

* **fused op**: a node N whose op's quantization rule (its spec's ``QuantRule``: PER_CHANNEL_WEIGHTS,
  OWN_SCALE, SAME_SCALE, FIXED_OUTPUT) has an integer kernel, whose float inputs all come from
  Dequantize nodes (integer index inputs allowed) and whose every output is read by exactly one
  Quantize, is emitted by its ordinary emitter on a substitute node: inputs = the Dequantize nodes'
  integer inputs (weights and biases keep their integer data and ``quant``), outputs = the Quantize
  nodes' integer outputs. A fused activation stays in ``fused_activation_function``: the integer
  kernels clamp it within the output's range, as the converter writes it.
* Quantize of a float value → QUANTIZE; Dequantize read by anything else → DEQUANTIZE; Dequantize →
  Quantize → QUANTIZE int → int (requantize), or nothing when the parameters are identical.
* uint8 (graph inputs and outputs): the integer kernels are int8, so a uint8 value read by a fused
  op goes through QUANTIZE uint8 → int8 (same scale, zero point − 128) and a fused op that writes a
  uint8 value writes int8 then QUANTIZE int8 → uint8, as the converter does.
* What the kernels require and the QDQ graph does not guarantee is made explicit by a requantize
  (QUANTIZE int → int, int8-arithmetic.md §1; a constant is requantized here, as the converter does
  offline): SAME_SCALE ops read their inputs and write all outputs in their first output's parameters;
  FIXED_OUTPUT ops (int8) write their fixed parameters (the spec's ``fixed_output``); a Quantize of
  other parameters follows.
* int8 and int16 activations meeting in one op (a mixed graph without its requantize): no kernel takes
  both, so an op without weights is computed in float between DEQUANTIZE and QUANTIZE, and a weight
  op is refused.
* CONV_2D and DEPTHWISE_CONV_2D without a bias get a zero bias (int32, int64 for 16x8) with scale
  s_in·s_w[c], as the converter writes.

* Nodes a mixed-precision scheme keeps float (listed by name in the graph's metadata under
  :data:`FLOAT_NODES`, a JSON list: a ``keep_float`` layer, an op without a 16x8 kernel) are never
  fused, even between Dequantize and Quantize: they run float between DEQUANTIZE and QUANTIZE.

A per-channel Quantize of an activation, or a per-channel Dequantize feeding an activation input, has no
TFLite form: UnsupportedOpError naming the node and its Keras layer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ...errors import UnsupportedOpError
from ...ir.dtypes import DType
from ...ir.graph import Graph
from ...ir.node import Node
from ...ir.ops import QuantRule, op_spec
from ...ir.ops.core import INTEGER_RULES
from ...ir.ops.quant import round_half_away
from ...ir.quant import QUANT_RANGES, QuantParams
from ...ir.value import Value

if TYPE_CHECKING:
    from .emitter import EmitFn, TFLiteContext

#: Ops whose emitter writes a zero bias when there is none (the converter does: ops_conv._bias_or_zeros).
ZERO_BIAS_OPS = frozenset({"Conv2D", "DepthwiseConv2D"})
#: Ops whose TFLite emitter composes float arithmetic (ops_normalization: BatchNorm as MUL and ADD of
#: computed scales): never an integer kernel, even between Dequantize and Quantize.
FLOAT_COMPOSED = frozenset({"BatchNorm"})
#: Graph metadata key: a JSON list of the names of nodes that stay float (never fused; see the module).
FLOAT_NODES = "quantization.float_nodes"
#: Bias type of a PER_CHANNEL_WEIGHTS op by activation type (int8: int32; 16x8: int64).
BIAS_TYPES = {DType.INT8: DType.INT32, DType.INT16: DType.INT64}


def _dq(v: Value | None) -> Node | None:
    """The Dequantize node producing ``v``, if any."""
    p = None if v is None else v.producer
    return p if p is not None and p.op == "Dequantize" else None


def _quantize_user(v: Value) -> Node | None:
    """The single Quantize reading ``v`` (and nothing else reads it), else None."""
    if len(v.uses) != 1:
        return None
    node, _ = v.uses[0]
    return node if node.op == "Quantize" else None


def transformed_quant(q: QuantParams, shape: tuple[int, ...],
                      fn: Callable[[np.ndarray], np.ndarray]) -> QuantParams | None:
    """``q`` for the array ``fn`` makes of a constant of ``shape`` (a layout change: transpose, reshape):
    per-channel parameters follow their axis; None when the channels do not stay along one axis."""
    if q.axis is None:
        return q
    probe_shape = [1] * len(shape)
    probe_shape[q.axis] = -1
    probe = np.broadcast_to(np.arange(q.channels).reshape(probe_shape), shape)
    moved = np.asarray(fn(probe))
    for a, n in enumerate(moved.shape):
        if n != q.channels:
            continue
        ref = [1] * moved.ndim
        ref[a] = -1
        if np.array_equal(moved, np.broadcast_to(np.arange(n).reshape(ref), moved.shape)):
            return QuantParams(q.scale, q.zero_point, a, q.qtype)
    return None


def _kernel_type(dtype: DType) -> DType:
    """The type an integer kernel computes a value of ``dtype`` in (uint8 goes through int8)."""
    return DType.INT8 if dtype == DType.UINT8 else dtype


def _as_int8(q: QuantParams) -> QuantParams:
    """uint8 parameters as the int8 ones of the same real values (zero point − 128)."""
    return QuantParams(q.scale, q.zero_point - 128, q.axis, DType.INT8)


class IntegerLowering:
    """The integer plan of one (lowered) graph; the emitter asks it about every node in order.

    Args:
        graph: the graph being emitted (after ``lowering.lower``).
    """

    def __init__(self, graph: Graph) -> None:
        from .emitter import TFLITE_OWNER  # the emitter imports this module: its owner is read at run time

        self.graph = graph
        self.owner = TFLITE_OWNER
        self._outputs = {id(v) for v in graph.outputs}
        self.fused: dict[int, list[Node]] = {}      # fused op -> the Quantize of each output
        self.absorbed: set[int] = set()             # Quantize nodes written by their fused producer
        self._twins: dict[tuple[int, QuantParams, DType], Value] = {}  # requantized values and constants
        self.float_nodes = frozenset(json.loads(graph.metadata.get(FLOAT_NODES, "[]")))
        # The Quantize value a fused op writes -> the op's float output, whose name its tensor takes (the
        # file never holds that value), so an unrolled layer's tensors are not all suffixed "/Quantize".
        self.stands_for: dict[int, Value] = {}
        for node in graph.nodes:
            quants = self._fusable(node)
            if quants is not None:
                self.fused[id(node)] = quants
                self.absorbed.update(id(q) for q in quants)
                self.stands_for.update((id(q.output), v) for v, q in zip(node.outputs, quants)
                                       if id(q.output) not in self._outputs)
        # A Dequantize is emitted only when something other than a fused op or a requantize reads it.
        self.folded_dq: set[int] = set()
        for node in graph.nodes:
            if node.op != "Dequantize" or id(node.output) in self._outputs:
                continue
            if all(id(user) in self.fused or user.op == "Quantize" for user, _ in node.output.uses):
                self.folded_dq.add(id(node))

    # ------------------------------------------------------------------ planning
    def _fusable(self, node: Node) -> list[Node] | None:
        """The Quantize nodes of ``node``'s outputs when it is emitted as an integer kernel, else None."""
        spec = op_spec(node.op)
        if spec.quant not in INTEGER_RULES or node.op in FLOAT_COMPOSED or node.name in self.float_nodes:
            return None
        float_ins = [v for v in node.inputs if v is not None and v.dtype.is_float]
        if not float_ins or not all(_dq(v) is not None for v in float_ins):
            return None
        quants = []
        for v in node.outputs:
            q = _quantize_user(v) if v.dtype.is_float and id(v) not in self._outputs else None
            if q is None or q.output.dtype not in (DType.INT8, DType.UINT8, DType.INT16):
                return None
            quants.append(q)
        weights = set(range(1, len(node.inputs))) if spec.quant == QuantRule.PER_CHANNEL_WEIGHTS else set()
        if not self._inputs_fit(node, weights):
            return None
        for v, q in zip(node.outputs, quants):
            axis = q.attrs["quant"].axis
            if axis is not None:
                raise UnsupportedOpError(self.owner, f"its output {v.name!r} is quantized per channel (axis {axis}); "
                                         "TFLite quantizes activations per tensor", op=node.op, node=node.where())
        types = {_kernel_type(q.output.dtype) for q in quants}
        types |= {_kernel_type(dq.inputs[0].dtype) for k, v in enumerate(node.inputs)  # type: ignore[union-attr]
                  if k not in weights and (dq := _dq(v)) is not None}
        if len(types) > 1:  # int8 and int16 activations meet: no kernel takes both
            if weights:
                mix = " and ".join(sorted(t.value for t in types))
                raise UnsupportedOpError(self.owner, f"its activations mix {mix}; a quantized graph requantizes "
                                         "(Dequantize → Quantize) between regions of different types", op=node.op,
                                         node=node.where())
            return None  # computed in float between DEQUANTIZE and QUANTIZE
        return quants

    def _inputs_fit(self, node: Node, weights: set[int]) -> bool:
        """Weights are constants; activations are dequantized per tensor (else UnsupportedOpError)."""
        for k, v in enumerate(node.inputs):
            dq = _dq(v)
            if dq is None or v is None:
                continue
            src = dq.inputs[0]
            const = src is not None and src.is_const
            axis = dq.attrs["quant"].axis
            if axis is not None and not (k in weights and const):
                raise UnsupportedOpError(self.owner, f"input {k} ({v.name!r}) is dequantized per channel "
                                         f"(axis {axis}); TFLite's integer kernels take per-tensor activations",
                                         op=node.op, node=node.where())
            if k in weights and not const:
                return False  # computed weights: left to the float path
        return True

    # ------------------------------------------------------------------ emission
    def emit(self, ctx: TFLiteContext, node: Node, emit_fn: Callable[[Node], EmitFn]) -> bool:
        """Emit ``node`` if the integer plan decides how (True), else leave it to its emitter (False)."""
        if id(node) in self.absorbed or id(node) in self.folded_dq:
            return True
        if id(node) in self.fused:
            self._emit_fused(ctx, node, emit_fn)
            return True
        if node.op == "Quantize" and _dq(node.inputs[0]) is not None:
            self._emit_requantize(ctx, node)
            return True
        return False

    def _emit_requantize(self, ctx: TFLiteContext, node: Node) -> None:
        """Dequantize → Quantize: QUANTIZE int → int, or the same tensor when nothing changes."""
        dq = _dq(node.inputs[0])
        assert dq is not None and dq.inputs[0] is not None
        src = dq.inputs[0]
        same = dq.attrs["quant"] == node.attrs["quant"] and src.dtype == node.output.dtype
        if same and not src.is_const and id(node.output) not in self._outputs:
            ctx.alias(node.output, ctx.tensor(src))
            return
        ctx.add1("QUANTIZE", [ctx.tensor(src)], ctx.out(node.output))

    def _twin(self, ctx: TFLiteContext, src: Value, q: QuantParams, dtype: DType, what: str) -> Value:
        """A value holding ``src`` requantized to ``q`` as ``dtype`` (one QUANTIZE, made once)."""
        key = (id(src), q, dtype)
        if key not in self._twins:
            twin = Value(f"{src.name}/{what}", dtype, src.shape, quant=q)
            ctx.adopt(twin, src)
            ctx.add1("QUANTIZE", [ctx.tensor(src)], ctx.declare(twin))
            self._twins[key] = twin
        return self._twins[key]

    def _requantize(self, ctx: TFLiteContext, src: Value, q: QuantParams, dtype: DType, what: str) -> Value:
        """``src`` in parameters ``q`` as ``dtype``: a constant is requantized here, as the converter does
        offline; an activation through one QUANTIZE."""
        if src.const is None:
            return self._twin(ctx, src, q, dtype, what)
        key = (id(src), q, dtype)
        if key not in self._twins:
            sq = src.quant
            assert sq is not None and sq.axis is None and q.axis is None
            real = float(sq.scale[0]) * (src.const.astype(np.float64) - int(sq.zero_point[0]))
            lo, hi = QUANT_RANGES[dtype]
            data = np.clip(round_half_away(real / float(q.scale[0])) + int(q.zero_point[0]), lo, hi)
            self._twins[key] = Value(f"{src.name}/{what}", dtype, src.shape, const=data.astype(dtype.np), quant=q)
        return self._twins[key]

    def _int_input(self, ctx: TFLiteContext, v: Value) -> Value:
        """The integer value a fused op reads for input ``v`` (a Dequantize's input, uint8 made int8)."""
        dq = _dq(v)
        if dq is None:
            return v
        src = dq.inputs[0]
        assert src is not None
        if src.dtype == DType.UINT8:
            return self._requantize(ctx, src, _as_int8(dq.attrs["quant"]), DType.INT8, "int8")
        return src

    def _kernel_outputs(self, node: Node) -> list[QuantParams]:
        """The parameters the kernel writes each output in: the Quantize's (uint8 as int8); a FIXED_OUTPUT
        op's fixed int8 parameters; a SAME_SCALE op's outputs all in its first output's."""
        spec = op_spec(node.op)
        params = []
        for q in self.fused[id(node)]:
            qp: QuantParams = q.attrs["quant"]
            if q.output.dtype == DType.UINT8:
                qp = _as_int8(qp)
            if spec.quant == QuantRule.FIXED_OUTPUT and spec.fixed_output is not None and qp.qtype == DType.INT8:
                qp = QuantParams.per_tensor(spec.fixed_output[0], spec.fixed_output[1], DType.INT8)
            if spec.quant == QuantRule.SAME_SCALE and params:
                qp = params[0]
            params.append(qp)
        return params

    def _emit_fused(self, ctx: TFLiteContext, node: Node, emit_fn: Callable[[Node], EmitFn]) -> None:
        spec = op_spec(node.op)
        outs: list[Value] = []
        after: list[tuple[Value, Value]] = []   # (written by the op, the Quantize's value): QUANTIZE after
        for q, qp in zip(self.fused[id(node)], self._kernel_outputs(node)):
            target = q.output
            written = target
            if qp != target.quant or target.dtype != qp.qtype:
                written = Value(f"{target.name}/kernel", qp.qtype or DType.INT8, target.shape, quant=qp)
                ctx.adopt(written, target)
                after.append((written, target))
            outs.append(written)

        inputs: list[Value | None] = []
        for v in node.inputs:
            iv = None if v is None else self._int_input(ctx, v)
            if iv is not None and v is not None and spec.quant == QuantRule.SAME_SCALE and v.dtype.is_float:
                want = outs[0].quant
                assert want is not None and iv.quant is not None
                if iv.quant != want or iv.dtype != outs[0].dtype:
                    iv = self._requantize(ctx, iv, want, outs[0].dtype, "requantized")
            inputs.append(iv)

        attrs = dict(node.attrs)
        if node.op in ZERO_BIAS_OPS and (len(inputs) < 3 or inputs[2] is None):
            inputs = [*inputs[:2], self._zero_bias(node, inputs, outs[0])]
        if node.op == "Pad" and float(attrs.get("value", 0.0)) != 0.0:
            attrs["value"] = self._pad_value(node, float(attrs["value"]), outs[0])
        sub = Node(node.op, node.name, inputs, outs, attrs, node.origin)
        emit_fn(node)(ctx, sub)
        for written, target in after:
            ctx.add1("QUANTIZE", [ctx.tensor(written)], ctx.out(target))

    def _zero_bias(self, node: Node, inputs: list[Value | None], out: Value) -> Value:
        x, w = inputs[0], inputs[1]
        assert x is not None and w is not None and x.quant is not None and w.quant is not None and w.const is not None
        cout = int(w.const.shape[3])
        bias_type = BIAS_TYPES.get(out.dtype)
        if bias_type is None:
            raise UnsupportedOpError(self.owner, f"no integer bias type for {out.dtype.value} activations", op=node.op,
                                     node=node.where())
        scale = np.broadcast_to(w.quant.scale.astype(np.float64) * float(x.quant.scale[0]), (cout,))
        q = QuantParams.per_channel(scale.astype(np.float32), 0, bias_type)
        return Value(f"{node.name}/bias", bias_type, (cout,), const=np.zeros(cout, bias_type.np), quant=q)

    def _pad_value(self, node: Node, value: float, out: Value) -> int:
        """The padding value in the output's integer domain (PADV2's constant)."""
        q = out.quant
        assert q is not None
        lo, hi = QUANT_RANGES[out.dtype]
        qv = int(np.clip(round_half_away(np.float32(value) / q.scale[0]) + q.zero_point[0], lo, hi))
        if qv == 0:
            raise UnsupportedOpError(self.owner, f"padding value {value} quantizes to 0, which the emitter would write "
                                     "as PAD (padding with the zero point)", op=node.op, node=node.where())
        return qv
