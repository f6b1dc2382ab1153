"""The pass framework: ``Pass`` (one graph rewrite) and ``PassManager`` (runs, verifies, blames).

A pass rewrites a :class:`~keras2edge.ir.Graph` in place through graph methods and reports
whether it changed anything. The manager verifies the graph after every pass, so a broken
invariant is reported against the pass that introduced it, never against a later consumer.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence

from ...errors import GraphError, PassError
from ..graph import Graph

log = logging.getLogger(__name__)


class Pass(abc.ABC):
    """One graph rewrite.

    Subclasses implement :meth:`run`, rewriting through graph methods only (so use lists never
    go stale) and returning whether the graph changed. Running a pass a second time on its own
    result must return False. The class docstring lists each rewrite case and when it declines.
    """

    @property
    def name(self) -> str:
        """The pass name used in logs and errors (the class name)."""
        return type(self).__name__

    @abc.abstractmethod
    def run(self, graph: Graph) -> bool:
        """Rewrite ``graph`` in place; return True if anything changed."""

    def __repr__(self) -> str:
        return f"{self.name}()"


class PassManager:
    """Run passes in order, verify the graph after each one, and name the pass that broke it.

    Args:
        passes: The passes, run in this order in every sweep.
        verify: Call ``graph.verify()`` before the first pass and after every pass.
        max_iterations: Sweeps over ``passes``. 1 runs each pass once; a larger value repeats
            the sweep until one changes nothing (a fixed point) or the limit is reached.

    Errors: an invalid input graph raises the ``GraphError`` from ``verify`` unchanged (the
    graph's builder is to blame, not a pass). A pass that leaves the graph invalid, or raises
    anything else, is reported as a ``PassError`` naming the pass (the original is chained).
    """

    def __init__(self, passes: Sequence[Pass], verify: bool = True, max_iterations: int = 1) -> None:
        if max_iterations < 1:
            raise ValueError(f"max_iterations must be at least 1, got {max_iterations}")
        self.passes: tuple[Pass, ...] = tuple(passes)
        self.verify = verify
        self.max_iterations = max_iterations

    def run(self, graph: Graph) -> bool:
        """Run the passes on ``graph`` in place; return True if any pass changed it."""
        if self.verify:
            graph.verify()
        changed_any = False
        for sweep in range(1, self.max_iterations + 1):
            changed = False
            for p in self.passes:
                changed |= self._run_one(p, graph)
            changed_any |= changed
            if not changed:
                log.debug("passes reached a fixed point on %r after %d sweep(s)", graph.name, sweep)
                break
        else:
            if self.max_iterations > 1:
                log.warning("passes still changing %r after %d sweeps; stopping", graph.name,
                            self.max_iterations)
        return changed_any

    def _run_one(self, p: Pass, graph: Graph) -> bool:
        try:
            changed = bool(p.run(graph))
        except PassError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure inside a pass is blamed on the pass
            raise PassError(f"pass {p.name} failed on graph {graph.name!r}: {type(e).__name__}: {e}") from e
        log.debug("pass %s on %r: %s", p.name, graph.name, "changed" if changed else "no change")
        if self.verify:
            try:
                graph.verify()
            except GraphError as e:
                raise PassError(f"pass {p.name} left graph {graph.name!r} inconsistent: {e}") from e
        return changed
