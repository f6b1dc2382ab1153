"""`inspect` reports: per Keras layer name, class, output shapes, params and MACs, with totals."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from .ir import Graph
from .ir.cost import node_macs
from .runtime.limits import Limits


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
    # The Keras backend the weights were read as: {"backend", "rule", "evidence"} (see
    # convert/keras/backend.py); empty for a graph that did not come from a Keras file.
    keras_backend: dict[str, str] = field(default_factory=dict)

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "inputs": self.inputs, "outputs": self.outputs,
                "keras_backend": self.keras_backend, "layers": [asdict(r) for r in self.layers],
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
        if self.keras_backend:
            b = self.keras_backend
            lines.append(f"Keras backend: {b['backend']} (rule {b['rule']}: {b['evidence']})")
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

    md = graph.metadata  # keys written by convert/keras/backend.py (BackendChoice.metadata)
    backend = ({"backend": md["keras_backend"], "rule": md.get("keras_backend_rule", ""),
                "evidence": md.get("keras_backend_evidence", "")} if "keras_backend" in md else {})
    rep = ModelReport(path, [io(v) for v in graph.inputs], [io(v) for v in graph.outputs], keras_backend=backend)
    for rec in graph.layers:
        rep.layers.append(LayerRow(rec.name, rec.cls, [list(s) for s in rec.output_shapes], rec.params,
                                   macs.get(rec.name, 0)))
    return rep


# ---------------------------------------------------------------------------- .tflite files

def tflite_op_macs(op: str, shapes: list[tuple[int, ...] | None], out_shape: tuple[int, ...]) -> int:
    """MACs per sample of one TFLite operator from its tensor shapes (batch excluded).

    CONV_2D filter OHWI: out * KH*KW*I; DEPTHWISE_CONV_2D filter (1,KH,KW,C*M): out * KH*KW;
    FULLY_CONNECTED weights (N, K): out * K; TRANSPOSE_CONV (inputs: output_shape, W OHWI, x):
    x * KH*KW*O; BATCH_MATMUL: out * K.
    """
    def per_sample(shape: tuple[int, ...]) -> int:
        return int(math.prod(shape[1:])) if len(shape) > 1 else int(math.prod(shape))

    w = shapes[1] if len(shapes) > 1 else None
    if op == "CONV_2D" and w is not None and len(w) == 4:
        return per_sample(out_shape) * w[1] * w[2] * w[3]
    if op == "DEPTHWISE_CONV_2D" and w is not None and len(w) == 4:
        return per_sample(out_shape) * w[1] * w[2]
    if op == "FULLY_CONNECTED" and w is not None and len(w) == 2:
        return per_sample(out_shape) * w[1]
    if op == "TRANSPOSE_CONV" and w is not None and len(w) == 4 and len(shapes) > 2 and shapes[2] is not None:
        return per_sample(shapes[2]) * w[0] * w[1] * w[2]
    if op == "BATCH_MATMUL" and shapes and shapes[0] is not None and out_shape:
        return per_sample(out_shape) * (shapes[0][-1] if shapes[0] else 1)
    return 0


def tflite_report(path: str, limits: Limits | None = None) -> dict[str, Any]:
    """A ``.tflite`` file's ops (with versions and MACs), tensors (dtype, shape, quantization),
    planned arena bytes and totals, read with keras2edge's own runtime (held to ``limits``)."""
    from .runtime import Interpreter
    from .runtime.codes import tensor_type_name
    from .runtime.schema import op_name

    interp = Interpreter(path, limits=limits)
    model = interp.model
    sg = model.subgraphs[0]

    def tensor_row(i: int) -> dict[str, Any]:
        t = sg.tensors[i]
        q = t.quantization
        return {"index": i, "name": t.name, "dtype": tensor_type_name(t.type),
                "shape": list(t.shape), "shape_signature": list(t.shape_signature or t.shape),
                "constant": model.tensor_data(0, i) is not None,
                "quantization": None if q is None else {
                    "scale": [float(s) for s in q.scale[:8]], "zero_point": [int(z) for z in q.zero_point[:8]],
                    "channels": int(len(q.scale)), "quantized_dimension": int(q.quantized_dimension)}}

    ops = []
    for k, op in enumerate(sg.operators):
        code = model.operator_codes[op.opcode_index]
        name = op_name(code.builtin_code) if code.custom_code is None else f"CUSTOM:{code.custom_code}"
        shapes = [tuple(sg.tensors[i].shape) if i >= 0 else None for i in op.inputs]
        out_shape = tuple(sg.tensors[op.outputs[0]].shape) if op.outputs else ()
        ops.append({"index": k, "op": name, "version": code.version,
                    "inputs": [sg.tensors[i].name if i >= 0 else None for i in op.inputs],
                    "outputs": [sg.tensors[i].name for i in op.outputs],
                    "dtype": tensor_type_name(sg.tensors[op.inputs[0]].type) if op.inputs and op.inputs[0] >= 0
                    else "?", "macs": tflite_op_macs(name, shapes, out_shape)})
    consts = [i for i in range(len(sg.tensors)) if model.tensor_data(0, i) is not None]
    return {
        "path": path, "version": model.version, "description": model.description, "bytes": os.path.getsize(path),
        "inputs": [tensor_row(i) for i in sg.inputs], "outputs": [tensor_row(i) for i in sg.outputs],
        "ops": ops, "tensors": [tensor_row(i) for i in range(len(sg.tensors))],
        "metadata": [m.name for m in model.metadata],
        "signatures": [s.signature_key for s in model.signature_defs],
        "arena_bytes": interp.arena_bytes,
        # a sparse constant (Tensor.sparsity) counts the bytes it stores, not its dense size
        "weight_bytes": int(sum(int(model.buffers[sg.tensors[i].buffer].size) if sg.tensors[i].sparsity is not None
                                else sg.tensors[i].dtype.itemsize * math.prod(sg.tensors[i].shape) for i in consts)),
        "total_macs": sum(o["macs"] for o in ops),
    }


def tflite_report_text(rep: dict[str, Any]) -> str:
    def shp(s: list[int]) -> str:
        return "(" + ", ".join(str(d) for d in s) + ")"

    lines = [f"TFLite model: {rep['path']} ({rep['bytes']:,} bytes, schema v{rep['version']}"
             f"{', ' + rep['description'] if rep['description'] else ''})"]
    for kind in ("inputs", "outputs"):
        for t in rep[kind]:
            q = f" q(scale {t['quantization']['scale'][0]:.6g}, zp {t['quantization']['zero_point'][0]})" \
                if t["quantization"] else ""
            lines.append(f"{kind[:-1].capitalize():<7} {t['name']} {t['dtype']} {shp(t['shape_signature'])}{q}")
    head = ("#", "Op", "v", "Dtype", "Output", "MACs")
    rows = [(str(o["index"]), o["op"], str(o["version"]), o["dtype"], o["outputs"][0] if o["outputs"] else "",
             f"{o['macs']:,}") for o in rep["ops"]]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:>{w}}}" if i in (0, 5) else f"{{:<{w}}}" for i, w in enumerate(widths))
    lines += [fmt.format(*head)] + [fmt.format(*r) for r in rows]
    counts: dict[str, int] = {}
    for o in rep["ops"]:
        counts[o["op"]] = counts.get(o["op"], 0) + 1
    lines.append("Ops: " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())))
    lines.append(f"Tensors: {len(rep['tensors'])}   Weights: {rep['weight_bytes']:,} bytes   "
                 f"Arena (planned intermediates): {rep['arena_bytes']:,} bytes   MACs: {rep['total_macs']:,}")
    return "\n".join(lines)
