"""Weight-only quantized IR → TFLite: hybrid (dynamic-range) kernels and float16 weights.

The weight-only schemes (``quantize/weights_only.py``) store constants as int8 or float16 behind a
Dequantize of the constant; the op that reads it keeps float activations. The TFLite converter writes
such models this way, and so does this lowering, applied by the emitter node by node
(:meth:`WeightStorage.emit`, after the integer lowering of ``integer.py`` has declined the node):

* **int8 weights** (a Dequantize of an integer constant read only as the weight input — the spec's
  ``WeightAxes.input`` — of nodes whose data input is float, not a Dequantize's): a node whose
  builtin has a hybrid kernel (:data:`HYBRID_OPS`: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED,
  which LiteRT and keras2edge.runtime run with int8 weights and float32 activations) is emitted on
  a substitute node reading the int8 constant: its tensor holds the integers and their
  QuantizationParameters, the per-channel axis moved with the weight's layout (OHWI axis 0 for
  CONV_2D, axis 3 for DEPTHWISE_CONV_2D, (N, K) axis 0 for FULLY_CONNECTED), and no DEQUANTIZE is
  written. FULLY_CONNECTED gets ``asymmetric_quantize_inputs`` (as the converter writes it: version 9
  per tensor, 12 per channel); CONV_2D is version 2 per tensor, 5 per channel; DEPTHWISE_CONV_2D 6
  (``versions.py``): its LiteRT kernel indexes the scales by channel, so per-tensor weights are
  written with their one scale repeated per channel (the same values). Other readers (TRANSPOSE_CONV: the converter writes it hybrid too, but
  keras2edge.runtime has no hybrid TRANSPOSE_CONV kernel) read the dequantized float32 weights,
  exactly the values the IR's Dequantize gives.
* **float16 constants** (a Dequantize of a float16 constant): every reader is emitted on a substitute
  node reading the float16 constant (in the reader's own layout), and each float16 constant tensor
  an operator would read becomes a float16 buffer → DEQUANTIZE (version 3) → a float32 tensor, one per
  constant tensor, shared by its readers: the converter's float16 mode.

The Dequantize nodes themselves are then not written. A Dequantize read in any other way (a graph
output, an int8 activation) is left to its ordinary emitter (DEQUANTIZE).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ...ir.dtypes import DType
from ...ir.graph import Graph
from ...ir.node import Node
from ...ir.ops import op_spec
from ...ir.quant import QuantParams
from ...ir.value import Value
from ...runtime.codes import TENSOR_TYPE_CODES

if TYPE_CHECKING:
    from .emitter import EmitFn, TFLiteContext

#: IR ops whose TFLite builtin runs int8 weights with float32 activations (LiteRT's hybrid kernels,
#: keras2edge.runtime/kernels/hybrid.py).
HYBRID_OPS = frozenset({"Conv2D", "DepthwiseConv2D", "FullyConnected"})
#: Hybrid ops whose LiteRT kernel reads one filter scale per output channel (DEPTHWISE_CONV_2D's
#: EvalHybridPerChannel): per-tensor weights are written with their scale repeated per channel.
PER_CHANNEL_ONLY = frozenset({"DepthwiseConv2D"})
#: Hybrid builtins whose options say how the float input is quantized on the fly: the converter
#: writes ``asymmetric_quantize_inputs`` true.
ASYMMETRIC_INPUTS = frozenset({"FULLY_CONNECTED", "BATCH_MATMUL"})

_FLOAT16 = TENSOR_TYPE_CODES[np.dtype(np.float16)]
_FLOAT32 = TENSOR_TYPE_CODES[np.dtype(np.float32)]
_INT8 = TENSOR_TYPE_CODES[np.dtype(np.int8)]


def _const_dq(v: Value | None) -> Node | None:
    """The Dequantize of a constant producing ``v``, if any."""
    p = None if v is None else v.producer
    if p is None or p.op != "Dequantize" or p.inputs[0] is None or not p.inputs[0].is_const:
        return None
    return p


def _hybrid_slot(node: Node, index: int) -> bool:
    """Input ``index`` of ``node`` is its weight input and its data input is float (not dequantized)."""
    spec = op_spec(node.op)
    x = node.inputs[0]
    return (spec.weights is not None and spec.weights.input == index and x is not None and x.dtype.is_float
            and (x.producer is None or x.producer.op != "Dequantize"))


class WeightStorage:
    """Which Dequantize nodes of one (lowered) graph are storage of int8 or float16 constants, and the
    nodes that read them; the emitter asks it about every node in order.

    Args:
        graph: the graph being emitted (after ``lowering.lower``).
    """

    def __init__(self, graph: Graph) -> None:
        outputs = {id(v) for v in graph.outputs}
        self.stored: dict[int, Node] = {}    # id(Dequantize output) -> the Dequantize
        self.readers: set[int] = set()        # nodes emitted on a substitute
        for node in graph.nodes:
            if node.op != "Dequantize" or _const_dq(node.output) is None or id(node.output) in outputs:
                continue
            dq = node
            c = dq.inputs[0]
            assert c is not None
            uses = node.output.uses
            if c.dtype != DType.FLOAT16 and not all(_hybrid_slot(n, i) for n, i in uses):
                continue  # an integer tensor read as data: the integer lowering's (or DEQUANTIZE)
            self.stored[id(node.output)] = node
            self.readers.update(id(n) for n, _ in uses)
        self._absorbed = {id(dq) for dq in self.stored.values()}
        self._float: dict[int, Value] = {}       # id(int8 constant) -> its dequantized float32 twin
        self._dequantized: dict[int, int] = {}   # float16 tensor -> the float32 tensor DEQUANTIZE writes

    def emit(self, ctx: TFLiteContext, node: Node, emit_fn: Callable[[Node], EmitFn]) -> bool:
        """Emit ``node`` if it is storage or reads storage (True), else leave it to its emitter (False)."""
        if id(node) in self._absorbed:
            return True
        if id(node) not in self.readers:
            return False
        inputs = [self._stored_input(node, v) for v in node.inputs]
        sub = Node(node.op, node.name, inputs, list(node.outputs), dict(node.attrs), node.origin)
        first = len(ctx.ops)
        emit_fn(node)(ctx, sub)
        self._finish(ctx, first)
        return True

    def _stored_input(self, node: Node, v: Value | None) -> Value | None:
        """What the substitute of ``node`` reads for input ``v``: the stored constant where it can."""
        dq = None if v is None else self.stored.get(id(v))
        if dq is None:
            return v
        c = dq.inputs[0]
        assert c is not None and c.const is not None
        if c.dtype == DType.FLOAT16:
            return c
        if node.op in HYBRID_OPS:
            q = c.quant
            spec = op_spec(node.op)
            if node.op in PER_CHANNEL_ONLY and q is not None and q.axis is None and spec.weights is not None:
                axis = spec.weights.out_axis   # one scale written once per channel: the same values
                q = QuantParams.per_channel(np.full(c.const.shape[axis], q.scale[0], np.float32), axis, q.qtype)
                return Value(c.name, c.dtype, tuple(c.shape), const=c.const, quant=q)
            return c
        if id(c) not in self._float:  # no hybrid kernel: the float32 weights the Dequantize gives
            data = op_spec("Dequantize").evaluate([c.const], dict(dq.attrs))[0]
            self._float[id(c)] = Value(c.name, DType.FLOAT32, tuple(data.shape), const=data)
        return self._float[id(c)]

    def _finish(self, ctx: TFLiteContext, first: int) -> None:
        """The operators written since ``first``: float16 constant inputs read through a DEQUANTIZE,
        hybrid options as the converter writes them."""
        for p in list(ctx.ops[first:]):
            if p.op == "DEQUANTIZE":
                continue
            for k, t in enumerate(p.inputs):
                if t >= 0 and ctx.tensors[t].type == _FLOAT16 and ctx.tensors[t].buffer:
                    p.inputs[k] = self._dequantize(ctx, t, first)
            ins = [ctx.tensors[t] if t >= 0 else None for t in p.inputs]
            if (p.op in ASYMMETRIC_INPUTS and p.options is not None and len(ins) > 1 and ins[0] is not None
                    and ins[1] is not None and ins[0].type == _FLOAT32 and ins[1].type == _INT8):
                p.options["asymmetric_quantize_inputs"] = True

    def _dequantize(self, ctx: TFLiteContext, t16: int, at: int) -> int:
        """The float32 tensor of float16 constant tensor ``t16`` (a DEQUANTIZE placed at ``at``, once)."""
        if t16 not in self._dequantized:
            src = ctx.tensors[t16]
            out = ctx.tmp(src.shape, DType.FLOAT32, "dequantized")
            op = ctx.add("DEQUANTIZE", [t16], [out])
            ctx.ops.remove(op)
            ctx.ops.insert(at, op)
            self._dequantized[t16] = out
        return self._dequantized[t16]


__all__ = ["ASYMMETRIC_INPUTS", "HYBRID_OPS", "PER_CHANNEL_ONLY", "WeightStorage"]
