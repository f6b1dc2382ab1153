"""Keras 3 operations applied to Keras tensors in a functional model (``x + 3.0``, ``ops.mean``).

Keras 3 serializes them as layer entries whose ``module`` is ``keras.src.ops.<numpy|nn|core|math>``
and whose ``class_name`` is the operation class (``Add``, ``Multiply``, ``Mean``...); their call
``args`` hold tensors and constants (``[x, 3.0]``) and their config holds the constructor
parameters (``axis``, ``keepdims``, ``newshape``...). They are NOT the layers of the same class
name (the ``Add`` layer sums a list of tensors; the ``Add`` operation is ``x1 + x2`` with
constants allowed), so the builder looks them up under ``keras.ops.<Class>``.

Maps each supported operation onto the TF-function implementations of ``tfop`` (same semantics:
elementwise binary/unary math with constants or tensors, activations, reductions, reshape,
transpose, concatenate, expand_dims, squeeze, clip, matmul); any other operation is refused by
name. tf.keras MobileNetV3 (``x + 3``, ``x * (1/6)``) is the common case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ....ir import Value
from ..config import LayerCall
from ..context import KERAS_HANDLERS, LayerContext
from .tfop import TF_FUNCTIONS, TfCall

OPS_PREFIX = "keras.ops."
OPS_MODULES = ("keras.src.ops", "keras.ops")

# Keras 3 operation class -> (TF function implementing it, renamed config parameters).
KERAS_OPS: dict[str, tuple[str, dict[str, str]]] = {
    "Add": ("add", {}), "Subtract": ("subtract", {}), "Multiply": ("multiply", {}),
    "Divide": ("truediv", {}), "TrueDivide": ("truediv", {}), "Maximum": ("maximum", {}),
    "Minimum": ("minimum", {}), "Power": ("pow", {}), "Negative": ("negative", {}), "Abs": ("abs", {}),
    "Absolute": ("abs", {}), "Exp": ("exp", {}), "Log": ("log", {}), "Sqrt": ("sqrt", {}),
    "Square": ("square", {}), "Reciprocal": ("reciprocal", {}), "Sign": ("sign", {}), "Floor": ("floor", {}),
    "Ceil": ("ceil", {}), "Round": ("round", {}), "Sin": ("sin", {}), "Cos": ("cos", {}),
    "Mean": ("reduce_mean", {}), "Sum": ("reduce_sum", {}), "Max": ("reduce_max", {}), "Amax": ("reduce_max", {}),
    "Min": ("reduce_min", {}), "Amin": ("reduce_min", {}), "Prod": ("reduce_prod", {}),
    "Reshape": ("reshape", {"newshape": "shape", "new_shape": "shape"}),
    "Transpose": ("transpose", {"axes": "perm"}), "Concatenate": ("concat", {}),
    "ExpandDims": ("expand_dims", {}), "Squeeze": ("squeeze", {}), "Clip": ("clip_by_value", {}),
    "Matmul": ("matmul", {}), "Relu": ("nn.relu", {}), "Relu6": ("nn.relu6", {}), "Sigmoid": ("math.sigmoid", {}),
    "Tanh": ("math.tanh", {}), "Silu": ("nn.silu", {}), "Swish": ("nn.silu", {}), "Gelu": ("nn.gelu", {}),
    "Softmax": ("nn.softmax", {}), "LogSoftmax": ("nn.log_softmax", {}), "Elu": ("nn.elu", {}),
    "Selu": ("nn.selu", {}), "Softplus": ("nn.softplus", {}), "LeakyRelu": ("nn.leaky_relu", {}),
}


def ops_key(module: str | None, cls: str, config: dict[str, Any], calls: Sequence[LayerCall] = ()) -> str:
    """The handler key of a layer entry: ``keras.ops.Add`` for a Keras 3 operation, else the class.

    ``.keras`` configs name the operation's module. Keras 3 legacy ``.h5`` configs drop it; there
    an entry is an operation when no layer has its class name (``Absolute``, ``Mean``), when its
    config lacks the ``trainable`` key every Keras layer config has (an operation's config is its
    name and constructor parameters), or when it is called with two or more positional arguments
    (``Add(x, 3.0)``; the Add *layer* takes one list). Only Keras 3 calls are judged this way.
    """
    if isinstance(module, str) and module.startswith(OPS_MODULES):
        return OPS_PREFIX + cls
    if module is None and OPS_PREFIX + cls in KERAS_HANDLERS and any(c.keras3 for c in calls):
        if (cls not in KERAS_HANDLERS or "trainable" not in config
                or any(len(c.args) >= 2 for c in calls)):
            return OPS_PREFIX + cls
    return cls


class _OpCall(TfCall):
    """A TfCall whose keywords also hold the operation's constructor parameters (its config)."""

    def __init__(self, ctx: LayerContext, inputs: list[Value], cls: str, renames: dict[str, str]) -> None:
        super().__init__(ctx, inputs, cls)
        params: dict[str, Any] = {renames.get(k, k): v for k, v in ctx.config.items()
                                  if k not in ("name", "trainable", "dtype", "_keras1")}
        self.kwargs = {**params, **self.kwargs}

    def refuse(self, why: str) -> Exception:
        return self.ctx.refuse(f"Keras operation {self.function!r}: {why}")


def _make(cls: str, function: str, renames: dict[str, str]) -> Any:
    impl = TF_FUNCTIONS[function]

    def import_keras_op(ctx: LayerContext, inputs: list[Value]) -> list[Value]:
        out = impl(_OpCall(ctx, inputs, cls, renames))
        return [out] if isinstance(out, Value) else list(out)

    import_keras_op.__doc__ = f"Keras 3 operation {cls} (keras.ops) -> as TF function {function!r} (see tfop)."
    return import_keras_op


for _cls, (_function, _renames) in KERAS_OPS.items():
    KERAS_HANDLERS.register(OPS_PREFIX + _cls)(_make(_cls, _function, _renames))
