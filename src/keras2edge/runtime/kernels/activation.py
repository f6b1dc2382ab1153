"""Activations, float32: RELU*, LOGISTIC, TANH, HARD_SWISH, ELU, LEAKY_RELU, GELU, PRELU; SOFTMAX and
LOG_SOFTMAX over the last axis. (Unary math such as EXP or SQRT is in :mod:`.elementwise`.)

Formulas follow TFLite's float reference kernels:
LOGISTIC 1/(1+exp(-x)) (computed as 0.5+0.5*tanh(x/2)), or in a model with hybrid ops
(``OpContext.hybrid_model``) as ``reference_ops::Logistic`` bit for bit: x > 16.619047 ? 1 : x < -9 ?
expf(x) : 1/(1+expf(-x)) (float32 operations, C's ``expf``: :func:`..float_lut.expf_array`; about 10x
the time); HARD_SWISH x*relu6(x+3)/6; ELU x<0 ? expm1(x) : x; LEAKY_RELU x>=0 ? x : alpha*x;
PRELU x>=0 ? x : alpha*x (alpha broadcast); GELU 0.5*x*(1+erf(x/sqrt 2)) or, with ``approximate``,
0.5*x*(1+tanh(sqrt(2/pi)*(x+0.044715x^3))); SOFTMAX exp((x-max)*beta)/sum.
"""

from __future__ import annotations

import math

import numpy as np

from ..float_lut import expf_array
from .base import FLOAT, EvalFn, OpContext, UnaryFn, broadcast, register, unary, unary_kernel

F32 = np.float32
#: reference_ops::Logistic's cut-offs (float32).
_LOGISTIC_UPPER, _LOGISTIC_LOWER = F32(16.619047164916992188), F32(-9)


def _logistic(x, o):
    # 1/(1+exp(-x)) == 0.5 + 0.5*tanh(x/2): same passes, tanh is cheaper than exp and never overflows.
    np.multiply(x, F32(0.5), out=o)
    np.tanh(o, out=o)
    np.multiply(o, F32(0.5), out=o)
    np.add(o, F32(0.5), out=o)


def _logistic_exact(x, o):
    """reference_ops::Logistic (LiteRT and TFLite Micro): its cut-offs, C's expf, float32 1/(1+e)."""
    # (masks and the low branch before o is written: o may be x itself)
    hi, lo = x > _LOGISTIC_UPPER, x < _LOGISTIC_LOWER
    low = expf_array(x[lo]) if lo.any() else None
    e = expf_array(-x)
    np.add(e, F32(1), out=e)
    np.divide(F32(1), e, out=o)
    if hi.any():
        o[hi] = F32(1)
    if low is not None:
        o[lo] = low


@register("LOGISTIC", *FLOAT)
def logistic_float32(ctx: OpContext) -> EvalFn:
    """LOGISTIC: exact (LiteRT's reference arithmetic) in a model with hybrid ops, else the fast form."""
    return unary(ctx, _logistic_exact if ctx.hybrid_model else _logistic)


def _hard_swish(x, o):
    np.add(x, F32(3), out=o)
    np.clip(o, F32(0), F32(6), out=o)
    np.multiply(o, x, out=o)
    np.divide(o, F32(6), out=o)


def _elu(x, o):
    np.expm1(np.minimum(x, F32(0)), out=o)
    np.copyto(o, x, where=x > 0)


def _relu_0_to_1(x, o):
    np.clip(x, F32(0), F32(1), out=o)


# erf for float32 (NumPy has none): the rational approximation of Eigen/XLA's fast float erf,
# erf(z) = z * P(z^2) / Q(z^2) on z clamped to [-4, 4] (erf is +-1 in float32 beyond); measured max
# abs error 4.2e-7 against math.erf. Evaluated in place, chunk by chunk, so the ~30 passes stay in cache.
_ERF_P = tuple(F32(v) for v in (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
                                -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
                                -1.60960333262415e-02))
_ERF_Q = tuple(F32(v) for v in (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
                                -7.37332916720468e-03, -1.42647390514189e-02))
CHUNK = 1 << 15


def _erf_into(z: np.ndarray, out: np.ndarray, z2: np.ndarray, q: np.ndarray) -> None:
    """out = erf(z) for float32 arrays of one shape (z is clamped in place)."""
    np.clip(z, F32(-4), F32(4), out=z)
    np.multiply(z, z, out=z2)
    _polynomial_into(z2, _ERF_P, out)
    np.multiply(out, z, out=out)
    _polynomial_into(z2, _ERF_Q, q)
    np.divide(out, q, out=out)


def _polynomial_into(t: np.ndarray, coefficients: np.ndarray, out: np.ndarray) -> None:
    """out = c0·tⁿ + c1·tⁿ⁻¹ + ... + cn by Horner's rule, in place (the order _erf_into's coefficients use)."""
    np.multiply(t, coefficients[0], out=out)
    np.add(out, coefficients[1], out=out)
    for c in coefficients[2:]:
        np.multiply(out, t, out=out)
        np.add(out, c, out=out)


