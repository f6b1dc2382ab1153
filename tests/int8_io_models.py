"""Small ``.tflite`` models with quantized inputs/outputs whose every op already has a runtime kernel,
for the tests of ``keras2edge run`` / ``run_tflite(raw=...)`` and ``keras2edge bench``:

    x (int8|uint8|int16, quantized) -> DEQUANTIZE -> MUL by a float constant -> [ADD y (float32)]
        -> QUANTIZE -> out (same dtype, quantized); and, with ``float_output``, the float sum as a
        second output ``f``.

``expected`` computes the outputs with plain NumPy from the arithmetic of int8-arithmetic.md §3.1
(no keras2edge code), and ``real_to_q`` / ``q_to_real`` are the same rules for the test's own feeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keras2edge.convert.tflite.writer import write_model
from keras2edge.runtime.model import Quantization

from .runtime.helpers import GraphBuilder


@dataclass(frozen=True)
class IOModel:
    """A built model and the parameters ``expected`` needs."""

    data: bytes
    dtype: np.dtype
    in_scale: float
    in_zp: int
    out_scale: float
    out_zp: int
    gain: float
    shape: tuple[int, ...]
    float_input: bool
    float_output: bool


def _q(scale: float, zp: int) -> Quantization:
    return Quantization(np.array([scale], np.float32), np.array([zp], np.int64))


def io_model(dtype: type = np.int8, *, shape: tuple[int, ...] = (1, 6), in_q: tuple[float, int] = (0.05, -3),
             out_q: tuple[float, int] = (0.1, 5), gain: float = 1.5, float_input: bool = False,
             float_output: bool = False, batch_dynamic: bool = False) -> IOModel:
    """The model above; ``float_input`` adds the float32 input ``y`` (added after the MUL)."""
    g = GraphBuilder()
    sig = (-1, *shape[1:]) if batch_dynamic else None
    x = g.input("x", shape, dtype, signature=sig, quant=in_q)
    f = g.op("DEQUANTIZE", [x], name="deq", shapes=[shape])
    f = g.op("MUL", [f, np.array(gain, np.float32)], {"fused_activation_function": 0}, name="scaled", shapes=[shape])
    if float_input:
        y = g.input("y", shape, np.float32, signature=sig)
        f = g.op("ADD", [f, y], {"fused_activation_function": 0}, name="sum", shapes=[shape])
    out = g.op("QUANTIZE", [f], dtype=dtype, name="out", shapes=[shape])
    g.tensors[out].quantization = _q(*out_q)
    g.output(out)
    if float_output:
        g.output(f)
    names = {"inputs": ["x", "y"] if float_input else ["x"], "outputs": ["out", "f"] if float_output else ["out"]}
    return IOModel(write_model(g.model(signature=names)), np.dtype(dtype), in_q[0], in_q[1], out_q[0], out_q[1],
                   gain, shape, float_input, float_output)


def real_to_q(x: np.ndarray, scale: float, zp: int, dtype: np.dtype) -> np.ndarray:
    """AffineQuantize written out: float32 quotient, round half away from zero, + zp, clamp."""
    v = (np.asarray(x, np.float32) / np.float32(scale)).astype(np.float64)
    r = np.sign(v) * np.floor(np.abs(v) + 0.5)
    info = np.iinfo(dtype)
    return np.clip(r + zp, info.min, info.max).astype(dtype)


def q_to_real(q: np.ndarray, scale: float, zp: int) -> np.ndarray:
    """DEQUANTIZE written out: the product in double, rounded to float32."""
    return (np.float64(np.float32(scale)) * (q.astype(np.int64) - zp)).astype(np.float32)


def expected(m: IOModel, xq: np.ndarray, y: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The model's raw outputs for the quantized input ``xq`` (and the float input ``y``)."""
    f = q_to_real(xq, m.in_scale, m.in_zp) * np.float32(m.gain)
    if y is not None:
        f = (f + y).astype(np.float32)
    out = {"out": real_to_q(f, m.out_scale, m.out_zp, m.dtype)}
    if m.float_output:
        out["f"] = f
    return out
