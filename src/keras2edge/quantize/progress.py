"""Progress of the long quantization steps (calibration, each algorithm's runs), handed to whoever asked.

The library never prints. A caller passes a function ``fn(task, done, total)`` (``QuantizeOptions.progress``;
the CLI's bar on stderr is one): ``quantize_graph`` installs it with :func:`reporting` for the duration
of the call, each step names itself with :func:`task` and calls :func:`tick` after every batch it runs:

    task                               what ``done`` / ``total`` count
    "calibration"                      samples run through the float model / the data's sample count
                                       (``None`` for a generator, whose length is unknown)
    "high-bias absorption"             samples of its statistics run
    "bias correction, run K"           samples run in its K-th model run (float reference, quantized)
    "adaround"                         samples whose layer inputs were collected

The installed function lives in a ``ContextVar``: concurrent quantizations (threads, tasks) each report
to their own caller, and none is reported when nobody asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: fn(task, samples done, samples in all or None when unknown)
ProgressFn = Callable[[str, int, "int | None"], None]

_FN: ContextVar[ProgressFn | None] = ContextVar("keras2edge_quantize_progress", default=None)
_TASK: ContextVar[str] = ContextVar("keras2edge_quantize_task", default="")


@contextmanager
def reporting(fn: ProgressFn | None) -> Iterator[None]:
    """Report the steps run inside the block to ``fn`` (None: to nobody)."""
    token = _FN.set(fn)
    try:
        yield
    finally:
        _FN.reset(token)


@contextmanager
def task(name: str) -> Iterator[None]:
    """Name the step run inside the block (its ticks are reported under ``name``)."""
    token = _TASK.set(name)
    try:
        yield
    finally:
        _TASK.reset(token)


def tick(done: int, total: int | None) -> None:
    """``done`` of ``total`` samples of the current task are through (nothing if nobody asked)."""
    fn = _FN.get()
    if fn is not None:
        fn(_TASK.get(), done, total)


__all__ = ["ProgressFn", "reporting", "task", "tick"]
