"""RecoverHardSwishPass: the elementwise chains that spell x * relu6(x + 3) / 6 become one HardSwish."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Graph
from ..node import Node
from ..value import Value
from .base import Pass
from .rewrite import replace_value

_SIXTH = 1.0 / 6.0


@dataclass
class _Match:
    x: Value
    chain: list[Node]   # every node of the pattern, the last one produces the HardSwish value


class RecoverHardSwishPass(Pass):
    """Replace a hard-swish chain by ``HardSwish(x)`` (one op in both formats, 1 kernel instead of 4).

    The forms, as Keras writes them (``c`` a constant operand on either side; ``3`` and ``6``
    exact, ``1/6`` as float32 rounds it):
      * tf_keras MobileNetV3 ``Multiply()([x, ReLU(6.)(x + 3.) * (1. / 6.)])`` and the same code
        in Keras 3 (``x + 3.`` and ``* (1/6)`` saved as operations):
        ``Mul(x, Mul(Relu6(Add(x, 3)), 1/6))``, the scale also as ``Div(_, 6)``;
      * ``x * tf.nn.relu6(x + 3.) * (1. / 6.)`` (left to right): ``Mul(Mul(x, Relu6(Add(x, 3))), 1/6)``
        or ``Div(_, 6)``;
      * Keras 3 ``x * hard_sigmoid(x)`` (its hard_sigmoid is relu6(x + 3) / 6, imported as
        ``Relu0To1(x * 1/6 + 0.5)``): ``Mul(x, Relu0To1(Add(Mul(x, 1/6), 0.5)))``.
    Multiplication operands may come in either order. The HardSwish takes the origin (Keras
    layer) and the name of the chain's last node output.

    Declines when: a constant differs (say ``x + 2``, or 0.2 for Keras 2's hard_sigmoid), is not
    a single float value, or would broadcast ``x`` to a bigger shape; the two ``x`` are different
    values; an intermediate value has another use or is a graph output (it would have to stay);
    any value is not float or carries quantization parameters.
    """

    def run(self, graph: Graph) -> bool:
        changed = False
        for node in list(graph.nodes):   # a match removes only its own anchor, never a later one
            if node.op not in ("Relu6", "Relu0To1"):
                continue
            match = _match_relu6(graph, node) if node.op == "Relu6" else _match_hard_sigmoid(graph, node)
            if match is not None:
                _rewrite(graph, match)
                changed = True
        return changed


def _rewrite(graph: Graph, m: _Match) -> None:
    last = m.chain[-1]
    hs = graph.add_node("HardSwish", [m.x], origin=last.origin, before=last)
    replace_value(graph, last.output, hs.output, take_name=True)
    for node in reversed(m.chain):
        graph.remove_node(node)


# ---------------------------------------------------------------------------- matching

def _float(v: Value | None) -> bool:
    return v is not None and v.dtype.is_float and v.quant is None


def _scalar(v: Value | None) -> float | None:
    """The value of a single-element float constant, else None."""
    if not _float(v) or not v.is_const or v.const.size != 1:  # type: ignore[union-attr]
        return None
    return float(np.asarray(v.const).reshape(-1)[0])


def _is(v: Value | None, target: float) -> bool:
    c = _scalar(v)
    return c is not None and bool(np.float32(c) == np.float32(target))


def _split(node: Node, op: str) -> tuple[Value, Value] | None:
    """The two operands of a binary ``op`` node whose inputs are float values, else None."""
    if node.op != op or len(node.inputs) != 2 or not all(_float(v) for v in node.inputs):
        return None
    return node.inputs[0], node.inputs[1]  # type: ignore[return-value]


def _operand_with_const(node: Node, op: str, const: float) -> Value | None:
    """For ``op(v, const)`` or ``op(const, v)`` (a commutative op), ``v``."""
    pair = _split(node, op)
    if pair is None:
        return None
    a, b = pair
    if _is(b, const) and not a.is_const:
        return a
    if _is(a, const) and not b.is_const:
        return b
    return None


def _only_consumer(graph: Graph, v: Value) -> Node | None:
    """The node using ``v`` if it is its one use and ``v`` is an intermediate (not a graph output)."""
    if len(v.uses) != 1 or graph.is_output(v) or not _float(v):
        return None
    return v.uses[0][0]


def _sixth_of(node: Node) -> Value | None:
    """``v`` when ``node`` is ``v * (1/6)`` (either order) or ``v / 6``, else None."""
    v = _operand_with_const(node, "Mul", _SIXTH)
    if v is not None:
        return v
    pair = _split(node, "Div")
    return pair[0] if pair is not None and _is(pair[1], 6.0) and not pair[0].is_const else None


def _feeder(graph: Graph, v: Value | None, node: Node) -> Node | None:
    """The producer of ``v`` when ``node`` is the only consumer of ``v``, else None."""
    if v is None or v.producer is None or _only_consumer(graph, v) is not node:
        return None
    return v.producer


def _times(node: Node, v: Value, x: Value) -> bool:
    """Whether ``node`` is ``v * x`` or ``x * v``."""
    pair = _split(node, "Mul")
    return pair is not None and {id(pair[0]), id(pair[1])} == {id(v), id(x)} and v is not x


def _same_shape(m: _Match) -> _Match | None:
    """The match if its result has exactly ``x``'s dtype and shape (no broadcast), else None."""
    y = m.chain[-1].output
    if y.dtype != m.x.dtype or tuple(y.shape) != tuple(m.x.shape):
        return None
    return m


def _match_relu6(graph: Graph, relu6: Node) -> _Match | None:
    """``x * relu6(x + 3) * (1/6)`` in either association, anchored at the Relu6."""
    add = _feeder(graph, relu6.inputs[0], relu6)
    x = None if add is None else _operand_with_const(add, "Add", 3.0)
    step = _only_consumer(graph, relu6.output)
    last = None if step is None else _only_consumer(graph, step.output)
    if x is None or step is None or last is None:
        return None
    if _sixth_of(step) is relu6.output and _times(last, step.output, x):          # x * (relu6 * 1/6)
        return _same_shape(_Match(x, [add, relu6, step, last]))  # type: ignore[list-item]
    if _times(step, relu6.output, x) and _sixth_of(last) is step.output:          # (x * relu6) * 1/6
        return _same_shape(_Match(x, [add, relu6, step, last]))  # type: ignore[list-item]
    return None


def _match_hard_sigmoid(graph: Graph, clamp: Node) -> _Match | None:
    """Keras 3 ``x * hard_sigmoid(x)``: ``Mul(x, Relu0To1(Add(Mul(x, 1/6), 0.5)))``."""
    add = _feeder(graph, clamp.inputs[0], clamp)
    scale = None if add is None else _feeder(graph, _operand_with_const(add, "Add", 0.5), add)
    x = None if scale is None else _sixth_of(scale)
    last = _only_consumer(graph, clamp.output)
    if x is None or last is None or not _times(last, clamp.output, x):
        return None
    return _same_shape(_Match(x, [scale, add, clamp, last]))  # type: ignore[list-item]
