"""Activation ops: the ReLU family, Logistic, Tanh, HardSwish, Gelu, Elu, LeakyRelu, PRelu (unary or
with a broadcast alpha: channels pass through) and Softmax/LogSoftmax (over the last axis: they
couple the channels). Logistic, Tanh, Softmax and LogSoftmax have the int8 output scale and zero
point TFLite's kernels require (docs/int8-arithmetic.md §1).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .core import (T_BOOL, T_FLOAT, Attr, ChannelFlow, DTypes, Family, QuantRule, define, need_arrays,
                   same_infer)
from .elementwise import UnaryDef, define_unary


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (0.5 * (np.tanh(0.5 * x.astype(np.float64)) + 1.0)).astype(x.dtype)


def _erf(x: np.ndarray) -> np.ndarray:
    v = np.vectorize(math.erf, otypes=[np.float64])
    return v(x.astype(np.float64)).astype(x.dtype)


def _gelu(x: np.ndarray, approximate: bool) -> np.ndarray:
    xd = x.astype(np.float64)
    if approximate:
        y = 0.5 * xd * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (xd + 0.044715 * xd ** 3)))
    else:
        y = 0.5 * xd * (1.0 + _erf(xd / math.sqrt(2.0)))
    return y.astype(x.dtype)


def _leaky_relu(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(x >= 0, x, x * np.asarray(alpha, x.dtype)).astype(x.dtype)


# (scale, zero point) of the int8 outputs TFLite's kernels assume (docs/int8-arithmetic.md §1).
FIXED_OUTPUTS: dict[str, tuple[float, int]] = {
    "Logistic": (1 / 256, -128), "Softmax": (1 / 256, -128), "Tanh": (1 / 128, 0), "LogSoftmax": (16 / 256, 127)}
# (scale, zero point) of the int16 outputs of TFLite's 16x8 kernels (Q0.15: 1/32768, zero point 0).
FIXED_OUTPUTS16: dict[str, tuple[float, int]] = {
    "Logistic": (1 / 32768, 0), "Softmax": (1 / 32768, 0), "Tanh": (1 / 32768, 0)}

# (low, high) of the clamping activations: their semantics here, ONNX's Clip bounds.
CLAMPS: dict[str, tuple[float, float]] = {"Relu6": (0.0, 6.0), "ReluN1To1": (-1.0, 1.0), "Relu0To1": (0.0, 1.0)}


def _clamp(op: str) -> Any:
    lo, hi = CLAMPS[op]
    return lambda x: np.clip(x, lo, hi).astype(x.dtype)


F, OWN, SAME = DTypes.FLOAT, QuantRule.OWN_SCALE, QuantRule.SAME_SCALE
UNARY: dict[str, UnaryDef] = {
    "Relu": (lambda x: np.maximum(x, 0).astype(x.dtype), (), "max(x, 0)", DTypes.NUMERIC, OWN),
    # TFLM's standalone RELU6 clamps the raw int8 values: same scale in and out.
    "Relu6": (_clamp("Relu6"), (), "min(max(x, 0), 6)", DTypes.NUMERIC, SAME),
    "ReluN1To1": (_clamp("ReluN1To1"), (), "min(max(x, -1), 1)", DTypes.NUMERIC, SAME),
    "Relu0To1": (_clamp("Relu0To1"), (), "min(max(x, 0), 1)", DTypes.NUMERIC, SAME),
    "LeakyRelu": (_leaky_relu, (Attr("alpha", T_FLOAT),), "x if x >= 0 else alpha * x", F, OWN),
    "Elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))).astype(x.dtype), (),
            "x if x > 0 else exp(x) - 1", F, OWN),
    "Logistic": (_sigmoid, (), "1 / (1 + exp(-x))", F, QuantRule.FIXED_OUTPUT),
    "Tanh": (lambda x: np.tanh(x), (), "tanh(x)", F, QuantRule.FIXED_OUTPUT),
    "HardSwish": (lambda x: (x * np.clip(x + 3, 0, 6) / 6).astype(x.dtype), (), "x * relu6(x + 3) / 6", F, OWN),
    "Gelu": (_gelu, (Attr("approximate", T_BOOL, False),), "x * Phi(x); tanh approximation if approximate", F,
             OWN),
    "Softsign": (lambda x: (x / (1 + np.abs(x))).astype(x.dtype), (), "x / (1 + |x|)", F, QuantRule.FLOAT),
}
define_unary(Family.ACTIVATION, UNARY, {**{n: {"fixed_output": v, "fixed_output16": FIXED_OUTPUTS16.get(n)}
                                           for n, v in FIXED_OUTPUTS.items() if n in UNARY},
                                        **{n: {"clamp": v} for n, v in CLAMPS.items()}})


def _prelu_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, alpha = need_arrays("PRelu", ins, 0, 1)
    return [np.where(x >= 0, x, x * alpha).astype(x.dtype)]


define("PRelu", Family.ACTIVATION, ["x", "alpha"], (), same_infer("PRelu"), _prelu_eval,
       "x if x >= 0 else alpha * x (alpha broadcast over x)", dtypes=[F, F], quant=OWN)


def _softmax(x: np.ndarray, beta: float = 1.0) -> np.ndarray:
    z = x.astype(np.float64) * beta
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return (z - np.log(np.exp(z).sum(axis=-1, keepdims=True))).astype(x.dtype)


define("Softmax", Family.ACTIVATION, ["x"], (Attr("beta", T_FLOAT, 1.0),), same_infer("Softmax"),
       lambda ins, a: [_softmax(need_arrays("Softmax", ins, 0)[0], a["beta"])], "softmax over the last axis",
       dtypes=[F], channels=ChannelFlow.AXIS, quant=QuantRule.FIXED_OUTPUT, fixed_output=FIXED_OUTPUTS["Softmax"],
       fixed_output16=FIXED_OUTPUTS16["Softmax"])
define("LogSoftmax", Family.ACTIVATION, ["x"], (), same_infer("LogSoftmax"),
       lambda ins, a: [_log_softmax(need_arrays("LogSoftmax", ins, 0)[0])], "log-softmax over the last axis",
       dtypes=[F], channels=ChannelFlow.AXIS, quant=QuantRule.FIXED_OUTPUT, fixed_output=FIXED_OUTPUTS["LogSoftmax"])
