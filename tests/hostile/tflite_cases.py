"""Hostile ``.tflite`` files, built at test time with the project's own writer (small, in memory).

Each builder returns the file's bytes; :func:`write` puts one in a folder. The cases are the ones of
issue 6 on the runtime side (huge declared shapes, a constant BROADCAST_TO folded at prepare, a model
with no ops, tensors written twice or read before they are written, a 20,001-op chain) and the valid
baselines they are mutated from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras2edge.convert.tflite import write_model

from ..runtime.schema.helpers import ModelBuilder

INT32 = 2


def huge_input_conv(dim: int = 10**9) -> bytes:
    """x[1, dim, dim, 1] -> CONV_2D 3x3 SAME -> y: a 10^18-element input in a ~1 KB file."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1, dim, dim, 1))
    w = mb.tensor("w", (1, 3, 3, 1), data=np.ones((1, 3, 3, 1), np.float32))
    b = mb.tensor("b", (1,), data=np.zeros(1, np.float32))
    y = mb.tensor("y", (1, dim, dim, 1))
    mb.op("CONV_2D", [x, w, b], [y], {"padding": 0, "stride_w": 1, "stride_h": 1})
    return write_model(mb.model([x], [y]))


def huge_rows_conv(rows: int = 10**9) -> bytes:
    """x[1, rows, 4, 1] -> CONV_2D: few bytes per output row, 10^9 rows (the im2col chunk list)."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1, rows, 4, 1))
    w = mb.tensor("w", (1, 3, 3, 1), data=np.ones((1, 3, 3, 1), np.float32))
    y = mb.tensor("y", (1, rows, 4, 1))
    mb.op("CONV_2D", [x, w, -1], [y], {"padding": 0, "stride_w": 1, "stride_h": 1})
    return write_model(mb.model([x], [y]))


def folded_broadcast(shape: tuple[int, ...] = (30000, 30000), declared: tuple[int, ...] | None = None) -> bytes:
    """A constant [1] broadcast to ``shape`` at prepare time (constant folding), added to x[1].
    ``declared``: the shape the file declares for the two results (default: the true one)."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1,))
    c = mb.tensor("c", (1,), data=np.ones(1, np.float32))
    s = mb.tensor("target_shape", (len(shape),), ttype=INT32, data=np.array(shape, np.int32))
    big = mb.tensor("big", declared or shape)
    y = mb.tensor("y", declared or shape)
    mb.op("BROADCAST_TO", [c, s], [big], with_options=False)
    mb.op("ADD", [big, x], [y])
    return write_model(mb.model([x], [y]))


def no_ops() -> bytes:
    """An input and an output tensor, no operator: the output would be whatever memory held."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 4))
    y = mb.tensor("y", (1, 4))
    return write_model(mb.model([x], [y]))


def output_is_input() -> bytes:
    """The graph output is the graph input (an identity model: allowed)."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 4))
    return write_model(mb.model([x], [x]))


def written_twice() -> bytes:
    """Two ops write the same tensor."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 4))
    y = mb.tensor("y", (1, 4))
    mb.op("RELU", [x], [y])
    mb.op("RELU6", [x], [y])
    return write_model(mb.model([x], [y]))


def read_before_written() -> bytes:
    """Op 0 reads the tensor op 1 writes (operators out of execution order)."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 4))
    h = mb.tensor("h", (1, 4))
    y = mb.tensor("y", (1, 4))
    mb.op("RELU", [h], [y])
    mb.op("RELU6", [x], [h])
    return write_model(mb.model([x], [y]))


def variable_input() -> bytes:
    """An op reads a variable (state) tensor that nothing writes."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 4))
    v = mb.tensor("state", (1, 4), is_variable=True)
    y = mb.tensor("y", (1, 4))
    mb.op("ADD", [x, v], [y])
    return write_model(mb.model([x], [y]))


def relu_chain(n_ops: int = 20001) -> bytes:
    """x[1, 4] -> RELU -> RELU -> ... (``n_ops`` ops, one tensor each)."""
    mb = ModelBuilder()
    prev = x = mb.tensor("x", (1, 4))
    for k in range(n_ops):
        cur = mb.tensor(f"t{k}", (1, 4))
        mb.op("RELU", [prev], [cur])
        prev = cur
    return write_model(mb.model([x], [prev]))


def write(folder: Path, name: str, data: bytes) -> Path:
    p = folder / name
    p.write_bytes(data)
    return p


def empty_huge_dims() -> bytes:
    """x[1, 2*10^9, 0] (zero bytes) -> RELU: empty, but its dims are not small."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 2 * 10**9, 0))
    y = mb.tensor("y", (1, 2 * 10**9, 0))
    mb.op("RELU", [x], [y])
    return write_model(mb.model([x], [y]))


def writes_input() -> bytes:
    """An op writes the graph input."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 4))
    mb.op("RELU", [x], [x])
    return write_model(mb.model([x], [x]))


def writes_constant() -> bytes:
    """An op writes a tensor that holds constant data."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 4))
    c = mb.tensor("c", (1, 4), data=np.ones((1, 4), np.float32))
    mb.op("RELU", [x], [c])
    return write_model(mb.model([x], [c]))


def reads_nothing() -> bytes:
    """An op reads a tensor that is no input, no constant and written by no op."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 4))
    ghost = mb.tensor("ghost", (1, 4))
    y = mb.tensor("y", (1, 4))
    mb.op("ADD", [x, ghost], [y])
    return write_model(mb.model([x], [y]))


def unsupported_output_type() -> bytes:
    """RELU writes a tensor declared BFLOAT16 (a type the runtime has no dtype for); found by the fuzzer."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 4))
    y = mb.tensor("y", (1, 4), ttype=18)
    mb.op("RELU", [x], [y])
    return write_model(mb.model([x], [y]))


def huge_window_pool(kind: str = "MAX_POOL_2D", window: int = 10**9) -> bytes:
    """x[1, 3, 3, 2] -> a SAME pooling whose window (an option, not a tensor) is window x window."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 3, 3, 2))
    y = mb.tensor("y", (1, 3, 3, 2))
    mb.op(kind, [x], [y], {"padding": 0, "stride_w": 1, "stride_h": 1, "filter_width": window,
                           "filter_height": window})
    return write_model(mb.model([x], [y]))


def empty_mean() -> bytes:
    """MEAN over the axis of an empty x[1, 0, 3] (0/0; found by the fuzzer as a NumPy warning on stderr)."""
    mb = ModelBuilder()
    x = mb.tensor("x", (1, 0, 3))
    axes = mb.tensor("axes", (1,), ttype=INT32, data=np.array([1], np.int32))
    y = mb.tensor("y", (1, 3))
    mb.op("MEAN", [x, axes], [y], {"keep_dims": False})
    return write_model(mb.model([x], [y]))
