"""The pruning report: per Keras layer (the layers that own a prunable weight) -> sparsity of its
pruned weights, params and nonzero params (every constant its nodes read), MACs (``ir/cost.py``,
dense) and MACs over nonzero weights, what ran on it; totals; the method, schedule and recovery
steps; and, with ``eval`` data, accuracy / agreement before and after (:mod:`.evaluation`).

``build_report`` -> a JSON-ready dict (``--json``, ``--report out.json``); :func:`to_markdown` ->
the table the CLI prints (``--report out.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..ir.cost import node_macs
from ..ir.graph import Graph
from ..ir.ops import op_spec
from .targets import Target

if TYPE_CHECKING:
    from .options import PruneOptions
    from .pipeline import Plan


def _layer_consts(graph: Graph, layer: str) -> list[np.ndarray]:
    seen: dict[int, np.ndarray] = {}
    for n in graph.nodes:
        if n.origin is not None and n.origin.layer == layer:
            for v in n.inputs:
                if v is not None and v.is_const and v.const is not None:
                    seen.setdefault(id(v), np.asarray(v.const))
    return list(seen.values())


def _macs(graph: Graph, layer: str) -> tuple[int, int]:
    """(dense MACs, MACs over nonzero weights) of the layer's nodes."""
    dense = eff = 0
    for n in graph.nodes:
        if n.origin is None or n.origin.layer != layer:
            continue
        m = node_macs(n)
        dense += m
        axes = op_spec(n.op).weights
        w = n.inputs[axes.input] if axes is not None and len(n.inputs) > axes.input else None
        if m and w is not None and w.is_const and w.const is not None and w.const.size:
            eff += int(round(m * np.count_nonzero(w.const) / w.const.size))
        else:
            eff += m
    return dense, eff


def build_report(before: Graph, after: Graph, targets: list[Target], orig: dict[str, np.ndarray],
                 plans: dict[str, Plan], steps: dict[str, list[str]], options: PruneOptions,
                 recover: bool) -> dict[str, Any]:
    """The report of one pruning run (see the module docstring)."""
    from .evaluation import evaluate

    layers: dict[str, dict[str, Any]] = {}
    for t in targets:
        row = layers.setdefault(t.layer, {"layer": t.layer, "class": t.cls, "weights": [], "pruned": 0,
                                          "prunable": 0, "steps": []})
        w = np.asarray(t.value(after).const)
        row["weights"].append(t.name)
        row["prunable"] += int(w.size)
        row["pruned"] += int(w.size - np.count_nonzero(w))
        for s in steps[t.name]:
            if s not in row["steps"]:
                row["steps"].append(s)
    totals = {"params_before": 0, "params": 0, "nonzero_params": 0, "macs": 0, "nonzero_macs": 0,
              "prunable": 0, "pruned": 0}
    for name, row in layers.items():
        consts = _layer_consts(after, name)
        row["sparsity"] = round(row["pruned"] / row["prunable"], 6) if row["prunable"] else 0.0
        row["params"] = int(sum(c.size for c in consts))
        row["nonzero_params"] = int(sum(np.count_nonzero(c) for c in consts))
        row["params_before"] = int(sum(c.size for c in _layer_consts(before, name)))
        row["macs"], row["nonzero_macs"] = _macs(after, name)
        for k in totals:
            totals[k] += row[k]
    totals["sparsity"] = round(totals["pruned"] / totals["prunable"], 6) if totals["prunable"] else 0.0
    ran = sorted({s for ss in steps.values() for s in ss if not s.startswith("skipped")})
    report: dict[str, Any] = {
        "model": after.name, "method": options.method, "target_sparsity": float(options.sparsity),
        "schedule": options.schedule if options.method == "magnitude" else None,
        "nm": f"{options.n}:{options.m}" if options.method == "nm" else None,
        "exclude": list(options.exclude), "recover": recover, "ran": ran,
        "layers": list(layers.values()), "totals": totals,
    }
    if options.eval is not None:
        report["eval"] = evaluate(before, after, options.eval, options.batch_size)
    return report


def to_markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table with a header line and, when evaluated, the accuracy line."""
    head = f"Pruned {report.get('model')} with {report.get('method')}"
    if report.get("nm"):
        head += f" {report['nm']}"
    if report.get("schedule"):
        head += f" (schedule {report['schedule']}, target sparsity {report['target_sparsity']:.2f})"
    head += f"; ran: {', '.join(report.get('ran', [])) or 'nothing'}"
    lines = [head, "", "| layer | class | sparsity | params | nonzero | MACs | nonzero MACs | steps |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in report.get("layers", []):
        lines.append(f"| {r['layer']} | {r['class']} | {100 * r['sparsity']:.1f}% | {r['params']} | "
                     f"{r['nonzero_params']} | {r['macs']} | {r['nonzero_macs']} | {', '.join(r['steps'])} |")
    t = report.get("totals", {})
    if t:
        lines.append(f"| **total** | | {100 * t['sparsity']:.1f}% | {t['params']} | {t['nonzero_params']} | "
                     f"{t['macs']} | {t['nonzero_macs']} | |")
    ev = report.get("eval")
    if ev:
        lines.append("")
        if "accuracy_before_pct" in ev:
            lines.append(f"Accuracy on {ev['samples']} eval samples: {ev['accuracy_before_pct']:.2f}% -> "
                         f"{ev['accuracy_after_pct']:.2f}% ({0.0 - ev['accuracy_drop_pts'] + 0.0:+.2f} pts); top-1 "
                         f"agreement with the unpruned model {ev['agreement_pct']:.2f}%")
        else:
            lines.append(f"Top-1 agreement with the unpruned model on {ev['samples']} eval samples: "
                         f"{ev['agreement_pct']:.2f}%")
    return "\n".join(lines) + "\n"


__all__ = ["build_report", "to_markdown"]
