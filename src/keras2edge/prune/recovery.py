"""Accuracy recovery after channel removal, from calibration activations (no training).

* **Reconstruction** (He et al. 2017, ThiNet): every consumer W whose input lost channels gets new
  weights W' = argmin ||[X_kept, 1] [W'; b'] - (X_full W + b)||^2 + lambda ||W'||^2 (ridge-damped,
  lambda = ``RIDGE`` x the mean diagonal of the Gram matrix), X_full the consumer's input in the
  unpruned model, X_kept in the pruned one; spatial kernels (Conv2D HWIO) use im2col patches built
  with the op's own padding, strides and dilations (``ir.ops.core.windows``), Dense rows are the
  input's last axis. The intercept b' becomes the consumer's bias (or, for a consumer without one
  whose only reader is a BatchNorm, that BatchNorm's moving mean shifts by -b'; else a bias is
  added). Consumers are reconstructed in topological order in up to ``WAVES`` waves, each wave on the
  pruned graph as the earlier waves left it, so later layers see the corrected activations.
* **Bias correction**: the same consumers keep their (sliced) weights; b' = b + E[X_full W] -
  E[X_kept W_kept] per output channel (used when reconstruction is off).
* **BatchNorm re-estimation** (opt-in): every BatchNorm downstream of a change gets its moving mean
  and variance recomputed from its input on the calibration data in the pruned graph, upstream
  ones first. After reconstruction it undoes the least-squares fit's shrinkage (the fitted
  outputs have less variance than the targets) and costs accuracy (digits CNN at 30%: 97.22% ->
  95.83% float; alone, without reconstruction, 56.94%), so it is off unless asked.

Every activation comes from the emitted ``.tflite`` run in keras2edge's runtime (:mod:`.activations`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.ops import conv_out_dim, op_spec
from ..ir.ops.core import pad_same_nhwc, pair, windows
from .activations import ActivationRunner
from .groups import ChannelAnalysis

#: Ridge damping relative to the mean diagonal of X^T X.
RIDGE = 1e-4
#: Reconstruction waves (each re-runs both graphs on the calibration data).
WAVES = 6
#: Patch rows sampled per calibration batch and consumer (fixed seed).
MAX_ROWS = 4096
#: Calibration rows per solved input row below which a consumer is only bias-corrected (a
#: least-squares fit on fewer rows follows the calibration samples, not the data).
MIN_ROWS_PER_WEIGHT = 2
#: Gram matrices held at once (bytes): consumers beyond are solved in a later pass.
MAX_GRAM_BYTES = 256 << 20


@dataclass
class Sink:
    """A consumer whose input lost channels: kernel input ``w_index``, masks over its input
    positions (``keep_in``) and its unpruned output channels (``keep_out``)."""

    node: str
    w_index: int
    in_axis: int
    out_axis: int
    keep_in: np.ndarray
    keep_out: np.ndarray
    spatial: bool


def find_sinks(original: Graph, analysis: ChannelAnalysis, removed: set[int]) -> tuple[list[Sink], list[str]]:
    """The consumers whose input lost channels (topological order), and notes on the ones recovery
    cannot handle."""
    nodes = {n.name: n for n in original.nodes}
    order = {n.name: i for i, n in enumerate(original.nodes)}
    sinks, notes = [], []
    for use in analysis.uses:
        node = nodes[use.node]
        axes = op_spec(node.op).weights
        if axes is None or axes.in_axis is None or use.index != axes.input or use.axis != axes.in_axis:
            continue
        keep_in = analysis.keep_mask(use.ids, removed)
        if keep_in.all():
            continue
        out_ids = analysis.producer_ids.get(node.name)
        keep_out = analysis.keep_mask(out_ids, removed) if out_ids is not None else None
        w = node.inputs[axes.input]
        assert w is not None
        if keep_out is None:
            keep_out = np.ones(int(w.shape[axes.out_axis]), bool)
        spatial = op_spec(node.op).spatial
        if spatial and (w.rank != 4 or (axes.in_axis, axes.out_axis) != (2, 3)):
            notes.append(f"{_where(node)}: {node.op} is not reconstructed (no im2col form)")
            continue
        if not spatial and (w.rank != 2 or (axes.in_axis, axes.out_axis) != (0, 1)):
            notes.append(f"{_where(node)}: {node.op} is not reconstructed")
            continue
        sinks.append(Sink(node.name, axes.input, axes.in_axis, axes.out_axis, keep_in, keep_out, spatial))
    sinks.sort(key=lambda s: order[s.node])
    return sinks, notes


def _where(node: Node) -> str:
    return f"{node.origin.layer} ({node.origin.cls})" if node.origin else node.name


def patches(x: np.ndarray, node: Node, w_shape: tuple[int, ...], spatial: bool) -> np.ndarray:
    """The rows the consumer's kernel multiplies: im2col patches (N·OH·OW, KH·KW·C) in the HWIO
    kernel's row order for a spatial op (its own padding, strides, dilations), else the input's
    last axis."""
    if not spatial:
        return x.reshape(-1, x.shape[-1])
    kh, kw = int(w_shape[0]), int(w_shape[1])
    s, d = pair(node.attrs["strides"]), pair(node.attrs["dilations"])
    pad = node.attrs["padding"]
    oh = conv_out_dim(x.shape[1], kh, s[0], d[0], pad)
    ow = conv_out_dim(x.shape[2], kw, s[1], d[1], pad)
    xp = pad_same_nhwc(x, kh, kw, s, d, pad)
    taps = [sl for _i, _j, sl in windows(xp, kh, kw, s, d, oh, ow)]
    return np.stack(taps, axis=3).reshape(-1, kh * kw * x.shape[-1])


def _bias(node: Node) -> np.ndarray | None:
    spec = op_spec(node.op)
    for i, name in enumerate(spec.inputs):
        if name.rstrip("?") == "b" and i < len(node.inputs) and node.inputs[i] is not None:
            v = node.inputs[i]
            return None if v is None else v.const
    return None


def set_bias(graph: Graph, node: Node, bias: np.ndarray) -> str:
    """Make ``bias`` the output offset of ``node`` (in ``graph``): its bias constant, else the moving
    mean of its only reader when that is a BatchNorm, else a new bias input. Says which ("bias",
    "batchnorm mean", "new bias")."""
    spec = op_spec(node.op)
    slot = next(i for i, name in enumerate(spec.inputs) if name.rstrip("?") == "b")
    b = node.inputs[slot] if slot < len(node.inputs) else None
    bias = np.asarray(bias, np.float32)
    if b is not None and b.const is not None:
        graph.replace_const(b, bias, refresh=False)
        return "bias"
    users = graph.consumers(node.outputs[0])
    if len(users) == 1 and users[0].op == "BatchNorm" and not graph.is_output(node.outputs[0]):
        mean = users[0].inputs[1]
        if mean is not None and mean.const is not None:
            graph.replace_const(mean, (mean.const.astype(np.float64) - bias).astype(np.float32), refresh=False)
            return "batchnorm mean"
    while len(node.inputs) <= slot:
        node.inputs.append(None)
    layer = node.origin.layer if node.origin else node.name
    graph.set_input(node, slot, graph.add_const(f"{layer}/bias", bias))
    return "new bias"


class _Accumulator:
    """X^T X and X^T Y for one consumer, over calibration batches."""

    def __init__(self, sink: Sink, full: Node, w_full: np.ndarray, b_full: np.ndarray | None) -> None:
        self.sink = sink
        self.full = full
        k = int(sink.keep_in.sum())
        kk = int(np.prod(w_full.shape[:2])) * k if sink.spatial else k
        self.w = np.moveaxis(w_full, sink.out_axis, -1).reshape(-1, w_full.shape[sink.out_axis])[:, sink.keep_out]
        self.w = self.w.astype(np.float64)
        self.b = None if b_full is None else b_full[sink.keep_out].astype(np.float64)
        self.gram = np.zeros((kk + 1, kk + 1))
        self.xty = np.zeros((kk + 1, self.w.shape[1]))
        self.rows = 0

    @staticmethod
    def nbytes(sink: Sink, w_shape: tuple[int, ...]) -> int:
        kk = int(np.prod(w_shape[:2])) * int(sink.keep_in.sum()) if sink.spatial else int(sink.keep_in.sum())
        return 8 * (kk + 1) ** 2

    def add(self, x_full: np.ndarray, x_kept: np.ndarray, rng: np.random.Generator) -> None:
        p_full = patches(x_full.astype(np.float64), self.full, self.full.inputs[self.sink.w_index].shape,
                         self.sink.spatial)
        p_kept = patches(x_kept.astype(np.float64), self.full, self.full.inputs[self.sink.w_index].shape,
                         self.sink.spatial)
        if p_full.shape[0] > MAX_ROWS:
            pick = rng.choice(p_full.shape[0], MAX_ROWS, replace=False)
            p_full, p_kept = p_full[pick], p_kept[pick]
        y = p_full @ self.w
        if self.b is not None:
            y += self.b
        a = np.concatenate([p_kept, np.ones((p_kept.shape[0], 1))], axis=1)
        self.gram += a.T @ a
        self.xty += a.T @ y
        self.rows += a.shape[0]

    def solve(self) -> tuple[np.ndarray, np.ndarray]:
        g = self.gram.copy()
        n = g.shape[0] - 1
        lam = RIDGE * float(np.mean(np.diag(g)[:n])) if n else 0.0
        g[np.arange(n), np.arange(n)] += lam
        sol = np.linalg.lstsq(g, self.xty, rcond=None)[0] if not _spd(g) else np.linalg.solve(g, self.xty)
        return sol[:n], sol[n]


def _spd(g: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(g)
        return True
    except np.linalg.LinAlgError:
        return False


def _new_kernel(sink: Sink, pruned_w: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The solved rows (K', Cout') back in the kernel's layout and shape."""
    moved = np.moveaxis(pruned_w, sink.out_axis, -1)
    return np.moveaxis(rows.reshape(moved.shape).astype(np.float32), -1, sink.out_axis)


