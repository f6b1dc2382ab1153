"""Output files: every file keras2edge writes goes through here, so every write is safe and atomic.

``check_output(path, inputs=...)`` says whether ``path`` may be written, before any work is done;
``open_atomic(path, inputs=...)`` checks again and yields a file to stream the contents into (a
model's weights written one at a time, never gathered into one bytes object); ``write_atomic(path,
data)`` is the same for one bytes object. What a path maps to:

- ``-``: standard output (the bytes are written to it; nothing is renamed), unless it is a terminal;
- a missing file in an existing, writable folder: created, with the mode an ordinary write gives
  (``0666`` less the umask);
- an existing regular file: replaced by a complete temporary file renamed over it; its permission
  bits (and, when allowed, its owner) are kept;
- a symbolic link: followed; the regular file it points to is replaced as above and the link stays;
- refused with :class:`OutputPathError`: the same file (device and inode, so through hard and
  symbolic links) as one of the inputs (the model, the weights, the run input), a FIFO, a device,
  a socket or a folder, a read-only file (no write permission, or no write bit at all, which is
  honoured even by root), a missing or read-only folder, a symbolic-link loop.

A failure, ``KeyboardInterrupt``, ``SIGTERM`` or ``SIGHUP`` during the write removes the temporary
file and leaves the target as it was; after a signal the process then ends as the signal asks.
(``SIGKILL`` or a power cut can leave a ``.NAME.xxxxxxxx.tmp`` file, never a partial target.)
"""

from __future__ import annotations

import glob
import os
import secrets
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import BinaryIO, Union

from .errors import OutputPathError

PathLike = Union[str, "os.PathLike[str]"]
#: The output path that means standard output.
STDOUT = "-"
#: Signals whose default action (terminate) would leave a temporary file behind.
_CLEANUP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _read_only(path: str, st: os.stat_result) -> bool:
    """No write access, or no write bit for anyone (a read-only mark even root's writes honour)."""
    return not os.access(path, os.W_OK) or not st.st_mode & 0o222


def _same_file_as(st: os.stat_result, inputs: Sequence[PathLike | None]) -> str | None:
    for inp in inputs:
        if inp is None:
            continue
        try:
            ist = os.stat(inp)
        except OSError:
            continue  # a missing input is reported by whoever reads it
        if (ist.st_dev, ist.st_ino) == (st.st_dev, st.st_ino):
            return os.fspath(inp)
    return None


