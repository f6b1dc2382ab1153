"""Embedding and Masking, and the Keras masks they produce.

Maps: Embedding -> Gather on the (input_dim, output_dim) matrix (float ids are first Cast to
int32, truncating like TF); Masking(mask_value) -> Mul(x, Cast(any(x != mask_value, axis=-1))),
as Keras computes its output.

Keras masks: Masking and Embedding(mask_zero=True) also produce a boolean mask of shape
(batch, time) that Keras passes on to the layers downstream. The IR has no notion of a mask, so
the mask is recorded here, per graph, against the Value it belongs to (``set_mask``). The
recurrent handlers read it (``mask_of``) and implement mask semantics step by step; a
recurrent layer that returns sequences passes the mask on to its output. Whenever a layer
cannot tell whether a mask reaches it (a Masking upstream, but a path through layers whose
mask propagation is not modelled) it must refuse rather than silently drop the mask
(``unaccounted_mask``).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from ....ir import DType, Graph, Value
from ..context import KERAS_HANDLERS, LayerContext


@dataclass
class MaskEntry:
    """The Keras mask of one Value: ``mask`` (bool, (batch, time)) or None when the layer that
    produced the Value consumed the mask; ``source`` names the layer the mask comes from."""

    mask: Value | None
    source: str


_MASKS: weakref.WeakKeyDictionary[Graph, dict[Value, MaskEntry]] = weakref.WeakKeyDictionary()


def _table(ctx: LayerContext) -> dict[Value, MaskEntry]:
    table = _MASKS.get(ctx.graph)
    if table is None:
        table = {}
        _MASKS[ctx.graph] = table
    return table


def set_mask(ctx: LayerContext, value: Value, mask: Value | None, source: str) -> None:
    """Record the Keras mask carried by ``value`` (None: the mask stops here)."""
    _table(ctx)[value] = MaskEntry(mask, source)


def mask_of(ctx: LayerContext, value: Value) -> MaskEntry | None:
    """The mask entry recorded for ``value`` itself, if any."""
    return _table(ctx).get(value)


def unaccounted_mask(ctx: LayerContext, value: Value) -> str | None:
    """The name of a mask-producing layer upstream of ``value`` whose mask may reach ``value``
    through layers whose mask propagation is not modelled; None if there is none.

    ``value`` itself is not looked up (callers use ``mask_of`` for that). The walk stops at
    values whose mask was consumed (entries with ``mask=None``).
    """
    table = _table(ctx)
    if not any(e.mask is not None for e in table.values()):
        return None
    seen: set[int] = set()
    stack = [v for v in (value.producer.inputs if value.producer else []) if v is not None]
    while stack:
        v = stack.pop()
        if id(v) in seen or v.is_const:
            continue
        seen.add(id(v))
        entry = table.get(v)
        if entry is not None:
            if entry.mask is not None:
                return entry.source
            continue
        if v.producer is not None:
            stack.extend(i for i in v.producer.inputs if i is not None)
    return None


@KERAS_HANDLERS.register("Embedding")
def import_embedding(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Embedding(input_dim, output_dim) -> Gather(matrix (input_dim, output_dim), ids) on axis 0.

    Float ids (Keras 1/2 inputs default to float32) are Cast to int32 first (truncation, as
    TF's cast). With mask_zero=True the mask ``ids != 0`` is recorded for the layers downstream.
    """
    ids = inputs[0]
    (table,) = ctx.arrays(1, "embeddings")
    vocab, dim = ctx.get("input_dim"), ctx.get("output_dim")
    table = ctx.check_shape(table, (vocab, dim), "embeddings")
    if ids.dtype != DType.INT32:
        ids = ctx.op("Cast", [ids], to=DType.INT32.value)
    out = ctx.op("Gather", [ctx.const("embeddings", table), ids], axis=0)
    if ctx.get("mask_zero", False):
        if ids.rank != 2:
            raise ctx.refuse(f"mask_zero=True on ids of shape {ids.shape}: only (batch, time) ids are supported")
        mask = ctx.op("NotEqual", [ids, ctx.const("zero", np.asarray(0, np.int32))])
        set_mask(ctx, out, mask, ctx.name)
    return out


@KERAS_HANDLERS.register("Masking")
def import_masking(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Masking(mask_value) -> x * Cast(any(x != mask_value, axis=-1, keepdims)), Keras' own output.

    The mask (batch, time) is recorded for the recurrent layers downstream, which keep their
    state and output unchanged at masked steps (see recurrent.py).
    """
    x = inputs[0]
    if x.rank != 3:
        raise ctx.refuse(f"Masking of a rank-{x.rank} tensor {x.shape}: only (batch, time, features) is supported")
    mv = float(ctx.get("mask_value", 0.0))
    keep = ctx.op("ReduceAny", [ctx.op("NotEqual", [x, ctx.scalar(mv, x)])], axes=(-1,), keepdims=True)
    out = ctx.op("Mul", [x, ctx.op("Cast", [keep], to=x.dtype.value)])
    mask = ctx.op("Squeeze", [keep], axes=(-1,))
    set_mask(ctx, out, mask, ctx.name)
    return out
