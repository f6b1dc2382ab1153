"""Channel selection: which units of each channel group go.

Importance of a unit (a set of tied channels, :mod:`.groups`) = the sum over the group's producers of
the norm of its filter (``criterion`` ``"l1"`` or ``"l2"``, along the kernel's output axis from the
op spec's ``WeightAxes``), each filter scaled by the BatchNormalization right after the producer (the
filter's effective size once BatchNorm is folded), or, with calibration data, the greedy
reconstruction cost of :mod:`.importance`. Schedule ``"layer"``: ``sparsity`` is the fraction of
units removed in every prunable group (rounded to the nearest unit); a request that would remove
every unit of a group is a PruneError naming its layers. Schedule ``"global"``: ``sparsity`` is the
fraction of the model's layer channels removed, where they cost least, no group losing more than
``MAX_GROUP_SPARSITY``. Schedule ``"auto"``: the units per group are given (``budgets``, from the
sensitivity scan of :mod:`.channel_auto`), the units chosen inside each group as for ``"layer"``.
:func:`group_caps` is the most each group may lose (``"global"`` and ``"auto"``). Groups with a
producer matching an ``exclude`` glob, and groups :mod:`.groups` locked, are left whole.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import numpy as np

from ..errors import PruneError
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.ops import op_spec
from ..ir.ops.normalization import batchnorm_scale_shift
from .groups import ChannelAnalysis, ChannelGroup
from .importance import greedy_removal, unit_channels, unit_params

CRITERIA = ("l1", "l2")
SCHEDULES = ("layer", "global", "auto")
#: The most one group loses under the global schedule.
MAX_GROUP_SPARSITY = 0.75


@dataclass
class GroupChoice:
    """What selection decided for one group: the units removed (roots) or why none were."""

    group: ChannelGroup
    removed: np.ndarray
    note: str | None = None


def _bn_scale(graph: Graph, node: Node) -> np.ndarray | None:
    """|gamma / sqrt(var + eps)| of a BatchNorm that is the producer's only consumer, if any."""
    users = graph.consumers(node.outputs[0])
    if len(users) != 1 or users[0].op != "BatchNorm" or graph.is_output(node.outputs[0]):
        return None
    bn = users[0]
    stats = [None if v is None else v.const for v in bn.inputs[1:5]] + [None] * (5 - len(bn.inputs))
    if stats[0] is None or stats[1] is None:
        return None
    scale, _ = batchnorm_scale_shift(stats[0], stats[1], stats[2], stats[3], float(bn.attrs["epsilon"]))
    return np.abs(scale)


def filter_norms(graph: Graph, node: Node, criterion: str) -> np.ndarray:
    """Per output channel of producer ``node``: the ``criterion`` norm of its filter, scaled by the
    BatchNorm that follows it."""
    axes = op_spec(node.op).weights
    assert axes is not None
    w = node.inputs[axes.input]
    assert w is not None and w.const is not None
    k = np.moveaxis(np.asarray(w.const, np.float64), axes.out_axis, -1).reshape(-1, w.shape[axes.out_axis])
    norms = np.abs(k).sum(axis=0) if criterion == "l1" else np.sqrt((k * k).sum(axis=0))
    scale = _bn_scale(graph, node)
    return norms * scale if scale is not None and scale.shape == norms.shape else norms


def unit_importance(graph: Graph, analysis: ChannelAnalysis, group: ChannelGroup, criterion: str) -> np.ndarray:
    """Importance per unit of ``group`` (aligned with ``group.units``), normalised per producer so
    that producers of different scales weigh alike."""
    index = {int(r): i for i, r in enumerate(group.units)}
    score = np.zeros(len(group.units))
    for node in group.producers:
        norms = filter_norms(graph, node, criterion)
        norms = norms / (norms.mean() or 1.0)
        for r, s in zip(analysis.roots(analysis.producer_ids[node.name]), norms):
            score[index[int(r)]] += s
    return score


def layer_channels(graph: Graph) -> int:
    """Output channels of every node with weights (Conv2D, DepthwiseConv2D, Dense, ...): the count
    the global schedule's sparsity is a fraction of."""
    return sum(int(n.outputs[0].shape[-1] or 0) for n in graph.nodes
               if op_spec(n.op).weights is not None and n.outputs and n.outputs[0].rank)


def group_caps(group: ChannelGroup) -> int:
    """The most units ``group`` may lose under the global and auto schedules: ``MAX_GROUP_SPARSITY``
    of them, and never all."""
    return min(len(group.units) - 1, int(np.floor(MAX_GROUP_SPARSITY * len(group.units))))


def _names(group: ChannelGroup) -> str:
    return ", ".join(f"{p.origin.layer} ({p.origin.cls})" if p.origin else p.name for p in group.producers)