def erf(x: np.ndarray) -> np.ndarray:
    """erf of a float array (float32 arithmetic), for tests and callers outside the kernels."""
    x = np.asarray(x, np.float32)
    out = np.empty_like(x)
    _erf_into(x.copy(), out, np.empty_like(x), np.empty_like(x))
    return out


_ACTIVATIONS: dict[str, UnaryFn] = {
    "TANH": lambda x, o: np.tanh(x, out=o),
    "RELU": lambda x, o: np.maximum(x, F32(0), out=o),
    "RELU6": lambda x, o: np.clip(x, F32(0), F32(6), out=o),
    "RELU_N1_TO_1": lambda x, o: np.clip(x, F32(-1), F32(1), out=o),
    "RELU_0_TO_1": _relu_0_to_1,
    "ELU": _elu,
    "HARD_SWISH": _hard_swish,
}

for _op, _unary_fn in _ACTIVATIONS.items():
    register(_op, *FLOAT)(unary_kernel(_unary_fn))


@register("LEAKY_RELU", *FLOAT)
def leaky_relu_float32(ctx: OpContext) -> EvalFn:
    alpha = F32(ctx.opt("alpha", 0.2))

    def fn(x, o):
        np.multiply(x, alpha, out=o)
        np.copyto(o, x, where=x >= 0)

    return unary(ctx, fn)


@register("GELU", *FLOAT)
def gelu_float32(ctx: OpContext) -> EvalFn:
    ctx.check_arity(1)
    x = ctx.input(0)
    if ctx.outputs[0].dtype != x.dtype:
        raise ctx.fail(f"output is {ctx.outputs[0].dtype}, input is {x.dtype}")
    ctx.set_output(0, x.shape)
    approximate = bool(ctx.opt("approximate", False))
    n = x.size
    ch = min(n, CHUNK)
    itmp = ctx.scratch((3, max(ch, 1)))
    c = F32(math.sqrt(2.0 / math.pi))

    def eval_(ins, outs, tmp):
        xf, of = ins[0].reshape(-1), outs[0].reshape(-1)
        t = tmp[itmp]
        for s in range(0, n, ch):
            xc, oc = xf[s:s + ch], of[s:s + ch]
            k = xc.size
            a, b, d = t[0, :k], t[1, :k], t[2, :k]
            if approximate:  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
                np.multiply(xc, xc, out=a)
                np.multiply(a, F32(0.044715), out=a)
                np.add(a, F32(1), out=a)
                np.multiply(a, xc, out=a)
                np.multiply(a, c, out=a)
                np.tanh(a, out=oc)
            else:  # 0.5 x (1 + erf(x / sqrt 2))
                np.multiply(xc, F32(math.sqrt(0.5)), out=a)
                _erf_into(a, oc, b, d)
            np.add(oc, F32(1), out=oc)
            np.multiply(oc, xc, out=oc)
            np.multiply(oc, F32(0.5), out=oc)

    return eval_


@register("PRELU", *FLOAT)
def prelu_float32(ctx: OpContext) -> EvalFn:
    ctx.check_arity(2)
    x, a = ctx.input(0), ctx.input(1)
    if a.dtype != x.dtype:
        raise ctx.fail(f"alpha is {a.dtype}, input is {x.dtype}")
    ctx.set_output(0, broadcast(ctx, x.shape, a.shape))

    def eval_(ins, outs, tmp):
        xv, av = ins
        o = outs[0]
        np.multiply(xv, av, out=o)
        np.copyto(o, np.broadcast_to(xv, o.shape), where=np.broadcast_to(xv >= 0, o.shape))

    return eval_


def _over_last_axis(ctx: OpContext) -> None:
    """SOFTMAX / LOG_SOFTMAX: one input of rank >= 1, output of its shape."""
    ctx.check_arity(1)
    x = ctx.input(0)
    if x.rank < 1:
        raise ctx.fail("needs rank >= 1")
    ctx.set_output(0, x.shape)


@register("SOFTMAX", *FLOAT)
def softmax_float32(ctx: OpContext) -> EvalFn:
    _over_last_axis(ctx)
    beta = F32(ctx.opt("beta", 1.0))

    def eval_(ins, outs, tmp):
        xv, o = ins[0], outs[0]
        np.subtract(xv, xv.max(axis=-1, keepdims=True), out=o)
        if beta != 1:
            np.multiply(o, beta, out=o)
        np.exp(o, out=o)
        np.divide(o, o.sum(axis=-1, keepdims=True), out=o)

    return eval_


@register("LOG_SOFTMAX", *FLOAT)
def log_softmax_float32(ctx: OpContext) -> EvalFn:
    _over_last_axis(ctx)

    def eval_(ins, outs, tmp):
        xv, o = ins[0], outs[0]
        np.subtract(xv, xv.max(axis=-1, keepdims=True), out=o)
        s = np.log(np.exp(o).sum(axis=-1, keepdims=True))
        np.subtract(o, s, out=o)

    return eval_
