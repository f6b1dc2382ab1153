"""Opening a calibration image file as hostile input: a path -> an open binary file, read from the
file itself only.

* ``follow_links=False`` (the files of an image folder): the last path component is opened with
  ``O_NOFOLLOW``, so a symbolic link put in the folder (or swapped in after the folder was listed) is
  refused instead of read from wherever it points;
* only a regular file is read (not a FIFO, a device or a folder, which could block or never end);
* a file larger than ``max_bytes`` is refused from its size (``fstat``) before anything is read.

Every refusal is a :class:`~keras2edge.errors.QuantizationError` naming the file.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from ..errors import QuantizationError


def open_image_file(path: str | os.PathLike[str], where: str, max_bytes: int,
                    follow_links: bool = True) -> BinaryIO:
    """``path`` opened for reading (see the module); ``where`` names it in errors; the caller closes it."""
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
        if Path(path).is_symlink():  # platforms without O_NOFOLLOW
            raise _link(where)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if not follow_links and e.errno in (errno.ELOOP, errno.EMLINK):
            raise _link(where) from None
        raise QuantizationError(f"{where}: cannot read it ({e.strerror or e})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise QuantizationError(f"{where}: not a regular file")
        if info.st_size > max_bytes:
            raise QuantizationError(f"{where}: {info.st_size} bytes, larger than any image read here "
                                    f"(at most {max_bytes} bytes)")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _link(where: str) -> QuantizationError:
    return QuantizationError(f"{where}: is a symbolic link; the files of an image folder are read from the folder "
                             "itself, links are not followed")


__all__ = ["open_image_file"]
