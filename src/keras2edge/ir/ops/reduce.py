"""Reductions over given axes: Mean, Sum, ReduceMax, ReduceMin, ReduceProd, ReduceAny (``keepdims``
keeps length-1 axes). Channels pass unless the channel axis is reduced."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..dtypes import DType
from ..value import Value
from .core import (T_BOOL, T_SEQ, Attr, ChannelFlow, DTypes, EvalFn, Family, InferFn, QuantRule, Shape, ShapeError,
                   define, need, need_arrays, norm_axis, shapes_of)


def _reduce_infer(op: str) -> InferFn:
    def infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
        (x,) = need(op, ins, 0)
        try:
            axes = {norm_axis(a, x.rank) for a in attrs["axes"]}
        except ValueError as e:
            raise ShapeError(op, str(e), shapes_of(ins)) from None
        if attrs["keepdims"]:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return [(x.dtype, shape)]
    return infer


def _reduce_eval(op: str, fn: Callable[..., np.ndarray]) -> EvalFn:
    def run(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
        (x,) = need_arrays(op, ins, 0)
        axes = tuple(norm_axis(a, x.ndim) for a in attrs["axes"])
        src = x.astype(np.float64) if x.dtype.kind == "f" else x
        return [np.asarray(fn(src, axis=axes, keepdims=attrs["keepdims"])).astype(x.dtype)]
    return run


# name -> (NumPy function, input dtypes, int8 rule)
REDUCE: dict[str, tuple[Callable[..., np.ndarray], frozenset[DType], QuantRule]] = {
    "Mean": (np.mean, DTypes.NUMERIC, QuantRule.OWN_SCALE),
    "Sum": (np.sum, DTypes.NUMERIC, QuantRule.OWN_SCALE),
    "ReduceMax": (np.max, DTypes.NUMERIC, QuantRule.SAME_SCALE),
    "ReduceMin": (np.min, DTypes.NUMERIC, QuantRule.SAME_SCALE),
    "ReduceProd": (np.prod, DTypes.NUMERIC, QuantRule.FLOAT),
    "ReduceAny": (np.any, DTypes.ANY, QuantRule.INDEX),
}
for _name, (_fn, _dt, _quant) in REDUCE.items():
    define(_name, Family.REDUCE, ["x"], (Attr("axes", T_SEQ), Attr("keepdims", T_BOOL, False)),
           _reduce_infer(_name), _reduce_eval(_name, _fn), f"{_name} over the given axes", dtypes=[_dt],
           channels=ChannelFlow.AXIS, quant=_quant)
