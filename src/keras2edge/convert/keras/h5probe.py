"""Walk an HDF5 file's metadata in a child process first, so libhdf5 failing on a corrupt file
becomes a ModelFormatError naming the file and what was being read, never a crash or a hang.

libhdf5 (the C library inside h5py) can crash (SIGSEGV), loop forever, or allocate gigabytes
while decoding a corrupt variable-length string attribute (``model_config``, ``keras_version``, a
Keras 3 ``vars`` group's ``name``). No check of ours can run before the library decodes one, so
``probe_h5`` makes the first decode of every attribute happen in a child process:

- the child opens the file and runs ``h5guard.check_h5_file`` (every link, object, attribute value
  and dataset layout), writing to a pipe what it is about to read next, then the outcome;
- the child runs under an address-space limit (its size at the fork + ``PROBE_MEMORY``) and is
  killed after ``probe_seconds()`` (``DEFAULT_PROBE_SECONDS``, or ``K2E_HDF5_SECONDS``);
- the parent turns the outcome into the same error the walk would raise in-process, and a death by
  signal, a timeout or a library error into a ModelFormatError naming the last thing read.

libhdf5 is deterministic on the same bytes, so once the child has decoded every attribute and
walked every object, the parent's own reads of them are safe. Dataset *contents* are read by the
parent only (no fuzzing campaign found a failure there; docs/security.md).

The child is forked (a few milliseconds) when this process runs a single thread; with other threads
running, forking could copy a lock another thread holds, so a fresh interpreter runs the walk
instead (``python -m keras2edge.convert.keras.h5probe``). Without ``os.fork`` (Windows) the walk
runs in-process.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, cast

from ...errors import Keras2EdgeError, LimitExceededError, ModelFormatError, UnsafeContentError
from ...runtime.limits import Limits

#: Seconds the metadata walk may take (a real Keras file takes well under one; ResNet152: ~0.2 s).
DEFAULT_PROBE_SECONDS = 60.0
SECONDS_ENV_VAR = "K2E_HDF5_SECONDS"
#: Address space the child may add to what it had at the fork: the metadata walk holds one
#: attribute at a time (at most h5guard.MAX_ATTR_BYTES = 16 MiB), so a libhdf5 allocation of
#: gigabytes from a corrupt length fails in the child instead of taking the machine's memory.
PROBE_MEMORY = 512 << 20
#: Errors the walk may raise on purpose, re-raised in the parent by name.
_ERRORS: dict[str, type[Keras2EdgeError]] = {
    cls.__name__: cls for cls in (ModelFormatError, UnsafeContentError, LimitExceededError)}


def probe_seconds() -> float:
    """The time limit of one probe: ``K2E_HDF5_SECONDS`` when set (a positive number), else 60 s."""
    text = os.environ.get(SECONDS_ENV_VAR)
    if not text:
        return DEFAULT_PROBE_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise LimitExceededError(f"{SECONDS_ENV_VAR}={text!r}: expected a positive number of seconds")
    return value


def probe_h5(source: str | IO[bytes], where: str, limits: Limits) -> None:
    """Run ``check_h5_file`` on ``source`` (a path or a real file) in a child process; raise what it
    raises, or a ModelFormatError if libhdf5 crashes, hangs or fails inside the walk."""
    if not hasattr(os, "fork"):
        _walk_in_process(source, where, limits)
        return
    seconds = probe_seconds()
    if threading.active_count() == 1:
        _run_forked(source, where, limits, seconds)
    else:
        _run_spawned(source, where, limits, seconds)


def _walk_in_process(source: str | IO[bytes], where: str, limits: Limits) -> None:
    import h5py  # noqa: PLC0415 (the child imports it once; tests import this module without it)

    from .h5guard import check_h5_file  # noqa: PLC0415
    with h5py.File(source, "r") as f:
        check_h5_file(f, where, limits)


# ---------------------------------------------------------------------------- the child's side

def _child_walk(source: str | IO[bytes], where: str, limits: Limits, out: IO[str]) -> None:
    """The walk as the child runs it: one line per step on ``out`` ("> what"), then the outcome
    ("ok", or "error <json>"). Never returns an exception: the outcome line says it."""
    def progress(what: str) -> None:
        out.write(f"> {what}\n")
        out.flush()

    try:
        _limit_address_space()
        import h5py  # noqa: PLC0415

        from .h5guard import check_h5_file  # noqa: PLC0415
        progress("the file's superblock")
        with h5py.File(source, "r") as f:
            check_h5_file(f, where, limits, progress)
        out.write("ok\n")
    except BaseException as e:  # noqa: BLE001 - every outcome goes to the parent
        kind = type(e).__name__ if type(e).__name__ in _ERRORS else ""
        text = str(e) if kind else f"{type(e).__name__}: {e}"
        out.write("error " + json.dumps({"kind": kind, "message": text}) + "\n")
    out.flush()


def _limit_address_space() -> None:
    """Cap this process's address space at its current size + PROBE_MEMORY (Linux)."""
    try:
        import resource  # noqa: PLC0415
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[0])
    except (ImportError, OSError, ValueError, IndexError):
        return
    cap = pages * os.sysconf("SC_PAGE_SIZE") + PROBE_MEMORY
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft == resource.RLIM_INFINITY or cap < soft:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _run_forked(source: str | IO[bytes], where: str, limits: Limits, seconds: float) -> None:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: walk, report, and leave without running the parent's cleanups
        code = 0
        try:
            os.close(read_fd)
            import faulthandler  # noqa: PLC0415
            faulthandler.disable()  # a crash here is an expected outcome, reported by the parent
            with os.fdopen(write_fd, "w") as out:
                _child_walk(source, where, limits, out)
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "r", errors="replace") as stream:
        lines, timed_out = _read_report(stream, seconds, lambda: os.kill(pid, signal.SIGKILL))
    _, status = os.waitpid(pid, 0)
    _raise_outcome(lines, timed_out, os.WIFSIGNALED(status) and os.WTERMSIG(status) or 0, where, seconds)


