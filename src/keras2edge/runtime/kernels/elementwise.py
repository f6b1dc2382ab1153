"""Broadcasting binary ops, unary math, comparisons, logical ops, SELECT and CAST.

Float32 arithmetic follows TFLite's float kernels: ADD/SUB/MUL/DIV with a fused activation (clamped
to the activation range), MAXIMUM, MINIMUM, POW, SQUARED_DIFFERENCE, FLOOR_DIV (floor(a / b)) and
FLOOR_MOD (result has the divisor's sign). Integer versions (int32/int64) exist for the index
arithmetic converters emit around shapes; integer DIV truncates toward zero like C. Unary math
(ABS, NEG, SQRT, RSQRT, SQUARE, SIN, COS, EXP, LOG, FLOOR, CEIL, ROUND half to even, SIGN) on float32;
ABS, NEG, SQUARE and SIGN also on int32/int64.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .base import FLOAT, INDEX, MOVE, EvalFn, OpContext, UnaryFn, broadcast, fused_activation, register, unary_kernel


def _binary(ctx: OpContext, fn: Callable, *, act: bool = False, out_dtype=None) -> EvalFn:
    ctx.check_arity(2)
    a, b = ctx.input(0), ctx.input(1)
    if a.dtype != b.dtype:
        raise ctx.fail(f"inputs have different dtypes {a.dtype} and {b.dtype}")
    ctx.set_output(0, broadcast(ctx, a.shape, b.shape), out_dtype)
    activation = fused_activation(ctx) if act else None

    if activation is None:
        def eval_(ins, outs, tmp):
            fn(ins[0], ins[1], out=outs[0])
    else:
        def eval_(ins, outs, tmp):
            fn(ins[0], ins[1], out=outs[0])
            activation(outs[0])
    return eval_


def _squared_difference(a, b, out):
    np.subtract(a, b, out=out)
    np.multiply(out, out, out=out)


def _floor_div_float(a, b, out):
    np.divide(a, b, out=out)
    np.floor(out, out=out)


def _div_int(a, b, out):
    if np.any(b == 0):
        raise ZeroDivisionError("integer division by zero")
    # C semantics: truncate toward zero.
    q = np.abs(a) // np.abs(b)
    np.copyto(out, np.where((a < 0) ^ (b < 0), -q, q))


def _checked(fn):
    def run(a, b, out):
        if np.any(b == 0):
            raise ZeroDivisionError("integer division by zero")
        fn(a, b, out=out)
    return run


for _op, _fn in (("ADD", np.add), ("SUB", np.subtract), ("MUL", np.multiply), ("DIV", np.divide)):
    def _mk(fn):
        def prepare(ctx: OpContext) -> EvalFn:
            return _binary(ctx, fn, act=True)
        return prepare
    register(_op, *FLOAT)(_mk(_fn))

for _op, _fn in (("ADD", np.add), ("SUB", np.subtract), ("MUL", np.multiply), ("DIV", _div_int)):
    def _mki(fn):
        def prepare(ctx: OpContext) -> EvalFn:
            return _binary(ctx, fn, act=True)
        return prepare
    register(_op, *INDEX)(_mki(_fn))

for _op, _ffn, _ifn in (
        ("MAXIMUM", np.maximum, np.maximum),
        ("MINIMUM", np.minimum, np.minimum),
        ("POW", np.power, np.power),
        ("SQUARED_DIFFERENCE", _squared_difference, _squared_difference),
        ("FLOOR_DIV", _floor_div_float, _checked(np.floor_divide)),
        ("FLOOR_MOD", np.mod, _checked(np.mod))):
    def _mk2(fn):
        def prepare(ctx: OpContext) -> EvalFn:
            return _binary(ctx, fn)
        return prepare
    register(_op, *FLOAT)(_mk2(_ffn))
    register(_op, *INDEX)(_mk2(_ifn))


def _rsqrt(x: np.ndarray, o: np.ndarray) -> None:
    np.sqrt(x, out=o)
    np.divide(np.float32(1), o, out=o)


_UNARY_MATH: dict[str, UnaryFn] = {
    "ABS": lambda x, o: np.abs(x, out=o),
    "NEG": lambda x, o: np.negative(x, out=o),
    "SQRT": lambda x, o: np.sqrt(x, out=o),
    "RSQRT": _rsqrt,
    "SQUARE": lambda x, o: np.multiply(x, x, out=o),
    "SIN": lambda x, o: np.sin(x, out=o),
    "COS": lambda x, o: np.cos(x, out=o),
    "EXP": lambda x, o: np.exp(x, out=o),
    "LOG": lambda x, o: np.log(x, out=o),
    "FLOOR": lambda x, o: np.floor(x, out=o),
    "CEIL": lambda x, o: np.ceil(x, out=o),
    "ROUND": lambda x, o: np.rint(x, out=o),
    "SIGN": lambda x, o: np.sign(x, out=o),
}
for _op, _unary_fn in _UNARY_MATH.items():
    register(_op, *FLOAT)(unary_kernel(_unary_fn))

for _op in ("ABS", "NEG", "SQUARE", "SIGN"):  # also on integers (index arithmetic)
    register(_op, *INDEX)(unary_kernel(_UNARY_MATH[_op]))

_COMPARE = {"EQUAL": np.equal, "NOT_EQUAL": np.not_equal, "LESS": np.less, "LESS_EQUAL": np.less_equal,
            "GREATER": np.greater, "GREATER_EQUAL": np.greater_equal}
for _op, _fn in _COMPARE.items():
    def _mkc(fn):
        def prepare(ctx: OpContext) -> EvalFn:
            return _binary(ctx, fn, out_dtype=np.bool_)
        return prepare
    register(_op, *(MOVE if _op in ("EQUAL", "NOT_EQUAL") else FLOAT + INDEX))(_mkc(_fn))

for _op, _fn in (("LOGICAL_AND", np.logical_and), ("LOGICAL_OR", np.logical_or)):
    def _mkl(fn):
        def prepare(ctx: OpContext) -> EvalFn:
            return _binary(ctx, fn, out_dtype=np.bool_)
        return prepare
    register(_op, "bool")(_mkl(_fn))


@register("LOGICAL_NOT", "bool")
def logical_not_bool(ctx: OpContext) -> EvalFn:
    ctx.check_arity(1)
    ctx.set_output(0, ctx.input(0).shape, np.bool_)

    def eval_(ins, outs, tmp):
        np.logical_not(ins[0], out=outs[0])

    return eval_


def _select(ctx: OpContext, v2: bool) -> EvalFn:
    ctx.check_arity(3)
    c, a, b = ctx.input(0), ctx.input(1), ctx.input(2)
    if c.dtype != np.bool_:
        raise ctx.fail(f"condition '{c.name}' must be bool, got {c.dtype}")
    if a.dtype != b.dtype:
        raise ctx.fail(f"value inputs have different dtypes {a.dtype} and {b.dtype}")
    cshape = c.shape
    if not v2 and c.rank == 1 and a.rank > 1 and a.shape == b.shape and c.shape[0] == a.shape[0]:
        cshape = c.shape + (1,) * (a.rank - 1)  # SELECT v1: a rank-1 condition picks whole rows
    elif not v2 and not (c.shape == a.shape == b.shape):
        raise ctx.fail("SELECT needs equal shapes (or a rank-1 condition over the first dim); "
                       "SELECT_V2 broadcasts")
    ctx.set_output(0, broadcast(ctx, cshape, a.shape, b.shape))

    def eval_(ins, outs, tmp):
        cond, x, y = ins
        out = outs[0]
        np.copyto(out, y)
        np.copyto(out, x, where=cond.reshape(cshape))

    return eval_


@register("SELECT", *MOVE)
def select(ctx: OpContext) -> EvalFn:
    return _select(ctx, False)


@register("SELECT_V2", *MOVE)
def select_v2(ctx: OpContext) -> EvalFn:
    return _select(ctx, True)


@register("CAST", *MOVE, "float16", "uint8", "int16")
def cast(ctx: OpContext) -> EvalFn:
    ctx.check_arity(1)
    x = ctx.input(0)
    out = ctx.outputs[0]
    ctx.set_output(0, x.shape)
    to = out.dtype

    if to == np.bool_:
        def eval_(ins, outs, tmp):
            np.not_equal(ins[0], 0, out=outs[0])
    elif x.dtype.kind == "f" and to.kind in "iu":
        def eval_(ins, outs, tmp):
            # static_cast: truncate toward zero
            np.copyto(outs[0], np.trunc(ins[0]), casting="unsafe")
    else:
        def eval_(ins, outs, tmp):
            np.copyto(outs[0], ins[0], casting="unsafe")
    return eval_
