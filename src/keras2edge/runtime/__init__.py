"""keras2edge.runtime: run ``.tflite`` files with NumPy only (no other package is imported).

This package is a leaf: it imports only numpy and the standard library, never the rest of
keras2edge, so it can ship alone to a device.
"""

from __future__ import annotations

from .errors import RuntimeModelError

__all__ = ["RuntimeModelError"]
