"""Layer statistics from calibration data: for each prunable weight, the second moment of the rows
its kernel multiplies (H = XᵀX, X = the layer's inputs as reduction rows) and their mean.

What a weight's reduction rows are depends on how its op multiplies it; :data:`REDUCTIONS` is the
explicit table (IR op -> :class:`Reduction`), written once here for the three ops that pruning can
reconstruct:

* FullyConnected, weight (K, N): X = the input reshaped to (-1, K) (recurrent kernels: the rows of
  every time step that reads the shared constant are accumulated into one H);
* Conv2D (groups 1), weight HWIO flattened to (KH·KW·Cin, Cout): X = im2col patches in (kh, kw, cin)
  order over the padded input;
* DepthwiseConv2D, weight (1, KH, KW, C·M) flattened to (T = KH·KW, C·M): one T×T matrix per input
  channel (output channel k reads input channel k // M).

Weights of other ops (TransposeConv2D, grouped Conv2D) have no entry: they are pruned by magnitude,
and recovery, bias correction and the sensitivity scan skip them (the report says so).
The statistics are taken by running the graph as ``.tflite`` in the runtime (:mod:`.runner`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.ops.core import pad_same_nhwc, pair, windows
from .runner import run_graph
from .saturation import SATURATED_WEIGHT
from .targets import Target


def _fc_rows(x: np.ndarray, node: Node) -> np.ndarray:
    return x.reshape(-1, x.shape[-1])


def _patches(x: np.ndarray, node: Node, kh: int, kw: int) -> np.ndarray:
    """(N·OH·OW, KH·KW, C) input patches of a window op (strides, dilations, padding from ``node``)."""
    s, d = pair(node.attrs["strides"]), pair(node.attrs["dilations"])
    oh, ow = node.outputs[0].shape[1], node.outputs[0].shape[2]
    xp = pad_same_nhwc(x.astype(np.float64), kh, kw, s, d, node.attrs["padding"])
    taps = [sl for _i, _j, sl in windows(xp, kh, kw, s, d, int(oh), int(ow))]
    return np.stack(taps, axis=3).reshape(-1, kh * kw, x.shape[3])


def _conv_rows(x: np.ndarray, node: Node) -> np.ndarray:
    kh, kw = node.inputs[1].shape[:2]
    p = _patches(x, node, int(kh), int(kw))
    return p.reshape(p.shape[0], -1)


def _dw_rows(x: np.ndarray, node: Node) -> np.ndarray:
    _, kh, kw, _ = node.inputs[1].shape
    return _patches(x, node, int(kh), int(kw))


@dataclass(frozen=True)
class Reduction:
    """How an op multiplies its weight: ``rows(x, node)`` the reduction rows of input ``x``;
    ``depthwise``: rows are (R, T, C), one reduction per channel; ``applies(node)``: the node's
    attributes allow it."""

    rows: Callable[[np.ndarray, Node], np.ndarray]
    depthwise: bool = False
    applies: Callable[[Node], bool] = lambda node: True


def _groups_of_one(node: Node) -> bool:
    x, w = node.inputs[0], node.inputs[1]
    return x is not None and w is not None and x.shape[-1] == w.shape[2]


#: IR op -> how its weight is multiplied (the ops whose pruning can use calibration statistics).
REDUCTIONS: dict[str, Reduction] = {
    "FullyConnected": Reduction(_fc_rows),
    "Conv2D": Reduction(_conv_rows, applies=_groups_of_one),
    "DepthwiseConv2D": Reduction(_dw_rows, depthwise=True),
}


#: reduction rows built at once (elements): bounds the im2col memory of large convs (a batch's rows are
#: taken in slices of samples)
ROWS_AT_ONCE = 1 << 23


def sample_slices(x: np.ndarray, node: Node) -> list[slice]:
    """Slices of ``x``'s samples whose reduction rows stay within :data:`ROWS_AT_ONCE` elements."""
    w = node.inputs[1]
    per_row = int(np.prod([int(d or 1) for d in w.shape[:-1]])) if w is not None else x.shape[-1]
    out = node.outputs[0].shape
    rows_per_sample = int(np.prod([int(d or 1) for d in out[1:-1]])) if len(out) > 2 else 1
    step = max(1, ROWS_AT_ONCE // max(1, per_row * rows_per_sample))
    return [slice(i, i + step) for i in range(0, x.shape[0], step)]


def reduction(target: Target) -> Reduction | None:
    """The target's reduction, or None when its op (or attributes) has none."""
    r = REDUCTIONS.get(target.op)
    return r if r is not None and all(r.applies(n) for n in target.nodes) else None


def matrix(target: Target, w: np.ndarray) -> np.ndarray:
    """``w`` as (reduction rows, output channels), the layout H refers to (a view when possible)."""
    return w.reshape(-1, w.shape[-1])


@dataclass
class LayerStats:
    """H = Σ xxᵀ over reduction rows (depthwise: one per channel, (C, T, T)), their sum and count;
    from a paired run (:func:`collect_paired`) also G = Σ x·x₀ᵀ with x₀ the unpruned model's rows
    for the same samples, and the sum of x₀."""

    h: np.ndarray
    total: np.ndarray
    count: int = 0
    g: np.ndarray | None = None
    total_ref: np.ndarray | None = None
    weighted: bool = False          # H, G per output column, activation-aware (:mod:`.saturation`)

    @property
    def mean_ref(self) -> np.ndarray:
        """Mean reduction row of the unpruned model (the current one's without a paired run)."""
        return (self.total if self.total_ref is None else self.total_ref) / max(self.count, 1)

    @property
    def mean(self) -> np.ndarray:
        """Mean reduction row ((F,); depthwise (T, C))."""
        return self.total / max(self.count, 1)

    def output_error(self, dw: np.ndarray) -> float:
        """Σ over calibration rows of ‖x·dW‖² / count: the layer's mean squared output change
        when its weight matrix changes by ``dw`` (the :func:`matrix` layout)."""
        if self.h.ndim == 3:
            c = self.h.shape[0]
            mult = dw.shape[1] // c
            hk = np.repeat(self.h, mult, axis=0)                    # (C·M, T, T)
            return float(np.einsum("tk,kts,sk->", dw, hk, dw) / max(self.count, 1))
        return float(np.sum((self.h @ dw) * dw) / max(self.count, 1))


def collect(graph: Graph, targets: list[Target], source: object, batch_size: int = 32) -> dict[str, LayerStats]:
    """:class:`LayerStats` of every target with a :class:`Reduction`, from one run of ``graph`` on
    ``source`` (keyed by target name)."""
    wanted: dict[str, list[tuple[Target, Node, Reduction]]] = {}
    stats: dict[str, LayerStats] = {}
    for t in targets:
        r = reduction(t)
        if r is None:
            continue
        for node in t.nodes:
            wanted.setdefault(node.inputs[0].name, []).append((t, node, r))

    def take(name: str, x: np.ndarray) -> None:
        for t, node, r in wanted[name]:
            for sl in sample_slices(x, node):
                rows = r.rows(np.asarray(x[sl], np.float64), node)
                h = np.einsum("rtc,rsc->cts", rows, rows) if r.depthwise else rows.T @ rows
                tot = rows.sum(axis=0)
                st = stats.get(t.name)
                if st is None:
                    stats[t.name] = LayerStats(h, tot, rows.shape[0])
                else:
                    st.h += h
                    st.total += tot
                    st.count += rows.shape[0]

    if wanted:
        run_graph(graph, source, list(wanted), take, batch_size=batch_size)
    return stats


def collect_paired(graph: Graph, reference: Graph, target: Target, source: object,
                   batch_size: int = 32, *, weighted: bool = False) -> LayerStats | None:
    """:class:`LayerStats` of ``target``'s inputs in ``graph`` (being pruned) with the cross moment
    G against the same inputs in ``reference`` (the unpruned graph, same value names), from both run
    in lockstep on ``source``; None when the target has no :class:`Reduction`. ``weighted``: for a
    single-node target whose output is clamped (:func:`~.saturation.clamp_after`), H and G are per
    output column, rows weighted by :data:`~.saturation.SATURATED_WEIGHT` where the unpruned
    output is clamped (``LayerStats.weighted``; the means stay unweighted)."""
    from .runner import run_paired
    from .saturation import clamp_after

    r = reduction(target)
    if r is None:
        return None
    clamp = clamp_after(graph, target.nodes[0]) if weighted and len(target.nodes) == 1 else None
    if clamp is not None and not _weights_fit(target, r):
        clamp = None
    names = sorted({n.inputs[0].name for n in target.nodes} | ({clamp.value} if clamp else set()))
    acc: list[LayerStats] = []

    def take(got: list[dict[str, np.ndarray]]) -> None:
        for node in target.nodes:
            name = node.inputs[0].name
            for sl in sample_slices(got[0][name], node):
                a = None
                if clamp is not None:
                    z0 = got[1][clamp.value][sl]
                    a = np.where((z0 <= clamp.low) | (z0 >= clamp.high), SATURATED_WEIGHT, 1.0)
                    a = a.reshape(-1, z0.shape[-1])
                _accumulate(acc, r, r.rows(got[0][name][sl].astype(np.float64), node),
                            r.rows(got[1][name][sl].astype(np.float64), node), a)

    run_paired([graph, reference], source, names, take, batch_size=batch_size)
    if acc and clamp is not None:
        acc[0].weighted = True
    return acc[0] if acc else None


def _weights_fit(target: Target, r: Reduction) -> bool:
    """Whether per-column H and G (2 × N·F² float64) fit :data:`~.saturation.MAX_BYTES`."""
    from .saturation import MAX_BYTES

    w = target.nodes[0].inputs[1]
    if w is None:
        return False
    shape = [int(d) for d in w.shape]
    f, n = (shape[1] * shape[2], shape[3]) if r.depthwise else (int(np.prod(shape[:-1])), shape[-1])
    return 16.0 * n * f * f <= MAX_BYTES


def _weighted_moments(r: Reduction, xp: np.ndarray, xo: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per output column k: Σ_r a_rk·x_r·x_rᵀ and Σ_r a_rk·x_r·x₀_rᵀ ((N, F, F); depthwise: column k
    reads input channel k // M)."""
    n = a.shape[1]
    if r.depthwise:
        mult = n // xp.shape[2]
        xk, x0k = np.repeat(xp, mult, axis=2), np.repeat(xo, mult, axis=2)
        return np.einsum("rk,rtk,rsk->kts", a, xk, xk), np.einsum("rk,rtk,rsk->kts", a, xk, x0k)
    h = np.empty((n, xp.shape[1], xp.shape[1]))
    g = np.empty_like(h)
    for k in range(n):
        xa = xp * a[:, k:k + 1]
        h[k], g[k] = xa.T @ xp, xa.T @ xo
    return h, g


def _accumulate(acc: list[LayerStats], r: Reduction, xp: np.ndarray, xo: np.ndarray,
                a: np.ndarray | None = None) -> None:
    """Add one slice of rows (pruned model ``xp``, unpruned ``xo``; ``a``: per-row, per-output-column
    weights) to ``acc[0]`` (made if empty)."""
    if a is not None:
        h, g = _weighted_moments(r, xp, xo, a)
    elif r.depthwise:
        h, g = np.einsum("rtc,rsc->cts", xp, xp), np.einsum("rtc,rsc->cts", xp, xo)
    else:
        h, g = xp.T @ xp, xp.T @ xo
    if not acc:
        acc.append(LayerStats(h, xp.sum(axis=0), xp.shape[0], g, xo.sum(axis=0)))
        return
    st = acc[0]
    st.h += h
    st.g += g  # type: ignore[operator]
    st.total += xp.sum(axis=0)
    st.total_ref += xo.sum(axis=0)  # type: ignore[operator]
    st.count += xp.shape[0]


__all__ = ["REDUCTIONS", "ROWS_AT_ONCE", "LayerStats", "Reduction", "collect", "collect_paired", "matrix", "reduction",
           "sample_slices"]
