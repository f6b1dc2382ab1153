"""Keras normalization and preprocessing layers: BatchNormalization, LayerNormalization,
Rescaling, Normalization.

Maps:
- BatchNormalization -> BatchNorm over the last axis (weights gamma?, beta?, moving_mean,
  moving_variance, present as ``scale``/``center`` say). A single other axis (axis 1 of
  channels_first data) is moved last with a Transpose and back; several axes become Mul + Add
  with the folded per-element scale and shift. Keras 1 ``mode`` != 0 (batch statistics at
  inference) is refused.
- LayerNormalization -> Mean, Sub, Square, Mean, Add eps, Rsqrt, Mul, Mul gamma, Add beta over
  the ``axis`` list; ``rms_scaling=True`` (Keras 3) is x * rsqrt(var(x) + eps) * gamma, which is
  what Keras computes (the variance, not the mean of squares, despite the flag's name).
- Rescaling(scale, offset) -> Mul + Add (scalars or per-channel lists over the last axis).
- Normalization -> (x - mean) / max(sqrt(variance), 1e-7), as Keras 2 and 3 compute it, with
  mean/variance from the config or from the weights (mean, variance, count);
  ``invert=True`` -> mean + x * max(sqrt(variance), 1e-7).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ....ir import Value
from ....ir.ops import norm_axis
from ..context import KERAS_HANDLERS, LayerContext

KERAS_EPSILON = 1e-7  # keras.backend.epsilon() default, used by Normalization


def _axes(ctx: LayerContext, x: Value, value: Any, default: int = -1) -> list[int]:
    """A Keras ``axis`` (int, list or None) as sorted non-negative axes, batch axis refused."""
    raw = [default] if value is None else (list(value) if isinstance(value, (list, tuple)) else [value])
    try:
        axes = sorted({norm_axis(int(a), x.rank) for a in raw})
    except ValueError:
        raise ctx.refuse(f"axis={value!r} is out of range for an input of shape {list(x.shape)}") from None
    if 0 in axes:
        raise ctx.refuse(f"normalizing over the batch axis (axis={value!r}) is not supported")
    return axes


def _param_shape(ctx: LayerContext, x: Value, axes: Sequence[int]) -> tuple[int, ...]:
    dims = [x.shape[a] for a in axes]
    if any(d is None for d in dims):
        raise ctx.refuse(f"the normalized axes {list(axes)} of the input {list(x.shape)} must be known")
    return tuple(int(d) for d in dims)  # type: ignore[arg-type]


def _broadcastable(arr: np.ndarray, x: Value, axes: Sequence[int]) -> np.ndarray:
    """A parameter over ``axes`` reshaped to broadcast against ``x`` (batch axis and leading
    1s dropped: (C,) for the last axis)."""
    if list(axes) == [x.rank - 1]:
        return arr.reshape(-1)
    shape = [1] * x.rank
    for a, d in zip(axes, arr.shape):
        shape[a] = d
    shape = shape[1:]
    while len(shape) > 1 and shape[0] == 1:
        shape.pop(0)
    return arr.reshape(shape)


def _float_input(ctx: LayerContext, x: Value) -> Value:
    return x if x.dtype.is_float else ctx.op("Cast", [x], to="float32")


# ---------------------------------------------------------------------------- BatchNormalization


@KERAS_HANDLERS.register("BatchNormalization")
def import_batch_normalization(ctx: LayerContext, inputs: list[Value]) -> Value:
    """BatchNormalization -> BatchNorm over the last axis (Transposes around it for another axis)."""
    # translate_layer marks Keras 1 configs it recognizes; a Keras 1 BatchNormalization config has
    # none of the keys it looks for, so ``mode`` is read here too (no Keras 2/3 config has it).
    mode = ctx.get("_unsupported_mode", ctx.get("mode"))
    if mode not in (None, 0):
        raise ctx.refuse(f"Keras 1 BatchNormalization mode={mode} normalizes with batch statistics at "
                         "inference; only mode 0 can be converted")
    x = inputs[0]
    axes = _axes(ctx, x, ctx.get("axis", -1))
    shape = _param_shape(ctx, x, axes)
    scale, center = bool(ctx.get("scale", True)), bool(ctx.get("center", True))
    names = (["gamma"] if scale else []) + (["beta"] if center else []) + ["moving_mean", "moving_variance"]
    # renorm=True adds renorm_mean/renorm_stddev after these; inference uses the moving statistics.
    counts = (len(names), len(names) + 2) if ctx.get("renorm", False) else len(names)
    arrs = ctx.arrays(counts, ", ".join(names))
    got = {n: ctx.check_shape(a.astype(np.float32), shape, n) for n, a in zip(names, arrs)}
    negative = int(np.count_nonzero(got["moving_variance"] < 0))
    if negative:
        ctx.doubtful(f"moving_variance has {negative} negative value{'s' if negative > 1 else ''}")
    eps = float(ctx.get("epsilon", 1e-3))
    if len(axes) > 1:
        # Several axes: y = x * s + t with s, t folded here, broadcast over the input.
        s = 1.0 / np.sqrt(got["moving_variance"].astype(np.float64) + eps)
        if scale:
            s = s * got["gamma"]
        t = -got["moving_mean"] * s
        if center:
            t = t + got["beta"]
        y = ctx.op("Mul", [x, ctx.const("scale", _broadcastable(s, x, axes))])
        return ctx.op("Add", [y, ctx.const("shift", _broadcastable(t, x, axes))])
    axis = axes[0]
    perm = tuple(i for i in range(x.rank) if i != axis) + (axis,)
    moved = axis != x.rank - 1
    if moved:
        x = ctx.op("Transpose", [x], perm=perm)
    y = ctx.op("BatchNorm", [x, ctx.const("moving_mean", got["moving_mean"]),
                             ctx.const("moving_variance", got["moving_variance"]),
                             ctx.const("gamma", got["gamma"]) if scale else None,
                             ctx.const("beta", got["beta"]) if center else None], epsilon=eps)
    if moved:
        y = ctx.op("Transpose", [y], perm=tuple(int(i) for i in np.argsort(perm)))
    return y


# ---------------------------------------------------------------------------- LayerNormalization


@KERAS_HANDLERS.register("LayerNormalization")
def import_layer_normalization(ctx: LayerContext, inputs: list[Value]) -> Value:
    """LayerNormalization -> Mean, Sub, Square, Mean, Add eps, Rsqrt, Mul over ``axis``; Mul gamma, Add beta.

    ``rms_scaling`` (Keras 3) -> x * rsqrt(var(x) + eps) * gamma.
    """
    x = _float_input(ctx, inputs[0])
    axes = _axes(ctx, x, ctx.get("axis", -1))
    shape = _param_shape(ctx, x, axes)
    rms = bool(ctx.get("rms_scaling", False))
    scale = bool(ctx.get("scale", True)) or rms
    center = bool(ctx.get("center", True)) and not rms
    names = (["gamma"] if scale else []) + (["beta"] if center else [])
    arrs = ctx.arrays(len(names), ", ".join(names) or "no weights")
    got = {n: ctx.check_shape(a.astype(np.float32), shape, n) for n, a in zip(names, arrs)}
    eps = float(ctx.get("epsilon", 1e-3))
    ax = tuple(axes)
    mean = ctx.op("Mean", [x], axes=ax, keepdims=True)
    centered = ctx.op("Sub", [x, mean])
    var = ctx.op("Mean", [ctx.op("Square", [centered])], axes=ax, keepdims=True)
    inv = ctx.op("Rsqrt", [ctx.op("Add", [var, ctx.scalar(eps, x)])])
    y = ctx.op("Mul", [x if rms else centered, inv])
    if scale:
        y = ctx.op("Mul", [y, ctx.const("gamma", _broadcastable(got["gamma"], x, axes))])
    if center:
        y = ctx.op("Add", [y, ctx.const("beta", _broadcastable(got["beta"], x, axes))])
    return y


# ---------------------------------------------------------------------------- preprocessing


def config_array(value: Any) -> np.ndarray | None:
    """A number, list, or Keras 3 serialized array ({"class_name": "__numpy__", "config":
    {"value": ...}}) from a config, as float64; None stays None."""
    if value is None:
        return None
    if isinstance(value, dict):
        cfg = value.get("config")
        value = cfg.get("value") if isinstance(cfg, dict) else cfg
    return np.asarray(value, dtype=np.float64)


def _channel_const(ctx: LayerContext, x: Value, arr: np.ndarray, what: str) -> np.ndarray:
    if arr.ndim == 0 or arr.size == 1:
        return arr.reshape(())
    if arr.ndim == 1 and x.shape[-1] in (None, arr.shape[0]):
        return arr
    raise ctx.refuse(f"{what} of shape {arr.shape} does not broadcast over an input of shape {list(x.shape)}")


@KERAS_HANDLERS.register("Rescaling")
def import_rescaling(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Rescaling(scale, offset) -> x * scale + offset (Mul skipped for 1, Add for 0)."""
    x = _float_input(ctx, inputs[0])
    scale = config_array(ctx.get("scale", 1.0))
    offset = config_array(ctx.get("offset", 0.0))
    assert scale is not None and offset is not None
    scale = _channel_const(ctx, x, scale, "scale")
    offset = _channel_const(ctx, x, offset, "offset")
    y = x
    if not np.all(scale == 1.0):
        y = ctx.op("Mul", [y, ctx.const("scale", scale.astype(np.float32))])
    if not np.all(offset == 0.0):
        y = ctx.op("Add", [y, ctx.const("offset", offset.astype(np.float32))])
    return y if y is not x else ctx.op("Identity", [x])


