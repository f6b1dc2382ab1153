"""The int8 test bench: one-op quantized ``.tflite`` models built from Python, and their oracles.

``one_op_model(op, inputs, outputs, options)`` writes a single-operator model through the project's
own writer (``convert.tflite.writer.write_model`` over ``runtime.model`` dataclasses, which carry
per-tensor and per-axis ``Quantization``; the graph is laid out by ``tests/runtime/oracle.GraphBuilder``). Tensors are ``T`` specs: shape, dtype, optional
quantization (one scale, or one per channel along ``axis``) and constant data. ``run_tflm`` is the
golden oracle (TFLite Micro's reference kernels, the ``tflite-micro`` package); ``run_litert_ref``
the secondary one (LiteRT with ``OpResolverType.BUILTIN_REF``), whose documented differences the
tests assert explicitly (int8-arithmetic.md §0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras2edge.convert.tflite.writer import write_model
from keras2edge.runtime import fixed_point as fp
from keras2edge.runtime.model import Quantization

from ..litert import litert
from ..tflm import tflm
from .helpers import GraphBuilder


@dataclass(frozen=True)
class T:
    """A tensor of a one-op model: a graph input (``data`` None) or a constant."""

    shape: tuple[int, ...]
    dtype: Any = np.int8
    scale: float | Sequence[float] | None = None  # None: not quantized
    zero_point: int | Sequence[int] = 0
    axis: int = 0  # quantized_dimension when per-channel
    data: np.ndarray | None = None

    def quantization(self) -> Quantization | None:
        if self.scale is None:
            return None
        scale = np.atleast_1d(np.asarray(self.scale, np.float32))
        zp = np.broadcast_to(np.asarray(self.zero_point, np.int64), scale.shape).copy()
        return Quantization(scale, zp, self.axis)


def one_op_model(op: str, inputs: Sequence[T | None], outputs: Sequence[T],
                 options: dict[str, Any] | None = None, version: int = 1) -> bytes:
    """A one-operator ``.tflite`` (bytes): graph inputs in order for the non-constant ``inputs``,
    None for an omitted optional input; built with ``tests/runtime/oracle.GraphBuilder``, then each
    tensor's quantization set from its spec."""
    g = GraphBuilder()
    specs: dict[int, T] = {}
    ins: list[int | None] = []
    for k, spec in enumerate(inputs):
        if spec is None:
            ins.append(None)
            continue
        if spec.data is None:
            index = g.input(f"in{k}", tuple(spec.shape), spec.dtype)
        else:
            index = g.const(np.ascontiguousarray(spec.data, dtype=spec.dtype).reshape(spec.shape), f"const{k}")
        specs[index] = spec
        ins.append(index)
    if len({np.dtype(o.dtype) for o in outputs}) != 1:
        raise ValueError("one_op_model: all outputs must share one dtype")
    outs = g.op(op, ins, options, n_out=len(outputs), dtype=outputs[0].dtype, version=version,
                shapes=[tuple(o.shape) for o in outputs])
    outs = (outs,) if len(outputs) == 1 else outs
    specs.update(zip(outs, outputs))
    for index, spec in specs.items():
        g.tensors[index].quantization = spec.quantization()
    g.output(*outs)
    return write_model(g.model())


def run_tflm(model: bytes, feeds: Sequence[np.ndarray], n_outputs: int = 1) -> list[np.ndarray]:
    """TFLite Micro (golden)."""
    return tflm(model, feeds, n_outputs)


def run_litert_ref(model: bytes, feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
    """LiteRT with its reference kernels (BUILTIN_REF)."""
    return litert(model, feeds, reference=True)


ALL_INT8 = np.arange(-128, 128, dtype=np.int8)  # every int8 input, in table order


def distinguishing_scales(real_a, real_b, acc: np.ndarray, count: int, seed: int,
                          window: tuple[int, int] = (0, 255)) -> list[tuple[float, float]]:
    """(s_in, s_out) float32 pairs for which the real multipliers ``real_a(s_in, s_out)`` and
    ``real_b`` (vectorized) quantize to (M, shift) pairs that give different MBQM results on some
    accumulator in ``acc`` with a result in ``window`` (visible in int8 with zero points −128 for
    [0, 255], 127 for [−255, 0]): the cases that
    tell two precision rules apart, which random scales almost never do."""
    rng = np.random.default_rng(seed)
    found: list[tuple[float, float]] = []
    while len(found) < count:
        s_in = np.exp(rng.uniform(-9, 0, 20000)).astype(np.float32)
        s_out = (s_in * np.exp(rng.uniform(-0.5, 2.5, s_in.size))).astype(np.float32)
        ma, sa = fp.quantize_multiplier(real_a(s_in, s_out))
        mb, sb = fp.quantize_multiplier(real_b(s_in, s_out))
        k = np.nonzero((ma != mb) | (sa != sb))[0]
        a = fp.mbqm(acc[None, :], ma[k, None], sa[k, None])
        b = fp.mbqm(acc[None, :], mb[k, None], sb[k, None])
        hit = k[((a != b) & (a >= window[0]) & (a <= window[1])).any(axis=1)]
        found += [(float(s_in[i]), float(s_out[i])) for i in hit[:count - len(found)]]
    return found
