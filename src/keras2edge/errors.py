"""The keras2edge exception hierarchy.

Every error the library raises on bad input is a :class:`Keras2EdgeError`; the CLI prints
its message on one line (``Error: ...``) and exits 1. Messages say who failed (importer,
pass, emitter, runtime), on what (file, Keras layer name and class, op) and what is supported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


# The base class and the runtime's errors live in the runtime (a numpy-only leaf that must not
# import this package); they are re-exported here so every error is importable from one place.
from .runtime.errors import Keras2EdgeError, LimitExceededError, RuntimeModelError  # noqa: E402,F401


class ModelFormatError(Keras2EdgeError):
    """A file is unreadable or is not the kind of file that was expected."""


class UnsupportedLayerError(Keras2EdgeError):
    """One or more Keras layer classes (or configurations) cannot be imported.

    Attributes:
        problems: Keras class name -> list of (layer name, reason or "") pairs.
    """

    def __init__(
        self,
        path: str,
        problems: Mapping[str, list[tuple[str, str]]],
        supported: Iterable[str] = (),
    ) -> None:
        self.path = path
        self.problems = {k: list(v) for k, v in problems.items()}
        self.supported = sorted(supported)
        super().__init__(self._format())

    def _format(self) -> str:
        n = len(self.problems)
        parts = []
        for cls in sorted(self.problems):
            entries = self.problems[cls]
            names = ", ".join(name for name, _ in entries)
            reasons = sorted({r for _, r in entries if r})
            reason = f" [{'; '.join(reasons)}]" if reasons else ""
            parts.append(f"{cls} (layers: {names}){reason}")
        head = (
            f"cannot import {self.path!r}: {n} layer class{'es are' if n != 1 else ' is'} "
            f"not supported: " + "; ".join(parts) + "."
        )
        if self.supported:
            shown = ", ".join(self.supported[:40])
            more = f", ... ({len(self.supported)} in all)" if len(self.supported) > 40 else ""
            head += f" Supported: {shown}{more}."
        head += " A custom layer class can be registered: see docs/custom-layers.md."
        return head


class UnsupportedOpError(Keras2EdgeError):
    """An emitter (or another consumer of the IR) cannot express an op, an op configuration or a value.

    The message is built from the fields: ``"<owner>: <node>: <problem>. Supported: <...>."``.

    Attributes:
        owner: who failed ("ONNX emitter", "TFLite emitter", ...).
        problem: what was found (e.g. "no implementation for 'Erf'", "stride 3 is not supported").
        op: the IR op concerned, if any.
        node: where (``Node.where()``: the node and its Keras layer name and class), if known.
        supported: what the owner supports instead (listed in the message), if relevant.
    """

    def __init__(self, owner: str, problem: str, *, op: str | None = None, node: str | None = None,
                 supported: Iterable[str] = ()) -> None:
        self.owner = owner
        self.problem = problem
        self.op = op
        self.node = node
        self.supported = sorted(supported)
        super().__init__(self._format())

    def _format(self) -> str:
        at = f"{self.node}: " if self.node else ""
        shown = f". Supported: {', '.join(self.supported)}." if self.supported else ""
        return f"{self.owner}: {at}{self.problem}{shown}"


class UnsafeContentError(Keras2EdgeError):
    """The file holds executable content (Lambda bytecode, pickles, TF NodeDefs) that is never run."""


class OutputPathError(Keras2EdgeError, OSError):
    """An output path cannot be written safely: it is an input, not a regular file, read-only, or its
    folder is missing or read-only (raised before any work is done, and again at write time); or the
    write itself failed (e.g. the disk is full). An OSError too, for callers that catch those."""


class WeightsMismatchError(ModelFormatError):
    """A weights file does not match the architecture (missing layer, wrong shape)."""


class OptionError(Keras2EdgeError):
    """An option given to the API or the CLI has a value keras2edge does not accept."""


class BatchInputError(Keras2EdgeError):
    """The models of a batch conversion cannot be converted together (e.g. two would write the same file)."""


class InvalidWeightsError(ModelFormatError):
    """Weights hold values no trained Keras model holds (NaN/Inf, a negative variance)."""


class QuantizationError(Keras2EdgeError):
    """Quantization could not be carried out as asked."""


class PruneError(Keras2EdgeError):
    """Pruning could not be carried out as asked (bad sparsity, N:M, exclusions, calibration data)."""


class PassError(Keras2EdgeError):
    """A graph pass failed or left the graph inconsistent."""


class GraphError(Keras2EdgeError):
    """An IR graph violates an invariant (raised by ``Graph.verify`` and graph methods)."""


class ShapeError(GraphError, ValueError):
    """An op's inputs or attributes do not fit it (shape/dtype inference): names the op, what is wrong
    and the input shapes; the graph adds the node (a ValueError too, for callers that catch those)."""

    def __init__(self, op: str, problem: str, shapes: Iterable[object] = ()) -> None:
        self.op = op
        self.problem = problem
        self.shapes = list(shapes)
        super().__init__(f"{op}: {problem} (input shapes {self.shapes})")


class ShapeInferenceError(GraphError):
    """An op's shape rule rejects its inputs (after a constant was replaced, or inputs were pinned).

    Attributes:
        node: the IR node whose op rejects its inputs (``node.where()`` names it and its Keras layer).
        reason: what the op's rule found, without the node.
    """

    def __init__(self, node: object, reason: str) -> None:
        self.node = node
        self.reason = reason
        where = node.where() if hasattr(node, "where") else repr(node)
        super().__init__(f"{where}: {reason}")
