"""The end-to-end sensitivity scan of the ``auto`` schedule: for each prunable weight alone and each
sparsity of a grid, the weight pruned as recovery will prune it (magnitude mask, the weights left
updated by least squares on the calibration statistics where that fits ``obs.LS_MAX_FLOPS``), put
into a copy of the graph, and the whole model run as ``.tflite`` on the calibration data
(:mod:`.runner`): the error is :class:`EndToEnd`'s (KL divergence of class probabilities, else
the relative squared change of the outputs). target -> [(weights removed, end-to-end error)] curves, which :mod:`.allocate`'s greedy
allocation spends.

Why end to end: a layer's own output error does not say what it costs the model (on the digits
CNN, pruning the 144-weight stem or a depthwise 3x3 to 50% costs 1-2 points alone while the 1x1
convolutions lose nothing at 50%; the per-layer error ranks them the other way).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..ir.graph import Graph
from .allocate import scan_candidates
from .runner import run_graph
from .stats import LayerStats
from .targets import Target

#: sparsity grid of the end-to-end scan (each point is one run of the model on the calibration data)
SCAN_GRID = (0.0, 0.2, 0.35, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)

#: the model's outputs on the calibration data, concatenated (one array per graph output)
Outputs = list[np.ndarray]


def outputs(graph: Graph, source: object, batch_size: int) -> Outputs:
    """Every graph output of ``graph`` (BatchNorm folded, as it ships) on ``source``."""
    from ..ir.passes import optimize

    g = graph.copy()
    optimize(g)
    names = [v.name for v in g.outputs]
    got: dict[str, list[np.ndarray]] = {n: [] for n in names}
    run_graph(g, source, names, lambda n, y: got[n].append(np.array(y, np.float64)), batch_size=batch_size)
    return [np.concatenate(got[n]) for n in names]


def _is_softmax(graph: Graph, name: str) -> bool:
    return any(n.op == "Softmax" and n.outputs[0].name == name for n in graph.nodes)


class EndToEnd:
    """How far a graph's outputs on ``source`` are from ``reference``'s: per output, the mean
    KL(reference ‖ graph) when a Softmax produces it (class probabilities), else Σ‖out − ref‖² /
    Σ‖ref‖²; summed over outputs."""

    def __init__(self, reference: Graph, source: object, batch_size: int) -> None:
        self.source, self.batch_size = source, batch_size
        self.ref = outputs(reference, source, batch_size)
        self.softmax = [_is_softmax(reference, v.name) for v in reference.outputs]

    def error(self, graph: Graph) -> float:
        """The distance of ``graph``'s outputs from the reference's (0 = the same)."""
        total = 0.0
        for p, q, soft in zip(self.ref, outputs(graph, self.source, self.batch_size), self.softmax):
            if soft:
                p2, q2 = p.reshape(p.shape[0], -1), np.maximum(q.reshape(q.shape[0], -1), 1e-12)
                total += float(np.mean(np.sum(p2 * (np.log(np.maximum(p2, 1e-12)) - np.log(q2)), axis=1)))
            else:
                total += float(np.sum((q - p) ** 2)) / (float(np.sum(p ** 2)) or 1.0)
        return total


def end_to_end_curves(graph: Graph, targets: list[Target], weights: dict[str, np.ndarray],
                      stats: dict[str, LayerStats], source: object, batch_size: int,
                      to_stored: Callable[[Target, np.ndarray], np.ndarray], recover: bool,
                      grid: tuple[float, ...] = SCAN_GRID) -> dict[str, list[tuple[int, float]]]:
    """Per target with statistics: [(weights removed, end-to-end relative error)] along ``grid``
    (``weights`` as they ship, BatchNorm folded; ``to_stored`` maps them back to the graph's
    constant)."""
    e2e = EndToEnd(graph, source, batch_size)
    curves: dict[str, list[tuple[int, float]]] = {}
    for t, _, cands in scan_candidates(targets, weights, stats, grid[1:], recover):
        pts = [(0, 0.0)]
        for c, wz in cands:
            g = graph.copy()
            v = t.value(g)
            g.replace_const(v, to_stored(t, wz).astype(np.asarray(v.const).dtype), refresh=False)
            pts.append((c, e2e.error(g)))
        best = 0.0                                         # monotone envelope: more pruning never helps
        curves[t.name] = [(c, best := max(best, e)) for c, e in pts]
    return curves


__all__ = ["SCAN_GRID", "EndToEnd", "end_to_end_curves", "outputs"]
