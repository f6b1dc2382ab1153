"""Layer classes defined by keras.applications models themselves (not in keras.layers).

Maps: LayerScale (ConvNeXt; ``x * gamma`` with a per-channel ``gamma`` of ``projection_dim``
values) -> Mul by the constant.
"""

from __future__ import annotations

from ....ir import Value
from ..context import KERAS_HANDLERS, LayerContext


@KERAS_HANDLERS.register("LayerScale")
def import_layer_scale(ctx: LayerContext, inputs: list[Value]) -> Value:
    """LayerScale(projection_dim) (keras.applications.convnext) -> Mul by the per-channel gamma."""
    x = inputs[0]
    (gamma,) = ctx.arrays(1, "gamma")
    gamma = ctx.check_shape(gamma, (x.shape[-1],), "gamma")
    return ctx.op("Mul", [x, ctx.const("gamma", gamma)])