def _run_spawned(source: str | IO[bytes], where: str, limits: Limits, seconds: float) -> None:
    fds: tuple[int, ...] = ()
    if isinstance(source, str):
        target = source
    else:
        fds = (source.fileno(),)
        target = f"fd:{fds[0]}"
    cmd = [sys.executable, "-m", __name__, target, where, str(limits.max_memory)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, pass_fds=fds,
                          text=True, errors="replace") as proc:
        lines, timed_out = _read_report(cast(IO[str], proc.stdout), seconds, proc.kill)
        code = proc.wait()
    _raise_outcome(lines, timed_out, -code if code < 0 else 0, where, seconds)


def _read_report(stream: IO[str], seconds: float, kill: Callable[[], None]) -> tuple[list[str], bool]:
    """Lines from the child until it closes the pipe; after ``seconds``, ``kill()`` it."""
    deadline = time.monotonic() + seconds
    buffer, fd = b"", stream.fileno()
    while True:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(left, 0.0))
        if not ready:
            kill()
            return _lines(buffer), True
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return _lines(buffer), False
        buffer += chunk


def _lines(buffer: bytes) -> list[str]:
    return buffer.decode("utf-8", errors="replace").splitlines()


def _raise_outcome(lines: list[str], timed_out: bool, signum: int, where: str, seconds: float) -> None:
    """Nothing if the child said "ok"; else the error it reported, or one for how it died."""
    steps = [line[2:] for line in lines if line.startswith("> ")]
    last = steps[-1] if steps else "the file"
    if lines and lines[-1] == "ok" and not timed_out:
        return
    report = _error_report(lines[-1]) if lines and not timed_out else None
    if report is not None:
        cls = _ERRORS.get(report["kind"])
        if cls is not None:
            raise cls(report["message"])
        raise ModelFormatError(f"{where}: cannot read the HDF5 file at {last} (corrupt or truncated file?): "
                               f"{report['message']}")
    if timed_out:
        raise ModelFormatError(f"{where}: the HDF5 library did not finish reading {last} within {seconds:g} s; "
                               f"the file is corrupt (its metadata loops) or raise {SECONDS_ENV_VAR}")
    how = f"crashed ({_signal_name(signum)})" if signum else "stopped"
    raise ModelFormatError(f"{where}: the HDF5 library {how} while reading {last}; the file is corrupt")


def _error_report(line: str) -> dict[str, str] | None:
    """The child's "error {json}" line as a dict, or None if the line is not one (cut short by a crash)."""
    if not line.startswith("error "):
        return None
    try:
        report = json.loads(line[6:])
    except ValueError:
        return None
    ok = isinstance(report, dict) and all(isinstance(report.get(k), str) for k in ("kind", "message"))
    return report if ok else None


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _main(argv: list[str]) -> int:
    """``python -m keras2edge.convert.keras.h5probe PATH|fd:N WHERE MAX_MEMORY``: the spawned child."""
    target, where, max_memory = argv
    source: str | IO[bytes] = target
    if target.startswith("fd:"):
        source = os.fdopen(int(target[3:]), "rb")
    _child_walk(source, where, Limits(max_memory=int(max_memory)), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
