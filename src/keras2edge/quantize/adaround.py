"""AdaRound-style weight rounding (after Nagel et al. 2020, "Up or Down? Adaptive Rounding"), post-training
and without a training loop: per weight layer, each int8 weight is rounded down or up so as to minimize
the layer's output error on its calibration inputs, || X W - X W_q ||^2, instead of to the nearest.

Per layer (``OpSpec.weights``: Conv2D with one group and FullyConnected, whose weight rows are the
input patch; DepthwiseConv2D, one input channel per output channel), from one float run of the
calibration data in keras2edge's runtime (``probe``):

    H = sum over input patches x of x x^T     (K x K; per channel for a depthwise layer: taps x taps)
    minimize over q in {floor(w/s), ceil(w/s)}:  (q s - w)^T H (q s - w)     for each output channel

solved greedily (coordinate descent from round-to-nearest: flip a weight to its other rounding when
that lowers the objective; :data:`SWEEPS` passes over the rows), all output channels at once, which
share H. The scale s is the scheme's own (``params.weight_params``, per channel or per tensor); each
channel's largest weight keeps its rounding (|q| = 127, so the scale is unchanged) and q stays in
[-127, 127]. The choice is written back as float weights q * s, which the int8 scheme then rounds
to exactly q. Patches are subsampled to :data:`MAX_PATCHES` per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.ops import op_spec
from ..ir.ops.core import pad_same_nhwc, pair, windows
from . import params as P
from .bias_correction import kernel_size
from .probe import Feeds, observe_inputs, real, weight_const, weight_nodes

SWEEPS = 3
MAX_PATCHES = 4096


@dataclass
class AdaRound:
    """Per Keras layer: the share of weights rounded away from nearest and the objective's drop."""

    layers: dict[str, tuple[float, float]] = field(default_factory=dict)


def supported(node: Node) -> bool:
    """A weight op whose weight rows are its input patch (one group) or a depthwise op; output channels last."""
    axes = op_spec(node.op).weights
    w = weight_const(node)
    if axes is None or w is None or w.const is None or axes.out_axis != len(w.shape) - 1:
        return False
    if axes.in_axis is None or not op_spec(node.op).spatial:
        return True
    x = node.inputs[0]
    return x is not None and x.shape is not None and x.shape[-1] == w.shape[axes.in_axis]


