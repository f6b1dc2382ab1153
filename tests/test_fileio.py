"""open_atomic: the streamed file replaces the target only when complete; a failure leaves no trace;
the output-path checks run before the block (write_atomic, one write through it, is tested in
tests/hostile/test_output_paths.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from keras2edge.errors import OutputPathError
from keras2edge.fileio import open_atomic


def test_open_atomic_writes_and_renames(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    with open_atomic(path) as f:
        f.write(b"abc")
        f.write(memoryview(b"def"))
        assert not path.exists()   # nothing at the target until the block completes
    assert path.read_bytes() == b"abcdef"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask
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


def test_the_output_is_checked_before_the_block_runs(tmp_path: Path) -> None:
    model = tmp_path / "m.h5"
    model.write_bytes(b"model")
    ran = []
    with pytest.raises(OutputPathError, match="same file as the input"), open_atomic(model, inputs=[model]) as f:
        ran.append(f)
    assert ran == [] and model.read_bytes() == b"model"


def test_a_failed_write_inside_the_block_is_an_output_path_error(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    with pytest.raises(OutputPathError, match=r"out\.bin.*No space left"), open_atomic(path):
        raise OSError(28, "No space left on device")
    assert os.listdir(tmp_path) == []
