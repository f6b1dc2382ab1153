"""Sparse weight storage for ``.tflite`` (``save(..., sparse=True)``): float32 weights with exact zeros
-> a sparse constant (``Tensor.sparsity``) read through a DENSIFY operator, where that makes the file
smaller.

The form is the one LiteRT runs on both its reference and its default (XNNPACK) kernels and the one
the TFLite converter writes for pruned float weights: ``sparse constant -> DENSIFY -> dense tensor``
read by the op. Feeding the sparse constant to the op directly is *not* portable (measured with
ai-edge-litert 2.3.0, docs/sparsity.md): a FULLY_CONNECTED reads it right only on the reference
kernels (XNNPACK and TFLite Micro read the stored values as if dense: NaN), a CONV_2D nowhere.
int8 weights are refused: XNNPACK fails to prepare an int8 FULLY_CONNECTED fed by DENSIFY. TFLite
Micro has no DENSIFY kernel (``keras2edge check --target tflm`` says so).

Candidates: the float32 weight (input 1) of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED — the ops
whose sparse weights were run in LiteRT (tests/convert/tflite/test_sparse.py). Encoding (one sparse
level, all others DENSE, no blocks), the one of :func:`candidates` that gives the fewest bytes: in
the natural traversal order, level ``k`` SPARSE_CSR over the slices ``w[..., j, ...]`` holding a
non-zero, levels before it dense, levels after it dense inside each kept slice (``k = rank - 1`` is
plain CSR: unstructured and N:M sparsity; ``k = 0`` keeps whole non-zero output channels); or one
dim traversed first and sparse (whole zero input channels: dim 1 of FULLY_CONNECTED, 3 of CONV_2D,
``traversal_order`` (3, 0, 1, 2)). Indices and
segments take the narrowest SparseIndexVector type (uint8, uint16, int32). A weight stays dense
when its sparse form (values + indices + segments + :data:`SPARSE_OVERHEAD` for the tables, the
DENSIFY operator and the dense tensor) is not smaller, and the report says so.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ...errors import UnsupportedOpError
from ...runtime import schema
from ...runtime.codes import NUMPY_DTYPES
from ...runtime.model import DimensionMetadata, Model, Operator, OperatorCode, Sparsity, Tensor
from ...runtime.sparse import DENSE, SPARSE_CSR
from .writer import ArrayBuffer

log = logging.getLogger("keras2edge.convert.tflite")

#: op -> the input index of its weight: the ops whose sparse float32 weights LiteRT runs via DENSIFY.
SPARSE_WEIGHT_INPUTS: dict[str, int] = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1}
#: Bytes a sparse weight adds besides its values, indices and segments (SparsityParameters and
#: DimensionMetadata tables, the DENSIFY operator, the dense tensor with its name, alignment);
#: tests hold the measured growth under it.
SPARSE_OVERHEAD = 256
OWNER = "TFLite emitter (sparse weights)"
DENSIFY_VERSION = 1


@dataclass
class SparseWeight:
    """How one weight was stored."""

    name: str
    shape: tuple[int, ...]
    zeros: float  # fraction of exact zeros
    dense_bytes: int
    stored_bytes: int  # bytes in the file: the dense data, or the sparse data plus SPARSE_OVERHEAD
    sparse: bool
    sparse_dim: int | None  # the tensor dim stored SPARSE_CSR, when stored sparse
    reason: str


@dataclass
class SparseReport:
    """Every candidate weight and the totals (``dense_bytes``: all candidates dense)."""

    weights: list[SparseWeight] = field(default_factory=list)

    @property
    def dense_bytes(self) -> int:
        return sum(w.dense_bytes for w in self.weights)

    @property
    def stored_bytes(self) -> int:
        return sum(w.stored_bytes for w in self.weights)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per weight and totals."""
        return {"weights": [asdict(w) for w in self.weights], "dense_bytes": self.dense_bytes,
                "stored_bytes": self.stored_bytes, "sparse_weights": sum(w.sparse for w in self.weights)}


