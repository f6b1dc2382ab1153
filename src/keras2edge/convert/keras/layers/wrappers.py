"""Layer wrappers: Bidirectional and TimeDistributed.

Maps:
- Bidirectional(rnn, merge_mode) -> the forward and the backward RNN run through their own
  handlers (``ctx.nested``) on the forward_* / backward_* weights (legacy HDF5:
  ``forward_<name>/...``; Keras 3 files: ``forward_layer/...``; Keras 1 split arrays are fused
  by legacy.fix_weights into ``forward/...``), the backward sequence flipped back to forward time
  order with a Gather on axis 1 (Keras does the same), then merged: concat -> Concatenation on
  the last axis, sum -> Add, mul -> Mul, ave -> Add * 0.5, None -> both outputs. As in tf.keras
  and Keras 3, both directions output zeros at masked steps when they return sequences (Keras 1:
  the previous output; a mask in a Keras 2.0-2.2 file is refused, that version's rule unverified).
- TimeDistributed(layer) -> Reshape (B, T, *inner) to (B*T, *inner), the inner layer's handler,
  Reshape back to (B, T, *out). Needs static T and inner dimensions.
"""

from __future__ import annotations

import copy

import numpy as np

from ....ir import Value
from ..context import KERAS_HANDLERS, LayerContext
from ..legacy import fix_weights, translate_layer
from ..weights import LayerWeights
from .embedding import mask_of, set_mask

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _version(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split("-")[0].split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def _zero_output_forced(ctx: LayerContext, masked: bool) -> bool:
    """Bidirectional forces zero_output_for_mask=return_sequences in tf.keras and Keras 3 (and in
    Keras 2 from about 2.2.3); Keras 1 repeated the previous output at masked steps. Early Keras 2
    files with a mask are refused: which of the two they did was not verified."""
    ver = ctx.options.keras_version
    if not ver or _version(ver) >= (2, 3):
        return True
    if _version(ver) >= (2,) and masked:
        raise ctx.refuse(f"a Keras mask reaching a Bidirectional layer saved by Keras {ver} is not supported "
                         "(the masked-step output of that version is not verified)")
    return False


@KERAS_HANDLERS.register("Bidirectional")
def import_bidirectional(ctx: LayerContext, inputs: list[Value]) -> list[Value]:
    """Bidirectional(layer) -> forward and backward runs, backward flipped in time, then merged."""
    if len(inputs) > 1 or ctx.call_kwargs.get("initial_state") is not None:
        raise ctx.refuse("initial_state passed to a Bidirectional layer is not supported")
    if ctx.call_kwargs.get("constants") is not None:
        raise ctx.refuse("constants passed to a Bidirectional layer are not supported")
    if ctx.call_kwargs.get("mask") is not None:
        raise ctx.refuse("an explicit mask call argument to a Bidirectional layer is not supported")
    merge_mode = ctx.get("merge_mode", "concat")
    if merge_mode not in MERGE_MODES:
        raise ctx.refuse(f"merge_mode {merge_mode!r} is not supported (supported: concat, sum, mul, ave, None)")
    layer = ctx.get("layer")
    if not isinstance(layer, dict) or "class_name" not in layer:
        raise ctx.refuse("the wrapped layer's config is missing")
    x = inputs[0]
    fwd_cls, fwd_cfg = translate_layer(str(layer["class_name"]), dict(layer.get("config") or {}))
    back = ctx.get("backward_layer")
    if isinstance(back, dict) and "class_name" in back:
        bwd_cls, bwd_cfg = translate_layer(str(back["class_name"]), dict(back.get("config") or {}))
    else:
        bwd_cls, bwd_cfg = fwd_cls, copy.deepcopy(fwd_cfg)
        bwd_cfg["go_backwards"] = not bool(fwd_cfg.get("go_backwards", False))
    seq = bool(fwd_cfg.get("return_sequences", False))
    if bool(bwd_cfg.get("return_sequences", False)) != seq:
        raise ctx.refuse("the forward and backward layers differ in return_sequences")
    entry = mask_of(ctx, x)
    if _zero_output_forced(ctx, entry is not None and entry.mask is not None):
        fwd_cfg["zero_output_for_mask"] = seq
        bwd_cfg["zero_output_for_mask"] = seq
    weights = ctx.weights
    if fwd_cfg.get("_keras1") and not ctx.config.get("_keras1") and len(weights) > 6:
        # A Keras 1 Bidirectional's own config has no Keras 1-only key, so the builder did not fuse
        # its split gate arrays (legacy.fix_weights keys on the wrapper's config): fuse them here.
        weights = fix_weights("Bidirectional", {**ctx.config, "_keras1": True}, weights, ctx.options.theano)
    fw = weights.containing("forward")
    bw = weights.containing("backward")
    if not fw.entries or not bw.entries or len(fw) + len(bw) != len(weights):
        fw, bw = _split_in_half(ctx, weights)
    assert ctx.nested is not None
    y = ctx.nested(ctx.name, {"class_name": fwd_cls, "config": fwd_cfg}, fw, [x])
    y_rev = ctx.nested(ctx.name, {"class_name": bwd_cls, "config": bwd_cfg}, bw, [x])
    a, b = y[0], y_rev[0]
    if seq:
        steps = b.shape[1]
        assert steps is not None  # the RNN handlers refuse an unknown length
        b = ctx.op("Gather", [b, ctx.const("reverse", np.arange(steps - 1, -1, -1, dtype=np.int32))], axis=1)
    if merge_mode == "concat":
        merged: list[Value] = [ctx.op("Concatenation", [a, b], axis=-1)]
    elif merge_mode == "sum":
        merged = [ctx.op("Add", [a, b])]
    elif merge_mode == "mul":
        merged = [ctx.op("Mul", [a, b])]
    elif merge_mode == "ave":
        merged = [ctx.op("Mul", [ctx.op("Add", [a, b]), ctx.scalar(0.5, a)])]
    else:
        merged = [a, b]
    if entry is not None and entry.mask is not None:
        for m in merged:
            set_mask(ctx, m, entry.mask if seq else None, entry.source)
    return merged + y[1:] + y_rev[1:]


def _split_in_half(ctx: LayerContext, weights: LayerWeights) -> tuple[LayerWeights, LayerWeights]:
    """Weights without forward/backward names: the first half is the forward layer's (Keras order)."""
    n = len(weights)
    if n % 2:
        raise ctx.refuse(f"cannot tell the forward from the backward weights among {weights.names}")
    e = weights.entries
    return LayerWeights(e[: n // 2], weights.source), LayerWeights(e[n // 2:], weights.source)


@KERAS_HANDLERS.register("TimeDistributed")
def import_time_distributed(ctx: LayerContext, inputs: list[Value]) -> list[Value]:
    """TimeDistributed(layer): Reshape (B, T, *inner) -> (B*T, *inner), the inner layer, Reshape back."""
    layer = ctx.get("layer")
    if not isinstance(layer, dict) or "class_name" not in layer:
        raise ctx.refuse("the wrapped layer's config is missing")
    x = inputs[0]
    if x.rank < 3:
        raise ctx.refuse(f"expects an input of rank >= 3 (batch, time, ...), got {x.shape}")
    steps, inner = x.shape[1], x.shape[2:]
    if steps is None or any(d is None for d in inner):
        raise ctx.refuse(f"needs a static time length and inner shape, got {x.shape}; pin them with "
                         "--input-shape NAME:1,T,...")
    if ctx.call_kwargs.get("mask") is not None:
        raise ctx.refuse("an explicit mask call argument to TimeDistributed is not supported")
    cls, cfg = translate_layer(str(layer["class_name"]), dict(layer.get("config") or {}))
    if cls in ("SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional"):
        raise ctx.refuse(f"TimeDistributed({cls}) is not supported")
    weights = fix_weights(cls, cfg, ctx.weights, ctx.options.theano)
    batch = x.shape[0]
    merged_batch = -1 if batch is None else int(batch) * int(steps)
    flat = ctx.op("Reshape", [x], shape=(merged_batch,) + tuple(int(d) for d in inner if d is not None))
    assert ctx.nested is not None
    outs = ctx.nested(ctx.name, {"class_name": cls, "config": cfg}, weights, [flat])
    result = []
    for o in outs:
        if o.rank < 1 or any(d is None for d in o.shape[1:]):
            raise ctx.refuse(f"the wrapped {cls} gives an output of unknown shape {o.shape}")
        lead = -1 if batch is None else int(batch)
        result.append(ctx.op("Reshape", [o], shape=(lead, int(steps)) + tuple(int(d) for d in o.shape[1:]
                                                                            if d is not None)))
    return result
