"""Errors of the runtime (a leaf package: it imports nothing from the rest of keras2edge)."""

from __future__ import annotations


class RuntimeModelError(ValueError):
    """A ``.tflite`` file is malformed or uses something the runtime does not support.

    The message names what is wrong: the table/field or offset, and the op and tensor involved.
    """