@KERAS_HANDLERS.register("Normalization")
def import_normalization(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Normalization -> Sub mean, Div max(sqrt(variance), 1e-7) (invert: Mul, Add mean)."""
    x = _float_input(ctx, inputs[0])
    cfg_axis = ctx.get("axis", -1)
    axes = [] if cfg_axis is None else _axes(ctx, x, cfg_axis)
    shape = _param_shape(ctx, x, axes)
    mean, var = config_array(ctx.get("mean")), config_array(ctx.get("variance"))
    if mean is None or var is None:
        arrs = ctx.arrays(3, "mean, variance, count")
        mean = ctx.check_shape(arrs[0].astype(np.float32), shape, "mean")
        var = ctx.check_shape(arrs[1].astype(np.float32), shape, "variance")
    else:
        try:
            mean = np.broadcast_to(mean, shape).astype(np.float32)
            var = np.broadcast_to(var, shape).astype(np.float32)
        except ValueError:
            raise ctx.refuse(f"mean/variance in the config do not fit the axes {axes} of {list(x.shape)}") from None
    # Keras computes max(sqrt(variance), epsilon) in float32.
    denom = np.maximum(np.sqrt(var.astype(np.float32)), np.float32(KERAS_EPSILON)).astype(np.float32)
    if axes:
        mean_b, denom_b = _broadcastable(mean, x, axes), _broadcastable(denom, x, axes)
    else:
        mean_b, denom_b = mean.reshape(()), denom.reshape(())
    if ctx.get("invert", False):
        y = ctx.op("Mul", [x, ctx.const("std", denom_b)])
        return ctx.op("Add", [y, ctx.const("mean", mean_b)])
    y = ctx.op("Sub", [x, ctx.const("mean", mean_b)])
    return ctx.op("Div", [y, ctx.const("std", denom_b)])
