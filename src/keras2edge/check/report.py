"""``keras2edge check MODEL.tflite --target tflm``: can this file run on TFLite Micro, and with what.

:func:`check_tflm` reads a ``.tflite`` file (keras2edge's own reader, no TensorFlow) and returns a
:class:`TflmCheck`: every operator TFLite Micro cannot run (:mod:`.support`, with the Keras layer it
came from when keras2edge wrote the file), the tensor arena to give ``tflite::MicroInterpreter``
(:mod:`.arena`), the flash the model takes, and each input and output as the C a firmware author
writes to fill or read it. ``to_dict`` is the documented JSON form (docs/tflm-check.md), ``to_text``
the table the CLI prints.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..runtime.limits import Limits
from ..runtime.model import Model, SubGraph
from .arena import FIRMWARE_64, PYTHON_64, ArenaEstimate, estimate_arena
from .support import (
    SUPPORTED,
    UNSUPPORTED,
    UNVERIFIED,
    WRONG,
    OpFinding,
    check_op,
    data_dtype,
    op_name,
)

SCHEMA_VERSION = 1
_C_TYPES = {"int8": ("int8", "int8_t", -128, 127), "uint8": ("uint8", "uint8_t", 0, 255),
            "int16": ("i16", "int16_t", -32768, 32767), "int32": ("i32", "int32_t", None, None),
            "float32": ("f", "float", None, None), "bool": ("b", "bool", None, None),
            "int64": ("i64", "int64_t", None, None)}


@dataclass(frozen=True)
class TensorIO:
    """One model input or output, as a firmware author sees it."""

    index: int  # position among the model's inputs (or outputs)
    name: str
    dtype: str
    shape: list[int]
    scale: float | None
    zero_point: int | None
    c: str  # the C statement that writes (input) or reads (output) element i


@dataclass
class TflmCheck:
    """The result of :func:`check_tflm` (see docs/tflm-check.md for every field)."""

    path: str
    target: str
    keras2edge_file: bool  # written by keras2edge: operator findings name Keras layers
    file_bytes: int  # flash: the whole .tflite (flatbuffer + weights)
    weight_bytes: int  # flash: constant tensor data alone
    op_counts: dict[str, int]
    findings: list[OpFinding]
    arena: ArenaEstimate  # for the tflite-micro Python package (64-bit, recording allocator): verified
    firmware_arena: ArenaEstimate  # for a C++ MicroInterpreter with the plain MicroAllocator (64-bit)
    inputs: list[TensorIO] = field(default_factory=list)
    outputs: list[TensorIO] = field(default_factory=list)

    @property
    def runs(self) -> bool:
        """True when no operator is unsupported or computes wrong results (unverified ones allowed)."""
        return not any(f.status in (UNSUPPORTED, WRONG) for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION, "path": self.path, "target": self.target, "runs": self.runs,
            "keras2edge_file": self.keras2edge_file,
            "flash": {"file_bytes": self.file_bytes, "weight_bytes": self.weight_bytes},
            "arena": {"bytes": self.arena.arena_bytes, "firmware_bytes": self.firmware_arena.arena_bytes,
                      "plan_bytes": self.arena.plan_bytes, "persistent_bytes": self.arena.persistent_bytes,
                      "scratch_bytes": self.arena.scratch_bytes, "approximate_ops": list(self.arena.approximate)},
            "ops": self.op_counts,
            "findings": [asdict(f) for f in self.findings],
            "inputs": [asdict(t) for t in self.inputs], "outputs": [asdict(t) for t in self.outputs],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        lines = [f"TFLite Micro check: {self.path}"]
        bad = [f for f in self.findings if f.status != UNVERIFIED]
        if bad:
            lines.append(f"NOT RUNNABLE: {len(bad)} operator(s) TFLite Micro cannot run correctly:")
            lines += [f"  #{f.index} {f.op} ({f.dtype}){_layer(f)}: {f.reason}" for f in bad]
        else:
            lines.append(f"Runs on TFLite Micro: all {sum(self.op_counts.values())} operators have kernels.")
        unverified = [f for f in self.findings if f.status == UNVERIFIED]
        if unverified:
            lines.append(f"Unverified ({len(unverified)}): never probed against TFLite Micro; test on the device:")
            lines += [f"  #{f.index} {f.op} ({f.dtype}){_layer(f)}: {f.reason}" for f in unverified]
        a, fw = self.arena, self.firmware_arena
        approx = f" (approximate: {', '.join(a.approximate)} not in the kernel table)" if a.approximate else ""
        lines += [
            f"Tensor arena: {a.arena_bytes:,} bytes{approx}",
            f"  = activations plan {a.plan_bytes:,} + persistent {a.persistent_bytes:,} (+ prepare/planning peaks)",
            f"  C++ MicroInterpreter (MicroAllocator): {fw.arena_bytes:,} bytes; 32-bit MCUs need no more than this",
            f"  e.g. alignas(16) static uint8_t tensor_arena[{a.arena_bytes}];",
            f"Flash: {self.file_bytes:,} bytes (.tflite), of which weights {self.weight_bytes:,} bytes",
        ]
        for kind, rows in (("Input", self.inputs), ("Output", self.outputs)):
            for t in rows:
                q = "" if t.scale is None else f" scale {_cfloat(t.scale)} zero_point {t.zero_point}"
                lines.append(f"{kind} {t.index} {t.name}: {t.dtype} {t.shape}{q}")
                lines.append(f"  {t.c}")
        lines.append("Ops: " + ", ".join(f"{k} x{v}" for k, v in sorted(self.op_counts.items())))
        return "\n".join(lines)


def _layer(f: OpFinding) -> str:
    return f" [Keras layer {f.keras_layer}]" if f.keras_layer else ""


def _cfloat(x: float) -> str:
    """A float32 as a C float literal that reads back to the same float32 (9 significant digits)."""
    s = f"{float(np.float32(x)):.9g}"
    if not any(ch in s for ch in ".en"):
        s += ".0"
    return s + "f"


def c_statement(kind: str, dtype: str, scale: float | None, zero_point: int | None) -> str:
    """The C that writes real ``x`` into input element ``i`` (``kind`` "input") or reads output
    element ``i`` into real ``y``, through the tensor's quantization."""
    field_, ctype, lo, hi = _C_TYPES.get(dtype, ("raw", "uint8_t", None, None))
    quantized = scale is not None and scale > 0 and dtype in ("int8", "uint8", "int16")
    if kind == "input":
        if not quantized:
            return f"input->data.{field_}[i] = x;"
        q = f"roundf(x / {_cfloat(scale)}) + ({zero_point})"
        return (f"input->data.{field_}[i] = ({ctype})fminf(fmaxf({q}, {float(lo):.1f}f), {float(hi):.1f}f);")
    if not quantized:
        return f"float y = output->data.{field_}[i];"
    return f"float y = (output->data.{field_}[i] - ({zero_point})) * {_cfloat(scale)};"


