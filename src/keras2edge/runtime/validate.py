"""Load-time checks of a subgraph that the interpreter relies on: sizes within the limits, sound dataflow.

Sizes (:func:`tensor_nbytes`, :func:`check_declared_sizes`): every tensor's declared shape is
multiplied out with Python integers (no overflow) and held to :class:`~keras2edge.runtime.limits.Limits`
before anything of that size is allocated or looped over. A dimension of 0 makes a tensor empty but
not its dims harmless (kernels loop over filter taps, rows...), so the size is also checked with 0
read as 1. The interpreter applies the same check to every shape it computes at prepare time, to
kernels' scratch buffers and to the planned arena.

Dataflow (:func:`check_dataflow`): every op input and every graph output must hold a value when it is
read: a graph input, a constant, or the output of an *earlier* op. Otherwise the interpreter would
hand back whatever memory held (a model with no ops gave three different outputs on three runs). Also
refused: a tensor written by two ops, an op writing a graph input or a constant, variable (state)
tensors (no kernel here keeps state between runs).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np

from .errors import RuntimeModelError
from .limits import Limits
from .codes import tensor_type_name
from .model import SubGraph


def tensor_nbytes(shape: Sequence[int], dtype: np.dtype, limits: Limits, what: str) -> int:
    """Bytes of a ``shape`` x ``dtype`` tensor; LimitExceededError (naming ``what``, the shape and the
    dtype) if it, or the same shape with its zero dims read as one, exceeds the limit."""
    dims = [int(d) for d in shape]
    nbytes = math.prod(dims) * dtype.itemsize
    footprint = math.prod(max(d, 1) for d in dims) * dtype.itemsize
    limits.check(max(nbytes, footprint), f"{what} {dims} {dtype}")
    return nbytes


def check_declared_sizes(sg: SubGraph, dtypes: Sequence[np.dtype], limits: Limits, source: str) -> None:
    """Every tensor's declared shape (dynamic ``-1`` dims read as 1) fits the limits."""
    for i, t in enumerate(sg.tensors):
        tensor_nbytes([1 if d < 0 else d for d in t.shape], dtypes[i], limits, f"{source}: tensor {i} '{t.name}' of shape")


def check_types(sg: SubGraph, supported: Collection[int], source: str) -> None:
    """Every tensor an op or the graph reads or writes has a type in ``supported`` (TensorType codes)."""
    def check(j: int, what: str) -> None:
        t = sg.tensors[j]
        if t.type not in supported:
            names = ", ".join(tensor_type_name(c) for c in sorted(supported))
            raise RuntimeModelError(f"{source}: {what} tensor {j} ('{t.name}') has type "
                                    f"{tensor_type_name(t.type)}; supported: {names}")

    for field in ("inputs", "outputs"):
        for j in getattr(sg, field):
            check(j, f"graph {field[:-1]}")
    for k, op in enumerate(sg.operators):
        for j in op.inputs:
            if j >= 0:
                check(j, f"op #{k} input")
        for j in op.outputs:
            check(j, f"op #{k} output")


def check_dataflow(sg: SubGraph, op_names: Sequence[str], constants: Collection[int], source: str) -> None:
    """Every value is written once, before it is read; raise RuntimeModelError naming the file (``source``),
    the tensor and the op. ``constants``: the tensors that hold data in the file.
    """
    tensors = sg.tensors
    inputs = set(sg.inputs)
    writer: dict[int, int] = {}  # tensor -> the op that writes it
    for k, op in enumerate(sg.operators):
        for j in op.outputs:
            name = f"{source}: op #{k} {op_names[k]} writes tensor {j} ('{tensors[j].name}')"
            if j in writer:
                raise RuntimeModelError(f"{name}, which op #{writer[j]} {op_names[writer[j]]} already writes: "
                                        "every tensor must have one producer")
            if j in inputs:
                raise RuntimeModelError(f"{name}, a graph input: ops may not overwrite graph inputs")
            if j in constants:
                raise RuntimeModelError(f"{name}, which holds constant data (buffer {tensors[j].buffer})")
            writer[j] = k
    for k, op in enumerate(sg.operators):
        for j in op.inputs:
            if j < 0 or j in inputs or j in constants or writer.get(j, k) < k:
                continue
            t = tensors[j]
            read = f"{source}: op #{k} {op_names[k]} reads tensor {j} ('{t.name}')"
            if t.is_variable:
                raise RuntimeModelError(f"{read}, a variable (state) tensor: this runtime keeps no state "
                                        "between runs and does not support variable tensors")
            if j in writer:
                w = writer[j]
                raise RuntimeModelError(f"{read} before op #{w} {op_names[w]} writes it: operators must be in "
                                        "execution order" if w > k else f"{read}, which is its own output")
            raise RuntimeModelError(f"{read}, which no op writes and which is neither a constant nor a graph "
                                    "input: its value would be uninitialized memory")
    for j in sg.outputs:
        if j not in inputs and j not in constants and j not in writer:
            raise RuntimeModelError(f"{source}: graph output {j} ('{tensors[j].name}') is written by no op and is "
                                    "neither a constant nor a graph input: its value would be uninitialized memory")