def check_output(path: PathLike, *, inputs: Sequence[PathLike | None] = ()) -> str:
    """Raise :class:`OutputPathError` unless ``path`` can be written safely; return the file to write.

    Args:
        path: the output path (``-`` is standard output).
        inputs: files the same run reads (model, weights, input arrays); the output must be none of them.

    Returns:
        ``path`` itself, or for a symbolic link the regular file it points to.
    """
    p = os.fspath(path)
    if p == STDOUT:
        if sys.stdout.isatty():
            raise OutputPathError("cannot write binary output to standard output: it is a terminal; "
                                  "redirect it (... -o - > out.npz) or give a file name")
        return p
    if not p:
        raise OutputPathError("the output path is empty")
    target = os.path.realpath(p) if os.path.islink(p) else p
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:  # a symlink loop (ELOOP), a file used as a folder (ENOTDIR), no access
        raise OutputPathError(f"cannot write {p!r}: {e.strerror}") from None
    if st is not None:
        via = f" (the symbolic link {p!r} points to {target!r})" if target != p else ""
        if not stat.S_ISREG(st.st_mode):
            raise OutputPathError(f"cannot write {p!r}: it is {_kind(st.st_mode)}{via}, not a regular file; "
                                  "keras2edge writes only regular files (or '-' for standard output where offered)")
        same = _same_file_as(st, inputs)
        if same is not None:
            raise OutputPathError(f"cannot write {p!r}: it is the same file as the input {same!r}{via}; "
                                  "choose another output path")
        if _read_only(target, st):
            raise OutputPathError(f"cannot write {p!r}: the file is read-only{via}; make it writable or "
                                  "choose another output path")
    folder = os.path.dirname(os.path.abspath(target))
    try:
        fst = os.stat(folder)
    except OSError:
        fst = None
    if fst is None or not stat.S_ISDIR(fst.st_mode):
        raise OutputPathError(f"cannot write {p!r}: the folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or not fst.st_mode & 0o222:
        raise OutputPathError(f"cannot write {p!r}: the folder {folder!r} is read-only")
    return target


class _Terminated(BaseException):
    """A cleanup signal arrived during a write (a BaseException, so nothing swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _signals_raise() -> Iterator[None]:
    """While writing, make SIGTERM/SIGHUP raise (where their action is the default), so the
    temporary file is removed before the process ends. Handlers can only be set in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise _Terminated(signum)

    previous = {}
    for sig in _CLEANUP_SIGNALS:
        if signal.getsignal(sig) == signal.SIG_DFL:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _temp_name(target: str, tag: str, quote: Callable[[str], str] = str) -> str:
    """``.NAME.TAG.tmp`` beside ``target``: the one naming of temporary files (NAME cut to stay
    within NAME_MAX, 255); ``quote`` escapes the path parts when the name is a glob pattern."""
    folder, base = os.path.split(os.path.abspath(target))
    return os.path.join(quote(folder), f".{quote(base[:200])}.{tag}.tmp")


def remove_leftover_temps(target: str) -> None:
    """Remove temporary files a killed writer (SIGKILL: no cleanup ran) left beside ``target``."""
    for p in glob.glob(_temp_name(target, "*", glob.escape)):
        try:
            os.unlink(p)
        except OSError:
            pass


def _open_temp(target: str, mode: int) -> tuple[int, str]:
    """A new temporary file beside ``target`` (``mode`` less the umask), never following a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    while True:
        tmp = _temp_name(target, secrets.token_hex(4))
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue


@contextmanager
def _replacing(target: str) -> Iterator[BinaryIO]:
    """A temporary file beside ``target``, renamed over it (fsynced, mode kept) if the block completes."""
    try:
        old: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        old = None
    # A replaced file keeps its permission bits: start private, widen to exactly them after the
    # write. A new file gets 0666 less the umask from the kernel, like any ordinary write.
    fd, tmp = _open_temp(target, 0o600 if old is not None else 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if old is not None:
                os.fchmod(f.fileno(), stat.S_IMODE(old.st_mode) & 0o777)
                if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                    try:
                        os.fchown(f.fileno(), old.st_uid, old.st_gid)
                    except PermissionError:
                        pass  # only root may give a file away; the new file is then the writer's
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


@contextmanager
def open_atomic(path: PathLike, *, inputs: Sequence[PathLike | None] = ()) -> Iterator[BinaryIO]:
    """Yield a binary file to write ``path``'s new contents into (``-``: standard output), piece by
    piece; the contents replace ``path`` completely when the block ends, or not at all.

    ``path`` is checked first (see :func:`check_output`; ``inputs`` as there). The pieces go to a
    temporary file beside the target, renamed over it once the block completes; if the block
    raises, the temporary file is removed and the target left as it was.

    Raises:
        OutputPathError: the path may not be written, or a write failed (e.g. the disk is full; any
            ``OSError`` inside the block is taken as one).
    """
    target = check_output(path, inputs=inputs)
    if target == STDOUT:
        try:
            yield sys.stdout.buffer
            sys.stdout.flush()
        except OSError as e:  # a closed pipe (the reader went away), a full disk behind a redirect
            raise OutputPathError(f"cannot write to standard output: {e.strerror or e}") from None
        return
    try:
        with _signals_raise(), _replacing(target) as f:
            yield f
    except _Terminated as t:
        os.kill(os.getpid(), t.signum)  # the default action again, now that the temporary file is gone
        raise SystemExit(128 + t.signum) from None
    except OSError as e:
        raise OutputPathError(f"cannot write {os.fspath(path)!r}: {e.strerror or e}") from None


def write_atomic(path: PathLike, data: bytes, *, inputs: Sequence[PathLike | None] = ()) -> None:
    """Write ``data`` to ``path`` (``-``: standard output) completely or not at all: :func:`open_atomic`
    with one write (same checks, same errors)."""
    with open_atomic(path, inputs=inputs) as f:
        f.write(data)
