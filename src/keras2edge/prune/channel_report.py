"""The channel-pruning report: one row per Keras layer that has weights or channels (channels,
parameters, MACs and float weight bytes before and after, plus the keys every method's report
rows have), totals, one entry per channel group (its layers, units before/after, or why it was
kept) and the recovery steps that ran."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir.cost import node_macs
from ..ir.graph import Graph
from ..ir.ops import op_spec
from .selection import GroupChoice


def _layer_stats(graph: Graph) -> dict[str, dict[str, Any]]:
    stats: dict[str, dict[str, Any]] = {}
    seen: set[int] = set()
    for node in graph.nodes:
        layer = node.origin.layer if node.origin else node.name
        row = stats.setdefault(layer, {"layer": layer, "class": node.origin.cls if node.origin else node.op,
                                       "channels": None, "params": 0, "nonzero": 0, "macs": 0, "bytes": 0})
        row["macs"] += node_macs(node)
        for v in node.inputs:
            if v is not None and v.const is not None and id(v) not in seen and v.const.dtype.kind == "f":
                seen.add(id(v))
                row["params"] += int(v.const.size)
                row["nonzero"] += int(np.count_nonzero(v.const))
                row["bytes"] += int(v.const.nbytes)
        if op_spec(node.op).weights is not None and node.outputs and node.outputs[0].rank:
            row["channels"] = node.outputs[0].shape[-1]
    return {k: r for k, r in stats.items() if r["params"] or r["macs"]}


def channel_report(before: Graph, after: Graph, choices: list[GroupChoice], recovery: dict[str, Any],
                   options: Any = None) -> dict[str, Any]:
    """The report of a channel-pruning run (JSON-ready). Rows carry the channel figures
    (``channels_before/after``, ``params_before/after``, ``macs_before/after``, ``bytes_before/after``)
    and the keys every method's report has (``sparsity`` = fraction of the layer's channels removed,
    ``params``, ``nonzero_params``, ``macs``, ``nonzero_macs``, ``steps``: the recovery steps that
    changed the layer)."""
    b, a = _layer_stats(before), _layer_stats(after)
    touched: dict[str, list[str]] = {}
    for step in ("reconstruction", "bias_correction", "batchnorm_reestimation"):
        for where in recovery.get(step) or ():
            touched.setdefault(str(where).split(" (")[0], []).append(step)
    rows = []
    for layer, rb in b.items():
        ra = a.get(layer, {"channels": 0, "params": 0, "nonzero": 0, "macs": 0, "bytes": 0})
        cb, ca = rb["channels"], ra["channels"]
        rows.append({"layer": layer, "class": rb["class"],
                     "channels_before": cb, "channels_after": ca,
                     "params_before": rb["params"], "params_after": ra["params"],
                     "macs_before": rb["macs"], "macs_after": ra["macs"],
                     "bytes_before": rb["bytes"], "bytes_after": ra["bytes"],
                     "sparsity": round(1 - ca / cb, 6) if cb else 0.0,
                     "params": ra["params"], "nonzero_params": ra["nonzero"], "macs": ra["macs"],
                     "nonzero_macs": ra["macs"], "steps": touched.get(layer, [])})
    totals = {k: sum(r[k] for r in rows) for k in ("params_before", "params_after", "macs_before", "macs_after",
                                                    "bytes_before", "bytes_after", "params", "nonzero_params",
                                                    "macs", "nonzero_macs")}
    chans_before = sum(r["channels_before"] or 0 for r in rows)
    chans_after = sum(r["channels_after"] or 0 for r in rows)
    totals.update({"channels_before": chans_before, "channels_after": chans_after,
                   "prunable": chans_before, "pruned": chans_before - chans_after,
                   "sparsity": round(1 - chans_after / chans_before, 6) if chans_before else 0.0})
    groups = [{"layers": c.group.layers, "channels_before": len(c.group.units),
               "channels_after": len(c.group.units) - len(c.removed), **({"note": c.note} if c.note else {})}
              for c in choices]
    ran = [k for k in ("reconstruction", "bias_correction", "batchnorm_reestimation") if recovery.get(k)]
    return {"model": after.name, "method": "channel",
            "target_sparsity": None if options is None else float(options.sparsity),
            "schedule": None if options is None else options.schedule or "global", "nm": None,
            "exclude": [] if options is None else list(options.exclude),
            "recover": bool(ran), "ran": ran, "layers": rows, "totals": totals, "groups": groups,
            "recovery": recovery}


__all__ = ["channel_report"]
