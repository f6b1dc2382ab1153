"""DeadCodePass: remove nodes whose results nothing uses."""

from __future__ import annotations

from ..graph import Graph
from .base import Pass


class DeadCodePass(Pass):
    """Remove every node none of whose outputs is used by a node or is a graph output.

    Nodes are visited from last to first, so a whole dead chain goes in one run. Constants used
    only by removed nodes disappear with them (a graph holds only the constants nodes use).

    Declines: a node with any used output (for example a Split with one live piece) is kept
    whole; graph inputs are never removed, even when unused, since they are the model signature.
    """

    def run(self, graph: Graph) -> bool:
        changed = False
        for node in reversed(list(graph.nodes)):
            if any(v.uses or graph.is_output(v) for v in node.outputs):
                continue
            graph.remove_node(node)
            changed = True
        return changed