def index_dtype(max_value: int) -> np.dtype:
    """The narrowest SparseIndexVector element type holding ``0 .. max_value``."""
    for dt in (np.uint8, np.uint16, np.int32):
        if max_value <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise ValueError(f"index {max_value} does not fit a SparseIndexVector (int32)")


def candidates(ndim: int) -> list[tuple[tuple[int, ...], int]]:
    """The encodings considered, as (traversal order, sparse level): the natural order with any level
    sparse, and each other dim moved first and sparse (whole input channels of a FULLY_CONNECTED or
    CONV_2D weight: its dim 1 or 3)."""
    natural = tuple(range(ndim))
    return [(natural, k) for k in range(ndim)] + \
        [((d, *(a for a in natural if a != d)), 0) for d in range(1, ndim)]


def _cost(w: np.ndarray, order: tuple[int, ...], k: int) -> int:
    """Bytes of values, indices and segments of ``encode(w, k, order)``."""
    wt = w.transpose(order)
    keep = (wt != 0).reshape(*wt.shape[:k + 1], -1).any(axis=-1)
    kept = int(keep.sum())
    return kept * math.prod(wt.shape[k + 1:]) * w.dtype.itemsize \
        + kept * index_dtype(max(wt.shape[k] - 1, 0)).itemsize + (math.prod(wt.shape[:k]) + 1) * index_dtype(kept).itemsize


def encode(w: np.ndarray, k: int, order: tuple[int, ...] | None = None) -> tuple[np.ndarray, Sparsity]:
    """``w`` traversed in ``order`` (default: natural), levels ``< k`` dense, level ``k`` SPARSE_CSR over
    the slices holding a non-zero, levels ``> k`` dense inside them: (stored values, sparsity)."""
    order = tuple(range(w.ndim)) if order is None else tuple(order)
    wt = w.transpose(order)
    keep = (wt != 0).reshape(*wt.shape[:k + 1], -1).any(axis=-1)
    rows = keep.reshape(-1, wt.shape[k])  # one row per parent position (levels < k)
    counts = rows.sum(axis=1)
    segments = np.concatenate([[0], np.cumsum(counts)])
    indices = np.nonzero(rows)[1]
    values = np.ascontiguousarray(wt).reshape(rows.shape[0], wt.shape[k], -1)[rows].ravel()
    dims = [DimensionMetadata(DENSE, int(d)) for d in wt.shape[:k]]
    dims.append(DimensionMetadata(SPARSE_CSR, 0, segments.astype(index_dtype(int(segments[-1]))),
                                  indices.astype(index_dtype(max(wt.shape[k] - 1, 0)))))
    dims += [DimensionMetadata(DENSE, int(d)) for d in wt.shape[k + 1:]]
    return np.ascontiguousarray(values), Sparsity(traversal_order=order, dim_metadata=dims)


def _weight_array(model: Model, t: Tensor) -> np.ndarray:
    buf = model.buffers[t.buffer]
    if isinstance(buf, ArrayBuffer):
        return np.ascontiguousarray(buf.array, NUMPY_DTYPES[t.type]).reshape(t.shape)
    return np.frombuffer(buf, NUMPY_DTYPES[t.type], count=math.prod(t.shape)).reshape(t.shape)


