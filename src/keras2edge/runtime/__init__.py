"""keras2edge.runtime: run ``.tflite`` files with NumPy only (no other package is imported).

This package is a leaf: it imports only numpy and the standard library, never the rest of
keras2edge, so it can ship alone to a device.

    from keras2edge.runtime import Interpreter
    y = Interpreter("model.tflite").run(x)

The interpreter and its kernels are imported on first use, so ``keras2edge.errors`` (which
re-exports RuntimeModelError) does not pay for them.
"""

from __future__ import annotations

from typing import Any

from .errors import RuntimeModelError

__all__ = ["Interpreter", "Observer", "OpInfo", "RuntimeModelError"]


def __getattr__(name: str) -> Any:
    if name in ("Interpreter", "Observer", "OpInfo"):
        from . import interpreter

        return getattr(interpreter, name)
    raise AttributeError(f"module 'keras2edge.runtime' has no attribute {name!r}")
