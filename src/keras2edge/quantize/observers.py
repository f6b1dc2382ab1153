"""Range observers: what calibration keeps of the values a tensor took, and the range it quantizes.

An observer sees each calibration batch of one tensor (``update``) and finally gives the real range
``(lo, hi)`` to quantize it with (``range``; lo ≤ 0 ≤ hi is the caller's job, per the TFLite spec).
Observers are made by name from :data:`OBSERVERS` (the ``--calibration-method`` values):

* ``minmax`` — the smallest and largest value seen (TFLite converter and LiteRT Quantizer default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from ..errors import QuantizationError


class Observer(Protocol):
    """Collects one tensor's statistics over calibration batches."""

    def update(self, x: np.ndarray) -> None:
        """Take one batch of the tensor's values (any shape; float)."""

    def range(self) -> tuple[float, float]:
        """The real range to quantize with, ``lo ≤ hi``; a QuantizationError if nothing was seen."""


class MinMaxObserver:
    """The smallest and largest finite value seen."""

    def __init__(self) -> None:
        self.lo = np.inf
        self.hi = -np.inf

    def update(self, x: np.ndarray) -> None:
        if x.size:
            self.lo = min(self.lo, float(np.min(x)))
            self.hi = max(self.hi, float(np.max(x)))

    def range(self) -> tuple[float, float]:
        if self.lo > self.hi:
            raise QuantizationError("no calibration values were observed for this tensor")
        return self.lo, self.hi


#: ``--calibration-method`` name -> observer factory.
OBSERVERS: dict[str, Callable[[], Observer]] = {"minmax": MinMaxObserver}


def make_observer(method: str) -> Observer:
    """A fresh observer for ``method`` (a key of :data:`OBSERVERS`)."""
    try:
        return OBSERVERS[method]()
    except KeyError:
        raise QuantizationError(f"unknown calibration method {method!r}; supported: "
                                f"{', '.join(sorted(OBSERVERS))}") from None