def _io(kind: str, sg: SubGraph, k: int, i: int) -> TensorIO:
    t = sg.tensors[i]
    q = t.quantization
    scale = float(q.scale[0]) if q is not None and len(q.scale) else None
    zp = int(q.zero_point[0]) if q is not None and len(q.zero_point) else None
    dtype = t.dtype.name
    return TensorIO(k, t.name, dtype, [int(d) for d in t.shape], scale, zp, c_statement(kind, dtype, scale, zp))



def _keras_layer(tensor_name: str) -> str:
    """keras2edge names an operator's output after its Keras layer (helper tensors ``<layer>/<what>``)."""
    return tensor_name.split("/", 1)[0]


def build_check(model: Model, path: str, file_bytes: int, target: str = "tflm") -> TflmCheck:
    """The check of a parsed model (``path`` and ``file_bytes`` only label the result)."""
    sg = model.subgraphs[0]
    ours = (model.description or "").startswith("keras2edge")
    findings: list[OpFinding] = []
    counts: dict[str, int] = {}
    for k, op in enumerate(sg.operators):
        name = op_name(model, op.opcode_index)
        counts[name] = counts.get(name, 0) + 1
        status, reason = check_op(name, model, sg, op)
        if status != SUPPORTED:
            layer = _keras_layer(sg.tensors[op.outputs[0]].name) if ours and op.outputs else None
            findings.append(OpFinding(k, name, data_dtype(model, sg, op), status, reason, layer))
    if len(model.subgraphs) > 1:
        findings.append(OpFinding(-1, "SUBGRAPHS", "-", UNVERIFIED,
                                  f"{len(model.subgraphs)} subgraphs: the arena figure covers subgraph 0 only"))
    consts = {sg.tensors[i].buffer for i in range(len(sg.tensors)) if model.tensor_data(0, i) is not None}
    weight_bytes = sum(int(np.asarray(model.buffers[b]).nbytes) for b in consts)
    return TflmCheck(
        path=path, target=target, keras2edge_file=ours, file_bytes=file_bytes, weight_bytes=weight_bytes,
        op_counts=counts, findings=findings, arena=estimate_arena(model, PYTHON_64),
        firmware_arena=estimate_arena(model, FIRMWARE_64),
        inputs=[_io("input", sg, k, i) for k, i in enumerate(sg.inputs)],
        outputs=[_io("output", sg, k, i) for k, i in enumerate(sg.outputs)])


def check_tflm(path: str | os.PathLike[str], limits: Limits | None = None) -> TflmCheck:
    """Check a ``.tflite`` file for TFLite Micro (see :class:`TflmCheck`); the file is held to
    ``limits`` (default ``Limits.default()``) before it is read."""
    from ..runtime.loader import read_model

    p = os.fspath(path)
    model = read_model(p, limits or Limits.default())
    return build_check(model, p, os.path.getsize(p))
