"""Output paths are written, never written through (issue 6, item 4).

Each hostile target is built at test time in its own folder (the CLI runs there, so socket paths
stay short). For every refusal: exit 1 with one ``Error:`` line naming the cause, the target and
the inputs unchanged, nothing else left in the folder. Then what is allowed: a replaced file keeps
its mode, a new file honours the umask, a symbolic link is followed (the link stays), ``run -o -``
writes the .npz to stdout, and a signal mid-write leaves no temporary file.
"""

from __future__ import annotations

import functools
import io
import os
import pty
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import keras2edge as k2e
from keras2edge.cli import main
from keras2edge.fileio import check_output, write_atomic

from ..corpus import FIXTURES, REPO
from .harness import assert_clean_api_failure, assert_clean_cli_failure, assert_no_leftovers, run_api, run_cli
from .inprocess import run_cli_here

EXAMPLE = REPO / "examples" / "tiny_cnn.keras"
EXAMPLE_INPUT = REPO / "examples" / "tiny_cnn_input.npy"


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes | str]]:
    """Every entry of ``folder``: (mode, bytes of a regular file or the target of a link)."""
    out: dict[str, tuple[int, bytes | str]] = {}
    for p in folder.iterdir():
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            out[p.name] = (st.st_mode, os.readlink(p))
        elif stat.S_ISREG(st.st_mode):
            out[p.name] = (st.st_mode, p.read_bytes())
        else:
            out[p.name] = (st.st_mode, b"")
    return out


# Each builder makes the hostile target in ``d`` and returns (CLI args, the cause the error must name).
Case = Callable[[Path], tuple[list[str], str]]


def _fifo(d: Path) -> tuple[list[str], str]:
    os.mkfifo(d / "out.onnx")
    return ["convert", str(EXAMPLE), "-o", "out.onnx"], r"'out.onnx'.*a FIFO"


def _device(d: Path) -> tuple[list[str], str]:
    (d / "out.onnx").symlink_to("/dev/null")  # replacing it would replace /dev/null itself
    return ["convert", str(EXAMPLE), "-o", "out.onnx"], r"'out.onnx'.*a character device.*'/dev/null'"


def _socket(d: Path) -> tuple[list[str], str]:
    s = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    os.chdir(d)  # bind a short relative path: AF_UNIX paths are limited to about 100 bytes
    try:
        s.bind("out.tflite")
    finally:
        os.chdir(cwd)
        s.close()
    return ["convert", str(EXAMPLE), "-o", "out.tflite"], r"'out.tflite'.*a socket"


def _folder(d: Path) -> tuple[list[str], str]:
    (d / "out.onnx").mkdir()
    return ["convert", str(EXAMPLE), "-o", "out.onnx"], r"'out.onnx'.*a folder"


def _link_loop(d: Path) -> tuple[list[str], str]:
    (d / "a.onnx").symlink_to("b.onnx")
    (d / "b.onnx").symlink_to("a.onnx")
    return ["convert", str(EXAMPLE), "-o", "a.onnx"], r"'a.onnx'.*symbolic links"


def _read_only_file(d: Path) -> tuple[list[str], str]:
    (d / "out.onnx").write_bytes(b"keep me")
    (d / "out.onnx").chmod(0o444)
    return ["convert", str(EXAMPLE), "-o", "out.onnx"], r"'out.onnx'.*read-only"


def _read_only_folder(d: Path) -> tuple[list[str], str]:
    (d / "ro").mkdir()
    (d / "ro").chmod(0o555)
    return ["convert", str(EXAMPLE), "-o", "ro/out.onnx"], r"folder '.*/ro' is read-only"


def _missing_folder(d: Path) -> tuple[list[str], str]:
    return ["convert", str(EXAMPLE), "-o", "nowhere/out.onnx"], r"folder '.*/nowhere' does not exist"


def _model_is_output(d: Path) -> tuple[list[str], str]:
    shutil.copy(EXAMPLE, d / "m.onnx")  # a Keras archive under an output name (files are sniffed)
    return ["convert", "m.onnx", "-o", "m.onnx"], r"'m.onnx'.*same file as the input 'm.onnx'"


def _model_hard_link(d: Path) -> tuple[list[str], str]:
    shutil.copy(EXAMPLE, d / "m.keras")
    os.link(d / "m.keras", d / "out.tflite")
    return ["convert", "m.keras", "-o", "out.tflite"], r"'out.tflite'.*same file as the input 'm.keras'"


def _model_symlink(d: Path) -> tuple[list[str], str]:
    shutil.copy(EXAMPLE, d / "m.keras")
    (d / "out.onnx").symlink_to("m.keras")
    return ["convert", "m.keras", "-o", "out.onnx"], r"same file as the input 'm.keras'.*symbolic link 'out.onnx'"