def _patches(node: Node, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Input patches (P, taps, Cin) of a window op (FullyConnected: (P, 1, K)), subsampled."""
    if not op_spec(node.op).spatial:
        p = x.reshape(-1, 1, x.shape[-1]).astype(np.float64)
    else:
        kh, kw = kernel_size(node)
        s, d = pair(node.attrs["strides"]), pair(node.attrs["dilations"])
        oh, ow = int(node.outputs[0].shape[1]), int(node.outputs[0].shape[2])  # type: ignore[index,arg-type]
        xp = pad_same_nhwc(np.asarray(x, np.float32), kh, kw, s, d, node.attrs["padding"])
        taps = [sl.reshape(-1, x.shape[-1]) for _, _, sl in windows(xp, kh, kw, s, d, oh, ow)]
        p = np.stack(taps, axis=1).astype(np.float64)
    if p.shape[0] > MAX_PATCHES:
        p = p[rng.choice(p.shape[0], MAX_PATCHES, replace=False)]
    return p


def _gram(node: Node, p: np.ndarray) -> np.ndarray:
    if op_spec(node.op).weights.in_axis is None:  # type: ignore[union-attr]  # per channel: (C, taps, taps)
        return np.einsum("pic,pjc->cij", p, p)
    flat = p.reshape(p.shape[0], -1)
    return flat.T @ flat


def _greedy(w: np.ndarray, s: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Rounding of ``w`` (K, C) with scales ``s`` (C,) minimizing (q s - w)^T h (q s - w) per column."""
    r = w / s
    q = np.clip(np.where(r >= 0, np.floor(r + 0.5), np.ceil(r - 0.5)), -P.WMAX, P.WMAX)
    fixed = np.zeros_like(q, dtype=bool)
    fixed[np.argmax(np.abs(w), axis=0), np.arange(w.shape[1])] = True
    d = q * s - w
    g = h @ d
    before = float(np.einsum("kc,kc->", d, g))
    for _ in range(SWEEPS):
        changed = False
        for k in range(w.shape[0]):
            alt = np.where(q[k] > r[k], np.floor(r[k]), np.ceil(r[k]))
            step = (alt - q[k]) * s
            gain = 2 * step * g[k] + step * step * h[k, k]
            ok = (gain < -1e-18) & ~fixed[k] & (np.abs(alt) <= P.WMAX) & (alt != q[k])
            if not ok.any():
                continue
            delta = np.where(ok, step, 0.0)
            q[k] = np.where(ok, alt, q[k])
            g += np.outer(h[:, k], delta)
            changed = True
        if not changed:
            break
    d = q * s - w
    after = float(np.einsum("kc,kc->", d, h @ d))
    return q, before, after


def _round_layer(node: Node, w: np.ndarray, h: np.ndarray, per_tensor: bool) -> tuple[np.ndarray, float, float]:
    axes = op_spec(node.op).weights
    wp = P.weight_params(w, axes.out_axis, per_tensor)  # type: ignore[union-attr]
    c = w.shape[-1]
    s = np.resize(wp.scale.astype(np.float64), c)
    w64 = np.asarray(w, np.float64)
    if axes.in_axis is None:  # type: ignore[union-attr]  # depthwise: one (taps x taps) system per channel
        kh, kw = kernel_size(node)
        wt = w64.reshape(kh * kw, c)
        mult = c // h.shape[0]
        q = np.empty_like(wt)
        before = after = 0.0
        for k in range(c):
            qk, b, a = _greedy(wt[:, k:k + 1], s[k:k + 1], h[k // mult])
            q[:, k] = qk[:, 0]
            before, after = before + b, after + a
        return (q * s).reshape(w.shape).astype(np.float32), before, after
    q, before, after = _greedy(w64.reshape(-1, c), s, h)
    return (q * s).reshape(w.shape).astype(np.float32), before, after


def round_weights(graph: Graph, feeds: Feeds, per_tensor: bool = False) -> AdaRound:
    """Choose every supported layer's int8 rounding (see the module) and write it into ``graph``'s
    weights in place (constants replaced, never mutated). Returns what changed per Keras layer."""
    result = AdaRound()
    nodes = [n for n in weight_nodes(graph) if supported(n) and len(weight_const(n).uses) == 1]  # type: ignore[union-attr]
    grams: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(0)

    def add(node: Node, x: np.ndarray, affine: tuple[float, float] | None) -> None:
        g = _gram(node, _patches(node, real(x, affine), rng))
        grams[node.name] = grams[node.name] + g if node.name in grams else g

    observe_inputs(graph, feeds, nodes, add)
    for node in nodes:
        wv = weight_const(node)
        w = np.asarray(wv.const, np.float32)  # type: ignore[union-attr]
        snapped, before, after = _round_layer(node, w, grams[node.name], per_tensor)
        nearest = P.quantize_weight(w, P.weight_params(w, op_spec(node.op).weights.out_axis, per_tensor))  # type: ignore[union-attr]
        chosen = P.quantize_weight(snapped, P.weight_params(snapped, op_spec(node.op).weights.out_axis, per_tensor))  # type: ignore[union-attr]
        flipped = float(np.mean(chosen != nearest))
        graph.replace_const(wv, snapped, refresh=False)  # type: ignore[arg-type]
        key = node.origin.layer if node.origin else node.name
        result.layers[key] = (flipped, 1.0 - after / before if before > 0 else 0.0)
    return result


__all__ = ["MAX_PATCHES", "SWEEPS", "AdaRound", "round_weights", "supported"]
