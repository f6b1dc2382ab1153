"""`keras2edge prune` and `keras2edge convert --prune` with bad options and hostile calibration/eval
files (pickled object arrays, declared shapes of terabytes, NaN, wrong keys, a folder swapped in):
each gives exit 1 with one `Error:` line, no traceback, nothing unpickled, and no output file (nor a
temporary one) left behind, also when the failure comes late (while writing)."""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from keras2edge.cli import main

from .helpers import model_path, split

MLP = str(model_path("digits_mlp"))


class Boom:
    """Unpickling this would run code: the test fails if it ever is."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (pytest.fail, ("an object array was unpickled",))


def _npy_header(dtype: str, shape: tuple[int, ...]) -> bytes:
    text = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    text += b" " * (63 - (len(text) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


def _hostile(tmp_path: Path, kind: str) -> Path:
    xt, yt = split("digits_mlp", "test")
    p = tmp_path / f"{kind}.npz"
    if kind == "pickle_npy":
        p = tmp_path / "obj.npy"
        p.write_bytes(_npy_header("|O", (2,)) + pickle.dumps([Boom(), Boom()]))
    elif kind == "pickle_npz":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("image.npy", _npy_header("|O", (2,)) + pickle.dumps([Boom(), Boom()]))
        p.write_bytes(buf.getvalue())
    elif kind == "huge_npz":
        with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("image.npy", _npy_header("<f4", (1 << 40, 64)) + bytes(4096))
    elif kind == "huge_npy":
        p = tmp_path / "huge.npy"
        p.write_bytes(_npy_header("<f4", (1 << 20, 1 << 20)) + bytes(64))
    elif kind == "nan":
        x = xt.copy()
        x[3, 5] = np.nan
        np.savez(p, image=x, labels=yt)
    elif kind == "wrong_key":
        np.savez(p, nope=xt, labels=yt)
    elif kind == "truncated":
        np.savez(p, image=xt, labels=yt)
        p.write_bytes(p.read_bytes()[:300])
    elif kind == "not_numpy":
        p.write_bytes(b"PK\x03\x04 nothing")
    elif kind == "labels_obj":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("image.npy", _npy_bytes(xt))
            z.writestr("labels.npy", _npy_header("|O", (2,)) + pickle.dumps([Boom(), Boom()]))
        p.write_bytes(buf.getvalue())
    return p


def _npy_bytes(x: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, x)
    return b.getvalue()


def _fails(tmp_path: Path, args: list[str], *words: str) -> str:
    before = set(os.listdir(tmp_path))
    res = CliRunner().invoke(main, args)
    out = res.output.strip()
    assert res.exit_code == 1, (res.exit_code, res.output)
    assert len(out.splitlines()) == 1 and out.startswith("Error: "), res.output
    assert "Traceback" not in out and "internal error" not in out, out
    for w in words:
        assert w in out, out
    assert set(os.listdir(tmp_path)) == before, set(os.listdir(tmp_path)) - before
    return out


CASES = ["pickle_npy", "pickle_npz", "huge_npz", "huge_npy", "nan", "wrong_key", "truncated", "not_numpy"]


@pytest.mark.parametrize("kind", CASES)
def test_hostile_calibration(tmp_path: Path, kind: str) -> None:
    bad = _hostile(tmp_path, kind)
    _fails(tmp_path, ["prune", MLP, "-o", str(tmp_path / "p.tflite"), "--calibration", str(bad)], bad.name)


@pytest.mark.parametrize("kind", [k for k in CASES if k != "wrong_key"] + ["labels_obj"])
def test_hostile_eval_convert_prune_int8(tmp_path: Path, kind: str) -> None:
    bad = _hostile(tmp_path, kind)
    np.save(tmp_path / "calib.npy", split("digits_mlp", "calib")[0])
    _fails(tmp_path, ["convert", MLP, "--prune", "--quantize", "int8", "--calibration", str(tmp_path / "calib.npy"),
                      "--eval", str(bad), "-o", str(tmp_path / "q.tflite")], bad.name)


@pytest.mark.parametrize("kind", ["pickle_npz", "huge_npz", "nan"])
def test_hostile_calibration_keras_output(tmp_path: Path, kind: str) -> None:
    bad = _hostile(tmp_path, kind)
    _fails(tmp_path, ["prune", MLP, "-o", str(tmp_path / "p.keras"), "--calibration", str(bad)], bad.name)


@pytest.mark.parametrize("args,word", [
    (["--sparsity", "nan"], "sparsity"), (["--sparsity", "inf"], "sparsity"), (["--sparsity", "1"], "sparsity"),
    (["--sparsity", "-0.1"], "sparsity"), (["--method", "../../etc"], "method"), (["--method", "nm", "--n", "5"], "N"),
    (["--method", "nm", "--n", "0"], "n"), (["--method", "nm", "--m", "-4"], "m"), (["--schedule", "bogus"], "schedule"),
    (["--quantize", "int3"], "int3"), (["--eval", "/nonexistent/e.npz"], "e.npz"), (["--quantize", "int8"], "calibration"), (["--batch-size", "0"], "batch"),
])
def test_bad_options(tmp_path: Path, args: list[str], word: str) -> None:
    for cmd in (["prune", MLP, "-o", str(tmp_path / "p.tflite")],
                ["convert", MLP, "--prune", "-o", str(tmp_path / "c.tflite")]):
        res = CliRunner().invoke(main, cmd + args)
        assert res.exit_code in (1, 2), res.output
        assert "Traceback" not in res.output and "internal error" not in res.output, res.output
        assert word.lower() in res.output.lower(), res.output
        assert os.listdir(tmp_path) == [], os.listdir(tmp_path)


def test_late_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while the output is being written leaves no output and no temporary file."""
    from keras2edge import fileio

    real = fileio.os.replace

    def fail(*a: object, **k: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "replace", fail)
    for out in ("p.tflite", "p.keras", "p.h5"):
        _fails(tmp_path, ["prune", MLP, "-o", str(tmp_path / out)])
    monkeypatch.setattr(fileio.os, "replace", real)


def test_symlink_in_array_folder_refused(tmp_path: Path) -> None:
    """A calibration folder of .npy files with a link to a file outside it: refused, not followed."""
    outside = tmp_path / "outside.npy"
    np.save(outside, split("digits_mlp", "calib")[0])
    folder = tmp_path / "calib"
    folder.mkdir()
    np.save(folder / "a.npy", split("digits_mlp", "calib")[0][:4])
    (folder / "b.npy").symlink_to(outside)
    _fails(tmp_path, ["prune", MLP, "-o", str(tmp_path / "p.tflite"), "--calibration", str(folder)],
           "'b.npy' is a symbolic link")
    _fails(tmp_path, ["quantize", MLP, "-o", str(tmp_path / "q.tflite"), "--calibration", str(folder)],
           "'b.npy' is a symbolic link")