def _weights_is_output(d: Path) -> tuple[list[str], str]:
    shutil.copy(FIXTURES / "k2" / "cnn2d.json", d / "arch.json")
    shutil.copy(FIXTURES / "k2" / "cnn2d_weights.h5", d / "w.h5")
    os.link(d / "w.h5", d / "w.onnx")
    return ["convert", "arch.json", "--weights", "w.h5", "-o", "w.onnx"], r"same file as the input 'w.h5'"


@functools.lru_cache(maxsize=1)
def _tflite_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as d:
        k2e.convert_model(EXAMPLE, Path(d) / "m.tflite")
        return (Path(d) / "m.tflite").read_bytes()


def _tflite_model(d: Path) -> None:
    """The example as m.tflite, and its input as x.npy, in ``d``."""
    (d / "m.tflite").write_bytes(_tflite_bytes())
    shutil.copy(EXAMPLE_INPUT, d / "x.npy")


def _run_input_is_output(d: Path) -> tuple[list[str], str]:
    _tflite_model(d)
    return ["run", "m.tflite", "--input", "x.npy", "-o", "x.npy"], r"'x.npy'.*same file as the input 'x.npy'"


def _run_model_is_output(d: Path) -> tuple[list[str], str]:
    _tflite_model(d)
    return ["run", "m.tflite", "--input", "x.npy", "-o", "m.tflite"], r"same file as the input 'm.tflite'"


def _run_fifo(d: Path) -> tuple[list[str], str]:
    _tflite_model(d)
    os.mkfifo(d / "out.npz")
    return ["run", "m.tflite", "--input", "x.npy", "-o", "out.npz"], r"'out.npz'.*a FIFO"


CASES: dict[str, Case] = {f.__name__.lstrip("_"): f for f in (
    _fifo, _device, _socket, _folder, _link_loop, _read_only_file, _read_only_folder, _missing_folder,
    _model_is_output, _model_hard_link, _model_symlink, _weights_is_output, _run_input_is_output,
    _run_model_is_output, _run_fifo)}
CHILD_CASES = {"fifo", "device", "socket", "run_fifo"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_cli_refuses_the_output(case: str, tmp_path: Path) -> None:
    args, cause = CASES[case](tmp_path)
    before = _snapshot(tmp_path)
    # A target that could block (FIFO, device, socket) is tried in a child, which has a timeout.
    out = run_cli(args, cwd=str(tmp_path)) if case in CHILD_CASES else run_cli_here(args, cwd=tmp_path)
    assert_clean_cli_failure(out, r"^Error: cannot write .*" + cause)
    assert len(out.stderr.strip().splitlines()) == 1
    assert _snapshot(tmp_path) == before  # the target, the inputs and nothing new
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_api_refuses_before_reading_the_model(tmp_path: Path) -> None:
    """convert_model checks the output first: a missing model is not even opened."""
    out = run_api(f"k2e.convert_model({str(tmp_path / 'missing.h5')!r}, {str(tmp_path / 'no' / 'm.onnx')!r})")
    assert_clean_api_failure(out, "OutputPathError", r"folder '.*/no' does not exist")
    os.mkfifo(tmp_path / "m.tflite")
    with pytest.raises(k2e.OutputPathError, match="a FIFO"):
        k2e.save(k2e.load(EXAMPLE), tmp_path / "m.tflite")
    assert_no_leftovers(tmp_path, {"m.tflite"})


def test_output_checked_again_at_write_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The output becomes a hard link to the model while it is read: the write is still refused."""
    model = tmp_path / "m.keras"
    shutil.copy(EXAMPLE, model)
    out = tmp_path / "m.tflite"
    real_load = k2e.api.load

    def load_then_link(*args: object, **kwargs: object) -> k2e.Graph:
        graph = real_load(*args, **kwargs)  # type: ignore[arg-type]
        os.link(model, out)
        return graph

    monkeypatch.setattr(k2e.api, "load", load_then_link)
    with pytest.raises(k2e.OutputPathError, match=r"same file as the input '.*m.keras'"):
        k2e.convert_model(model, out)
    assert model.read_bytes() == EXAMPLE.read_bytes()
    assert_no_leftovers(tmp_path, {"m.keras", "m.tflite"})


def test_write_failure_is_an_output_path_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing write (here: the rename) is an OutputPathError; the old file stays, no temp file."""
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")

    def no_space(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(k2e.OutputPathError, match=r"cannot write .*m.onnx.*No space left on device"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert_no_leftovers(tmp_path, {"m.onnx"})


# ------------------------------------------------------------------------------ what is allowed


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o755])
def test_replaced_file_keeps_its_mode(mode: int, tmp_path: Path) -> None:
    target = tmp_path / "m.tflite"
    target.write_bytes(b"old")
    target.chmod(mode)
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert_no_leftovers(tmp_path, {"m.tflite"})


def test_longest_file_name_is_writable(tmp_path: Path) -> None:
    """A 255-byte name (NAME_MAX) is written: the temporary name beside it must fit too."""
    target = tmp_path / ("m" * 250 + ".onnx")
    write_atomic(target, b"data")
    assert target.read_bytes() == b"data"
    assert_no_leftovers(tmp_path, {target.name})


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o027])
def test_new_file_honours_the_umask(umask: int, tmp_path: Path) -> None:
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "m.onnx", b"data")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.onnx").stat().st_mode) == 0o666 & ~umask


