"""Ready-made pass pipelines and ``optimize``, the cleanup every converted graph goes through."""

from __future__ import annotations

from collections.abc import Sequence

from ..graph import Graph
from .base import Pass, PassManager
from .constant_fold import ConstantFoldPass
from .dead_code import DeadCodePass
from .fold_batchnorm import FoldBatchNormPass
from .fold_identity import FoldIdentityPass
from .recover_hard_swish import RecoverHardSwishPass

MAX_SWEEPS = 16


def CLEANUP_PASSES() -> tuple[Pass, ...]:  # noqa: N802 - reads as the pipeline constant it stands for
    """A fresh tuple of the generic cleanup passes, in order.

    Constant folding first (so weight-side arithmetic becomes constants BatchNorm folding can
    use), then no-op removal (exposing a conv directly before its BatchNorm), BatchNorm
    folding, HardSwish recovery (its chains' constants are folded by then), and dead code
    removal last (constants and nodes the others orphaned).
    """
    return (ConstantFoldPass(), FoldIdentityPass(), FoldBatchNormPass(), RecoverHardSwishPass(), DeadCodePass())


def optimize(graph: Graph, passes: Sequence[Pass] | None = None) -> Graph:
    """Run ``passes`` (default: :func:`CLEANUP_PASSES`) on ``graph`` in place to a fixed point.

    The graph is verified before and after every pass; a pass that breaks it raises
    :class:`~keras2edge.errors.PassError` naming the pass.

    Returns:
        The same graph object, for chaining.
    """
    PassManager(CLEANUP_PASSES() if passes is None else passes, verify=True,
                max_iterations=MAX_SWEEPS).run(graph)
    return graph
