"""IR nodes: one op application, with the Keras layer it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .value import Value


@dataclass(frozen=True)
class Origin:
    """The Keras layer a node was imported from (name and class), kept for every report."""

    layer: str
    cls: str

    def __str__(self) -> str:
        return f"{self.layer} ({self.cls})"


@dataclass(eq=False)
class Node:
    """An op from the IR vocabulary applied to input values, producing output values.

    Optional inputs that are absent are None (for example a Conv2D without bias).
    """

    op: str
    name: str
    inputs: list[Value | None]
    outputs: list[Value]
    attrs: dict[str, Any] = field(default_factory=dict)
    origin: Origin | None = None

    @property
    def output(self) -> Value:
        """The single output (raises if the node has several)."""
        if len(self.outputs) != 1:
            raise ValueError(f"node {self.name} ({self.op}) has {len(self.outputs)} outputs")
        return self.outputs[0]

    def where(self) -> str:
        """'node conv1/Conv2D from Keras layer conv1 (Conv2D)' for error messages."""
        src = f" from Keras layer {self.origin}" if self.origin else ""
        return f"node {self.name!r} ({self.op}){src}"

    def __repr__(self) -> str:
        ins = ", ".join("None" if v is None else f"%{v.name}" for v in self.inputs)
        outs = ", ".join(f"%{v.name}" for v in self.outputs)
        return f"{outs} = {self.op}({ins})"
