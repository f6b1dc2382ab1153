"""One-op models that decide which builtins and dtypes TFLite Micro runs: the float / int32 / bool
cases of ``tests/runtime/kernels/builtin_cases.py`` (output shapes filled in by keras2edge's runtime,
since TFLite Micro never infers them) and an int8 twin of each float case (inputs, outputs and float
constants quantized per tensor, a bias input as int32) and an int16 twin (16x8 activations, symmetric). :func:`probe_cases` yields
``(builtin, input dtype, case name, bytes, feeds)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from keras2edge.runtime import Interpreter
from keras2edge.runtime.model import Quantization

from ..runtime.helpers import OpCase, Out, X, make_feeds, op_model, to_bytes
from ..runtime.kernels.builtin_cases import CASES

# Ops whose input 2 is a bias (int32 in an int8 model), and ops whose float constant inputs stay float
# (or are not data) in an int8 model.
_BIAS_AT_2 = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
_SKIP_INT8 = {"CAST", "DEQUANTIZE", "QUANTIZE", "SHAPE", "ARG_MAX", "ARG_MIN", "EXP", "LOG", "SIN", "COS", "SQRT",
              "FLOOR", "CEIL", "ROUND", "DIV", "FLOOR_DIV", "FLOOR_MOD", "POW", "SQUARE", "ELU", "GELU", "LESS",
              "EQUAL", "NOT_EQUAL", "GREATER", "GREATER_EQUAL", "LESS_EQUAL", "LOG_SOFTMAX", "TRANSPOSE_CONV"}
Q = (0.05, 0)


def _model(c: OpCase, outputs: list[Out]) -> bytes:
    """The case's bytes; in an int8 twin, int8 constants get the int8 scale and the bias the product scale."""
    m = op_model(c.op, c.inputs, outputs, c.options, c.version)
    if c.name.endswith(("_int8", "_int16")):
        sg = m.subgraphs[0]
        for k, i in enumerate(sg.operators[0].inputs):
            t = sg.tensors[i] if i >= 0 else None
            if t is None or t.quantization is not None or t.buffer == 0:
                continue
            if t.dtype == np.int8:
                t.quantization = Quantization(np.array([Q[0]], np.float32), np.array([0], np.int64))
            elif t.dtype == np.int16 and c.name.endswith("_int16"):
                t.quantization = Quantization(np.array([Q16[0]], np.float32), np.array([0], np.int64))
            elif t.dtype == np.int32 and k == 2 and c.op in _BIAS_AT_2:
                t.quantization = Quantization(np.array([Q[0] * Q[0]], np.float32), np.array([0], np.int64))
    return to_bytes(m)


def _output_shapes(c: OpCase, rng: np.random.Generator) -> list[tuple[int, ...]] | None:
    """The case's output shapes, as keras2edge's runtime computes them (None if it cannot run it)."""
    try:
        outs = Interpreter(_model(c, c.outputs)).run(make_feeds(c.inputs, rng))
    except Exception:  # noqa: BLE001 - a case our runtime cannot run is not probed
        return None
    arrays = list(outs.values()) if isinstance(outs, dict) else [outs]
    return [tuple(np.asarray(a).shape) for a in arrays]


def _int8_twin(c: OpCase) -> OpCase | None:
    if c.op in _SKIP_INT8 or not any(isinstance(s, X) and np.dtype(s.dtype) == np.float32 for s in c.inputs):
        return None
    if any(np.dtype(o.dtype) != np.float32 for o in c.outputs):
        return None
    inputs: list = []
    for k, s in enumerate(c.inputs):
        if isinstance(s, X) and np.dtype(s.dtype) == np.float32:
            inputs.append(X(s.shape, np.int8, -128, 127, quant=Q))
        elif isinstance(s, np.ndarray) and s.dtype == np.float32:
            if k == 2 and c.op in _BIAS_AT_2:
                inputs.append(np.round(s / (Q[0] * Q[0])).astype(np.int32))
            else:
                inputs.append(np.clip(np.round(s / Q[0]), -127, 127).astype(np.int8))
        else:
            inputs.append(s)
    return dataclasses.replace(c, name=c.name + "_int8", inputs=inputs,
                               outputs=[Out(np.int8, o.shape, Q) for o in c.outputs])


# The 16x8 twins: int16 activations (symmetric, zero point 0); the weight ops (int8 weights, int64 bias) are
# probed as one-op files of the integer lowering instead (tests/convert/tflite/qdq_models.integer_probes).
Q16 = (1 / 1024, 0)
_SKIP_INT16 = _SKIP_INT8 | _BIAS_AT_2 | {"BATCH_MATMUL", "RSQRT"}  # RSQRT: the random feeds go negative
# The 16x8 kernels' fixed output parameters (Q0.15), as ir/ops declares them (fixed_output16).
_FIXED16 = {"LOGISTIC": (1 / 32768, 0), "TANH": (1 / 32768, 0), "SOFTMAX": (1 / 32768, 0)}


def _int16_twin(c: OpCase) -> OpCase | None:
    """The case with int16 activations and int16 float constants (16x8), or None where it has no sense."""
    if c.op in _SKIP_INT16 or not any(isinstance(s, X) and np.dtype(s.dtype) == np.float32 for s in c.inputs):
        return None
    if any(np.dtype(o.dtype) != np.float32 for o in c.outputs):
        return None
    inputs: list = []
    for s in c.inputs:
        if isinstance(s, X) and np.dtype(s.dtype) == np.float32:
            inputs.append(X(s.shape, np.int16, -4096, 4096, quant=Q16))
        elif isinstance(s, np.ndarray) and s.dtype == np.float32:
            inputs.append(np.clip(np.round(s / Q16[0]), -32767, 32767).astype(np.int16))
        else:
            inputs.append(s)
    options = {**(c.options or {}), "pot_scale_int16": False} if c.op in ("ADD", "SUB") else c.options
    return dataclasses.replace(c, name=c.name + "_int16", inputs=inputs, options=options,
                               outputs=[Out(np.int16, o.shape, _FIXED16.get(c.op, Q16)) for o in c.outputs])


def input_dtype(c: OpCase) -> str:
    """The dtype of the case's first graph input (its data; a constant such as an axis may come
    first), else of its first constant."""
    for s in c.inputs:
        if isinstance(s, X):
            return np.dtype(s.dtype).name
    for s in c.inputs:
        if isinstance(s, np.ndarray):
            return s.dtype.name
    return "none"


# Float comparisons, which builtin_cases.py only has for LESS.
EXTRA = [OpCase(f"{op.lower()}_float", op, [X((2, 3)), X((3,))], {}, [Out(np.bool_)])
         for op in ("EQUAL", "NOT_EQUAL", "LESS_EQUAL", "GREATER", "GREATER_EQUAL")]


def probe_cases() -> Iterator[tuple[str, str, str, bytes, list[np.ndarray]]]:
    rng = np.random.default_rng(5)
    for c in [*CASES, *EXTRA]:
        shapes = _output_shapes(c, rng)
        if shapes is None:
            continue
        for variant in (c, _int8_twin(c), _int16_twin(c)):  # the twins have the float case's output shapes
            if variant is not None:
                outputs = [dataclasses.replace(o, shape=s) for o, s in zip(variant.outputs, shapes)]
                yield (variant.op, input_dtype(variant), variant.name, _model(variant, outputs),
                       make_feeds(variant.inputs, rng))
