"""Evaluate an IR graph with each op's NumPy semantics (float64 inside, outputs in the value dtype).

Used by constant folding and by tests that check a pass leaves outputs unchanged. It is the
IR's definition, not a deployment runtime: what ships is run by `keras2edge.runtime`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import GraphError
from .graph import Graph
from .node import Node
from .ops import op_spec


def evaluate_node(node: Node, args: list[np.ndarray | None]) -> list[np.ndarray]:
    """Run one node on concrete arrays."""
    try:
        outs = op_spec(node.op).evaluate(args, node.attrs)
    except Exception as e:  # noqa: BLE001 - re-raised with the node named
        raise GraphError(f"evaluating {node.where()}: {e}") from e
    return [np.asarray(o).astype(v.dtype.np, copy=False) for o, v in zip(outs, node.outputs)]


def evaluate(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs (by value name) of the graph for inputs given by input value name."""
    env: dict[int, np.ndarray] = {}
    for v in graph.inputs:
        if v.name not in feeds:
            raise GraphError(f"no data for graph input {v.name!r}; inputs are {[i.name for i in graph.inputs]}")
        env[id(v)] = np.asarray(feeds[v.name]).astype(v.dtype.np, copy=False)
    for node in graph.nodes:
        args = []
        for v in node.inputs:
            if v is None:
                args.append(None)
            elif v.is_const:
                args.append(v.const)
            else:
                args.append(env[id(v)])
        for v, o in zip(node.outputs, evaluate_node(node, args)):
            env[id(v)] = o
    return {o.name: (o.const if o.is_const else env[id(o)]) for o in graph.outputs}  # type: ignore[misc]
