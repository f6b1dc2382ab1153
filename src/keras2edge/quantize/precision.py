"""Per-layer precision of a quantized graph (mixed precision): each node's activation type.

Inputs: the scheme's default type (int8 for ``"int8"``, int16 for ``"int16x8"``) and
:class:`~keras2edge.quantize.schemes.QuantizeOptions`' ``keep_float`` / ``int16``, globs on Keras layer
names (``node.origin.layer``, matched with :func:`fnmatch.fnmatchcase`). Output: a :class:`Precision`,
node -> ``DType.INT8``, ``DType.INT16`` or None (float), and why each node not at the requested type is
there. The rules, in order:

* an op whose ``QuantRule`` is FLOAT, INDEX or BOUNDARY is not an integer kernel: None;
* a node of a ``keep_float`` layer: None (the user's choice);
* a node of an ``int16`` layer, or any node when the default is int16: int16 when every builtin the
  TFLite emitter writes for it has a 16x8 kernel in TFLite Micro and LiteRT
  (:func:`keras2edge.check.support.int16_kernel`, the probed facts) and, for a FIXED_OUTPUT op, its
  spec declares the 16x8 output (``fixed_output16``); else None, with a warning naming the Keras layer;
* otherwise the default.

The builtins of each node come from the float graph's own emission (``emit_tflite``: the operators
between the node's input tensors and its output tensor), so no second table of "IR op -> builtin"
exists. A glob that matches no layer is a QuantizationError naming it and a few layer names.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass, field

from ..errors import QuantizationError
from ..ir.dtypes import DType
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.ops import op_spec
from ..ir.ops.core import QuantRule

log = logging.getLogger(__name__)

#: Rules whose ops run as integer kernels (the others stay float or carry indices).
INTEGER_RULES = frozenset({QuantRule.PER_CHANNEL_WEIGHTS, QuantRule.OWN_SCALE, QuantRule.SAME_SCALE,
                           QuantRule.FIXED_OUTPUT})


@dataclass
class Precision:
    """Each node's activation type (by ``id(node)``); None: float."""

    default: DType
    types: dict[int, DType | None] = field(default_factory=dict)
    no_int16: list[str] = field(default_factory=list)  # layers asked int16 that stay float (no 16x8 kernel)

    def of(self, node: Node) -> DType | None:
        """The type ``node`` computes in (None: float)."""
        return self.types.get(id(node), None)


def _layer(node: Node) -> str | None:
    return node.origin.layer if node.origin is not None else None


def match_layers(graph: Graph, globs: tuple[str, ...], option: str) -> set[str]:
    """The Keras layer names of ``graph`` matched by ``globs``; QuantizationError for a glob that matches
    none (naming ``option``, the glob and a few layer names)."""
    layers = list(dict.fromkeys(name for n in graph.nodes if (name := _layer(n)) is not None))
    matched: set[str] = set()
    for glob in globs:
        hits = [name for name in layers if fnmatch.fnmatchcase(name, glob)]
        if not hits:
            few = ", ".join(layers[:8]) + (f", ... ({len(layers)} in all)" if len(layers) > 8 else "")
            raise QuantizationError(f"{option} {glob!r} matches no Keras layer of graph {graph.name!r}; "
                                    f"its layers: {few or '(none)'}")
        matched.update(hits)
    return matched


def node_builtins(graph: Graph) -> dict[int, tuple[str, ...]]:
    """id(node) -> the TFLite builtins the emitter writes for it, read from the float graph's emission
    (an operator writing a tensor no IR value maps to belongs to the next node that writes one)."""
    from ..check.support import op_name
    from ..convert.tflite import emit_tflite

    emission = emit_tflite(graph)
    producer = {v.name: n for n in emission.graph.nodes for v in n.outputs}
    by_tensor: dict[int, Node] = {}
    for name, t in emission.values.items():
        if name in producer:
            by_tensor[t.index] = producer[name]
    same = {n.name: n for n in graph.nodes}  # the emission's graph is a copy: nodes by name
    out: dict[int, list[str]] = {}
    pending: list[str] = []
    model = emission.model
    for op in model.subgraphs[0].operators:
        pending.append(op_name(model, op.opcode_index))
        owner = next((by_tensor[i] for i in op.outputs if i in by_tensor), None)
        if owner is None:
            continue
        target = same.get(owner.name)
        if target is not None:
            out.setdefault(id(target), []).extend(pending)
        pending = []
    return {k: tuple(v) for k, v in out.items()}


def plan_precision(graph: Graph, default: DType, keep_float: tuple[str, ...] = (),
                   int16: tuple[str, ...] = ()) -> Precision:
    """Each node's type by the module's rules (``graph``: the lowered float graph to quantize)."""
    from ..check.support import int16_kernel

    floats = match_layers(graph, keep_float, "--keep-float")
    wide = match_layers(graph, int16, "--int16")
    prec = Precision(default)
    builtins: dict[int, tuple[str, ...]] | None = None
    for node in graph.nodes:
        spec = op_spec(node.op)
        layer = _layer(node)
        if spec.quant not in INTEGER_RULES or layer in floats:
            prec.types[id(node)] = None
            continue
        t = DType.INT16 if layer in wide else default
        if t == DType.INT16:
            if builtins is None:
                builtins = node_builtins(graph)
            missing = [b for b in builtins.get(id(node), ()) if not int16_kernel(b)]
            if spec.quant == QuantRule.FIXED_OUTPUT and spec.fixed_output16 is None:
                missing.append(f"{node.op} without a 16x8 output rule")
            if missing:
                log.warning("%s has no 16x8 kernel in TFLite Micro and LiteRT (%s): kept float between DEQUANTIZE "
                            "and QUANTIZE", node.where(), ", ".join(dict.fromkeys(missing)))
                name = str(node.origin) if node.origin is not None else node.name
                if name not in prec.no_int16:
                    prec.no_int16.append(name)
                t = None
        prec.types[id(node)] = t
    return prec


def layer_precisions(graph: Graph) -> tuple[list[str], list[str]]:
    """(float layers, int16 layers) of a full-integer QDQ graph, as the TFLite emitter writes it: a node
    the integer lowering fuses into an int16 kernel is int16; an integer-rule or FLOAT-rule node it does
    not fuse is float (Keras layers as ``name (Class)``, in graph order; a recurrent layer's unrolled
    nodes may put it in both lists)."""
    from ..convert.tflite.integer import IntegerLowering

    lowering = IntegerLowering(graph)
    floats: list[str] = []
    wide: list[str] = []
    for node in graph.nodes:
        rule = op_spec(node.op).quant
        if rule not in INTEGER_RULES and rule != QuantRule.FLOAT:
            continue
        quants = lowering.fused.get(id(node))
        target = floats if quants is None else wide if any(q.output.dtype == DType.INT16 for q in quants) else None
        name = str(node.origin) if node.origin is not None else node.name
        if target is not None and name not in target:
            target.append(name)
    return floats, wide


__all__ = ["INTEGER_RULES", "Precision", "layer_precisions", "match_layers", "node_builtins", "plan_precision"]
