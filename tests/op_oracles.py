"""The oracles of the per-op cases (``tests/op_cases.py``): for each backend, the expected outputs of a
case computed by code that backend does not share.

- ``onnx`` (the ONNX emitter, run in onnxruntime) is checked against LiteRT running the case's
  ``.tflite`` (``litert_outputs``);
- ``tflite`` (the TFLite emitter, run in LiteRT and TFLite Micro) and ``runtime`` (keras2edge.runtime
  on that file) are checked against onnxruntime running the case's ONNX (``onnx_outputs``; default
  opset, NHWC inputs).

The two emitters are separate code paths: TFLite carries SAME/VALID padding, window geometry and
negative axes as its own enums and attributes that LiteRT resolves, where the ONNX emitter computes
explicit pads (``ir.ops.same_pads``, which neither the TFLite emitter nor keras2edge.runtime
calls), permutations and NCHW axes. The arithmetic both take from ``keras2edge.ir.ops`` is axis
normalisation (``norm_axis``) and BatchNorm's constant scale and shift (``batchnorm_scale_shift``)
(``SHARED_HELPERS``): the ops whose emitter calls one get a hand-written NumPy expectation instead
(``NUMPY``; NumPy resolves negative axes itself; BatchNorm as the Keras layer writes it), for every
backend. Both also read output shapes from ``op_spec(op).infer``; every runtime here computes its
own output shapes, and the tests compare those. ``keras2edge.ir.evaluate`` is never the oracle: it
calls ``same_pads`` and ``norm_axis`` itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from .onnxrt import run_graph_onnx
from .ir_graphs import build_case
from .litert import litert
from .op_cases import CASES, Case

CASE_BY_NAME = {c.name: c for c in CASES}

# Arithmetic helpers of keras2edge.ir.ops both emitters call; an op whose emitter calls one of them
# has a NumPy oracle (checked by tests/test_op_oracles.py). ``op_spec`` (the vocabulary lookup) is not one.
SHARED_HELPERS = {"norm_axis", "batchnorm_scale_shift"}


def _reduce(fn: Callable[..., Any]) -> Callable[[list[np.ndarray], dict[str, Any]], list[np.ndarray]]:
    return lambda xs, a: [fn(xs[0], axis=tuple(a["axes"]), keepdims=bool(a.get("keepdims", False)))]


def _split(xs: list[np.ndarray], a: dict[str, Any]) -> list[np.ndarray]:
    bounds = np.cumsum(a["sizes"])[:-1]
    return list(np.split(xs[0], bounds, axis=a["axis"]))


def _batch_norm(xs: list[np.ndarray], a: dict[str, Any]) -> list[np.ndarray]:
    """(x - mean) / sqrt(variance + epsilon) * gamma + beta, as the Keras layer writes it."""
    x, mean, var, *rest = [np.asarray(v, np.float64) for v in xs]
    gamma, beta = (rest + [np.ones(()), np.zeros(())][len(rest):])[:2]
    return [(x - mean) / np.sqrt(var + a.get("epsilon", 1e-3)) * gamma + beta]


def _channel_shape(q: Any, rank: int) -> list[int]:
    return [-1 if i == q.axis else 1 for i in range(rank)]


def _quantize(xs: list[np.ndarray], a: dict[str, Any]) -> list[np.ndarray]:
    """TFLite Micro's AffineQuantize written out: float32 division, ties away from zero (floor of
    |v| + 0.5 in float64 is exact for a float32 v), plus the zero point, saturated."""
    q = a["quant"]
    shape = _channel_shape(q, xs[0].ndim)
    v = (xs[0].astype(np.float32) / q.scale.astype(np.float32).reshape(shape)).astype(np.float64)
    r = np.sign(v) * np.floor(np.abs(v) + 0.5) + q.zero_point.reshape(shape)
    info = np.iinfo(q.qtype.np)
    return [np.clip(r, info.min, info.max)]


def _dequantize(xs: list[np.ndarray], a: dict[str, Any]) -> list[np.ndarray]:
    """float32(float64(scale) * (q - zero_point)), per channel along the axis."""
    q = a["quant"]
    shape = _channel_shape(q, xs[0].ndim)
    return [(q.scale.astype(np.float64).reshape(shape) * (xs[0].astype(np.int64) - q.zero_point.reshape(shape)))]


# op -> (inputs in case order, attrs) -> outputs; axes exactly as the case writes them (negative ones
# too: NumPy resolves them).
NUMPY: dict[str, Callable[[list[np.ndarray], dict[str, Any]], list[np.ndarray]]] = {
    "Mean": _reduce(np.mean),
    "Sum": _reduce(np.sum),
    "ReduceMax": _reduce(np.max),
    "ReduceMin": _reduce(np.min),
    "ReduceProd": _reduce(np.prod),
    "ReduceAny": _reduce(lambda x, **kw: np.any(x != 0, **kw)),
    "Concatenation": lambda xs, a: [np.concatenate(xs, axis=a["axis"])],
    "ExpandDims": lambda xs, a: [np.expand_dims(xs[0], a["axis"])],
    "Squeeze": lambda xs, a: [np.squeeze(xs[0], axis=tuple(a["axes"]))],
    "Split": _split,
    "Gather": lambda xs, a: [np.take(xs[0], xs[1].astype(np.int64), axis=a.get("axis", 0))],
    "Transpose": lambda xs, a: [np.transpose(xs[0], a["perm"])],
    "BatchNorm": _batch_norm,
    # ONNX rounds QuantizeLinear's ties to even: no backend is the other's oracle for exact ties.
    "Quantize": _quantize,
    "Dequantize": _dequantize,
}


def _case_inputs(c: Case, feeds: dict[str, np.ndarray], g: Any) -> list[np.ndarray]:
    """The case's inputs in order: feeds for graph inputs, the constants' data."""
    node = g.nodes[0]
    return [feeds[v.name] if v.name in feeds else v.const for v in node.inputs if v is not None]


@cache
def numpy_outputs(name: str) -> dict[str, np.ndarray]:
    """NumPy's outputs for case ``name`` (an op of ``NUMPY``), by IR output name, in the IR's dtypes."""
    c = CASE_BY_NAME[name]
    g, feeds = build_case(c)
    outs = NUMPY[c.op](_case_inputs(c, feeds, g), c.attrs)
    return {v.name: np.asarray(o).astype(v.dtype.np) for v, o in zip(g.outputs, outs)}


@cache
def onnx_outputs(name: str) -> dict[str, np.ndarray]:
    """onnxruntime's outputs for case ``name`` emitted as ONNX, by IR output name."""
    g, feeds = build_case(CASE_BY_NAME[name])
    return {v.name: o for v, o in zip(g.outputs, run_graph_onnx(g, feeds))}


