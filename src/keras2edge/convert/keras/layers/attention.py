"""MultiHeadAttention on (batch, time, features) tensors.

Maps MultiHeadAttention(num_heads H, key_dim dk, value_dim dv) called on query (B, Tq, Dq),
value (B, Tk, Dv) and key (B, Tk, Dk; defaults to value) to:
- three FullyConnected projections with the EinsumDense kernels (D, H, d) flattened to
  (D, H*d) (biases (H, d) -> (H*d,)); the 1/sqrt(dk) scaling Keras applies to the projected
  query is folded into the query kernel and bias;
- per head: Split of the projections along the last axis, BatchMatMul(q, k, adj_y) -> scores
  (B, Tq, Tk), plus an additive mask bias ``(1 - mask) * -1e9`` (Keras' masked softmax) when
  there is a mask, Softmax, BatchMatMul(probs, v);
- heads joined with Concatenation and the output EinsumDense kernel (H, dv, Dout) flattened to
  (H*dv, Dout) in one FullyConnected.

Masks: ``attention_mask`` (B, Tq, Tk), ``use_causal_mask=True`` (a constant lower-triangular
mask, ``i >= j``) and the Keras masks carried by query/value/key (from Masking/Embedding) are
combined as Keras does. ``return_attention_scores=True`` adds the (B, H, Tq, Tk) scores output.
Dropout is the identity at inference. Refused: attention_axes other than the default (the
time axis), rank other than 3, output_shape of more than one dimension, use_gate, sliding_window.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ....ir import DType, Value
from ..context import KERAS_HANDLERS, LayerContext
from .embedding import mask_of, unaccounted_mask

ROLES = ("query", "key", "value", "output")
LARGE_NEGATIVE = -1e9  # Keras' _large_negative_number / _large_compatible_negative for float32


def _role(part: str) -> str | None:
    p = part.lstrip("_")
    if p.endswith("_dense"):
        p = p[: -len("_dense")]
    if p == "attention_output":
        p = "output"
    return p if p in ROLES else None


def _kind(parts: tuple[str, ...]) -> str | None:
    last = parts[-1].split(":")[0]
    if last in ("kernel", "bias"):
        return last
    if len(parts) >= 2 and parts[-2] == "vars" and last in ("0", "1"):
        return "kernel" if last == "0" else "bias"
    return None


def _weights_by_role(ctx: LayerContext, use_bias: bool) -> dict[tuple[str, str], np.ndarray]:
    """{(role, 'kernel'|'bias'): array} from the sub-layer names in the weight paths (query/...,
    query_dense/vars/0, _query_dense/vars/0, attention_output/...); Keras' order if unnamed."""
    per = 2 if use_bias else 1
    arrs = ctx.arrays(4 * per, "query, key, value and output kernels" + (" and biases" if use_bias else ""))
    found: dict[tuple[str, str], np.ndarray] = {}
    for (parts, _), arr in zip(ctx.weights.entries, arrs):
        role = next((r for r in (_role(p) for p in parts[:-1]) if r), None)
        kind = _kind(parts)
        if role is None or kind is None or (role, kind) in found:
            found = {}
            break
        found[(role, kind)] = arr
    if len(found) == len(arrs):
        return found
    order = [(r, k) for r in ROLES for k in (("kernel", "bias") if use_bias else ("kernel",))]
    return dict(zip(order, arrs))


def _call_tensors(ctx: LayerContext, inputs: list[Value]) -> tuple[Value, Value, Value]:
    positional = [a for a in (ctx.call_args or inputs)]
    kw = ctx.call_kwargs

    def pick(i: int, name: str) -> Any:
        if kw.get(name) is not None:
            return kw[name]
        return positional[i] if i < len(positional) else None

    query, value, key = pick(0, "query"), pick(1, "value"), pick(2, "key")
    if key is None:
        key = value
    for name, v in (("query", query), ("value", value), ("key", key)):
        if not isinstance(v, Value):
            raise ctx.refuse(f"the {name} argument {v!r} is not a tensor")
    return query, value, key


def _minor(version: str) -> int:
    parts = version.split("-")[0].split(".")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _mask_bias(ctx: LayerContext, query: Value, value: Value, key: Value, tq: int, tk: int) -> Value | None:
    """(1 - mask) * -1e9 for the combined Keras attention mask, or None when there is none."""
    kw = ctx.call_kwargs
    for name in ("query_mask", "value_mask", "key_mask"):
        if kw.get(name) is not None:
            raise ctx.refuse(f"the {name} call argument is not supported")
    factors: list[Value] = []
    implicit = []
    for name, v, axis in (("query", query, -1), ("value", value, -2), ("key", key, -2)):
        entry = mask_of(ctx, v)
        if entry is None:
            src = unaccounted_mask(ctx, v)
            if src is not None:
                raise ctx.refuse(f"the Keras mask made by layer {src!r} may reach the {name} through layers whose "
                                 "mask propagation keras2edge does not model; refusing rather than dropping it")
            continue
        if entry.mask is not None:
            implicit.append(name)
            m = ctx.op("Cast", [entry.mask], to=DType.FLOAT32.value)
            factors.append(ctx.op("ExpandDims", [m], axis=axis))
    if implicit and ctx.options.major == 2 and _minor(ctx.options.keras_version) < 10:
        # tf.keras takes the query/value masks into account from 2.10 (with use_causal_mask).
        raise ctx.refuse(f"Keras masks on the {', '.join(implicit)} of a MultiHeadAttention saved by Keras "
                         f"{ctx.options.keras_version} are not supported")
    am = kw.get("attention_mask")
    if am is not None:
        if not isinstance(am, Value):
            raise ctx.refuse(f"attention_mask {am!r} is not a tensor")
        if am.rank != 3:
            raise ctx.refuse(f"attention_mask of shape {am.shape} is not supported (expected (B, Tq, Tk))")
        factors.append(am if am.dtype == DType.FLOAT32 else ctx.op("Cast", [am], to=DType.FLOAT32.value))
    if kw.get("use_causal_mask"):
        causal = (np.arange(tq)[:, None] >= np.arange(tk)[None, :]).astype(np.float32)[None]
        factors.append(ctx.const("causal_mask", causal))
    if not factors:
        return None
    m = factors[0]
    for f in factors[1:]:
        m = ctx.op("Mul", [m, f])
    return ctx.op("Mul", [ctx.op("Sub", [ctx.scalar(1.0, m), m]), ctx.scalar(LARGE_NEGATIVE, m)])


