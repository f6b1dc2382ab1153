"""Validation of the values a user passes to the API and the CLI, before any file is read.

- ``input_shapes``: input name (or ``"*"`` for the only input) -> a sequence of dims, each a positive
  integer up to ``MAX_DIM`` or ``None`` (left open). ``MAX_DIM`` is the largest dim a ``.tflite``
  tensor can hold (int32); whether the shape fits the model is checked when the model is read.
- ``opset``: the ONNX opset range lives with the ONNX emitter (``convert.onnx.check_opset``).

Every refusal is an :class:`OptionError` that names the argument, the value and what is allowed.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

from .errors import OptionError
from .ir.value import MAX_DIM
_ALLOWED = f"each dim must be a positive integer up to {MAX_DIM} (2**31-1), or None to leave it open"


def _label(name: str) -> str:
    """How the value is named in a message: the API argument and the CLI option are the same thing."""
    return f"the input shape of {'the only input' if name == '*' else repr(name)} (input_shapes= / --input-shape)"


def _check_dim(name: str, shape: object, d: object) -> int | None:
    if d is None:
        return None
    if isinstance(d, bool) or not isinstance(d, numbers.Integral):
        raise OptionError(f"{_label(name)} = {shape!r}: {d!r} is not an integer; {_ALLOWED}")
    if not 1 <= int(d) <= MAX_DIM:
        raise OptionError(f"{_label(name)} = {shape!r}: dim {int(d)} is out of range; {_ALLOWED}")
    return int(d)


def check_input_shapes(input_shapes: object) -> dict[str, list[int | None]]:
    """A validated copy of ``input_shapes`` (``None`` -> ``{}``); raises OptionError."""
    if input_shapes is None:
        return {}
    if not isinstance(input_shapes, Mapping):
        raise OptionError(f"input_shapes must map input names to shapes, e.g. {{'input_1': (1, 224, 224, 3)}};"
                                   f" got {type(input_shapes).__name__}")
    out: dict[str, list[int | None]] = {}
    for name, shape in input_shapes.items():
        if not isinstance(name, str):
            raise OptionError(f"input_shapes: the key {name!r} is not an input name (a string)")
        if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence) and not hasattr(shape, "__iter__"):
            raise OptionError(f"{_label(name)} = {shape!r} is not a sequence of dims; {_ALLOWED}")
        dims = list(shape)  # type: ignore[call-overload]
        if not dims:
            raise OptionError(f"{_label(name)} is empty; give every dim of the input ({_ALLOWED})")
        out[name] = [_check_dim(name, shape, d) for d in dims]
    return out