@cache
def litert_outputs(name: str) -> dict[str, np.ndarray]:
    """LiteRT's outputs (default kernels) for case ``name``, by IR output name (the .tflite is written
    at the feeds' batch, so no case depends on LiteRT resizing a dynamic batch)."""
    from keras2edge.convert.tflite import to_tflite, write_model

    g, feeds = build_case(CASE_BY_NAME[name])
    batch = next((int(feeds[v.name].shape[0]) for v in g.inputs if v.shape and v.shape[0] is None), None)
    data = write_model(to_tflite(g, batch=batch))
    outs = litert(data, [feeds[v.name] for v in g.inputs], reference=False)
    return {v.name: o for v, o in zip(g.outputs, outs)}


def expected(c: Case, backend: str) -> dict[str, np.ndarray]:
    """The oracle's outputs of case ``c`` for ``backend`` (one of op_cases.BACKENDS), by IR output name."""
    if c.op in NUMPY:
        return numpy_outputs(c.name)
    return litert_outputs(c.name) if backend == "onnx" else onnx_outputs(c.name)


def shared_helpers_called(fn: Callable[..., Any], helpers: set[str]) -> set[str]:
    """The names of ``helpers`` an emitter function refers to (globals it loads)."""
    return helpers & set(fn.__code__.co_names)


def ir_ops_functions(module: ModuleType) -> set[str]:
    """Names a module binds to functions defined in the keras2edge.ir.ops package."""
    return {n for n, obj in vars(module).items()
            if inspect.isfunction(obj) and obj.__module__.startswith("keras2edge.ir.ops.")}
