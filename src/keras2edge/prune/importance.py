"""Data-driven channel selection (criterion ``"activation"``): which units to remove so that the
consumers' outputs can best be reconstructed from what is left (the ThiNet / He et al. objective),
chosen greedily on calibration statistics.

For a consumer with input positions x (covariance Sigma on the calibration data; the means are
restored by the reconstruction's intercept) and kernel rows W (one row per input position:
the kernel with its input axis first, the other axes flattened — spatial taps included, so a 3x3
conv is treated channel-wise), removing the positions S and refitting the rest R leaves the error
tr(W_S^T Sigma_{S|R} W_S). Removing one more position u after S costs exactly
||W'_u||^2 / (Sigma_RR^-1)_uu, where W'_R = W_R + Sigma_RR^-1 Sigma_RS W_S are the refitted rows.
Each step removes the unit (all its positions, summed over every consumer of the group, each
consumer's cost divided by its output variance tr(W^T Sigma W)) with the least cost, then refits.
Inputs wider than ``MAX_COVARIANCE`` use variances only (no refit). Statistics come from the
unpruned graph's ``.tflite`` run in keras2edge's runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.graph import Graph
from ..ir.ops import op_spec
from .activations import ActivationRunner
from .groups import ChannelAnalysis

#: Input widths up to which the full covariance is kept (beyond: variances only).
MAX_COVARIANCE = 2048
#: The global schedule ranks units by cost / weights**WEIGHT_EXPONENT: 1 favours the units that
#: hold the most weights (a smaller file), 0 the cheapest in accuracy. Measured on the digits CNN
#: (30% of the units, cap 75%, int8): 0.75 gave 97.5% and 24.3% smaller, 0.5 97.2% / 23.7%,
#: 1 96.7% / 24.0%; with the channel count of the final schedule, 0.75 gives 96.67% / 25.1%.
WEIGHT_EXPONENT = 0.75
#: Greedy steps per group at most (larger groups remove several units per step: a step refits,
#: inverting the covariance of the kept positions, so a 1280-unit group takes about 6 steps).
MAX_STEPS = 64


def _chunk(n: int) -> int:
    """Units removed per greedy step in a group of ``n`` units."""
    steps = MAX_STEPS if n <= 128 else max(4, MAX_STEPS * 128 // n)
    return max(1, -(-n // steps))


@dataclass
class _Consumer:
    """One consumer kernel as seen by one group: unit index per input position (-1: another
    group's or a locked channel), covariance, kernel rows, output variance."""

    unit: np.ndarray
    cov: np.ndarray          # (P, P), or (P,) variances when too wide
    rows: np.ndarray         # (P, D)
    norm: float


def consumer_stats(graph: Graph, analysis: ChannelAnalysis,
                   batches: list[dict[str, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per consumer kernel use: (channel ids per input position, covariance or variances, rows)."""
    nodes = {n.name: n for n in graph.nodes}
    uses = []
    for use in analysis.uses:
        node = nodes[use.node]
        axes = op_spec(node.op).weights
        if axes is None or axes.in_axis is None or use.index != axes.input or use.axis != axes.in_axis:
            continue
        w, x = node.inputs[axes.input], node.inputs[0]
        assert w is not None and w.const is not None and x is not None
        k = np.moveaxis(np.asarray(w.const, np.float64), axes.in_axis, 0)
        uses.append((x.name, use.ids, k.reshape(k.shape[0], -1)))
    if not uses:
        return []
    names = sorted({u[0] for u in uses})
    run = ActivationRunner(graph)
    s1: dict[str, np.ndarray] = {}
    s2: dict[str, np.ndarray] = {}
    count = dict.fromkeys(names, 0)
    for batch in batches:
        got = run.run(batch, names)
        for n in names:
            x = got[n].astype(np.float64).reshape(-1, got[n].shape[-1])
            s1[n] = s1.get(n, 0.0) + x.sum(axis=0)
            s2[n] = s2.get(n, 0.0) + (x.T @ x if x.shape[1] <= MAX_COVARIANCE else (x * x).sum(axis=0))
            count[n] += x.shape[0]
    out = []
    for name, ids, rows in uses:
        mean = s1[name] / count[name]
        second = s2[name] / count[name]
        cov = second - np.outer(mean, mean) if second.ndim == 2 else np.maximum(second - mean * mean, 0.0)
        out.append((ids, cov, rows))
    return out


class _GroupState:
    """Greedy removal state of one group."""

    def __init__(self, units: np.ndarray, consumers: list[_Consumer]) -> None:
        self.n = len(units)
        self.consumers = consumers
        self.removed: list[int] = []

    def costs(self) -> np.ndarray:
        """Cost of removing each unit next (inf for removed ones)."""
        cost = np.zeros(self.n)
        gone = np.zeros(self.n, bool)
        gone[self.removed] = True
        for c in self.consumers:
            out_s = (c.unit >= 0) & gone[np.maximum(c.unit, 0)]
            keep = ~out_s
            if c.cov.ndim == 1:
                per = (c.rows ** 2).sum(axis=1) * c.cov
            else:
                r_idx, s_idx = np.flatnonzero(keep), np.flatnonzero(out_s)
                srr = c.cov[np.ix_(r_idx, r_idx)]
                eps = 1e-6 * (float(np.mean(np.diag(srr))) or 1.0)
                inv = np.linalg.inv(srr + eps * np.eye(len(r_idx)))
                w = c.rows[r_idx]
                if len(s_idx):
                    w = w + inv @ (c.cov[np.ix_(r_idx, s_idx)] @ c.rows[s_idx])
                per = np.zeros(len(c.unit))
                per[r_idx] = (w ** 2).sum(axis=1) / np.maximum(np.diag(inv), 1e-30)
            mine = (c.unit >= 0) & ~out_s
            np.add.at(cost, c.unit[mine], per[mine] / c.norm)
        cost[gone] = np.inf
        return cost


def unit_params(graph: Graph, analysis: ChannelAnalysis) -> dict[int, float]:
    """Unit (root) -> weight elements its removal deletes (every constant axis it spans)."""
    nodes = {n.name: n for n in graph.nodes}
    seen: set[tuple[int, int]] = set()
    out: dict[int, float] = {}
    for use in analysis.uses:
        v = nodes[use.node].inputs[use.index]
        assert v is not None and v.const is not None
        if (id(v), use.axis) in seen:
            continue
        seen.add((id(v), use.axis))
        per = v.const.size / max(1, v.const.shape[use.axis])
        for r in analysis.roots(use.ids):
            out[int(r)] = out.get(int(r), 0.0) + per
    return out


def unit_channels(graph: Graph, analysis: ChannelAnalysis) -> dict[int, int]:
    """Unit (root) -> the layer output channels it spans (producers' and depthwise outputs)."""
    nodes = {n.name: n for n in graph.nodes}
    out: dict[int, int] = {}
    for use in analysis.uses:
        axes = op_spec(nodes[use.node].op).weights
        if axes is None or use.index != axes.input or use.axis != axes.out_axis:
            continue
        for r in analysis.roots(use.ids):
            out[int(r)] = out.get(int(r), 0) + 1
    return out


def greedy_removal(analysis: ChannelAnalysis, groups: dict[int, int], stats: list, *, total: int | None = None,
                   caps: dict[int, int] | None = None, params: dict[int, float] | None = None,
                   channels: dict[int, int] | None = None) -> dict[int, np.ndarray]:
    """Unit indices (into ``group.units``) to remove. ``groups``: group index -> units to remove
    (per-group budgets), or with ``total`` set, the caps and one budget shared by all (global);
    there, with ``params`` (unit -> weights it holds), units are compared by cost per weight (to
    ``WEIGHT_EXPONENT``), and
    ``total`` counts layer channels (``channels``: unit -> the layer output channels it spans)."""
    states: dict[int, _GroupState] = {}
    for gi in groups:
        g = analysis.groups[gi]
        index = {int(r): i for i, r in enumerate(g.units)}
        consumers = []
        for ids, cov, rows in stats:
            unit = np.array([index.get(int(r), -1) for r in analysis.roots(ids)], np.int64)
            if not (unit >= 0).any():
                continue
            sig = cov if cov.ndim == 2 else np.diag(cov)
            norm = float(np.sum(rows * (sig @ rows))) or 1.0
            consumers.append(_Consumer(unit, cov, rows, norm))
        states[gi] = _GroupState(g.units, consumers)
    if total is None:
        for gi, k in groups.items():
            st = states[gi]
            while len(st.removed) < k:
                cost = st.costs()
                take = np.argsort(cost, kind="stable")[:min(_chunk(st.n), k - len(st.removed))]
                st.removed.extend(int(t) for t in take)
        return {gi: np.array(st.removed, np.int64) for gi, st in states.items()}
    assert caps is not None
    left = total
    per_unit = {gi: np.array([(params or {}).get(int(r), 1.0) or 1.0 for r in analysis.groups[gi].units])
                ** WEIGHT_EXPONENT for gi in states}
    cache = {gi: st.costs() / per_unit[gi] for gi, st in states.items()}
    while left > 0:
        best = min(((float(np.min(c)) if len(states[gi].removed) < caps[gi] else np.inf, gi)
                    for gi, c in cache.items()), default=(np.inf, -1))
        if not np.isfinite(best[0]):
            break
        gi = best[1]
        st = states[gi]
        units = analysis.groups[gi].units
        # The group's cheapest units, while they stay below every other group's cheapest.
        others = min((float(np.min(c)) for g, c in cache.items() if g != gi and len(states[g].removed) < caps[g]),
                     default=np.inf)
        order = np.argsort(cache[gi], kind="stable")
        taken = 0
        for t in order[:min(_chunk(st.n), caps[gi] - len(st.removed))]:
            if left <= 0 or (taken and cache[gi][t] > others):
                break
            st.removed.append(int(t))
            left -= (channels or {}).get(int(units[t]), 1)
            taken += 1
        cache[gi] = st.costs() / per_unit[gi]
    return {gi: np.array(st.removed, np.int64) for gi, st in states.items()}


__all__ = ["consumer_stats", "greedy_removal", "unit_channels", "unit_params"]
