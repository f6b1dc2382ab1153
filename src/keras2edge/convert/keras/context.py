"""The Keras handler table and the context a handler gets for one call of one layer.

A handler maps one Keras layer call to IR nodes::

    @KERAS_HANDLERS.register("Dense")
    def import_dense(ctx: LayerContext, inputs: list[Value]) -> list[Value]:
        ...

It reads ``ctx.config`` (already translated to Keras 2/3 parameter names), ``ctx.weights``
(arrays in the layer's ``weights`` order) and ``ctx.call_kwargs``, adds nodes with ``ctx.op``
(which stamps the Keras origin on them) and returns the call's outputs. A handler refuses a
configuration it cannot map with ``ctx.refuse(reason)``; the importer collects every refusal
and reports them together.

Weights reach handlers through ``LayerContext.arrays``, which casts them to float32 (as Keras does
when it assigns a stored array to a float variable) and refuses NaN/Inf values naming the layer;
values no trained model can hold (``ctx.doubtful``) are refused too, or only logged as a warning
with ``ImportOptions.allow_nonfinite``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import InvalidWeightsError, Keras2EdgeError, WeightsMismatchError
from ...ir import DType, Graph, Node, Origin, OpTable, Value
from ...runtime.limits import Limits
from .weights import LayerWeights

log = logging.getLogger(__name__)

Handler = Callable[["LayerContext", list[Value]], "list[Value] | Value"]
KERAS_HANDLERS: OpTable[Handler] = OpTable("Keras importer")


class LayerRefusal(Keras2EdgeError):
    """Raised by a handler for a layer configuration that cannot be converted."""


@dataclass
class ImportOptions:
    """Facts about the file that change how layers are read."""

    keras_version: str = ""
    backend: str = ""
    path: str = ""
    allow_nonfinite: bool = False  # NaN/Inf weights, negative variances: warn instead of refusing
    limits: Limits = field(default_factory=Limits)

    @property
    def major(self) -> int:
        try:
            return int(self.keras_version.split(".")[0])
        except ValueError:
            return 0

    @property
    def theano(self) -> bool:
        return self.backend == "theano"


@dataclass
class LayerContext:
    graph: Graph
    name: str
    cls: str
    config: dict[str, Any]
    weights: LayerWeights
    options: ImportOptions
    call_kwargs: dict[str, Any] = field(default_factory=dict)
    call_args: list[Any] = field(default_factory=list)
    call_index: int = 0
    nested: Callable[[str, dict[str, Any], LayerWeights, list[Value]], list[Value]] | None = None

    @property
    def origin(self) -> Origin:
        return Origin(self.name, self.cls)

    def op(self, op: str, inputs: Sequence[Value | None], **attrs: Any) -> Value:
        """Add a single-output node carrying this layer's origin; return its output."""
        return self.graph.add_node(op, inputs, attrs, self.origin).output

    def node(self, op: str, inputs: Sequence[Value | None], **attrs: Any) -> Node:
        return self.graph.add_node(op, inputs, attrs, self.origin)

    def const(self, suffix: str, data: Any, dtype: DType | None = None) -> Value:
        return self.graph.add_const(f"{self.name}/{suffix}", data, dtype)

    def scalar(self, value: float, like: Value) -> Value:
        return self.const("c", np.asarray(value, dtype=like.dtype.np))

    def refuse(self, reason: str) -> LayerRefusal:
        return LayerRefusal(reason)

    def get(self, key: str, default: Any = None) -> Any:
        return self.config.get(key, default)

    def arrays(self, count: int | Sequence[int], what: str = "") -> list[np.ndarray]:
        """The layer's arrays, checking their count (one of ``count``)."""
        counts = (count,) if isinstance(count, int) else tuple(count)
        arrs = self.weights.arrays
        if not arrs and 0 not in counts:
            raise WeightsMismatchError(
                f"{self.options.path!r}: the weights file has no weights for Keras layer {self.name!r} ({self.cls}), "
                f"which needs {' or '.join(map(str, counts))} arrays{' (' + what + ')' if what else ''}; "
                "the weights do not belong to this architecture (missing layer)")
        if len(arrs) not in counts:
            raise WeightsMismatchError(
                f"{self.options.path!r}: Keras layer {self.name!r} ({self.cls}) has {len(arrs)} weight arrays "
                f"in {self.weights.source or 'the weights file'}, expected {' or '.join(map(str, counts))}"
                f"{' (' + what + ')' if what else ''}")
        out = [np.asarray(a, dtype=np.float32) for a in arrs]
        for name, a in zip(self.weights.names, out):
            bad = int(a.size - np.count_nonzero(np.isfinite(a)))
            if bad:
                self.doubtful(f"weight {name!r} holds {bad} NaN/Inf value{'s' if bad > 1 else ''}")
        return out

    def doubtful(self, finding: str) -> None:
        """Refuse weights no trained model holds (InvalidWeightsError naming the layer), or only
        log a warning when the user allowed it (``allow_nonfinite``)."""
        what = f"{self.options.path!r}: Keras layer {self.name!r} ({self.cls}): {finding}"
        if not self.options.allow_nonfinite:
            raise InvalidWeightsError(f"{what}; refusing to convert it (--allow-nonfinite / allow_nonfinite=True "
                                      "converts it anyway)")
        log.warning("%s; converting it anyway (allow_nonfinite)", what)

    def check_shape(self, arr: np.ndarray, expected: Sequence[int | None], what: str) -> np.ndarray:
        """Raise WeightsMismatchError naming the layer and both shapes when they differ."""
        exp = tuple(expected)
        if len(arr.shape) != len(exp) or any(e is not None and e != a for a, e in zip(arr.shape, exp)):
            raise WeightsMismatchError(
                f"{self.options.path!r}: weights of Keras layer {self.name!r} ({self.cls}) do not match the "
                f"architecture: {what} has shape {tuple(arr.shape)} in the weights file, the config implies "
                f"{tuple('?' if e is None else e for e in exp)}")
        return arr
