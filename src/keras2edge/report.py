"""`inspect` reports: per Keras layer name, class, output shapes, params and MACs, with totals."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .ir import Graph
from .ir.cost import node_macs


@dataclass
class LayerRow:
    name: str
    cls: str
    output_shapes: list[list[int | None]]
    params: int
    macs: int


@dataclass
class ModelReport:
    path: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    layers: list[LayerRow] = field(default_factory=list)

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "inputs": self.inputs, "outputs": self.outputs,
                "layers": [asdict(r) for r in self.layers],
                "total_params": self.total_params, "total_macs": self.total_macs}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        def shp(s: list[int | None]) -> str:
            return "(" + ", ".join("None" if d is None else str(d) for d in s) + ")"

        rows = [(r.name, r.cls, " ".join(shp(s) for s in r.output_shapes), f"{r.params:,}", f"{r.macs:,}")
                for r in self.layers]
        head = ("Layer", "Class", "Output shape", "Params", "MACs")
        widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
        fmt = "  ".join(f"{{:<{w}}}" if i < 3 else f"{{:>{w}}}" for i, w in enumerate(widths))
        lines = [f"Model: {self.path}"]
        lines += [f"Input:  {i['name']} {i['dtype']} {shp(i['shape'])}" for i in self.inputs]
        lines += [f"Output: {o['name']} {o['dtype']} {shp(o['shape'])}" for o in self.outputs]
        lines += [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
        lines += [fmt.format(*row) for row in rows]
        lines.append(f"Total params: {self.total_params:,}   Total MACs (per sample): {self.total_macs:,}")
        return "\n".join(lines)


def graph_report(graph: Graph, path: str) -> ModelReport:
    """Build the report from an imported (not yet optimized) graph and its layer records."""
    macs: dict[str, int] = {}
    for n in graph.nodes:
        if n.origin is not None:
            macs[n.origin.layer] = macs.get(n.origin.layer, 0) + node_macs(n)

    def io(v: Any) -> dict[str, Any]:
        return {"name": v.name, "dtype": v.dtype.value, "shape": list(v.shape)}

    rep = ModelReport(path, [io(v) for v in graph.inputs], [io(v) for v in graph.outputs])
    for rec in graph.layers:
        rep.layers.append(LayerRow(rec.name, rec.cls, [list(s) for s in rec.output_shapes], rec.params,
                                   macs.get(rec.name, 0)))
    return rep
