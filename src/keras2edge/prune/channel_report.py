"""The channel-pruning report: one row per Keras layer that has weights or channels (channels,
parameters, MACs and float weight bytes before and after), totals, and one entry per channel group
(its layers, units before/after, or why it was kept)."""

from __future__ import annotations

from typing import Any

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
                                       "channels": None, "params": 0, "macs": 0, "bytes": 0})
        row["macs"] += node_macs(node)
        for v in node.inputs:
            if v is not None and v.const is not None and id(v) not in seen and v.const.dtype.kind == "f":
                seen.add(id(v))
                row["params"] += int(v.const.size)
                row["bytes"] += int(v.const.nbytes)
        if op_spec(node.op).weights is not None and node.outputs and node.outputs[0].rank:
            row["channels"] = node.outputs[0].shape[-1]
    return {k: r for k, r in stats.items() if r["params"] or r["macs"]}


def channel_report(before: Graph, after: Graph, choices: list[GroupChoice], recovery: dict[str, Any]) -> dict[str, Any]:
    """The report of a channel-pruning run (JSON-ready)."""
    b, a = _layer_stats(before), _layer_stats(after)
    rows = []
    for layer, rb in b.items():
        ra = a.get(layer, {"channels": 0, "params": 0, "macs": 0, "bytes": 0})
        rows.append({"layer": layer, "class": rb["class"],
                     "channels_before": rb["channels"], "channels_after": ra["channels"],
                     "params_before": rb["params"], "params_after": ra["params"],
                     "macs_before": rb["macs"], "macs_after": ra["macs"],
                     "bytes_before": rb["bytes"], "bytes_after": ra["bytes"]})
    totals = {k: sum(r[k] for r in rows) for k in ("params_before", "params_after", "macs_before", "macs_after",
                                                    "bytes_before", "bytes_after")}
    groups = [{"layers": c.group.layers, "channels_before": len(c.group.units),
               "channels_after": len(c.group.units) - len(c.removed), **({"note": c.note} if c.note else {})}
              for c in choices]
    return {"method": "channel", "layers": rows, "totals": totals, "groups": groups, "recovery": recovery}


__all__ = ["channel_report"]
