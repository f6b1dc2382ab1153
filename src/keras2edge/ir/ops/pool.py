"""2-D pooling on NHWC tensors: MaxPool2D and AveragePool2D ('same' padding is excluded from the
average's count, TF/Keras semantics). Channels pass through per window; int8 keeps the input's scale."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dtypes import DType
from ..value import Value
from .core import (T_INTS, Attr, ChannelFlow, DTypes, EvalFn, Family, InferFn, QuantRule, Shape, ShapeError,
                   conv_out_dim, define, need, need_arrays, pad_same_nhwc, pair, shapes_of, windows)
from .conv import PADDING


def _pool_infer(op: str) -> InferFn:
    def infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
        (x,) = need(op, ins, 0)
        if x.rank != 4:
            raise ShapeError(op, "needs a rank-4 (NHWC) input", shapes_of(ins))
        kh, kw = pair(attrs["pool_size"])
        s = pair(attrs["strides"])
        return [(x.dtype, (x.shape[0], conv_out_dim(x.shape[1], kh, s[0], 1, attrs["padding"]),
                           conv_out_dim(x.shape[2], kw, s[1], 1, attrs["padding"]), x.shape[3]))]
    return infer


def _pool_eval(op: str, kind: str) -> EvalFn:
    def run(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
        (x,) = need_arrays(op, ins, 0)
        kh, kw = pair(attrs["pool_size"])
        s = pair(attrs["strides"])
        (_, (n, oh, ow, c)), = _pool_infer(op)([Value("x", DType.FLOAT32, x.shape)], attrs)
        xd = x.astype(np.float64)
        if kind == "max":
            xp = pad_same_nhwc(xd, kh, kw, s, (1, 1), attrs["padding"], -np.inf)
            out = np.full((n, oh, ow, c), -np.inf)
            for _, _, sl in windows(xp, kh, kw, s, (1, 1), oh, ow):
                out = np.maximum(out, sl)
        else:  # average excludes padding from the count (TF/Keras semantics)
            xp = pad_same_nhwc(xd, kh, kw, s, (1, 1), attrs["padding"])
            ones = pad_same_nhwc(np.ones((1,) + x.shape[1:3] + (1,)), kh, kw, s, (1, 1), attrs["padding"])
            out = np.zeros((n, oh, ow, c))
            cnt = np.zeros((1, oh, ow, 1))
            for (_, _, sl), (_, _, sc) in zip(windows(xp, kh, kw, s, (1, 1), oh, ow),
                                              windows(ones, kh, kw, s, (1, 1), oh, ow)):
                out += sl
                cnt += sc
            out = out / cnt
        return [out.astype(x.dtype)]
    return run


POOL_ATTRS = (Attr("pool_size", T_INTS), Attr("strides", T_INTS), PADDING)
for _op, _kind, _doc in (("MaxPool2D", "max", "2-D max pooling, NHWC"),
                         ("AveragePool2D", "avg", "2-D average pooling, NHWC; 'same' padding is excluded from "
                                                  "the count")):
    define(_op, Family.POOL, ["x"], POOL_ATTRS, _pool_infer(_op), _pool_eval(_op, _kind), _doc,
           dtypes=[DTypes.FLOAT], channels=ChannelFlow.WINDOW, spatial=True, quant=QuantRule.SAME_SCALE,
           fused_activation=True, selects=_kind == "max")
