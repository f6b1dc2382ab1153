"""Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization", §4.1) on the float graph.

A pair is two weight ops A -> ... -> B (``OpSpec.weights``) where A's output reaches B only through ops
that carry each channel on its own and commute with a positive per-channel scale: f(x * s) = f(x) * s.
That property is read from each op's own semantics, not from a list of names: an op qualifies when its
spec's ``channels`` keeps channel identity (elementwise, window, or an axis op that leaves the channel
count) and its ``evaluate`` passes the scaling probe (:func:`commutes_with_scale`) — Relu, LeakyRelu,
PRelu, MaxPool2D, AveragePool2D, a spatial Mean do; HardSwish, Logistic, Add (a second path) do not;
Relu6 does only under a per-channel condition (below). A's fused activation is probed the same way.

For channel i, with r1_i the range of A's output channel i (``WeightAxes.out_axis``) and r2_i the range
of B's weights reading it (``WeightAxes.in_axis``; a depthwise B, which has none, reads input channel i
with its output channels k // M == i), s_i = sqrt(r1_i * r2_i) / r2_i; A's channel i (weights and bias)
is divided by s_i and B's input channel i multiplied by it. Pairs are swept until no scale moves by
more than :data:`TOLERANCE` (or :data:`MAX_SWEEPS`). conv -> depthwise -> conv chains equalize both
pairs, the depthwise in the middle being B of one and A of the next.

Through a clamp at 0 and H (Relu6, Relu0To1; A's fused activation or a node between; ``OpSpec.clamp``)
scaling is exact only where the clamp at H never acts: clamp(x / s) = clamp(x) / s for every x the
channel can reach iff s = 1 or the channel's reachable maximum hi stays <= H before and after scaling
(hi <= H and hi / s <= H). The paper replaces ReLU6 by ReLU, which changes the model; here the float
function is kept exactly instead: hi is a bound over *every* input, not over calibration data — A's
input comes from a clamp (its producer's ``clamp``, fused or not: [0, 6] after a Relu6), so
hi_i = b_i + sum over A's weights w of max(w * low, w * high) — and a channel whose hi_i > H keeps
s_i = 1 while one with hi_i <= H takes s_i >= hi_i / H (its scaled maximum still fits). A pair through
such a clamp whose A reads an unbounded input (a graph input, a linear layer) is declined, and so is a
clamp that follows another op after A (a Mul by a constant would carry values past A's bound).

Declined (left as they are): a clamp whose low is not 0 (ReluN1To1), a clamp pair without a bound on
A's input or after another op (above), an intermediate value with several uses or that is a graph
output, TransposeConv2D (output channels not on the weight's last
axis), non-constant weights. High-bias absorption, the paper's companion step, runs after this on the
equalized graph (``hba``: from calibration statistics, BatchNorm's being folded away at load).

The graph returned is a copy (weights replaced, never mutated); its float outputs equal the input
graph's within float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..ir.activation import FUSED_ACTIVATIONS, fused_activation
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.ops import op_spec
from ..ir.ops.core import ChannelFlow
from ..ir.value import Value

TOLERANCE = 1e-3
MAX_SWEEPS = 50
_PROBE_SCALES = (0.25, 0.5, 2.0, 4.0)


@dataclass
class Equalization:
    """What CLE did: the pairs equalized (Keras layer names), pairs declined and why, sweeps run."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    declined: dict[str, str] = field(default_factory=dict)
    sweeps: int = 0
    #: Per pair through a clamp (A's Keras layer): channels left at s = 1 because they can reach the clamp.
    clamped: dict[str, int] = field(default_factory=dict)


