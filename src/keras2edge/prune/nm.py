"""Method ``nm``: N:M semi-structured sparsity along the input (reduction) dimension, the pattern
sparse tensor cores run: in every group of M consecutive input-channel weights of one output channel,
N are kept (the largest, or with recovery the OBS choice: :mod:`.pipeline`). The input axis is the op
spec's ``WeightAxes.in_axis``: Cin of a Conv2D's HWIO kernel (groups per (kh, kw, cout)), K of a
Dense (K, N) kernel, Cin of a TransposeConv2D kernel, and the hidden size of a recurrent kernel.

Decisions: M not dividing a layer's input dimension is a PruneError naming the layer and the
dimension (``--exclude`` that layer to prune the others), never a silent skip. A depthwise kernel
has no input-channel reduction (each output reads one input channel): it is left dense, with a
logged warning and ``skipped`` in the report. ``sparsity`` does not apply (N:M fixes it at 1 − N/M).
"""

from __future__ import annotations

import numpy as np

from ..errors import PruneError
from ..ir.graph import Graph
from .methods import PruneResult, register_method
from .options import PruneOptions
from .pipeline import Plan, prune_weights
from .stats import LayerStats
from .targets import Target

DEPTHWISE_SKIP = "no input-channel (reduction) axis (depthwise): N:M does not apply"


def nm_zero(w: np.ndarray, n: int, m: int, in_axis: int) -> np.ndarray:
    """``w`` with the M − N smallest-magnitude weights of every group of M consecutive entries along
    ``in_axis`` set to 0 (ties: the first)."""
    moved = np.moveaxis(np.asarray(w), in_axis, -1)
    groups = moved.reshape(*moved.shape[:-1], moved.shape[-1] // m, m)
    drop = np.argsort(np.abs(groups), axis=-1, kind="stable")[..., :m - n]
    out = groups.copy()
    np.put_along_axis(out, drop, 0, axis=-1)
    return np.moveaxis(out.reshape(moved.shape), -1, in_axis)


def nm_holds(w: np.ndarray, n: int, m: int, in_axis: int) -> bool:
    """True when every group of M along ``in_axis`` has at most N nonzeros."""
    moved = np.moveaxis(np.asarray(w), in_axis, -1)
    groups = moved.reshape(*moved.shape[:-1], moved.shape[-1] // m, m)
    return bool(np.all(np.count_nonzero(groups, axis=-1) <= n))


def plan_nm(targets: list[Target], weights: dict[str, np.ndarray], options: PruneOptions,
            stats: dict[str, LayerStats], recover: bool = False) -> dict[str, Plan]:
    """N:M for every target with an input axis that M divides; PruneError naming the others."""
    plans: dict[str, Plan] = {}
    bad = []
    for t in targets:
        if t.axes.in_axis is None:
            plans[t.name] = Plan(skip=DEPTHWISE_SKIP)
            continue
        dim = weights[t.name].shape[t.axes.in_axis]
        if dim % options.m:
            bad.append(f"{t.layer} ({t.cls}) weight {t.name} input dimension {dim}")
        plans[t.name] = Plan(nm=(options.n, options.m))
    if bad:
        raise PruneError(f"N:M {options.n}:{options.m} needs M={options.m} to divide each layer's input "
                         f"dimension; it does not for: {'; '.join(bad)}. Exclude those layers "
                         "(--exclude NAME) to prune the others")
    if all(p.skip for p in plans.values()):
        raise PruneError("N:M: no layer left to prune (depthwise kernels have no input-channel axis)")
    return plans


@register_method("nm")
def prune_nm(graph: Graph, options: PruneOptions) -> PruneResult:
    """N:M pruning (see the module docstring)."""
    return prune_weights(graph, options, plan_nm)


__all__ = ["DEPTHWISE_SKIP", "nm_holds", "nm_zero", "plan_nm", "prune_nm"]
