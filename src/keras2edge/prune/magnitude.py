"""Method ``magnitude``: unstructured pruning of every prunable weight (:mod:`.targets`) to the target
sparsity, the per-layer counts from the ``schedule`` (:mod:`.allocate`: layer, global, auto; by
default auto with calibration data on models of at most ``AUTO_DEFAULT_TARGETS`` weights, else
global: :func:`~.allocate.default_schedule`), the weights chosen by magnitude (or, with recovery, by
the least layer error of OBC, OBS and magnitude masks: :mod:`.pipeline`, :mod:`.obs`, :mod:`.obc`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import PruneError
from ..ir.graph import Graph
from .allocate import SCHEDULES, allocate, default_schedule
from .methods import PruneResult, register_method
from .options import PruneOptions
from .pipeline import Plan, prune_weights
from .stats import LayerStats
from .targets import Target, select_targets


def plan_magnitude(targets: list[Target], weights: dict[str, np.ndarray], options: PruneOptions,
                   stats: dict[str, LayerStats], recover: bool = False,
                   curves: dict[str, list[tuple[int, float]]] | None = None) -> dict[str, Plan]:
    """Weights to remove per target, as the schedule allocates them (``recover``: the auto scan
    measures each layer's error after the least-squares update, what recovery will do)."""
    counts = allocate(options.schedule, targets, weights, float(options.sparsity), stats, recover=recover,
                      curves=curves)
    return {t.name: Plan(count=counts[t.name]) for t in targets}


@register_method("magnitude")
def prune_magnitude(graph: Graph, options: PruneOptions) -> PruneResult:
    """Unstructured magnitude pruning (see the module docstring)."""
    if options.schedule is None:
        options = replace(options, schedule=default_schedule(options.calibration is not None,
                                                             len(select_targets(graph, options.exclude))))
    if options.schedule not in SCHEDULES:
        raise PruneError(f"unknown schedule {options.schedule!r}; supported: {', '.join(SCHEDULES)}")
    if options.schedule == "auto" and options.calibration is None:
        raise PruneError("--schedule auto needs --calibration data (the sensitivity scan measures each "
                         "layer's output error on it)")
    return prune_weights(graph, options, plan_magnitude)


__all__ = ["plan_magnitude", "prune_magnitude"]
