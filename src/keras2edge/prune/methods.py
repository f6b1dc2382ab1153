"""The pruning methods, one registry: ``--method`` name -> the function that prunes an IR graph.

A method takes a float IR graph (after :func:`keras2edge.prune.prune_passes`) and
:class:`~keras2edge.prune.options.PruneOptions` and returns a :class:`PruneResult`: a new graph (the
input is not modified; weights are swapped with ``Graph.replace_const``, never written in place) and
its report. Method modules register with :func:`register_method`; ``prune/__init__`` imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..choices import Choices
from ..errors import PruneError

if TYPE_CHECKING:
    from ..ir.graph import Graph
    from .options import PruneOptions


@dataclass
class PruneResult:
    """A pruned graph and what was done to it (``report``: per-Keras-layer rows and totals, as the
    method builds them; JSON-ready)."""

    graph: Graph
    report: dict[str, Any] = field(default_factory=dict)


MethodFn = Callable[["Graph", "PruneOptions"], PruneResult]

#: method name -> implementation (filled by the method modules).
METHODS: Choices[MethodFn] = Choices("pruning method", PruneError)
#: Decorator: register ``fn`` as pruning method ``name`` (one implementation per name).
register_method = METHODS.register
#: The implementation of method ``name``, or a PruneError listing the methods.
method = METHODS.get
