"""Atomic file output: every file keras2edge writes goes through here, so no failure leaves a partial file.

``write_atomic(path, data)`` writes one bytes object; ``open_atomic(path)`` yields a file object to
stream into (a model's weights written piece by piece, never gathered into one bytes object). Both
write a temporary file beside ``path`` and rename it over ``path`` only once it is complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path`` once complete.

    The file gets the mode an ordinary write would give it (0644), or the mode of the file it
    replaces. On any failure the temporary file is removed and ``path`` is left as it was.
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        mode = os.stat(target).st_mode & 0o777 if os.path.exists(target) else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


@contextlib.contextmanager
def open_atomic(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Yield a binary file to write ``path``'s new contents into; it replaces ``path`` when the block ends.

    Same guarantees as :func:`write_atomic`: the data goes to a temporary file beside ``path``
    (fsynced, mode 0644 or the replaced file's mode) that is renamed over ``path`` only if the
    block completes; if it raises, the temporary file is removed and ``path`` is left as it was.
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        mode = os.stat(target).st_mode & 0o777 if os.path.exists(target) else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