def _waves(sinks: list[Sink], w_shapes: dict[str, tuple[int, ...]]) -> list[list[Sink]]:
    n = max(1, min(WAVES, len(sinks)))
    per = -(-len(sinks) // n)
    waves: list[list[Sink]] = []
    for i in range(0, len(sinks), per):
        wave: list[Sink] = []
        used = 0
        for s in sinks[i:i + per]:
            cost = _Accumulator.nbytes(s, w_shapes[s.node])
            if wave and used + cost > MAX_GRAM_BYTES:
                waves.append(wave)
                wave, used = [], 0
            wave.append(s)
            used += cost
        if wave:
            waves.append(wave)
    return waves


def reconstruct(original: Graph, pruned: Graph, sinks: list[Sink], batches: list[dict[str, np.ndarray]],
                *, solve: bool = True) -> dict[str, str]:
    """Least-squares reconstruction (``solve``) or bias correction (not ``solve``) of every sink, in
    ``pruned`` (modified through graph methods). Returns consumer layer -> what was done (solved, or
    bias only when the calibration rows are too few) and where its offset went."""
    full_nodes = {n.name: n for n in original.nodes}
    shapes = {s.node: tuple(int(d) for d in full_nodes[s.node].inputs[s.w_index].shape) for s in sinks}  # type: ignore[union-attr]
    full_run = ActivationRunner(original)
    done: dict[str, str] = {}
    rng = np.random.default_rng(0)
    for wave in _waves(sinks, shapes):
        kept_run = ActivationRunner(pruned)
        pruned_nodes = {n.name: n for n in pruned.nodes}
        accs = []
        for s in wave:
            node = full_nodes[s.node]
            w = node.inputs[s.w_index]
            assert w is not None and w.const is not None
            accs.append(_Accumulator(s, node, np.asarray(w.const), _bias(node)))
        names = [_input_name(full_nodes[s.node]) for s in wave]
        for batch in batches:
            xf = full_run.run(batch, names)
            xk = kept_run.run(batch, names)
            for acc, name in zip(accs, names):
                acc.add(xf[name], xk[name], rng)
        for acc in accs:
            node = pruned_nodes[acc.sink.node]
            wv = node.inputs[acc.sink.w_index]
            assert wv is not None and wv.const is not None
            if solve and acc.rows >= MIN_ROWS_PER_WEIGHT * acc.gram.shape[0]:
                rows, offset = acc.solve()
                pruned.replace_const(wv, _new_kernel(acc.sink, np.asarray(wv.const), rows), refresh=False)
                how = "solved"
            else:
                offset = _bias_shift(acc, np.asarray(wv.const))
                how = "bias only" + (f" ({acc.rows} rows < {MIN_ROWS_PER_WEIGHT} x {acc.gram.shape[0]})" if solve else "")
            done[_where(node)] = f"{how}; offset into the {set_bias(pruned, node, offset)}"
        pruned.refresh_shapes()
        pruned.verify()
    return done


def _bias_shift(acc: _Accumulator, pruned_w: np.ndarray) -> np.ndarray:
    """b' with E[X_kept W_kept + b'] = E[X_full W + b]: from the accumulated sums (the last row of
    X^T X is the column sums, the last row of X^T Y the target's)."""
    n = acc.gram.shape[0] - 1
    mean_x = acc.gram[n, :n] / max(acc.rows, 1)
    mean_y = acc.xty[n] / max(acc.rows, 1)
    w = np.moveaxis(pruned_w, acc.sink.out_axis, -1).reshape(-1, pruned_w.shape[acc.sink.out_axis]).astype(np.float64)
    return mean_y - mean_x @ w


def _input_name(node: Node) -> str:
    x = node.inputs[0]
    assert x is not None
    return x.name


def reestimate_batchnorm(pruned: Graph, changed: set[str], batches: list[dict[str, np.ndarray]]) -> list[str]:
    """Recompute moving mean/variance of every BatchNorm downstream of a node in ``changed`` from
    its input on the calibration data (in ``pruned``), in levels: a BatchNorm is measured after
    every re-estimated BatchNorm upstream of it has its new statistics (one run per level).
    Returns the Keras layers updated."""
    dirty: dict[int, int] = {}      # value -> level of the last re-estimated BatchNorm upstream (0: none)
    levels: dict[int, list[Node]] = {}
    for node in pruned.nodes:
        ups = [dirty[id(v)] for v in node.inputs if v is not None and id(v) in dirty]
        if node.name not in changed and not ups:
            continue
        level = max(ups, default=0)
        if node.op == "BatchNorm" and all(v is not None and v.is_const for v in node.inputs[1:3]):
            level += 1
            levels.setdefault(level, []).append(node)
        for v in node.outputs:
            dirty[id(v)] = level
    layers = []
    for level in sorted(levels):
        targets = levels[level]
        run = ActivationRunner(pruned)
        names = [_input_name(n) for n in targets]
        sums: dict[str, list[Any]] = {n: [0.0, 0.0, 0] for n in names}
        for batch in batches:
            got = run.run(batch, names)
            for n in names:
                x = got[n].astype(np.float64).reshape(-1, got[n].shape[-1])
                sums[n][0] = sums[n][0] + x.sum(axis=0)
                sums[n][1] = sums[n][1] + (x * x).sum(axis=0)
                sums[n][2] += x.shape[0]
        for node, n in zip(targets, names):
            s1, s2, cnt = sums[n]
            mean = s1 / cnt
            var = np.maximum(s2 / cnt - mean * mean, 0.0)
            m, v = node.inputs[1], node.inputs[2]
            assert m is not None and v is not None
            pruned.replace_const(m, mean.astype(np.float32), refresh=False)
            pruned.replace_const(v, var.astype(np.float32), refresh=False)
            layers.append(_where(node))
        pruned.refresh_shapes()
    pruned.verify()
    return layers


__all__ = ["Sink", "find_sinks", "patches", "reconstruct", "reestimate_batchnorm", "set_bias"]
