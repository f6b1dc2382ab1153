"""The IR op vocabulary: one table of ops, their inputs, attributes, shape rules and NumPy semantics.

Ops are close to TFLite builtins so lowering is 1:1; layouts are TFLite/Keras NHWC. Weight
layouts are Keras' own: Conv2D ``w`` is HWIO (KH, KW, Cin/groups, Cout); DepthwiseConv2D ``w``
is (KH, KW, Cin, multiplier); TransposeConv2D ``w`` is (KH, KW, Cout, Cin); FullyConnected ``w``
is (K, N). ``evaluate`` gives each op's exact float semantics in NumPy; constant folding and
tests use it.

Each entry: inputs (a trailing ``?`` marks an optional input, ``*`` a variadic list),
attributes with defaults (``REQUIRED`` when there is none), ``infer`` giving output
(dtype, shape) pairs, and ``evaluate``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .activation import with_fused_activation
from .dtypes import DType
from .value import Value

Shape = tuple["int | None", ...]
REQUIRED = object()
InferFn = Callable[[list["Value | None"], dict[str, Any]], list[tuple[DType, Shape]]]
EvalFn = Callable[[list["np.ndarray | None"], dict[str, Any]], list[np.ndarray]]


@dataclass(frozen=True)
class OpSpec:
    """Definition of one IR op."""

    name: str
    inputs: tuple[str, ...]
    attrs: dict[str, Any]
    infer: InferFn
    evaluate: EvalFn
    doc: str = ""
    num_outputs: Callable[[dict[str, Any]], int] = field(default=lambda attrs: 1)

    @property
    def min_inputs(self) -> int:
        return sum(1 for i in self.inputs if not i.endswith(("?", "*")))

    @property
    def variadic(self) -> bool:
        return any(i.endswith("*") for i in self.inputs)


OPS: dict[str, OpSpec] = {}


def _op(name: str, inputs: Sequence[str], attrs: dict[str, Any] | None, infer: InferFn,
        evaluate: EvalFn, doc: str = "", num_outputs: Callable[[dict[str, Any]], int] | None = None) -> None:
    OPS[name] = OpSpec(name, tuple(inputs), dict(attrs or {}), infer, evaluate, doc,
                       num_outputs or (lambda attrs: 1))


# ---------------------------------------------------------------------------- shape helpers

def broadcast_shapes(*shapes: Shape) -> Shape:
    """NumPy broadcasting on shapes that may hold None (unknown) dimensions."""
    rank = max(len(s) for s in shapes)
    out: list[int | None] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"shapes {shapes} do not broadcast")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def conv_out_dim(n: int | None, k: int, stride: int, dilation: int, padding: str) -> int | None:
    """Output length of a convolution/pool window along one axis (TF 'same'/'valid' rules)."""
    if n is None:
        return None
    if padding == "same":
        return -(-n // stride)
    eff = (k - 1) * dilation + 1
    return max(0, (n - eff) // stride + 1)


def same_pads(n: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """TF 'same' padding (before, after): the odd extra pixel goes after."""
    eff = (k - 1) * dilation + 1
    out = -(-n // stride)
    total = max((out - 1) * stride + eff - n, 0)
    return total // 2, total - total // 2


def norm_axis(axis: int, rank: int) -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return a


def _same(inputs: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x = inputs[0]
    assert x is not None
    return [(x.dtype, x.shape)]


def _bcast(inputs: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    vals = [v for v in inputs if v is not None]
    return [(vals[0].dtype, broadcast_shapes(*(v.shape for v in vals)))]


def _compare(inputs: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    vals = [v for v in inputs if v is not None]
    return [(DType.BOOL, broadcast_shapes(*(v.shape for v in vals)))]


# ---------------------------------------------------------------------------- elementwise

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


_UNARY: dict[str, tuple[Callable[..., np.ndarray], dict[str, Any], str]] = {
    "Identity": (lambda x: x.copy(), {}, "y = x"),
    "Relu": (lambda x: np.maximum(x, 0).astype(x.dtype), {}, "max(x, 0)"),
    "Relu6": (lambda x: np.clip(x, 0, 6).astype(x.dtype), {}, "min(max(x, 0), 6)"),
    "ReluN1To1": (lambda x: np.clip(x, -1, 1).astype(x.dtype), {}, "min(max(x, -1), 1)"),
    "Relu0To1": (lambda x: np.clip(x, 0, 1).astype(x.dtype), {}, "min(max(x, 0), 1)"),
    "LeakyRelu": (lambda x, alpha: np.where(x >= 0, x, x * np.asarray(alpha, x.dtype)).astype(x.dtype),
                  {"alpha": REQUIRED}, "x if x >= 0 else alpha * x"),
    "Elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))).astype(x.dtype), {},
            "x if x > 0 else exp(x) - 1"),
    "Logistic": (_sigmoid, {}, "1 / (1 + exp(-x))"),
    "Tanh": (lambda x: np.tanh(x), {}, "tanh(x)"),
    "HardSwish": (lambda x: (x * np.clip(x + 3, 0, 6) / 6).astype(x.dtype), {}, "x * relu6(x + 3) / 6"),
    "Gelu": (_gelu, {"approximate": False}, "x * Phi(x); tanh approximation if approximate"),
    "Exp": (lambda x: np.exp(x), {}, "exp(x)"),
    "Log": (lambda x: np.log(x), {}, "log(x)"),
    "Abs": (lambda x: np.abs(x), {}, "|x|"),
    "Neg": (lambda x: -x, {}, "-x"),
    "Sqrt": (lambda x: np.sqrt(x), {}, "sqrt(x)"),
    "Rsqrt": (lambda x: (1.0 / np.sqrt(x)).astype(x.dtype), {}, "1 / sqrt(x)"),
    "Square": (lambda x: x * x, {}, "x * x"),
    "Sin": (lambda x: np.sin(x), {}, "sin(x)"),
    "Cos": (lambda x: np.cos(x), {}, "cos(x)"),
    "Floor": (lambda x: np.floor(x), {}, "floor(x)"),
    "Ceil": (lambda x: np.ceil(x), {}, "ceil(x)"),
    "Round": (lambda x: np.round(x), {}, "round half to even"),
    "Sign": (lambda x: np.sign(x), {}, "sign(x)"),
    "LogicalNot": (lambda x: np.logical_not(x), {}, "not x (bool)"),
}
for _name, (_fn, _attrs, _doc) in _UNARY.items():
    def _mk(fn: Callable[..., np.ndarray]) -> EvalFn:
        return lambda ins, attrs: [np.asarray(fn(ins[0], **attrs))]
    _op(_name, ["x"], _attrs, _same, _mk(_fn), _doc)

_BINARY: dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], str]] = {
    "Add": (np.add, "a + b"),
    "Sub": (np.subtract, "a - b"),
    "Mul": (np.multiply, "a * b"),
    "Div": (lambda a, b: np.divide(a, b) if a.dtype.kind == "f" else np.floor_divide(a, b), "a / b"),
    "FloorDiv": (np.floor_divide, "floor(a / b)"),
    "FloorMod": (np.mod, "a mod b (sign of b)"),
    "Maximum": (np.maximum, "max(a, b)"),
    "Minimum": (np.minimum, "min(a, b)"),
    "Pow": (np.power, "a ** b"),
    "SquaredDifference": (lambda a, b: (a - b) * (a - b), "(a - b)^2"),
    "LogicalAnd": (np.logical_and, "a and b (bool)"),
    "LogicalOr": (np.logical_or, "a or b (bool)"),
}
for _name, (_fn, _doc) in _BINARY.items():
    def _mkb(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> EvalFn:
        return lambda ins, attrs: [np.asarray(fn(ins[0], ins[1])).astype(np.result_type(ins[0], ins[1]))]
    _op(_name, ["a", "b"], {}, _bcast, _mkb(_fn), _doc)

_COMPARE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Equal": np.equal, "NotEqual": np.not_equal, "Less": np.less, "LessEqual": np.less_equal,
    "Greater": np.greater, "GreaterEqual": np.greater_equal,
}
for _name, _fn in _COMPARE.items():
    def _mkc(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> EvalFn:
        return lambda ins, attrs: [np.asarray(fn(ins[0], ins[1]))]
    _op(_name, ["a", "b"], {}, _compare, _mkc(_fn), f"{_name}(a, b) -> bool")


def _select_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    c, a, b = ins
    assert c is not None and a is not None and b is not None
    return [(a.dtype, broadcast_shapes(c.shape, a.shape, b.shape))]


_op("Select", ["cond", "a", "b"], {}, _select_infer,
    lambda ins, attrs: [np.where(ins[0], ins[1], ins[2]).astype(ins[1].dtype)], "cond ? a : b")
_op("PRelu", ["x", "alpha"], {}, _same,
    lambda ins, attrs: [np.where(ins[0] >= 0, ins[0], ins[0] * ins[1]).astype(ins[0].dtype)],
    "x if x >= 0 else alpha * x (alpha broadcast over x)")


def _cast_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    assert ins[0] is not None
    return [(DType(attrs["to"]), ins[0].shape)]


def _cast_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    assert x is not None
    to = np.dtype(attrs["to"])
    if x.dtype.kind == "f" and to.kind in "iu":
        x = np.trunc(x)  # TF/ONNX/TFLite cast float->int truncates toward zero
    return [x.astype(to)]


_op("Cast", ["x"], {"to": REQUIRED}, _cast_infer, _cast_eval, "convert element type (float->int truncates)")


# ---------------------------------------------------------------------------- softmax

def _softmax(x: np.ndarray, beta: float = 1.0) -> np.ndarray:
    z = x.astype(np.float64) * beta
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return (z - np.log(np.exp(z).sum(axis=-1, keepdims=True))).astype(x.dtype)


_op("Softmax", ["x"], {"beta": 1.0}, _same, lambda ins, a: [_softmax(ins[0], a["beta"])],
    "softmax over the last axis")
_op("LogSoftmax", ["x"], {}, _same, lambda ins, a: [_log_softmax(ins[0])], "log-softmax over the last axis")


# ---------------------------------------------------------------------------- convolution

def _pair(v: Any) -> tuple[int, int]:
    t = tuple(int(i) for i in (v if isinstance(v, (tuple, list)) else (v, v)))
    return (t[0], t[1])


def _conv_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x, w = ins[0], ins[1]
    assert x is not None and w is not None
    if x.rank != 4 or w.rank != 4:
        raise ValueError(f"Conv2D needs rank-4 input and kernel, got {x.shape} and {w.shape}")
    kh, kw, cin_g, cout = w.shape
    sh, sw = _pair(attrs["strides"])
    dh, dw = _pair(attrs["dilations"])
    cin = x.shape[3]
    if cin is not None and cin_g is not None and cin % cin_g:
        raise ValueError(f"Conv2D input channels {cin} not a multiple of kernel input channels {cin_g}")
    assert kh is not None and kw is not None
    return [(x.dtype, (x.shape[0], conv_out_dim(x.shape[1], kh, sh, dh, attrs["padding"]),
                       conv_out_dim(x.shape[2], kw, sw, dw, attrs["padding"]), cout))]


def _pad_same_nhwc(x: np.ndarray, kh: int, kw: int, s: tuple[int, int], d: tuple[int, int],
                   padding: str, value: float = 0.0) -> np.ndarray:
    if padding != "same":
        return x
    ph = same_pads(x.shape[1], kh, s[0], d[0])
    pw = same_pads(x.shape[2], kw, s[1], d[1])
    return np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=value)


def _windows(x: np.ndarray, kh: int, kw: int, s: tuple[int, int], d: tuple[int, int],
             oh: int, ow: int) -> list[tuple[int, int, np.ndarray]]:
    """Every kernel tap (i, j) with the strided input slice it multiplies."""
    taps = []
    for i in range(kh):
        for j in range(kw):
            sl = x[:, i * d[0]: i * d[0] + (oh - 1) * s[0] + 1: s[0],
                   j * d[1]: j * d[1] + (ow - 1) * s[1] + 1: s[1], :]
            taps.append((i, j, sl))
    return taps


def _conv_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, w, b = ins[0], ins[1], ins[2] if len(ins) > 2 else None
    assert x is not None and w is not None
    s, d = _pair(attrs["strides"]), _pair(attrs["dilations"])
    kh, kw, cin_g, cout = w.shape
    groups = x.shape[3] // cin_g
    _, oh, ow, _ = _conv_infer([Value("x", DType.FLOAT32, x.shape), Value("w", DType.FLOAT32, w.shape)], attrs)[0][1]
    xp = _pad_same_nhwc(x.astype(np.float64), kh, kw, s, d, attrs["padding"])
    out = np.zeros((x.shape[0], oh, ow, cout), np.float64)
    cout_g = cout // groups
    wd = w.astype(np.float64)
    for i, j, sl in _windows(xp, kh, kw, s, d, oh, ow):
        for g in range(groups):
            out[..., g * cout_g:(g + 1) * cout_g] += (
                sl[..., g * cin_g:(g + 1) * cin_g] @ wd[i, j, :, g * cout_g:(g + 1) * cout_g])
    if b is not None:
        out += b
    return [out.astype(x.dtype)]


_op("Conv2D", ["x", "w", "b?"], {"strides": (1, 1), "dilations": (1, 1), "padding": "valid"},
    _conv_infer, _conv_eval, "2-D convolution, NHWC input, HWIO kernel (groups = Cin / kernel Cin)")


def _dw_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x, w = ins[0], ins[1]
    assert x is not None and w is not None
    kh, kw, cin, mult = w.shape
    assert kh is not None and kw is not None and cin is not None and mult is not None
    s, d = _pair(attrs["strides"]), _pair(attrs["dilations"])
    return [(x.dtype, (x.shape[0], conv_out_dim(x.shape[1], kh, s[0], d[0], attrs["padding"]),
                       conv_out_dim(x.shape[2], kw, s[1], d[1], attrs["padding"]), cin * mult))]


def _dw_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, w, b = ins[0], ins[1], ins[2] if len(ins) > 2 else None
    assert x is not None and w is not None
    s, d = _pair(attrs["strides"]), _pair(attrs["dilations"])
    kh, kw, cin, mult = w.shape
    (_, (n, oh, ow, cout)), = _dw_infer([Value("x", DType.FLOAT32, x.shape), Value("w", DType.FLOAT32, w.shape)], attrs)
    xp = _pad_same_nhwc(x.astype(np.float64), kh, kw, s, d, attrs["padding"])
    out = np.zeros((x.shape[0], oh, ow, cin, mult), np.float64)
    for i, j, sl in _windows(xp, kh, kw, s, d, oh, ow):
        out += sl[..., :, None] * w[i, j].astype(np.float64)
    out = out.reshape(x.shape[0], oh, ow, cin * mult)
    if b is not None:
        out += b
    return [out.astype(x.dtype)]


_op("DepthwiseConv2D", ["x", "w", "b?"], {"strides": (1, 1), "dilations": (1, 1), "padding": "valid"},
    _dw_infer, _dw_eval, "depthwise 2-D convolution, kernel (KH, KW, Cin, multiplier); output channel c*mult+m")


def _tconv_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x, w = ins[0], ins[1]
    assert x is not None and w is not None
    oh, ow = attrs["output_size"]
    return [(x.dtype, (x.shape[0], oh, ow, w.shape[2]))]


def _tconv_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, w, b = ins[0], ins[1], ins[2] if len(ins) > 2 else None
    assert x is not None and w is not None
    s = _pair(attrs["strides"])
    kh, kw, cout, _ = w.shape
    oh, ow = attrs["output_size"]
    n, h, wd_, _ = x.shape
    # Full (uncropped) output, then crop the TF 'same' / 'valid' leading pad.
    fh, fw = (h - 1) * s[0] + kh, (wd_ - 1) * s[1] + kw
    full = np.zeros((n, max(fh, oh + kh), max(fw, ow + kw), cout), np.float64)
    xd = x.astype(np.float64)
    for i in range(kh):
        for j in range(kw):
            full[:, i: i + (h - 1) * s[0] + 1: s[0], j: j + (wd_ - 1) * s[1] + 1: s[1], :] += (
                xd @ w[i, j].astype(np.float64).T)
    pt, pl = attrs["pad_before"]
    out = full[:, pt:pt + oh, pl:pl + ow, :]
    if b is not None:
        out = out + b
    return [out.astype(x.dtype)]


_op("TransposeConv2D", ["x", "w", "b?"],
    {"strides": (1, 1), "output_size": REQUIRED, "pad_before": (0, 0)},
    _tconv_infer, _tconv_eval,
    "transposed 2-D convolution, kernel (KH, KW, Cout, Cin); output cropped at pad_before to output_size")


def _fc_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x, w = ins[0], ins[1]
    assert x is not None and w is not None
    if w.rank != 2 or (x.shape[-1] is not None and x.shape[-1] != w.shape[0]):
        raise ValueError(f"FullyConnected input {x.shape} does not match weights {w.shape}")
    return [(x.dtype, x.shape[:-1] + (w.shape[1],))]


def _fc_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, w, b = ins[0], ins[1], ins[2] if len(ins) > 2 else None
    assert x is not None and w is not None
    y = x.astype(np.float64) @ w.astype(np.float64)
    if b is not None:
        y = y + b
    return [y.astype(x.dtype)]


_op("FullyConnected", ["x", "w", "b?"], {}, _fc_infer, _fc_eval, "x @ w + b over the last axis; w is (K, N)")


def _bmm_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    a, b = ins
    assert a is not None and b is not None
    m = a.shape[-1] if attrs["adj_x"] else a.shape[-2]
    n = b.shape[-2] if attrs["adj_y"] else b.shape[-1]
    return [(a.dtype, broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (m, n))]


def _bmm_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    a, b = ins
    assert a is not None and b is not None
    if attrs["adj_x"]:
        a = np.swapaxes(a, -1, -2)
    if attrs["adj_y"]:
        b = np.swapaxes(b, -1, -2)
    return [np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype)]


_op("BatchMatMul", ["a", "b"], {"adj_x": False, "adj_y": False}, _bmm_infer, _bmm_eval,
    "batched a @ b over the last two axes (optionally transposed)")


def _bn_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, mean, var, gamma, beta = list(ins) + [None] * (5 - len(ins))
    assert x is not None and mean is not None and var is not None
    scale = 1.0 / np.sqrt(var.astype(np.float64) + attrs["epsilon"])
    if gamma is not None:
        scale = scale * gamma
    shift = -mean * scale
    if beta is not None:
        shift = shift + beta
    return [(x * scale + shift).astype(x.dtype)]


_op("BatchNorm", ["x", "mean", "variance", "gamma?", "beta?"], {"epsilon": 1e-3}, _same, _bn_eval,
    "inference batch normalization over the last axis; folded into a conv/FC or Mul+Add by cleanup")


# ---------------------------------------------------------------------------- pooling

def _pool_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x = ins[0]
    assert x is not None
    kh, kw = _pair(attrs["pool_size"])
    s = _pair(attrs["strides"])
    return [(x.dtype, (x.shape[0], conv_out_dim(x.shape[1], kh, s[0], 1, attrs["padding"]),
                       conv_out_dim(x.shape[2], kw, s[1], 1, attrs["padding"]), x.shape[3]))]


def _pool_eval(kind: str) -> EvalFn:
    def run(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
        x = ins[0]
        assert x is not None
        kh, kw = _pair(attrs["pool_size"])
        s = _pair(attrs["strides"])
        (_, (n, oh, ow, c)), = _pool_infer([Value("x", DType.FLOAT32, x.shape)], attrs)
        xd = x.astype(np.float64)
        if kind == "max":
            xp = _pad_same_nhwc(xd, kh, kw, s, (1, 1), attrs["padding"], -np.inf)
            out = np.full((n, oh, ow, c), -np.inf)
            for _, _, sl in _windows(xp, kh, kw, s, (1, 1), oh, ow):
                out = np.maximum(out, sl)
        else:  # average excludes padding from the count (TF/Keras semantics)
            xp = _pad_same_nhwc(xd, kh, kw, s, (1, 1), attrs["padding"])
            ones = _pad_same_nhwc(np.ones((1,) + x.shape[1:3] + (1,)), kh, kw, s, (1, 1), attrs["padding"])
            out = np.zeros((n, oh, ow, c))
            cnt = np.zeros((1, oh, ow, 1))
            for (_, _, sl), (_, _, sc) in zip(_windows(xp, kh, kw, s, (1, 1), oh, ow),
                                              _windows(ones, kh, kw, s, (1, 1), oh, ow)):
                out += sl
                cnt += sc
            out = out / cnt
        return [out.astype(x.dtype)]
    return run


_POOL_ATTRS = {"pool_size": REQUIRED, "strides": REQUIRED, "padding": "valid"}
_op("MaxPool2D", ["x"], _POOL_ATTRS, _pool_infer, _pool_eval("max"), "2-D max pooling, NHWC")
_op("AveragePool2D", ["x"], _POOL_ATTRS, _pool_infer, _pool_eval("avg"),
    "2-D average pooling, NHWC; 'same' padding is excluded from the count")


# ---------------------------------------------------------------------------- reductions

def _reduce_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x = ins[0]
    assert x is not None
    axes = {norm_axis(a, x.rank) for a in attrs["axes"]}
    if attrs["keepdims"]:
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    else:
        shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return [(x.dtype, shape)]


def _mk_reduce(fn: Callable[..., np.ndarray]) -> EvalFn:
    def run(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
        x = ins[0]
        assert x is not None
        axes = tuple(norm_axis(a, x.ndim) for a in attrs["axes"])
        src = x.astype(np.float64) if x.dtype.kind == "f" else x
        return [np.asarray(fn(src, axis=axes, keepdims=attrs["keepdims"])).astype(x.dtype)]
    return run


for _name, _fn in {"Mean": np.mean, "Sum": np.sum, "ReduceMax": np.max, "ReduceMin": np.min,
                   "ReduceProd": np.prod, "ReduceAny": np.any}.items():
    _op(_name, ["x"], {"axes": REQUIRED, "keepdims": False}, _reduce_infer, _mk_reduce(_fn),
        f"{_name} over the given axes")


# ---------------------------------------------------------------------------- shape ops

def _reshape_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x = ins[0]
    assert x is not None
    target = [int(d) for d in attrs["shape"]]
    if sum(1 for d in target if d == -1) > 1:
        raise ValueError(f"Reshape target {target} has more than one -1")
    known_in = None if any(d is None for d in x.shape) else math.prod(int(d) for d in x.shape if d is not None)
    out: list[int | None] = []
    for d in target:
        if d != -1:
            out.append(d)
            continue
        rest = math.prod(t for t in target if t != -1)
        if known_in is not None and rest:
            out.append(known_in // rest)
        else:
            out.append(None)  # depends on a dimension known only at run time (the batch)
    if known_in is not None and None not in out and math.prod(int(d) for d in out if d is not None) != known_in:
        raise ValueError(f"cannot reshape {x.shape} to {target}")
    return [(x.dtype, tuple(out))]


_op("Reshape", ["x"], {"shape": REQUIRED}, _reshape_infer,
    lambda ins, a: [np.reshape(ins[0], [int(d) for d in a["shape"]])],
    "reshape; one -1 entry allowed (the dynamic batch dimension is written -1)")


def _transpose_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x = ins[0]
    assert x is not None
    perm = tuple(attrs["perm"])
    if sorted(perm) != list(range(x.rank)):
        raise ValueError(f"bad permutation {perm} for rank {x.rank}")
    return [(x.dtype, tuple(x.shape[p] for p in perm))]


_op("Transpose", ["x"], {"perm": REQUIRED}, _transpose_infer,
    lambda ins, a: [np.transpose(ins[0], a["perm"]).copy()], "permute axes")


def _concat_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    vals = [v for v in ins if v is not None]
    rank = vals[0].rank
    ax = norm_axis(attrs["axis"], rank)
    out: list[int | None] = []
    for i in range(rank):
        dims = [v.shape[i] for v in vals]
        if i == ax:
            out.append(None if any(d is None for d in dims) else sum(int(d) for d in dims if d is not None))
        else:
            known = {d for d in dims if d is not None}
            if len(known) > 1:
                raise ValueError(f"Concatenation shapes {[v.shape for v in vals]} differ off axis {ax}")
            out.append(known.pop() if known else None)
    return [(vals[0].dtype, tuple(out))]


_op("Concatenation", ["xs*"], {"axis": REQUIRED}, _concat_infer,
    lambda ins, a: [np.concatenate([i for i in ins if i is not None], axis=a["axis"])], "join along an axis")


def _pad_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x = ins[0]
    assert x is not None
    pads = attrs["pads"]
    if len(pads) != x.rank:
        raise ValueError(f"Pad needs {x.rank} (before, after) pairs, got {pads}")
    return [(x.dtype, tuple(None if d is None else d + p[0] + p[1] for d, p in zip(x.shape, pads)))]


_op("Pad", ["x"], {"pads": REQUIRED, "value": 0.0}, _pad_infer,
    lambda ins, a: [np.pad(ins[0], [tuple(p) for p in a["pads"]], constant_values=a["value"])],
    "constant padding; pads is one (before, after) pair per axis")


def _slice_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x = ins[0]
    assert x is not None
    if not len(attrs["begin"]) == len(attrs["end"]) == len(attrs["strides"]) == x.rank:
        raise ValueError(f"StridedSlice needs begin/end/strides for each of the {x.rank} axes")
    out: list[int | None] = []
    for d, b, e, s in zip(x.shape, attrs["begin"], attrs["end"], attrs["strides"]):
        if d is None:
            out.append(None)
            continue
        out.append(len(range(*slice(b, e, s).indices(d))))
    return [(x.dtype, tuple(out))]


def _slice_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    assert x is not None
    idx = tuple(slice(b, e, s) for b, e, s in zip(attrs["begin"], attrs["end"], attrs["strides"]))
    return [x[idx].copy()]


_op("StridedSlice", ["x"], {"begin": REQUIRED, "end": REQUIRED, "strides": REQUIRED}, _slice_infer,
    _slice_eval, "Python-style x[b:e:s] per axis; end None means to the end of the axis")


def _gather_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    p, i = ins
    assert p is not None and i is not None
    ax = norm_axis(attrs["axis"], p.rank)
    return [(p.dtype, p.shape[:ax] + i.shape + p.shape[ax + 1:])]


_op("Gather", ["params", "indices"], {"axis": 0}, _gather_infer,
    lambda ins, a: [np.take(ins[0], ins[1].astype(np.int64), axis=a["axis"])],
    "take rows of params at integer indices (Embedding)")


def _resize_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x = ins[0]
    assert x is not None
    h, w = attrs["size"]
    return [(x.dtype, (x.shape[0], h, w, x.shape[3]))]


def _src_coords(n_out: int, n_in: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    o = np.arange(n_out, dtype=np.float64)
    if align_corners and n_out > 1:
        return o * (n_in - 1) / (n_out - 1)
    scale = n_in / n_out
    return (o + 0.5) * scale - 0.5 if half_pixel else o * scale


def _resize_nearest_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    assert x is not None
    idx = []
    for n_out, n_in in zip(attrs["size"], x.shape[1:3]):
        if attrs["align_corners"]:
            src = np.floor(_src_coords(n_out, n_in, True, False) + 0.5)  # TF rounds halves up
        elif attrs["half_pixel_centers"]:
            src = np.floor((np.arange(n_out) + 0.5) * (n_in / n_out))
        else:
            src = np.floor(np.arange(n_out) * (n_in / n_out))
        idx.append(np.clip(src.astype(np.int64), 0, n_in - 1))
    return [x[:, idx[0]][:, :, idx[1]].copy()]


def _resize_bilinear_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    assert x is not None
    out = x.astype(np.float64)
    for axis, (n_out, n_in) in zip((1, 2), zip(attrs["size"], x.shape[1:3])):
        src = _src_coords(n_out, n_in, attrs["align_corners"], attrs["half_pixel_centers"])
        src = np.clip(src, 0, n_in - 1)
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        frac = (src - lo).reshape([-1 if i == axis else 1 for i in range(4)])
        out = np.take(out, lo, axis=axis) * (1 - frac) + np.take(out, hi, axis=axis) * frac
    return [out.astype(x.dtype)]


_RESIZE_ATTRS = {"size": REQUIRED, "align_corners": False, "half_pixel_centers": False}
_op("ResizeNearestNeighbor", ["x"], _RESIZE_ATTRS, _resize_infer, _resize_nearest_eval,
    "nearest-neighbour resize of H, W (TF semantics)")
_op("ResizeBilinear", ["x"], _RESIZE_ATTRS, _resize_infer, _resize_bilinear_eval,
    "bilinear resize of H, W (TF semantics)")


def _expand_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x = ins[0]
    assert x is not None
    ax = norm_axis(attrs["axis"], x.rank + 1)
    return [(x.dtype, x.shape[:ax] + (1,) + x.shape[ax:])]


_op("ExpandDims", ["x"], {"axis": REQUIRED}, _expand_infer,
    lambda ins, a: [np.expand_dims(ins[0], a["axis"])], "insert a length-1 axis")


def _squeeze_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x = ins[0]
    assert x is not None
    axes = {norm_axis(a, x.rank) for a in attrs["axes"]}
    for a in axes:
        if x.shape[a] not in (1, None):
            raise ValueError(f"cannot squeeze axis {a} of shape {x.shape}")
    return [(x.dtype, tuple(d for i, d in enumerate(x.shape) if i not in axes))]


_op("Squeeze", ["x"], {"axes": REQUIRED}, _squeeze_infer,
    lambda ins, a: [np.squeeze(ins[0], tuple(a["axes"]))], "remove length-1 axes")


def _split_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x = ins[0]
    assert x is not None
    ax = norm_axis(attrs["axis"], x.rank)
    d = x.shape[ax]
    if d is not None and sum(int(s) for s in attrs["sizes"]) != d:
        raise ValueError(f"Split sizes {tuple(attrs['sizes'])} do not add up to axis length {d}")
    return [(x.dtype, x.shape[:ax] + (int(s),) + x.shape[ax + 1:]) for s in attrs["sizes"]]


def _split_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    x = ins[0]
    assert x is not None
    cuts = np.cumsum(attrs["sizes"])[:-1]
    return [p.copy() for p in np.split(x, cuts, axis=attrs["axis"])]


_op("Split", ["x"], {"axis": REQUIRED, "sizes": REQUIRED}, _split_infer, _split_eval,
    "split into pieces of the given sizes along an axis", num_outputs=lambda a: len(a["sizes"]))


def _tile_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x = ins[0]
    assert x is not None
    return [(x.dtype, tuple(None if d is None else d * m for d, m in zip(x.shape, attrs["multiples"])))]


_op("Tile", ["x"], {"multiples": REQUIRED}, _tile_infer,
    lambda ins, a: [np.tile(ins[0], a["multiples"])], "repeat the whole tensor along each axis")


# Ops that can clamp their own output (attribute ``activation``: see activation.py, FuseActivationPass).
for _name in ("Conv2D", "DepthwiseConv2D", "FullyConnected", "BatchNorm", "Add", "Sub", "Mul", "Div",
              "MaxPool2D", "AveragePool2D"):
    OPS[_name] = with_fused_activation(OPS[_name], OPS)


def op_spec(op: str) -> OpSpec:
    """The OpSpec of ``op``, or a ValueError naming the known ops."""
    try:
        return OPS[op]
    except KeyError:
        raise ValueError(f"unknown IR op {op!r}; the vocabulary has: {', '.join(sorted(OPS))}") from None
