"""Resource limits applied to every model file before anything it declares is allocated.

One limit, ``max_memory`` (bytes): no single thing a model file declares — a tensor, the planned
arena, a weight array, a decompressed zip member, a config document — may exceed it, and neither
may the sum of a model's weights. The default is 4 GiB (``DEFAULT_MAX_MEMORY``), overridable with
the ``K2E_MAX_MEMORY`` environment variable, the CLI's ``--max-memory`` and the API's ``limits=``.
Sizes are written as bytes or with a binary suffix: ``512M``, ``8G``, ``1.5G``.

This module lives in the runtime (a numpy-free leaf) so both the runtime and the importers use it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .errors import LimitExceededError

DEFAULT_MAX_MEMORY = 4 << 30
ENV_VAR = "K2E_MAX_MEMORY"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """``"8G"`` -> 8 GiB in bytes; ``"1.5G"``, ``"512M"``, ``"4096"`` (bytes). Raises ValueError."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"{text!r} is not a size: expected bytes or a number with K, M, G or T (e.g. 8G)")
    value = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if value <= 0:
        raise ValueError(f"{text!r}: the size must be positive")
    return value


def format_size(n: int) -> str:
    """Bytes as a short human string: ``4294967296`` -> ``"4.0 GiB"``."""
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} B"


@dataclass(frozen=True)
class Limits:
    """The limits a load, conversion or run is held to."""

    max_memory: int = DEFAULT_MAX_MEMORY

    @classmethod
    def default(cls) -> Limits:
        """The default limits, with ``K2E_MAX_MEMORY`` applied when it is set."""
        env = os.environ.get(ENV_VAR)
        if env:
            try:
                return cls(max_memory=parse_size(env))
            except ValueError as e:
                raise LimitExceededError(f"{ENV_VAR}: {e}") from None
        return cls()

    def check(self, nbytes: int, what: str) -> None:
        """Raise LimitExceededError if ``nbytes`` (declared by ``what``) exceeds ``max_memory``.

        ``what`` names the file and the tensor / dataset / member, e.g. ``"'m.tflite': tensor 'x'"``.
        """
        if nbytes > self.max_memory:
            raise LimitExceededError(
                f"{what} declares {format_size(nbytes)} ({nbytes} bytes), more than the memory limit of "
                f"{format_size(self.max_memory)}; raise it with --max-memory / Limits(max_memory=...) / "
                f"{ENV_VAR} if the model really is this large")


def resolve(limits: Limits | None) -> Limits:
    """``limits`` or the default."""
    return limits if limits is not None else Limits.default()