@lru_cache(maxsize=None)
def _probe_ok(op: str, attrs_key: tuple[tuple[str, object], ...], channels: int) -> bool:
    spec = op_spec(op)
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 10.0, (1, 5, 5, channels)).astype(np.float32)
    s = np.resize(np.array(_PROBE_SCALES, np.float32), channels)
    attrs = {**spec.attrs, **dict(attrs_key)}
    try:
        a = spec.evaluate([x * s], attrs)[0]
        b = spec.evaluate([x], attrs)[0] * s.reshape((1,) * (a.ndim - 1) + (-1,))
    except Exception:  # noqa: BLE001 - an op that cannot run on the probe does not qualify
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-5, atol=1e-4))


def commutes_with_scale(node: Node) -> bool:
    """Whether ``node`` (one activation input, other inputs constant) keeps channels and satisfies
    f(x * s) = f(x) * s for positive per-channel s, by its spec's ``channels`` and ``evaluate``."""
    spec = op_spec(node.op)
    if spec.channels not in (ChannelFlow.ELEMENTWISE, ChannelFlow.WINDOW, ChannelFlow.AXIS):
        return False
    x = node.inputs[0] if node.inputs else None
    if x is None or x.is_const or any(v is not None and not v.is_const for v in node.inputs[1:]):
        return False
    out = node.outputs[0] if len(node.outputs) == 1 else None
    if out is None or not x.shape or not out.shape or x.shape[-1] != out.shape[-1] or x.shape[-1] is None:
        return False
    if len(node.inputs) > 1:  # constant operands (a PRelu alpha): probe with the node's own constants
        return _probe_with_consts(node, int(x.shape[-1]))
    if spec.channels == ChannelFlow.AXIS and len(x.shape) != 4:
        return False  # the probe is NHWC: an axis op on another rank is not probed
    try:
        key = tuple(sorted((k, _hashable(v)) for k, v in node.attrs.items()))
    except TypeError:
        return False
    return _probe_ok(node.op, key, int(x.shape[-1]))


def _hashable(v: object) -> object:
    return tuple(_hashable(i) for i in v) if isinstance(v, (list, tuple)) else v


def _probe_with_consts(node: Node, channels: int) -> bool:
    spec = op_spec(node.op)
    x = np.random.default_rng(0).normal(0.0, 10.0, (1, 5, 5, channels)).astype(np.float32)
    s = np.resize(np.array(_PROBE_SCALES, np.float32), channels)
    consts = [v.const if v is not None else None for v in node.inputs[1:]]
    try:
        a = spec.evaluate([x * s, *consts], dict(node.attrs))[0]
        b = spec.evaluate([x, *consts], dict(node.attrs))[0] * s
    except Exception:  # noqa: BLE001
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-5, atol=1e-4))


def _fused_ok(node: Node) -> bool:
    act = fused_activation(node)
    if act == "none":
        return True
    return _probe_ok(FUSED_ACTIVATIONS[act], (), 8)


def clamp_high(op: str) -> float | None:
    """H of a clamp op at 0 and H (``OpSpec.clamp``), through which scaling is exact per channel under
    the module's condition; None for any other op."""
    clamp = op_spec(op).clamp
    return float(clamp[1]) if clamp is not None and float(clamp[0]) == 0.0 else None


def _fused_clamp(node: Node) -> float | None:
    act = fused_activation(node)
    return clamp_high(FUSED_ACTIVATIONS[act]) if act != "none" else None


def input_bound(node: Node) -> tuple[float, float] | None:
    """(low, high) every value of ``node``'s activation input lies in, for any model input: its
    producer's clamp (a clamp op, or a fused activation that clamps), else None (unbounded)."""
    x = node.inputs[0] if node.inputs else None
    p = x.producer if x is not None else None
    if p is None:
        return None
    act = fused_activation(p)
    clamp = op_spec(FUSED_ACTIVATIONS[act]).clamp if act != "none" else op_spec(p.op).clamp
    return (float(clamp[0]), float(clamp[1])) if clamp is not None else None


