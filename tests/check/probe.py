"""Probing the ``tflite-micro`` Python interpreter safely: each trial runs in a forked child.

TFLite Micro trusts the file: a kernel handed shapes it does not expect can crash the process (a
DEPTHWISE_CONV_2D without a bias segfaults) or write past a buffer and hang, and SOFTMAX aborts on
some inputs. So :func:`trial` forks, builds the interpreter with the given arena in the child, runs
``invoke`` and reports back through the exit status; the parent never loads the model itself.
:func:`min_arena` bisects the smallest arena with which the model allocates AND runs.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Sequence

import numpy as np

OK, FAILED, CRASHED = "ok", "failed", "crashed"


def _child(data: bytes, arena: int, feeds: Sequence[np.ndarray] | None, log: int | None = None,
           invoke: bool = True) -> int:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull if log is None else log, 2)
    from tflite_micro.python.tflite_micro import runtime

    try:
        it = runtime.Interpreter.from_bytes(data, arena_size=arena)
    except Exception:  # noqa: BLE001 - any refusal is the answer
        return 3
    if not invoke:
        return 0
    try:
        for k, x in enumerate(feeds or ()):
            it.set_input(np.ascontiguousarray(x, dtype=it.get_input_details(k)["dtype"]), k)
        it.invoke()
    except Exception:  # noqa: BLE001
        return 4
    if log is not None:
        os.lseek(log, 0, os.SEEK_SET)
        os.ftruncate(log, 0)
        it.print_allocations()
    return 0


def trial(data: bytes, arena: int, feeds: Sequence[np.ndarray] | None = None, timeout: float = 20.0,
          log: int | None = None, invoke: bool = True) -> str:
    """OK when TFLite Micro allocates ``data`` in an ``arena``-byte arena and invokes it; FAILED when it
    refuses (allocation, prepare or invoke error); CRASHED when the child dies or hangs. With ``log``
    (a file descriptor) the child writes the recording allocator's report there. ``invoke=False`` stops
    after allocation (TFLite Micro allocates everything in AllocateTensors, so an arena that allocates
    also runs; callers confirm with one invoking trial)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 5
        try:
            code = _child(data, arena, feeds, log, invoke)
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return CRASHED
        time.sleep(0.0005)
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        return OK if code == 0 else FAILED if code in (3, 4) else CRASHED
    return CRASHED


def min_arena(data: bytes, feeds: Sequence[np.ndarray] | None = None, start: int = 4096,
              invoke: bool = True) -> int:
    """The smallest arena (bytes) with which TFLite Micro allocates and runs ``data`` (``invoke=False``:
    allocates; for big models whose invoke takes seconds): doubled from ``start`` until it runs, then
    bisected to the byte (trials in forked children)."""
    hi = start
    while trial(data, hi, feeds, timeout=120.0, invoke=invoke) != OK:
        hi *= 2
        if hi > 1 << 30:
            raise RuntimeError("TFLite Micro does not run this model with any arena up to 1 GiB")
    lo = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if trial(data, mid, feeds, timeout=120.0, invoke=invoke) == OK:
            hi = mid
        else:
            lo = mid
    return hi


def recorded(data: bytes, arena: int = 1 << 22, feeds: Sequence[np.ndarray] | None = None) -> dict[str, int]:
    """The recording allocator's totals after a run on ``feeds`` (None: whatever the arena holds):
    {"total", "head", "tail"} bytes."""
    import re
    import tempfile

    with tempfile.TemporaryFile() as f:
        if trial(data, arena, feeds, log=f.fileno()) != OK:
            raise RuntimeError("TFLite Micro does not run this model")
        f.seek(0)
        text = f.read().decode(errors="replace")
    return {k: int(re.search(rf"allocation {k} (\d+)", text).group(1)) for k in ("total", "head", "tail")}
