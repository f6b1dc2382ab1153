"""Core Keras layers: InputLayer, Dense, Activation, the identity family, Flatten, Reshape,
Permute, RepeatVector.

Maps: Dense -> FullyConnected (+ activation); Activation -> its op(s); Dropout, SpatialDropout*,
GaussianNoise, GaussianDropout, AlphaDropout, ActivityRegularization -> nothing (identity at
inference); Flatten/Reshape -> Reshape (batch kept dynamic as -1); Permute -> Transpose;
RepeatVector -> ExpandDims + Concatenation (TFLite Micro has no TILE).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ....ir import Value
from ..context import KERAS_HANDLERS, LayerContext
from .activations import apply_activation

IDENTITY_CLASSES = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                    "GaussianDropout", "AlphaDropout", "ActivityRegularization")


@KERAS_HANDLERS.register("InputLayer")
def import_input(ctx: LayerContext, inputs: list[Value]) -> list[Value]:
    """InputLayer -> a graph input (made by the builder); a nested call passes its input on."""
    return inputs


@KERAS_HANDLERS.register(*IDENTITY_CLASSES)
def import_identity(ctx: LayerContext, inputs: list[Value]) -> list[Value]:
    """Training-only layers are the identity at inference."""
    return inputs[:1]


@KERAS_HANDLERS.register("Dense")
def import_dense(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Dense -> FullyConnected over the last axis (kernel (K, N)), then the activation."""
    x = inputs[0]
    use_bias = ctx.get("use_bias", True)
    arrs = ctx.arrays(2 if use_bias else 1, "kernel" + (", bias" if use_bias else ""))
    units = ctx.get("units")
    kernel = ctx.check_shape(arrs[0], (x.shape[-1], units), "kernel")
    bias = ctx.const("bias", ctx.check_shape(arrs[1], (units,), "bias")) if use_bias else None
    y = ctx.op("FullyConnected", [x, ctx.const("kernel", kernel), bias])
    return apply_activation(ctx, y, ctx.get("activation"))


@KERAS_HANDLERS.register("Activation")
def import_activation(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Activation(name) -> the activation's op(s)."""
    return apply_activation(ctx, inputs[0], ctx.get("activation"))


def reshape_to(ctx: LayerContext, x: Value, inner: Sequence[int | None]) -> Value:
    """Reshape keeping the batch axis: (-1 if the batch is dynamic) + inner (one -1 resolved if possible)."""
    dims = [-1 if d is None else int(d) for d in inner]
    known = x.shape[1:]
    if -1 in dims and all(d is not None for d in known):
        total = math.prod(int(d) for d in known if d is not None)
        rest = math.prod(d for d in dims if d != -1)
        dims[dims.index(-1)] = total // rest if rest else 0
    if -1 in dims:
        if x.shape[0] is None:
            raise ctx.refuse(f"cannot reshape {x.shape} to {list(inner)}: two unknown dimensions "
                             "(pin the input shape with --input-shape)")
        return ctx.op("Reshape", [x], shape=(int(x.shape[0]),) + tuple(dims))  # type: ignore[arg-type]
    batch = -1 if x.shape[0] is None else int(x.shape[0])
    return ctx.op("Reshape", [x], shape=(batch,) + tuple(dims))


@KERAS_HANDLERS.register("Flatten")
def import_flatten(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Flatten -> Reshape(batch, -1); a channels_first Flatten first moves channels last (Keras 2 rule)."""
    x = inputs[0]
    if ctx.get("data_format") == "channels_first" and x.rank > 2:
        x = ctx.op("Transpose", [x], perm=(0,) + tuple(range(2, x.rank)) + (1,))
    if any(d is None for d in x.shape[1:]):
        raise ctx.refuse(f"Flatten of a tensor with unknown inner dimensions {x.shape}; pin them with --input-shape")
    return reshape_to(ctx, x, (math.prod(int(d) for d in x.shape[1:] if d is not None),))


@KERAS_HANDLERS.register("Reshape")
def import_reshape(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Reshape(target_shape) -> Reshape(batch + target_shape)."""
    return reshape_to(ctx, inputs[0], list(ctx.get("target_shape")))


@KERAS_HANDLERS.register("Permute")
def import_permute(ctx: LayerContext, inputs: list[Value]) -> Value:
    """Permute(dims) (1-based, batch excluded) -> Transpose((0,) + dims)."""
    dims = tuple(int(d) for d in ctx.get("dims"))
    return ctx.op("Transpose", [inputs[0]], perm=(0,) + dims)


@KERAS_HANDLERS.register("RepeatVector")
def import_repeat_vector(ctx: LayerContext, inputs: list[Value]) -> Value:
    """RepeatVector(n): (B, F) -> (B, n, F) as ExpandDims + Concatenation of n copies."""
    n = int(ctx.get("n"))
    e = ctx.op("ExpandDims", [inputs[0]], axis=1)
    return e if n == 1 else ctx.op("Concatenation", [e] * n, axis=1)