def reachable_max(node: Node, w: np.ndarray, bias: np.ndarray | None, bound: tuple[float, float]) -> np.ndarray:
    """Per output channel, the largest pre-activation ``node`` (weights ``w``, output channels last) can
    produce from inputs in ``bound`` (zero padding reads 0, inside every bound containing 0)."""
    lo, hi = bound
    top = np.maximum(w * lo, w * hi)  # each weight's largest contribution (conv, depthwise, dense alike)
    return top.reshape(-1, w.shape[-1]).sum(axis=0) + (bias if bias is not None else 0.0)


def _weight(node: Node) -> Value | None:
    axes = op_spec(node.op).weights
    if axes is None or len(node.inputs) <= axes.input:
        return None
    w = node.inputs[axes.input]
    return w if w is not None and w.is_const and w.const is not None else None


def _single_use(graph: Graph, v: Value) -> Node | None:
    if len(v.uses) != 1 or graph.is_output(v):
        return None
    return v.uses[0][0]


def find_pairs(graph: Graph, result: Equalization | None = None) -> list[tuple[Node, Node]]:
    """Every equalizable (A, B) pair of ``graph`` (see the module); declines recorded in ``result``."""
    return [(a, b) for a, b, _ in _find_pairs(graph, result)]


def _find_pairs(graph: Graph, result: Equalization | None) -> list[tuple[Node, Node, float | None]]:
    """(A, B, H): H the high bound of a clamp at 0 between them (None: none), whose per-channel
    condition :func:`equalize` enforces."""
    pairs = []
    for a in graph.nodes:
        wa = _weight(a)
        axes = op_spec(a.op).weights
        if wa is None or axes is None or axes.out_axis != len(wa.shape) - 1:
            continue
        where = a.origin.layer if a.origin else a.name
        high = _fused_clamp(a)
        if high is None and not _fused_ok(a):
            if result is not None:
                result.declined[where] = f"fused activation {fused_activation(a)} does not commute with scaling"
            continue
        v = a.outputs[0]
        nxt = _single_use(graph, v)
        direct = True  # no op yet between A and a clamp (the bound is on A's own output)
        while nxt is not None and nxt.inputs[0] is v and _weight(nxt) is None:
            h = clamp_high(nxt.op) if len(nxt.inputs) == 1 else None
            if h is not None and not direct:
                break  # a clamp after another op (a Mul by a constant) sees values A's bound does not cover
            if h is not None:
                high = h if high is None else min(high, h)
            elif not commutes_with_scale(nxt):
                break
            else:
                direct = False
            v = nxt.outputs[0]
            nxt = _single_use(graph, v)
        if nxt is not None and _weight(nxt) is not None and nxt.inputs[0] is not v:
            nxt = None  # read as a weight or bias, not as the activation
        if nxt is None or _weight(nxt) is None:
            if result is not None and nxt is not None:
                result.declined[where] = (f"followed by {nxt.op} ({nxt.origin.layer if nxt.origin else nxt.name}), "
                                          "which does not pass a per-channel scale through")
            elif result is not None and not graph.is_output(v):
                result.declined[where] = f"its output {v.name!r} has {len(v.uses)} readers"
            continue
        bx = op_spec(nxt.op).weights
        wb = _weight(nxt)
        if bx is None or wb is None or bx.out_axis != len(wb.shape) - 1:
            continue
        if bx.in_axis is not None and wb.shape[bx.in_axis] != wa.shape[-1]:
            continue  # grouped conv: B's input axis is not A's channel count
        if high is not None and input_bound(a) is None:
            if result is not None:
                result.declined[where] = (f"a clamp at 0 and {high:g} (Relu6 or alike) follows and its input is "
                                          "unbounded: scaling through the clamp is exact only for channels bounded "
                                          "below it")
            continue
        pairs.append((a, nxt, high))
    return pairs


def _out_range(w: np.ndarray) -> np.ndarray:
    return np.abs(w).reshape(-1, w.shape[-1]).max(axis=0)


