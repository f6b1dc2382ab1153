"""The ``auto`` schedule of channel pruning: a sensitivity scan per channel group, then the
allocation that meets the global channel target with the least error.

Scan: each prunable group (not locked, not excluded) alone loses the fractions
:data:`CHANNEL_GRID` of its units (never more than :func:`.selection.group_caps`), the units chosen
as the ``layer`` schedule chooses them (:func:`.importance.greedy_removal` on the calibration
statistics), the consumers recovered as the run will recover them, and the whole model is run as
``.tflite`` on the calibration data (:class:`.scan.EndToEnd`: KL of the class probabilities, else
the relative squared change of the outputs). Group -> [(layer channels removed, error)] curves
(made monotone: more pruning never helps), spent by the one greedy allocator of the auto
schedules, :func:`.allocate.greedy_allocate`, until ``sparsity`` of the model's layer channels
(:func:`.selection.layer_channels`, the count the ``global`` schedule uses) are gone; the channel
counts are then rounded up to whole units, so the target is met (overshoot below one unit).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import PruneError
from ..ir.graph import Graph
from .allocate import greedy_allocate
from .groups import ChannelAnalysis
from .importance import greedy_removal, unit_channels, unit_params
from .scan import EndToEnd
from .selection import group_caps, layer_channels, select_units

#: fractions of a group's units removed by the scan (each point: one reconstruction and one model run)
CHANNEL_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75)
#: rounds of the local search that moves channels between two groups (each round: one model run per
#: ordered pair of groups)
REFINE_ROUNDS = 4

#: group -> [(layer channels removed, end-to-end error)], from (0, 0.0)
Curves = dict[int, list[tuple[int, float]]]


def live_groups(graph: Graph, analysis: ChannelAnalysis, exclude: tuple[str, ...], stats: list) -> list[int]:
    """Indices (into ``analysis.groups``) of the groups the schedule may prune: prunable and not
    excluded (as :func:`.selection.select_units` decides)."""
    choices = select_units(graph, analysis, 0.0, "l1", exclude, stats, "auto", budgets={})
    return [analysis.groups.index(c.group) for c in choices if c.note is None]


def scan_groups(graph: Graph, analysis: ChannelAnalysis, groups: list[int], stats: list,
                apply: Callable[[set[int]], Graph], error: Callable[[Graph], float],
                grid: tuple[float, ...] = CHANNEL_GRID) -> Curves:
    """Per group of ``groups``: [(layer channels removed, error)] along ``grid``; ``apply(removed
    units)`` is the pruned and recovered graph, ``error`` its distance from the unpruned model."""
    chans = unit_channels(graph, analysis)
    curves: Curves = {}
    for gi in groups:
        group = analysis.groups[gi]
        n, cap = len(group.units), group_caps(analysis.groups[gi])
        ks = sorted({min(cap, int(np.floor(f * n + 0.5))) for f in grid} - {0})
        pts = [(0, 0.0)]
        for k in ks:
            removed = {int(r) for r in group.units[greedy_removal(analysis, {gi: k}, stats)[gi]]}
            pts.append((sum(chans.get(r, 1) for r in removed), error(apply(removed))))
        best = 0.0
        curves[gi] = [(c, best := max(best, e)) for c, e in pts]
    return curves


def allocate_units(graph: Graph, analysis: ChannelAnalysis, curves: Curves, sparsity: float) -> dict[int, int]:
    """Units to remove per group: ``sparsity`` of the model's layer channels allocated along
    ``curves`` by :func:`.allocate.greedy_allocate`, rounded up to whole units (capped at the
    group's cap). A PruneError when the groups cannot lose that many."""
    total = int(np.floor(sparsity * layer_channels(graph) + 0.5))
    capacity = sum(c[-1][0] for c in curves.values())
    if total > capacity:
        raise PruneError(f"channel pruning at sparsity {sparsity:g} would remove {total} layer channels, more than "
                         f"the prunable groups can lose ({capacity}; each keeps at least a quarter of its channels "
                         f"and one); use a lower sparsity")
    chans = unit_channels(graph, analysis)
    counts = greedy_allocate({str(gi): c for gi, c in curves.items()}, total)
    units: dict[int, int] = {}
    for gi in curves:
        group = analysis.groups[gi]
        per_unit = sum(chans.get(int(r), 1) for r in group.units) / len(group.units)
        units[gi] = min(group_caps(group), int(np.ceil(counts[str(gi)] / per_unit - 1e-9)))
    return units


def _units(graph: Graph, analysis: ChannelAnalysis, exclude: tuple[str, ...], stats: list, schedule: str,
           sparsity: float, budgets: dict[int, int] | None) -> tuple[dict[int, int], set[int]]:
    """(units removed per group, the removed unit set) of one candidate allocation."""
    choices = select_units(graph, analysis, sparsity, "l1", exclude, stats, schedule, budgets)
    return ({analysis.groups.index(c.group): len(c.removed) for c in choices if c.note is None},
            {int(r) for c in choices for r in c.removed})


def auto_budgets(graph: Graph, analysis: ChannelAnalysis, sparsity: float, exclude: tuple[str, ...], stats: list,
                 apply: Callable[[set[int]], Graph], source: object,
                 batch_size: int) -> tuple[dict[int, int], Curves, dict[str, float]]:
    """(units to remove per group, the scan's curves, the measured error of each candidate) for the
    ``auto`` schedule at ``sparsity`` (``source``: the calibration data the error is measured on).
    The candidates are the scan's allocation and the ``global`` schedule's; both are pruned,
    recovered and run, and the one with the lower end-to-end error wins (the per-group curves do
    not add up: on the digits CNN at 30% the groups' errors alone sum to 0.13 for the scan's
    allocation and 0.16 for global's, measured together 0.094 and 0.067). Then a local search: the
    smallest move of layer channels from one group to another (whole units on both sides, the
    total unchanged, the weights removed not fewer) is taken while the best of them lowers the measured error, at most
    :data:`REFINE_ROUNDS` times."""
    e2e = EndToEnd(graph, source, batch_size)
    curves = scan_groups(graph, analysis, live_groups(graph, analysis, exclude, stats), stats, apply, e2e.error)
    scanned = allocate_units(graph, analysis, curves, sparsity)
    candidates = {"scan": _units(graph, analysis, exclude, stats, "auto", sparsity, scanned),
                  "global": _units(graph, analysis, exclude, stats, "global", sparsity, None)}
    errors = {k: e2e.error(apply(removed)) for k, (_, removed) in candidates.items()}
    best = min(errors, key=lambda k: (errors[k], k != "scan"))
    units, err = candidates[best][0], errors[best]
    chans = unit_channels(graph, analysis)
    per_unit = {gi: round(sum(chans.get(int(r), 1) for r in analysis.groups[gi].units) / len(analysis.groups[gi].units))
                for gi in units}
    caps = {gi: group_caps(analysis.groups[gi]) for gi in units}
    params = unit_params(graph, analysis)
    weight = {gi: sum(params.get(int(r), 0.0) for r in analysis.groups[gi].units) / len(analysis.groups[gi].units)
              for gi in units}
    for _ in range(REFINE_ROUNDS):
        tried = {}
        for a in units:
            for b in units:
                if a == b:
                    continue
                lcm = int(np.lcm(per_unit[a], per_unit[b]))
                moved = dict(units)
                moved[a] -= lcm // per_unit[a]
                moved[b] += lcm // per_unit[b]
                if moved[a] < 0 or moved[b] > caps[b] or weight[b] * (lcm // per_unit[b]) < weight[a] * (lcm // per_unit[a]):
                    continue
                removed = _units(graph, analysis, exclude, stats, "auto", sparsity, moved)[1]
                tried[(a, b)] = (e2e.error(apply(removed)), moved)
        if not tried:
            break
        move = min(tried, key=lambda m: tried[m][0])
        if tried[move][0] >= err:
            break
        err, units = tried[move]
    errors["refined"] = err
    return units, curves, errors


__all__ = ["CHANNEL_GRID", "REFINE_ROUNDS", "allocate_units", "auto_budgets", "live_groups", "scan_groups"]