@KERAS_HANDLERS.register("MultiHeadAttention")
def import_multi_head_attention(ctx: LayerContext, inputs: list[Value]) -> list[Value]:
    """MultiHeadAttention -> projections, per-head scaled dot-product attention, output projection."""
    heads = int(ctx.get("num_heads"))
    dk = int(ctx.get("key_dim"))
    dv = int(ctx.get("value_dim") or dk)
    use_bias = bool(ctx.get("use_bias", True))
    if ctx.get("use_gate"):
        raise ctx.refuse("use_gate=True is not supported")
    if ctx.get("sliding_window") is not None:
        raise ctx.refuse("sliding_window attention is not supported")
    query, value, key = _call_tensors(ctx, inputs)
    for name, v in (("query", query), ("value", value), ("key", key)):
        if v.rank != 3 or v.shape[-1] is None:
            raise ctx.refuse(f"only (batch, time, features) inputs are supported; the {name} has shape {v.shape}")
    axes = ctx.get("attention_axes")
    if axes is not None:
        axes = [axes] if isinstance(axes, int) else list(axes)
        if [a % 3 if a < 0 else a for a in axes] != [1]:
            raise ctx.refuse(f"attention_axes={axes} is not supported (only the default, the time axis)")
    out_shape = ctx.get("output_shape")
    dq = int(query.shape[-1])  # type: ignore[arg-type]
    if out_shape is None:
        dout = dq
    else:
        dims = [out_shape] if isinstance(out_shape, int) else list(out_shape)
        if len(dims) != 1:
            raise ctx.refuse(f"output_shape={out_shape} is not supported (only one dimension)")
        dout = int(dims[0])
    w = _weights_by_role(ctx, use_bias)
    scale = 1.0 / math.sqrt(float(dk))

    def project(role: str, x: Value, d: int, factor: float = 1.0) -> Value:
        k = ctx.check_shape(w[(role, "kernel")], (x.shape[-1], heads, d), f"{role} kernel")
        ins = [x, ctx.const(f"{role}_kernel", k.reshape(k.shape[0], heads * d) * np.float32(factor))]
        if use_bias:
            b = ctx.check_shape(w[(role, "bias")], (heads, d), f"{role} bias")
            ins.append(ctx.const(f"{role}_bias", b.reshape(heads * d) * np.float32(factor)))
        return ctx.op("FullyConnected", ins)

    q = project("query", query, dk, scale)
    k = project("key", key, dk)
    v = project("value", value, dv)
    tq, tk = query.shape[1], key.shape[1]
    if value.shape[1] is not None and tk is not None and value.shape[1] != tk:
        raise ctx.refuse(f"key {key.shape} and value {value.shape} differ in length")
    if ctx.call_kwargs.get("use_causal_mask") and (tq is None or tk is None):
        raise ctx.refuse("use_causal_mask=True needs static query and key lengths; pin them with --input-shape")
    bias = _mask_bias(ctx, query, value, key, int(tq or 0), int(tk or 0))

    def per_head(x: Value, d: int) -> list[Value]:
        return [x] if heads == 1 else list(ctx.node("Split", [x], axis=-1, sizes=(d,) * heads).outputs)

    qs, ks, vs = per_head(q, dk), per_head(k, dk), per_head(v, dv)
    outs, probs = [], []
    for h in range(heads):
        scores = ctx.op("BatchMatMul", [qs[h], ks[h]], adj_y=True)
        if bias is not None:
            scores = ctx.op("Add", [scores, bias])
        p = ctx.op("Softmax", [scores])
        probs.append(p)
        outs.append(ctx.op("BatchMatMul", [p, vs[h]]))
    joined = outs[0] if heads == 1 else ctx.op("Concatenation", outs, axis=-1)
    ko = ctx.check_shape(w[("output", "kernel")], (heads, dv, dout), "output kernel")
    ins = [joined, ctx.const("output_kernel", ko.reshape(heads * dv, dout))]
    if use_bias:
        ins.append(ctx.const("output_bias", ctx.check_shape(w[("output", "bias")], (dout,), "output bias")))
    result = [ctx.op("FullyConnected", ins)]
    if ctx.call_kwargs.get("return_attention_scores"):
        stacked = [ctx.op("ExpandDims", [p], axis=1) for p in probs]
        result.append(stacked[0] if heads == 1 else ctx.op("Concatenation", stacked, axis=1))
    return result
