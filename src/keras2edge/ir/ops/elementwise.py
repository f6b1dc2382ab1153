"""Elementwise ops: unary math, binary arithmetic (NumPy broadcasting), comparisons, logical ops,
Select, Cast and Identity. Channels flow through all of them unchanged (``ChannelFlow.ELEMENTWISE``).

Adding a unary op is one entry in ``UNARY`` (NumPy function, attributes, doc, quantization rule)
plus one line per backend (its name in the emitters' maps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..dtypes import DType
from ..value import Value
from .core import (Attr, DTypes, EvalFn, Family, InferFn, QuantRule, Shape, ShapeError, broadcast_shapes, define,
                   need, need_arrays, same_infer, shapes_of)

# name -> (NumPy semantics, attributes, doc, input dtypes, int8 rule)
UnaryDef = tuple[Callable[..., np.ndarray], tuple[Attr, ...], str, frozenset[DType], QuantRule]

UNARY: dict[str, UnaryDef] = {
    "Identity": (lambda x: x.copy(), (), "y = x", DTypes.ANY, QuantRule.SAME_SCALE),
    "Exp": (lambda x: np.exp(x), (), "exp(x)", DTypes.FLOAT, QuantRule.OWN_SCALE),
    "Log": (lambda x: np.log(x), (), "log(x)", DTypes.FLOAT, QuantRule.OWN_SCALE),
    "Abs": (lambda x: np.abs(x), (), "|x|", DTypes.NUMERIC, QuantRule.OWN_SCALE),
    "Neg": (lambda x: -x, (), "-x", DTypes.NUMERIC, QuantRule.NEGATED),
    "Sqrt": (lambda x: np.sqrt(x), (), "sqrt(x)", DTypes.FLOAT, QuantRule.FLOAT),
    "Rsqrt": (lambda x: (1.0 / np.sqrt(x)).astype(x.dtype), (), "1 / sqrt(x)", DTypes.FLOAT, QuantRule.OWN_SCALE),
    "Square": (lambda x: x * x, (), "x * x", DTypes.NUMERIC, QuantRule.FLOAT),
    "Sin": (lambda x: np.sin(x), (), "sin(x)", DTypes.FLOAT, QuantRule.FLOAT),
    "Cos": (lambda x: np.cos(x), (), "cos(x)", DTypes.FLOAT, QuantRule.FLOAT),
    "Floor": (lambda x: np.floor(x), (), "floor(x)", DTypes.FLOAT, QuantRule.FLOAT),
    "Ceil": (lambda x: np.ceil(x), (), "ceil(x)", DTypes.FLOAT, QuantRule.FLOAT),
    "Round": (lambda x: np.round(x), (), "round half to even", DTypes.FLOAT, QuantRule.FLOAT),
    "Sign": (lambda x: np.sign(x), (), "sign(x)", DTypes.NUMERIC, QuantRule.FLOAT),
    "LogicalNot": (lambda x: np.logical_not(x), (), "not x (bool)", DTypes.BOOL, QuantRule.INDEX),
}


def _unary_eval(fn: Callable[..., np.ndarray]) -> EvalFn:
    return lambda ins, attrs: [np.asarray(fn(ins[0], **attrs))]


def define_unary(family: Family, table: dict[str, UnaryDef], traits: dict[str, dict[str, Any]] | None = None) -> None:
    """Register every op of a unary table (elementwise math here, activations in activation.py);
    ``traits``: more OpSpec facts by op (e.g. ``fixed_output``, ``clamp``)."""
    for name, (fn, attributes, doc, dtypes, quant) in table.items():
        define(name, family, ["x"], attributes, same_infer(name), _unary_eval(fn), doc, dtypes=[dtypes],
               quant=quant, **(traits or {}).get(name, {}))


define_unary(Family.ELEMENTWISE, UNARY)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b) if a.dtype.kind == "f" else np.floor_divide(a, b)


# name -> (NumPy semantics, doc, operand dtypes, int8 rule)
BINARY: dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], str, frozenset[DType], QuantRule]] = {
    "Add": (np.add, "a + b", DTypes.NUMERIC, QuantRule.OWN_SCALE),
    "Sub": (np.subtract, "a - b", DTypes.NUMERIC, QuantRule.OWN_SCALE),
    "Mul": (np.multiply, "a * b", DTypes.NUMERIC, QuantRule.OWN_SCALE),
    "Div": (_div, "a / b", DTypes.NUMERIC, QuantRule.FLOAT),
    "FloorDiv": (np.floor_divide, "floor(a / b)", DTypes.NUMERIC, QuantRule.FLOAT),
    "FloorMod": (np.mod, "a mod b (sign of b)", DTypes.NUMERIC, QuantRule.FLOAT),
    "Maximum": (np.maximum, "max(a, b)", DTypes.NUMERIC, QuantRule.SAME_SCALE),
    "Minimum": (np.minimum, "min(a, b)", DTypes.NUMERIC, QuantRule.SAME_SCALE),
    "Pow": (np.power, "a ** b", DTypes.NUMERIC, QuantRule.FLOAT),
    "SquaredDifference": (lambda a, b: (a - b) * (a - b), "(a - b)^2", DTypes.NUMERIC, QuantRule.OWN_SCALE),
    "LogicalAnd": (np.logical_and, "a and b (bool)", DTypes.BOOL, QuantRule.INDEX),
    "LogicalOr": (np.logical_or, "a or b (bool)", DTypes.BOOL, QuantRule.INDEX),
}


def _broadcast(op: str, ins: list[Value | None]) -> Shape:
    vals = need(op, ins, *range(len(ins)))
    try:
        return broadcast_shapes(*(v.shape for v in vals))
    except ValueError:
        raise ShapeError(op, "the inputs do not broadcast", shapes_of(ins)) from None


def _bcast_infer(op: str, out_dtype: DType | None = None) -> InferFn:
    def infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
        shape = _broadcast(op, ins)
        first = ins[0]
        return [(out_dtype or (first.dtype if first is not None else DType.FLOAT32), shape)]
    return infer


def _binary_eval(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> EvalFn:
    return lambda ins, attrs: [np.asarray(fn(ins[0], ins[1])).astype(np.result_type(ins[0], ins[1]))]


#: The arithmetic ops that can clamp their own output (TFLite's ADD/SUB/MUL/DIV fused_activation_function).
FUSES_ACTIVATION = frozenset({"Add", "Sub", "Mul", "Div"})

for _name, (_fn, _doc, _dt, _quant) in BINARY.items():
    define(_name, Family.ELEMENTWISE, ["a", "b"], (), _bcast_infer(_name), _binary_eval(_fn), _doc,
           dtypes=[_dt, _dt], quant=_quant, fused_activation=_name in FUSES_ACTIVATION)

COMPARE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Equal": np.equal, "NotEqual": np.not_equal, "Less": np.less, "LessEqual": np.less_equal,
    "Greater": np.greater, "GreaterEqual": np.greater_equal,
}


def _compare_eval(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> EvalFn:
    return lambda ins, attrs: [np.asarray(fn(ins[0], ins[1]))]


for _name, _fn in COMPARE.items():
    _dt = DTypes.ANY if _name in ("Equal", "NotEqual") else DTypes.NUMERIC
    define(_name, Family.ELEMENTWISE, ["a", "b"], (), _bcast_infer(_name, DType.BOOL), _compare_eval(_fn),
           f"{_name}(a, b) -> bool", dtypes=[_dt, _dt], quant=QuantRule.INDEX)


def _select_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    _, a, _ = need("Select", ins, 0, 1, 2)
    return [(a.dtype, _broadcast("Select", ins))]


def _select_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    c, a, b = need_arrays("Select", ins, 0, 1, 2)
    return [np.where(c, a, b).astype(a.dtype)]


define("Select", Family.ELEMENTWISE, ["cond", "a", "b"], (), _select_infer, _select_eval, "cond ? a : b",
       dtypes=[DTypes.ANY, DTypes.ANY, DTypes.ANY], quant=QuantRule.SAME_SCALE)


def _cast_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    (x,) = need("Cast", ins, 0)
    return [(DType(attrs["to"]), x.shape)]


def _cast_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    (x,) = need_arrays("Cast", ins, 0)
    to = np.dtype(attrs["to"])
    if x.dtype.kind == "f" and to.kind in "iu":
        x = np.trunc(x)  # TF/ONNX/TFLite cast float->int truncates toward zero
    return [x.astype(to)]


def _dtype_name(v: Any) -> str | None:
    return None if v in {d.value for d in DType} else f"must name one of {sorted(d.value for d in DType)}"


define("Cast", Family.ELEMENTWISE, ["x"], (Attr("to", (str,), check=_dtype_name),), _cast_infer, _cast_eval,
       "convert element type (float->int truncates)", dtypes=[DTypes.ANY], quant=QuantRule.INDEX)
