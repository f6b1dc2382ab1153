"""The ``channel`` pruning method: structured channel (filter) pruning that physically removes
output channels and rewires every consumer, then recovers accuracy from calibration data.

Steps, one module each: :mod:`.groups` (which channels go together, from the op specs),
:mod:`.selection` (which units go: filter norms, ``sparsity`` per group, ``exclude``),
:mod:`.surgery` (the constants sliced on a copy, shapes re-inferred), :mod:`.recovery`
(reconstruction, bias correction, BatchNorm re-estimation; on when calibration data is given) and
:mod:`.channel_report` (per-Keras-layer rows). The input graph is never modified.
"""

from __future__ import annotations

from typing import Any

from ..errors import PruneError
from ..ir.graph import Graph
from .activations import calibration_list
from .channel_report import channel_report
from .groups import find_groups
from .importance import consumer_stats
from .methods import PruneResult, register_method
from .options import PruneOptions
from .recovery import find_sinks, reconstruct, reestimate_batchnorm
from .selection import select_units
from .surgery import remove_units


def _steps(options: PruneOptions) -> dict[str, bool]:
    """Which recovery steps run: ``reconstruct`` None follows ``recover`` (None: on when calibration
    data is given); bias correction runs with recovery when reconstruction does not (the
    reconstruction's intercept subsumes it) unless ``bias_correction`` is False; BatchNorm
    re-estimation only when asked."""
    default = options.recover if options.recover is not None else options.calibration is not None
    recon = options.reconstruct if options.reconstruct is not None else default
    bias = bool(options.bias_correction) and default and not recon
    # BatchNorm re-estimation is opt-in: after reconstruction it undoes the least-squares fit's
    # shrinkage and costs accuracy (digits CNN at 30%: 97.22% -> 95.83%); see recovery.py.
    bn = bool(options.bn_reestimate)
    steps = {"reconstruction": bool(recon), "bias_correction": bool(bias) and not recon,
             "batchnorm_reestimation": bool(bn)}
    if any(steps.values()) and options.calibration is None:
        asked = ", ".join(k for k, v in steps.items() if v)
        raise PruneError(f"channel pruning recovery ({asked}) needs calibration data (--calibration)")
    return steps


@register_method("channel")
def prune_channels(graph: Graph, options: PruneOptions) -> PruneResult:
    """Remove ``options.sparsity`` of the output channels of every prunable channel group of
    ``graph`` (a float graph before BatchNorm folding) and recover accuracy as ``options`` asks.
    Returns the new graph and the report (rows per Keras layer, groups, recovery steps run)."""
    steps = _steps(options)
    analysis = find_groups(graph)
    criterion = options.criterion or ("activation" if options.calibration is not None else "l1")
    batches = None if options.calibration is None else calibration_list(graph, options.calibration,
                                                                         options.batch_size)
    stats = None
    if criterion == "activation":
        if batches is None:
            raise PruneError("the channel criterion 'activation' needs calibration data (--calibration)")
        stats = consumer_stats(graph, analysis, batches)
    choices = select_units(graph, analysis, float(options.sparsity), "l1" if stats is not None else criterion,
                           tuple(options.exclude), stats, options.schedule or "global")
    removed = {int(r) for c in choices for r in c.removed}
    pruned = remove_units(graph, analysis, removed)
    recovery: dict[str, Any] = {k: False for k in steps}
    recovery["criterion"] = criterion
    if removed and any(steps.values()) and batches is not None:
        sinks, notes = find_sinks(graph, analysis, removed)
        if notes:
            recovery["notes"] = notes
        changed = {u.node for u in analysis.uses if not analysis.keep_mask(u.ids, removed).all()}
        if steps["reconstruction"] or steps["bias_correction"]:
            key = "reconstruction" if steps["reconstruction"] else "bias_correction"
            done = reconstruct(graph, pruned, sinks, batches, solve=steps["reconstruction"])
            recovery[key] = sorted(k for k, v in done.items() if v.startswith("solved")) if key == "reconstruction" \
                else sorted(done)
            if key == "reconstruction" and len(recovery[key]) < len(done):
                recovery["bias_correction"] = sorted(k for k, v in done.items() if not v.startswith("solved"))
            recovery["consumers"] = done
        if steps["batchnorm_reestimation"]:
            recovery["batchnorm_reestimation"] = reestimate_batchnorm(pruned, changed, batches)
        recovery["calibration_samples"] = sum(next(iter(b.values())).shape[0] for b in batches)
    return PruneResult(pruned, channel_report(graph, pruned, choices, recovery, options))


__all__ = ["prune_channels"]
