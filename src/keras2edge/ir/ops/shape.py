"""Shape ops (data movement, no arithmetic): Reshape, Transpose, Concatenation, Pad, StridedSlice,
Gather, ExpandDims, Squeeze, Split, Tile. int8 keeps the input's scale (Concatenation: every input's).
Reshape, Transpose and Gather break the channel identity; Concatenation appends channels; the rest
carry an axis attribute."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..dtypes import DType
from ..value import Value
from .core import (T_FLOAT, T_INT, T_SEQ, Attr, ChannelFlow, DTypes, Family, QuantRule, Shape, ShapeError, define,
                   need, need_arrays, norm_axis, shapes_of)

A = DTypes.ANY
MOVE: dict[str, Any] = {"quant": QuantRule.SAME_SCALE, "selects": True}  # Pad: not selects (its value)


def _axis(op: str, ins: list[Value | None], axis: int, rank: int) -> int:
    try:
        return norm_axis(axis, rank)
    except ValueError as e:
        raise ShapeError(op, str(e), shapes_of(ins)) from None


def _reshape_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    (x,) = need("Reshape", ins, 0)
    target = [int(d) for d in attrs["shape"]]
    if sum(1 for d in target if d == -1) > 1:
        raise ShapeError("Reshape", f"the target {target} has more than one -1", shapes_of(ins))
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
        raise ShapeError("Reshape", f"cannot reshape to {target}", shapes_of(ins))
    return [(x.dtype, tuple(out))]


define("Reshape", Family.SHAPE, ["x"], (Attr("shape", T_SEQ),), _reshape_infer,
       lambda ins, a: [np.reshape(need_arrays("Reshape", ins, 0)[0], [int(d) for d in a["shape"]])],
       "reshape; one -1 entry allowed (the dynamic batch dimension is written -1)", dtypes=[A],
       channels=ChannelFlow.BREAKS, **MOVE)


def _transpose_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    (x,) = need("Transpose", ins, 0)
    perm = tuple(attrs["perm"])
    if sorted(perm) != list(range(x.rank)):
        raise ShapeError("Transpose", f"bad permutation {perm} for rank {x.rank}", shapes_of(ins))
    return [(x.dtype, tuple(x.shape[p] for p in perm))]


define("Transpose", Family.SHAPE, ["x"], (Attr("perm", T_SEQ),), _transpose_infer,
       lambda ins, a: [np.transpose(need_arrays("Transpose", ins, 0)[0], a["perm"]).copy()], "permute axes",
       dtypes=[A], channels=ChannelFlow.BREAKS, **MOVE)


def _concat_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    vals = need("Concatenation", ins, *range(len(ins)))
    if not vals:
        raise ShapeError("Concatenation", "needs at least one input", [])
    rank = vals[0].rank
    ax = _axis("Concatenation", ins, attrs["axis"], rank)
    if any(v.rank != rank for v in vals):
        raise ShapeError("Concatenation", "the inputs differ in rank", shapes_of(ins))
    out: list[int | None] = []
    for i in range(rank):
        dims = [v.shape[i] for v in vals]
        if i == ax:
            out.append(None if any(d is None for d in dims) else sum(int(d) for d in dims if d is not None))
        else:
            known = {d for d in dims if d is not None}
            if len(known) > 1:
                raise ShapeError("Concatenation", f"the shapes differ off axis {ax}", shapes_of(ins))
            out.append(known.pop() if known else None)
    return [(vals[0].dtype, tuple(out))]


define("Concatenation", Family.SHAPE, ["xs*"], (Attr("axis", T_INT),), _concat_infer,
       lambda ins, a: [np.concatenate([i for i in ins if i is not None], axis=a["axis"])], "join along an axis",
       dtypes=[A], channels=ChannelFlow.CONCAT, **MOVE)


def _pad_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    (x,) = need("Pad", ins, 0)
    pads = attrs["pads"]
    if len(pads) != x.rank:
        raise ShapeError("Pad", f"needs {x.rank} (before, after) pairs, got {pads}", shapes_of(ins))
    return [(x.dtype, tuple(None if d is None else d + p[0] + p[1] for d, p in zip(x.shape, pads)))]


define("Pad", Family.SHAPE, ["x"], (Attr("pads", T_SEQ), Attr("value", T_FLOAT, 0.0)), _pad_infer,
       lambda ins, a: [np.pad(need_arrays("Pad", ins, 0)[0], [tuple(p) for p in a["pads"]],
                              constant_values=a["value"])],
       "constant padding; pads is one (before, after) pair per axis", dtypes=[A], channels=ChannelFlow.AXIS,
       quant=QuantRule.SAME_SCALE)


def _slice_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    (x,) = need("StridedSlice", ins, 0)
    if not len(attrs["begin"]) == len(attrs["end"]) == len(attrs["strides"]) == x.rank:
        raise ShapeError("StridedSlice", f"needs begin/end/strides for each of the {x.rank} axes", shapes_of(ins))
    out: list[int | None] = []
    for d, b, e, s in zip(x.shape, attrs["begin"], attrs["end"], attrs["strides"]):
        if d is None:
            out.append(None)
            continue
        out.append(len(range(*slice(b, e, s).indices(d))))
    return [(x.dtype, tuple(out))]


def _slice_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    (x,) = need_arrays("StridedSlice", ins, 0)
    idx = tuple(slice(b, e, s) for b, e, s in zip(attrs["begin"], attrs["end"], attrs["strides"]))
    return [x[idx].copy()]


define("StridedSlice", Family.SHAPE, ["x"], (Attr("begin", T_SEQ), Attr("end", T_SEQ), Attr("strides", T_SEQ)),
       _slice_infer, _slice_eval, "Python-style x[b:e:s] per axis; end None means to the end of the axis",
       dtypes=[A], channels=ChannelFlow.AXIS, **MOVE)


def _gather_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    p, i = need("Gather", ins, 0, 1)
    ax = _axis("Gather", ins, attrs["axis"], p.rank)
    return [(p.dtype, p.shape[:ax] + i.shape + p.shape[ax + 1:])]


def _gather_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    p, i = need_arrays("Gather", ins, 0, 1)
    return [np.take(p, i.astype(np.int64), axis=attrs["axis"])]


define("Gather", Family.SHAPE, ["params", "indices"], (Attr("axis", T_INT, 0),), _gather_infer, _gather_eval,
       "take rows of params at integer indices (Embedding)", dtypes=[A, DTypes.NUMERIC],
       channels=ChannelFlow.BREAKS, **MOVE)


def _expand_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    (x,) = need("ExpandDims", ins, 0)
    ax = _axis("ExpandDims", ins, attrs["axis"], x.rank + 1)
    return [(x.dtype, x.shape[:ax] + (1,) + x.shape[ax:])]


define("ExpandDims", Family.SHAPE, ["x"], (Attr("axis", T_INT),), _expand_infer,
       lambda ins, a: [np.expand_dims(need_arrays("ExpandDims", ins, 0)[0], a["axis"])], "insert a length-1 axis",
       dtypes=[A], channels=ChannelFlow.AXIS, **MOVE)


def _squeeze_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    (x,) = need("Squeeze", ins, 0)
    axes = {_axis("Squeeze", ins, a, x.rank) for a in attrs["axes"]}
    for a in axes:
        if x.shape[a] not in (1, None):
            raise ShapeError("Squeeze", f"cannot squeeze axis {a}", shapes_of(ins))
    return [(x.dtype, tuple(d for i, d in enumerate(x.shape) if i not in axes))]


define("Squeeze", Family.SHAPE, ["x"], (Attr("axes", T_SEQ),), _squeeze_infer,
       lambda ins, a: [np.squeeze(need_arrays("Squeeze", ins, 0)[0], tuple(a["axes"]))], "remove length-1 axes",
       dtypes=[A], channels=ChannelFlow.AXIS, **MOVE)


def _split_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    (x,) = need("Split", ins, 0)
    ax = _axis("Split", ins, attrs["axis"], x.rank)
    d = x.shape[ax]
    if d is not None and sum(int(s) for s in attrs["sizes"]) != d:
        raise ShapeError("Split", f"sizes {tuple(attrs['sizes'])} do not add up to axis length {d}", shapes_of(ins))
    return [(x.dtype, x.shape[:ax] + (int(s),) + x.shape[ax + 1:]) for s in attrs["sizes"]]


def _split_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    (x,) = need_arrays("Split", ins, 0)
    cuts = np.cumsum(attrs["sizes"])[:-1]
    return [p.copy() for p in np.split(x, cuts, axis=attrs["axis"])]


define("Split", Family.SHAPE, ["x"], (Attr("axis", T_INT), Attr("sizes", T_SEQ)), _split_infer, _split_eval,
       "split into pieces of the given sizes along an axis", num_outputs=lambda a: len(a["sizes"]), dtypes=[A],
       channels=ChannelFlow.AXIS, **MOVE)


def _tile_infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
    (x,) = need("Tile", ins, 0)
    if len(attrs["multiples"]) != x.rank:
        raise ShapeError("Tile", f"needs one multiple per axis, got {tuple(attrs['multiples'])}", shapes_of(ins))
    return [(x.dtype, tuple(None if d is None else d * m for d, m in zip(x.shape, attrs["multiples"])))]


define("Tile", Family.SHAPE, ["x"], (Attr("multiples", T_SEQ),), _tile_infer,
       lambda ins, a: [np.tile(need_arrays("Tile", ins, 0)[0], a["multiples"])],
       "repeat the whole tensor along each axis", dtypes=[A], channels=ChannelFlow.AXIS, **MOVE)
