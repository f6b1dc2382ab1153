"""Channel surgery: a copy of the graph with the removed channel units physically gone.

Every constant axis that carries channel ids (:class:`~keras2edge.prune.groups.AxisUse`: producer
kernels and biases along the output axis, consumer kernels along the input axis — Dense rows after
a Flatten —, depthwise kernels and biases, BatchNorm statistics, per-channel elementwise constants)
is sliced with ``Graph.replace_const(refresh=False)`` (never written in place: the copy shares the
caller's arrays), a ``shape`` attribute that fixes the channel count (Reshape) is rewritten, then
one ``refresh_shapes`` re-infers every value and ``verify`` checks the result.
"""

from __future__ import annotations

import numpy as np

from ..errors import PruneError
from ..ir.graph import Graph
from ..ir.value import Value
from .groups import ChannelAnalysis


def remove_units(graph: Graph, analysis: ChannelAnalysis, removed: set[int]) -> Graph:
    """A new graph without the channel units ``removed`` (union-find roots of ``analysis``, made by
    :func:`~keras2edge.prune.groups.find_groups` on ``graph``); ``graph`` is not modified."""
    g = graph.copy()
    nodes = {n.name: n for n in g.nodes}
    plans: dict[int, tuple[Value, list[tuple[int, np.ndarray]]]] = {}
    for use in analysis.uses:
        node = nodes[use.node]
        v = node.inputs[use.index]
        assert v is not None and v.const is not None
        keep = analysis.keep_mask(use.ids, removed)
        if keep.all():
            continue
        if not keep.any():
            raise PruneError(f"channel pruning would leave no channel in {node.where()}")
        entry = plans.setdefault(id(v), (v, []))
        if not any(a == use.axis and np.array_equal(k, keep) for a, k in entry[1]):
            entry[1].append((use.axis, keep))
    for v, cuts in plans.values():
        data = v.const
        assert data is not None
        for axis in sorted({a for a, _ in cuts}):
            masks = [k for a, k in cuts if a == axis]
            keep = np.logical_and.reduce(masks)
            data = np.take(data, np.flatnonzero(keep), axis=axis)
        g.replace_const(v, np.ascontiguousarray(data), refresh=False)
    for name, ids in analysis.shape_attrs:
        node = nodes[name]
        shape = list(node.attrs["shape"])
        shape[-1] = int(analysis.keep_mask(ids, removed).sum())
        node.attrs["shape"] = tuple(shape)
    g.refresh_shapes()
    g.verify()
    return g


__all__ = ["remove_units"]