def test_symlink_is_followed_and_kept(tmp_path: Path) -> None:
    """A link to a regular file: the file it points to is replaced atomically, the link stays a link."""
    real = tmp_path / "models" / "m.onnx"
    real.parent.mkdir()
    real.write_bytes(b"old")
    real.chmod(0o640)
    link = tmp_path / "latest.onnx"
    link.symlink_to(real)
    assert check_output(link) == str(real)
    res = CliRunner().invoke(main, ["convert", str(EXAMPLE), "-o", str(link)])
    assert res.exit_code == 0, res.output
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes()[:2] != b"ol" and stat.S_IMODE(real.stat().st_mode) == 0o640
    assert_no_leftovers(real.parent, {"m.onnx"})


def test_run_writes_npz_to_stdout(tmp_path: Path) -> None:
    """`run -o -`: stdout is the .npz alone (the summary goes to stderr), nothing written to disk."""
    _tflite_model(tmp_path)
    res = CliRunner().invoke(main, ["run", str(tmp_path / "m.tflite"), "--input", str(tmp_path / "x.npy"),
                                    "-o", "-"])
    assert res.exit_code == 0, res.output
    with np.load(io.BytesIO(res.stdout_bytes), allow_pickle=False) as z:
        assert z.files == ["probs"] and z["probs"].shape == (1, 10)
    assert "probs: float32 (1, 10)" in res.stderr
    assert_no_leftovers(tmp_path, {"m.tflite", "x.npy"})


def test_run_stdout_refused_on_a_terminal_and_a_closed_pipe(tmp_path: Path) -> None:
    """`-o -` never dumps binary on a terminal; a reader that went away is a clean error, not a traceback."""
    _tflite_model(tmp_path)
    args = [sys.executable, "-m", "keras2edge.cli", "run", "m.tflite", "--input", "x.npy", "-o", "-"]
    master, slave = pty.openpty()
    try:
        tty = subprocess.run(args, stdout=slave, stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=120)
    finally:
        os.close(slave)
        os.close(master)
    assert tty.returncode == 1
    assert tty.stderr == ("Error: cannot write binary output to standard output: it is a terminal; "
                          "redirect it (... -o - > out.npz) or give a file name\n")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the child has even started: its one write to stdout finds no reader
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 1
    assert err.splitlines()[-1] == "Error: cannot write to standard output: Broken pipe" and "Traceback" not in err
    assert_no_leftovers(tmp_path, {"m.tflite", "x.npy"})


# ------------------------------------------------------------------------------ signals mid-write

_PAUSED_WRITE = """
import os, sys, time
real_fsync = os.fsync
def paused_fsync(fd):  # the temporary file is complete but not yet renamed: stop here
    real_fsync(fd)
    print("writing", flush=True)
    time.sleep(60)
os.fsync = paused_fsync
from keras2edge.fileio import write_atomic
write_atomic(sys.argv[1], bytes(1 << 20))
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_mid_write_leaves_no_temp_file(sig: signal.Signals, tmp_path: Path) -> None:
    """The child pauses inside the write (a patched fsync, so no timing): the temporary file exists;
    on the signal it is removed, the old output stays, and SIGTERM/SIGHUP still end the process as
    the signal (the handler is installed only around the write, and re-raises the signal after)."""
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous")
    proc = subprocess.Popen([sys.executable, "-c", _PAUSED_WRITE, str(target)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.strip() == "writing", (line, proc.stderr.read() if proc.stderr else "")
        assert len(os.listdir(tmp_path)) == 2  # the target and the temporary file
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -sig  # Python ends an uncaught KeyboardInterrupt by SIGINT too
    assert target.read_bytes() == b"previous"
    assert_no_leftovers(tmp_path, {"m.onnx"})