def select_units(graph: Graph, analysis: ChannelAnalysis, sparsity: float, criterion: str = "l1",
                 exclude: tuple[str, ...] = (), stats: list | None = None,
                 schedule: str = "layer", budgets: dict[int, int] | None = None) -> list[GroupChoice]:
    """The units to remove, per group. ``stats`` (:func:`.importance.consumer_stats`) selects by the
    data-driven reconstruction cost (greedy, :func:`.importance.greedy_removal`) instead of the
    weight-norm ``criterion``. ``schedule`` ``"layer"``: the same fraction of every prunable group;
    ``"global"``: the least important units (compared across groups, by cost per weight removed)
    until ``sparsity`` of the model's layer channels are gone (:func:`layer_channels`: the output
    channels of every layer with weights, depthwise ones included, those of layers that cannot be
    pruned too; a unit spans one channel of each producer and depthwise layer of its group), never
    more than ``MAX_GROUP_SPARSITY`` of one group; ``"auto"``: ``budgets`` (group index into
    ``analysis.groups`` -> units removed) per group, data-driven (``stats``) only."""
    if criterion not in CRITERIA:
        raise PruneError(f"unknown channel criterion {criterion!r}; supported: {', '.join(CRITERIA)}, activation")
    if schedule not in SCHEDULES:
        raise PruneError(f"channel pruning schedule {schedule!r} is not supported; supported: {', '.join(SCHEDULES)}")
    choices: list[GroupChoice] = []
    live: list[tuple[int, np.ndarray]] = []
    for gi, group in enumerate(analysis.groups):
        hit = [name for name in group.layers if any(fnmatch.fnmatchcase(name, pat) for pat in exclude)]
        if not group.prunable:
            choices.append(GroupChoice(group, np.zeros(0, np.int64), f"kept: {group.reason}"))
        elif hit:
            choices.append(GroupChoice(group, np.zeros(0, np.int64), f"excluded: {', '.join(hit)}"))
        else:
            score = None if stats is not None else unit_importance(graph, analysis, group, criterion)
            choices.append(GroupChoice(group, np.zeros(0, np.int64)))
            live.append((len(choices) - 1, score))
    if not live:
        return choices
    gidx = {ci: analysis.groups.index(choices[ci].group) for ci, _ in live}
    if schedule == "auto":
        if stats is None or budgets is None:
            raise PruneError("channel pruning schedule 'auto' needs calibration data (--calibration) and the "
                             "'activation' criterion (its sensitivity scan reconstructs on that data)")
        budgets = {ci: int(budgets.get(gidx[ci], 0)) for ci, _ in live}
    elif schedule == "global":
        budgets = None
    else:
        budgets = {}
        for ci, score in live:
            group = choices[ci].group
            n = len(group.units)
            k = int(np.floor(sparsity * n + 0.5))
            if k >= n:
                raise PruneError(f"channel pruning at sparsity {sparsity:g} would remove all {n} channels of "
                                 f"layer {_names(group)}; use a lower sparsity or exclude that layer")
            budgets[ci] = k
    if budgets is not None:
        if stats is not None:
            picked = greedy_removal(analysis, {gidx[ci]: k for ci, k in budgets.items()}, stats)
            for ci in budgets:
                choices[ci].removed = choices[ci].group.units[picked[gidx[ci]]]
            return choices
        for ci, score in live:
            assert score is not None
            choices[ci].removed = choices[ci].group.units[np.argsort(score, kind="stable")[:budgets[ci]]]
        return choices
    chans = unit_channels(graph, analysis)
    total = layer_channels(graph)
    k = int(np.floor(sparsity * total + 0.5))
    caps = {ci: group_caps(choices[ci].group) for ci, _ in live}
    capacity = sum(caps[ci] * sum(chans.get(int(r), 1) for r in choices[ci].group.units) / len(choices[ci].group.units)
                   for ci, _ in live)
    if k > capacity:
        worst = min(live, key=lambda t: len(choices[t[0]].group.units))[0]
        raise PruneError(f"channel pruning at sparsity {sparsity:g} would remove {k} of {total} channels, more than "
                         f"the groups can lose (each keeps at least {1 - MAX_GROUP_SPARSITY:.0%} and one channel; "
                         f"the smallest is layer {_names(choices[worst].group)}); use a lower sparsity")
    if stats is not None:
        picked = greedy_removal(analysis, {gidx[ci]: 0 for ci, _ in live}, stats, total=k,
                                caps={gidx[ci]: caps[ci] for ci, _ in live}, params=unit_params(graph, analysis),
                                channels=chans)
        for ci, _ in live:
            choices[ci].removed = choices[ci].group.units[picked[gidx[ci]]]
        return choices
    ranked = sorted(((float(s), ci, j) for ci, score in live if score is not None for j, s in enumerate(score)))
    taken: dict[int, list[int]] = {ci: [] for ci, _ in live}
    left = k
    for _s, ci, j in ranked:
        if left <= 0:
            break
        if len(taken[ci]) < caps[ci]:
            taken[ci].append(j)
            left -= chans.get(int(choices[ci].group.units[j]), 1)
    for ci, js in taken.items():
        choices[ci].removed = choices[ci].group.units[np.array(js, np.int64)] if js else np.zeros(0, np.int64)
    return choices


__all__ = ["CRITERIA", "GroupChoice", "filter_norms", "group_caps", "layer_channels", "select_units", "unit_importance"]
