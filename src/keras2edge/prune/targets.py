"""What can be pruned: every weight constant (an op spec's ``WeightAxes.input``) -> one
:class:`Target` per constant, grouped under the Keras layer it belongs to (``node.origin``).

The prunable weights are found from the op specs only (any op whose spec declares ``weights``):
Dense/Conv2D/DepthwiseConv2D/TransposeConv2D kernels and the recurrent kernels of unrolled
SimpleRNN/LSTM/GRU cells (FullyConnected/BatchMatMul weights shared by every time step: one
constant, several nodes). Biases are another input and are never pruned. ``exclude`` globs match the
Keras layer name (``fnmatch``, case-sensitive).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

import numpy as np

from ..errors import PruneError
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.ops import WeightAxes, op_spec
from ..ir.value import Value


@dataclass
class Target:
    """One prunable weight constant and the nodes that read it (in graph order)."""

    name: str                    # the constant's value name, e.g. "dense_1/kernel"
    layer: str                   # Keras layer name
    cls: str                     # Keras layer class
    op: str                      # IR op of the nodes reading it
    axes: WeightAxes             # from the op spec
    nodes: list[Node] = field(default_factory=list)

    def value(self, graph: Graph) -> Value:
        """The constant in ``graph`` (looked up by name: graphs are copied, names are kept)."""
        for node in graph.nodes:
            for v in node.inputs:
                if v is not None and v.is_const and v.name == self.name:
                    return v
        raise PruneError(f"weight {self.name!r} of Keras layer {self.layer} ({self.cls}) is not in the graph")

    @property
    def label(self) -> str:
        """``layer (Class)`` and, when the layer has several weights, which one."""
        return f"{self.layer} ({self.cls}) {self.name.rsplit('/', 1)[-1]}"


def find_targets(graph: Graph) -> list[Target]:
    """Every weight constant of ``graph`` that some node reads as its op's weight input, in graph order."""
    found: dict[int, Target] = {}
    for node in graph.nodes:
        axes = op_spec(node.op).weights
        if axes is None or len(node.inputs) <= axes.input:
            continue
        w = node.inputs[axes.input]
        if w is None or not w.is_const or w.const is None or not np.issubdtype(w.const.dtype, np.floating):
            continue
        t = found.get(id(w))
        if t is None:
            layer, cls = (node.origin.layer, node.origin.cls) if node.origin else (node.name, node.op)
            t = found[id(w)] = Target(w.name, layer, cls, node.op, axes)
        t.nodes.append(node)
    return list(found.values())


def select_targets(graph: Graph, exclude: tuple[str, ...] | list[str] = ()) -> list[Target]:
    """The targets left after ``exclude`` (globs on Keras layer names).

    Raises:
        PruneError: a glob that matches no Keras layer, no prunable weight at all, or every one excluded.
    """
    targets = find_targets(graph)
    layers = sorted({n.origin.layer for n in graph.nodes if n.origin})
    for pat in exclude:
        if not any(fnmatch.fnmatchcase(name, pat) for name in layers):
            raise PruneError(f"--exclude {pat!r} matches no Keras layer of {graph.name!r}; its layers: "
                             f"{', '.join(layers)}")
    if not targets:
        raise PruneError(f"model {graph.name!r} has no prunable weights (kernels of Dense, Conv2D, "
                         "DepthwiseConv2D, Conv2DTranspose or recurrent layers)")
    kept = [t for t in targets if not any(fnmatch.fnmatchcase(t.layer, p) for p in exclude)]
    if not kept:
        raise PruneError(f"--exclude {', '.join(exclude)} excludes every prunable layer of {graph.name!r} "
                         f"({', '.join(sorted({t.layer for t in targets}))}); nothing is left to prune")
    return kept


__all__ = ["Target", "find_targets", "select_targets"]