def _in_range(node: Node, w: np.ndarray, channels: int) -> np.ndarray:
    axes = op_spec(node.op).weights
    a = np.abs(w)
    if axes.in_axis is None:  # type: ignore[union-attr]  # output channel k reads input channel k // M
        per_out = a.reshape(-1, a.shape[-1]).max(axis=0)
        return per_out.reshape(channels, -1).max(axis=1)
    return np.moveaxis(a, axes.in_axis, 0).reshape(channels, -1).max(axis=1)  # type: ignore[union-attr]


def _scale_in(node: Node, w: np.ndarray, s: np.ndarray) -> np.ndarray:
    axes = op_spec(node.op).weights
    shape = [1] * w.ndim
    if axes.in_axis is None:  # type: ignore[union-attr]
        mult = w.shape[-1] // s.size
        shape[-1] = -1
        return w * np.repeat(s, mult).reshape(shape)
    shape[axes.in_axis] = -1  # type: ignore[union-attr,index]
    return w * s.reshape(shape)


def equalize(graph: Graph) -> tuple[Graph, Equalization]:
    """A copy of ``graph`` with every pair (see :func:`find_pairs`) equalized, and what was done."""
    g = graph.copy()
    result = Equalization()
    found = _find_pairs(g, result)
    pairs = [(a, b) for a, b, _ in found]
    highs = {id(a): h for a, _, h in found if h is not None}
    if not pairs:
        return g, result
    # Work in float64 on arrays of our own; write the constants back once.
    w: dict[int, np.ndarray] = {}
    bias: dict[int, np.ndarray] = {}
    for a, b in pairs:
        for n in (a, b):
            wv = _weight(n)
            w.setdefault(id(n), np.asarray(wv.const, np.float64))  # type: ignore[union-attr]
            bv = n.inputs[2] if len(n.inputs) > 2 else None
            if bv is not None and bv.is_const:
                bias.setdefault(id(n), np.asarray(bv.const, np.float64))
    for sweep in range(MAX_SWEEPS):
        moved = 0.0
        for a, b in pairs:
            wa, wb = w[id(a)], w[id(b)]
            c = wa.shape[-1]
            r1, r2 = _out_range(wa), _in_range(b, wb, c)
            ok = (r1 > 0) & (r2 > 0)
            s = np.ones(c)
            s[ok] = np.sqrt(r1[ok] * r2[ok]) / r2[ok]
            if id(a) in highs:  # through a clamp at H: exact only where the channel stays <= H (module)
                h = highs[id(a)]
                top = reachable_max(a, wa, bias.get(id(a)), input_bound(a))  # type: ignore[arg-type]
                s = np.where(top > h, 1.0, np.where(top > 0, np.maximum(s, top / h), s))
                result.clamped[a.origin.layer if a.origin else a.name] = int(np.count_nonzero(top > h))
            w[id(a)] = wa / s
            if id(a) in bias:
                bias[id(a)] = bias[id(a)] / s
            w[id(b)] = _scale_in(b, wb, s)
            moved = max(moved, float(np.abs(np.log(s)).max()))
        result.sweeps = sweep + 1
        if moved < TOLERANCE:
            break
    for n in {id(x): x for p in pairs for x in p}.values():
        wv = _weight(n)
        g.replace_const(wv, w[id(n)].astype(wv.const.dtype), refresh=False)  # type: ignore[union-attr]
        if id(n) in bias:
            bv = n.inputs[2]
            g.replace_const(bv, bias[id(n)].astype(bv.const.dtype), refresh=False)  # type: ignore[union-attr]
    result.pairs = [(a.origin.layer if a.origin else a.name, b.origin.layer if b.origin else b.name) for a, b in pairs]
    return g, result


__all__ = ["MAX_SWEEPS", "TOLERANCE", "Equalization", "clamp_high", "commutes_with_scale", "equalize", "find_pairs",
           "input_bound", "reachable_max"]
