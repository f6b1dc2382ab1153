"""open_atomic: the streamed file replaces the target only when complete; a failure leaves no trace."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from keras2edge.fileio import open_atomic


def test_open_atomic_writes_and_renames(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    with open_atomic(path) as f:
        f.write(b"abc")
        f.write(memoryview(b"def"))
        assert not path.exists()   # nothing at the target until the block completes
    assert path.read_bytes() == b"abcdef"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(tmp_path) == ["out.bin"]


def test_open_atomic_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    os.chmod(path, 0o600)
    with open_atomic(path) as f:
        f.write(b"new")
    assert path.read_bytes() == b"new" and stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_failure_inside_the_block_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="boom"), open_atomic(path) as f:
        f.write(b"partial")
        raise RuntimeError("boom")
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["out.bin"]
