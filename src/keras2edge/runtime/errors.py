"""Errors of the runtime (a leaf package: it imports nothing from the rest of keras2edge).

The base class of every keras2edge error lives here, not in ``keras2edge.errors``, so that the
runtime can stay a numpy-only leaf while ``except keras2edge.Keras2EdgeError`` still catches every
error it raises (``keras2edge.errors`` re-exports these classes).
"""

from __future__ import annotations


class Keras2EdgeError(Exception):
    """Base class of every error keras2edge raises on purpose."""


class RuntimeModelError(Keras2EdgeError, ValueError):
    """A ``.tflite`` file is malformed or uses something the runtime does not support.

    The message names what is wrong: the table/field or offset, and the op and tensor involved.
    """


class LimitExceededError(Keras2EdgeError):
    """A model declares more than the memory limit allows (a tensor, an arena, a weight, a member).

    Raised before anything of that size is allocated; the message names the file and the tensor,
    dataset or member, the size it declares and the limit (``--max-memory`` / ``Limits``).
    """
