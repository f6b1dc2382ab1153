"""Convolutions on NHWC tensors: Conv2D (Keras' HWIO: KH, KW, Cin/groups, Cout), DepthwiseConv2D
(TFLite's (1, KH, KW, Cin·M): output channel c·M + m on axis 3, M = Cout / Cin the depth multiplier)
and TransposeConv2D (Keras' KH, KW, Cout, Cin). Each declares its weight's output/input-channel
axes, int8 per-channel weights and its multiply-accumulate count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..dtypes import DType
from ..value import Value
from .core import (T_INTS, T_SEQ, Attr, ChannelFlow, DTypes, Family, QuantRule, Shape, ShapeError,
                   WeightAxes, conv_out_dim, define, known_dims, need, need_arrays, one_of, optional_array,
                   pad_same_nhwc, pair, per_sample, shapes_of, windows)

if TYPE_CHECKING:
    from ..node import Node

F = DTypes.FLOAT
PADDING = Attr("padding", (str,), "valid", one_of("same", "valid"))
WINDOW_ATTRS = (Attr("strides", T_INTS, (1, 1)), Attr("dilations", T_INTS, (1, 1)), PADDING)
CONV_TRAITS: dict[str, Any] = {"channels": ChannelFlow.WEIGHTS, "spatial": True,
                               "quant": QuantRule.PER_CHANNEL_WEIGHTS}


def _weight_shape(node: Node) -> tuple[int, ...]:
    w = node.inputs[1]
    return tuple(int(d or 1) for d in (w.shape if w is not None else ()))


def _conv_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x, w = need("Conv2D", ins, 0, 1)
    if x.rank != 4 or w.rank != 4:
        raise ShapeError("Conv2D", "needs a rank-4 input and kernel", shapes_of(ins))
    kh, kw = known_dims("Conv2D", ins, "kernel", w.shape[:2])
    cin_g, cout = w.shape[2], w.shape[3]
    sh, sw = pair(attrs["strides"])
    dh, dw = pair(attrs["dilations"])
    cin = x.shape[3]
    if cin is not None and cin_g is not None and cin % cin_g:
        raise ShapeError("Conv2D", f"input channels {cin} not a multiple of kernel input channels {cin_g}",
                         shapes_of(ins))
    return [(x.dtype, (x.shape[0], conv_out_dim(x.shape[1], kh, sh, dh, attrs["padding"]),
                       conv_out_dim(x.shape[2], kw, sw, dw, attrs["padding"]), cout))]


def _conv_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, w = need_arrays("Conv2D", ins, 0, 1)
    b = optional_array(ins, 2)
    s, d = pair(attrs["strides"]), pair(attrs["dilations"])
    kh, kw, cin_g, cout = w.shape
    groups = x.shape[3] // cin_g
    _, oh, ow, _ = _conv_infer([Value("x", DType.FLOAT32, x.shape), Value("w", DType.FLOAT32, w.shape)], attrs)[0][1]
    xp = pad_same_nhwc(x.astype(np.float64), kh, kw, s, d, attrs["padding"])
    out = np.zeros((x.shape[0], oh, ow, cout), np.float64)
    cout_g = cout // groups
    wd = w.astype(np.float64)
    for i, j, sl in windows(xp, kh, kw, s, d, oh, ow):
        for g in range(groups):
            out[..., g * cout_g:(g + 1) * cout_g] += (
                sl[..., g * cin_g:(g + 1) * cin_g] @ wd[i, j, :, g * cout_g:(g + 1) * cout_g])
    if b is not None:
        out += b
    return [out.astype(x.dtype)]


def _conv_macs(node: Node) -> int:
    kh, kw, cin_g, _ = _weight_shape(node)
    return per_sample(node.outputs[0].shape) * kh * kw * cin_g


define("Conv2D", Family.CONV, ["x", "w", "b?"], WINDOW_ATTRS, _conv_infer, _conv_eval,
       "2-D convolution, NHWC input, HWIO kernel (groups = Cin / kernel Cin)", dtypes=[F, F, F],
       weights=WeightAxes(1, 3, 2), macs=_conv_macs, fused_activation=True, **CONV_TRAITS)


def _dw_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x, w = need("DepthwiseConv2D", ins, 0, 1)
    if x.rank != 4 or w.rank != 4 or w.shape[0] != 1:
        raise ShapeError("DepthwiseConv2D", "needs a rank-4 input and a (1, KH, KW, Cin*M) kernel", shapes_of(ins))
    kh, kw, cout = known_dims("DepthwiseConv2D", ins, "kernel", w.shape[1:])
    cin = x.shape[3]
    if cin is not None and (cin < 1 or cout % cin):
        raise ShapeError("DepthwiseConv2D", f"kernel channels {cout} not a multiple of input channels {cin}",
                         shapes_of(ins))
    s, d = pair(attrs["strides"]), pair(attrs["dilations"])
    return [(x.dtype, (x.shape[0], conv_out_dim(x.shape[1], kh, s[0], d[0], attrs["padding"]),
                       conv_out_dim(x.shape[2], kw, s[1], d[1], attrs["padding"]), cout))]


def _dw_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, w = need_arrays("DepthwiseConv2D", ins, 0, 1)
    b = optional_array(ins, 2)
    s, d = pair(attrs["strides"]), pair(attrs["dilations"])
    (_, (n, oh, ow, cout)), = _dw_infer([Value("x", DType.FLOAT32, x.shape), Value("w", DType.FLOAT32, w.shape)],
                                        attrs)
    _, kh, kw, _ = w.shape
    cin = x.shape[3]
    mult = cout // cin
    wk = w.reshape(kh, kw, cin, mult)  # channel c·M + m is (c, m)
    xp = pad_same_nhwc(x.astype(np.float64), kh, kw, s, d, attrs["padding"])
    out = np.zeros((x.shape[0], oh, ow, cin, mult), np.float64)
    for i, j, sl in windows(xp, kh, kw, s, d, oh, ow):
        out += sl[..., :, None] * wk[i, j].astype(np.float64)
    out = out.reshape(x.shape[0], oh, ow, cin * mult)
    if b is not None:
        out += b
    return [out.astype(x.dtype)]


def _dw_macs(node: Node) -> int:
    kh, kw = _weight_shape(node)[1:3]
    return per_sample(node.outputs[0].shape) * kh * kw


define("DepthwiseConv2D", Family.CONV, ["x", "w", "b?"], WINDOW_ATTRS, _dw_infer, _dw_eval,
       "depthwise 2-D convolution, kernel (1, KH, KW, Cin*M); output channel c*M+m reads input channel c",
       dtypes=[F, F, F], weights=WeightAxes(1, 3, None), macs=_dw_macs, fused_activation=True,
       **CONV_TRAITS)


def _tconv_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    x, w = need("TransposeConv2D", ins, 0, 1)
    if w.rank != 4:
        raise ShapeError("TransposeConv2D", "needs a rank-4 kernel", shapes_of(ins))
    oh, ow = attrs["output_size"]
    return [(x.dtype, (x.shape[0], oh, ow, w.shape[2]))]


def _tconv_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, w = need_arrays("TransposeConv2D", ins, 0, 1)
    b = optional_array(ins, 2)
    s = pair(attrs["strides"])
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


def _tconv_macs(node: Node) -> int:
    """Every input pixel scatters through the whole kernel."""
    x = node.inputs[0]
    kh, kw, cout, cin = _weight_shape(node)
    return 0 if x is None else per_sample(x.shape[:-1] + (1,)) * kh * kw * cout * cin


define("TransposeConv2D", Family.CONV, ["x", "w", "b?"],
       (Attr("strides", T_INTS, (1, 1)), Attr("output_size", T_SEQ), Attr("pad_before", T_SEQ, (0, 0))),
       _tconv_infer, _tconv_eval,
       "transposed 2-D convolution, kernel (KH, KW, Cout, Cin); output cropped at pad_before to output_size",
       dtypes=[F, F, F], weights=WeightAxes(1, 2, 3), macs=_tconv_macs, **CONV_TRAITS)