def sparsify_model(model: Model) -> SparseReport:
    """Store the float32 weights of subgraph 0 sparse where that makes the file smaller (``model`` is
    changed in place: new buffers, a DENSIFY operator per sparse weight, placed first).

    Raises:
        UnsupportedOpError: an integer (int8/hybrid) weight: no runtime runs it sparse (module docstring).
    """
    sg = model.subgraphs[0]
    names = [schema.op_name(c.builtin_code) for c in model.operator_codes]
    weights: dict[int, str] = {}  # weight tensor -> the op reading it
    for op in sg.operators:
        name = names[op.opcode_index]
        k = SPARSE_WEIGHT_INPUTS.get(name)
        if k is None or len(op.inputs) <= k or op.inputs[k] < 0:
            continue
        t = sg.tensors[op.inputs[k]]
        if not t.buffer or not model.buffers[t.buffer].size:
            continue
        if t.type != schema.ENUMS["TensorType"]["FLOAT32"] or t.quantization is not None:
            raise UnsupportedOpError(
                OWNER, f"weight {t.name!r} of {name} is {np.dtype(NUMPY_DTYPES.get(t.type, np.uint8)).name}: "
                "sparse weights are written for float32 weights only (LiteRT's default XNNPACK kernels fail to "
                "prepare an integer op fed by DENSIFY, TFLite Micro has no DENSIFY); save the quantized model "
                "without sparse=True / --sparse", op="DENSIFY")
        weights.setdefault(op.inputs[k], name)
    outputs = set(sg.outputs)
    report = SparseReport()
    densify_ops: list[Operator] = []
    for ti, opname in weights.items():
        t = sg.tensors[ti]
        w = _weight_array(model, t)
        dense = int(w.nbytes)
        zeros = float(np.mean(w == 0)) if w.size else 0.0
        if ti in outputs or w.ndim == 0 or w.size == 0:
            report.weights.append(SparseWeight(t.name, tuple(t.shape), zeros, dense, dense, False, None,
                                               "not a weight that can be stored sparse"))
            continue
        if not np.any(w):
            why = "kept dense: all zeros (a sparse constant needs a stored value: an empty buffer reads as no data)"
            report.weights.append(SparseWeight(t.name, tuple(t.shape), zeros, dense, dense, False, None, why))
            continue
        options = candidates(w.ndim)
        costs = [_cost(w, order, k) for order, k in options]
        best = int(np.argmin(costs))
        order, k = options[best]
        sparse_bytes = costs[best] + SPARSE_OVERHEAD
        if sparse_bytes >= dense:
            why = (f"kept dense: {zeros:.0%} zeros, the sparse form would take {sparse_bytes} bytes "
                   f"(>= {dense} dense)")
            log.info("%s: %s", t.name, why)
            report.weights.append(SparseWeight(t.name, tuple(t.shape), zeros, dense, dense, False, None, why))
            continue
        values, sparsity = encode(w, k, order)
        raw = values.view(np.uint8).ravel()
        shared = any(j != ti and u.buffer == t.buffer for j, u in enumerate(sg.tensors))
        if shared:
            model.buffers.append(raw)
            buffer = len(model.buffers) - 1
        else:
            model.buffers[t.buffer] = raw  # the dense data leaves the file
            buffer = t.buffer
        dense_ti = len(sg.tensors)
        sg.tensors.append(Tensor(name=t.name, shape=tuple(t.shape), type=t.type, buffer=0,
                                 shape_signature=t.shape_signature, has_rank=t.has_rank))
        sg.tensors[ti] = Tensor(name=f"{t.name}/sparse", shape=tuple(t.shape), type=t.type,
                                buffer=buffer, has_rank=t.has_rank, sparsity=sparsity)
        for op in sg.operators:
            op.inputs = tuple(dense_ti if i == ti else i for i in op.inputs)
        densify_ops.append(Operator(opcode_index=-1, inputs=(ti,), outputs=(dense_ti,)))
        log.info("%s: stored sparse along dim %d, %d -> %d bytes (%.0f%% zeros)", t.name, order[k], dense,
                 sparse_bytes, 100 * zeros)
        report.weights.append(SparseWeight(t.name, tuple(t.shape), zeros, dense, sparse_bytes, True, order[k],
                                           f"sparse along dim {order[k]} of {opname} weight {list(t.shape)}"
                                           + ("" if order == tuple(range(w.ndim)) else f", traversal {list(order)}")))
    if densify_ops:
        code = schema.op_code("DENSIFY")
        found = [i for i, c in enumerate(model.operator_codes) if c.builtin_code == code]
        if not found:
            model.operator_codes.append(OperatorCode(builtin_code=code, version=DENSIFY_VERSION))
        idx = found[0] if found else len(model.operator_codes) - 1
        for op in densify_ops:
            op.opcode_index = idx
        sg.operators[0:0] = densify_ops
    return report
