"""IR values: the edges of the graph (a tensor with a dtype, a shape, a producer and uses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .dtypes import DType
from .quant import QuantParams

#: The largest dimension a value may have: ONNX and TFLite store dims as int32. Input shapes from a
#: model file or from the user are held to it before anything is built.
MAX_DIM = 2**31 - 1

__all__ = ["MAX_DIM", "QuantParams", "Shape", "Value"]

if TYPE_CHECKING:
    from .node import Node

Shape = tuple["int | None", ...]


@dataclass(eq=False)
class Value:
    """A tensor in the graph.

    ``shape`` holds None for a dimension unknown until run time (normally the batch).
    ``const`` holds the data of a constant (weights); constants have no producer.
    ``uses`` lists (node, input index) pairs and is maintained by Graph methods only.
    """

    name: str
    dtype: DType
    shape: tuple[int | None, ...]
    producer: Node | None = None
    const: np.ndarray | None = None
    quant: QuantParams | None = None
    uses: list[tuple[Node, int]] = field(default_factory=list)

    @property
    def is_const(self) -> bool:
        return self.const is not None

    @property
    def rank(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        kind = "const " if self.is_const else ""
        return f"%{self.name}: {kind}{self.dtype.value}[{dims}]"
