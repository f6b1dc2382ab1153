"""Values a user passes on the command line or to the API are checked, never "internal errors"
(issue 6, item 5): input shapes, the ONNX opset, and the arrays given to ``run --input``.

Every hostile input file is built at test time, small, in ``tmp_path``; each case asserts the exact
error class (API) or exit 1 with one line naming the cause (CLI), and no output left. Cases about
memory (arrays declared larger than their file, a zip bomb) run in a child with an address-space
limit and a peak-RSS bound; the rest run the CLI in-process (``inprocess.run_cli_here``).
"""

from __future__ import annotations

import functools
import io
import random
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import keras2edge as k2e
from keras2edge.npyio import load_inputs

from ..corpus import REPO
from .harness import assert_clean_api_failure, assert_clean_cli_failure, assert_no_leftovers, run_api, run_cli
from .inprocess import run_cli_here

EXAMPLE = REPO / "examples" / "tiny_cnn.keras"  # one input 'image' of shape (?, 28, 28, 1)

# ------------------------------------------------------------------------------ input shapes


@pytest.mark.parametrize("dims, cause", [
    ("-5,28,28,1", r"dim -5 is out of range"),
    ("0,28,28,1", r"dim 0 is out of range"),
    (f"{2**31},28,28,1", r"dim 2147483648 is out of range"),
])
def test_cli_input_shape_dims_out_of_range(dims: str, cause: str, tmp_path: Path) -> None:
    out = run_cli_here(["convert", str(EXAMPLE), "-o", str(tmp_path / "m.onnx"), "--input-shape", f"image:{dims}"])
    assert_clean_cli_failure(out, r"input shape of 'image'.*" + cause + r".*positive integer up to 2147483647")
    assert_no_leftovers(tmp_path)


def test_cli_input_shape_not_an_integer_is_a_usage_error(tmp_path: Path) -> None:
    """28.5 cannot be parsed as a dim: a usage error (exit 2) that names the option and the value."""
    out = run_cli_here(["convert", str(EXAMPLE), "-o", str(tmp_path / "m.onnx"), "--input-shape",
                        "image:28.5,28,28,1"])
    assert out.returncode == 2 and "Traceback" not in out.text
    assert "--input-shape" in out.stderr and "28.5" in out.stderr and "integer dims" in out.stderr
    assert_no_leftovers(tmp_path)


@pytest.mark.parametrize("shapes, cause", [
    ({"image": (-5, 28, 28, 1)}, r"dim -5 is out of range"),
    ({"image": (2**31, 28, 28, 1)}, r"dim 2147483648 is out of range"),
    ({"image": (28.5, 28, 28, 1)}, r"28.5 is not an integer"),
    ({"image": (True, 28, 28, 1)}, r"True is not an integer"),
    ({"image": "1,28,28,1"}, r"is not a sequence of dims"),
    ({"image": ()}, r"is empty"),
    ({3: (1, 28, 28, 1)}, r"the key 3 is not an input name"),
    ([("image", (1, 28, 28, 1))], r"must map input names to shapes.*got list"),
])
def test_api_input_shapes(shapes: object, cause: str) -> None:
    with pytest.raises(k2e.OptionError, match=cause):
        k2e.load(EXAMPLE, input_shapes=shapes)  # type: ignore[arg-type]


def test_api_input_shapes_in_a_child() -> None:
    out = run_api(f"k2e.inspect({str(EXAMPLE)!r}, input_shapes={{'image': (-5, 28, 28, 1)}})")
    assert_clean_api_failure(out, "OptionError", r"'image'.*dim -5 is out of range")


def test_api_input_shapes_accept_numpy_ints_and_none() -> None:
    g = k2e.load(EXAMPLE, input_shapes={"image": (np.int64(2), np.int32(28), 28, 1)})
    assert list(g.inputs[0].shape) == [2, 28, 28, 1]
    g = k2e.load(EXAMPLE, input_shapes={"*": [None, 28, 28, 1]})
    assert list(g.inputs[0].shape) == [None, 28, 28, 1]


# ------------------------------------------------------------------------------ opset


def test_cli_opset_out_of_range(tmp_path: Path) -> None:
    out = run_cli_here(["convert", str(EXAMPLE), "-o", str(tmp_path / "m.onnx"), "--opset", "99"])
    assert_clean_cli_failure(out, r"ONNX opset 99 is not supported; use 13\.\.24")
    assert_no_leftovers(tmp_path)


@pytest.mark.parametrize("opset", [7, 99, "21", 21.0, True])
def test_api_opset_checked_before_the_model_is_read(opset: object, tmp_path: Path) -> None:
    with pytest.raises(k2e.OptionError, match=r"ONNX opset .* is not supported; use 13\.\.24"):
        k2e.convert_model(tmp_path / "missing.h5", tmp_path / "m.onnx", opset=opset)  # type: ignore[arg-type]
    assert_no_leftovers(tmp_path)


# ------------------------------------------------------------------------------ run --input files


@functools.lru_cache(maxsize=1)
def _tflite_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as d:
        k2e.convert_model(EXAMPLE, Path(d) / "m.tflite")
        return (Path(d) / "m.tflite").read_bytes()


def _npy(header: dict[str, object], data: bytes) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + data


def _npz(members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": wanted here
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def _saved(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


F4 = {"descr": "<f4", "fortran_order": False}
GOOD = _saved(np.zeros((1, 28, 28, 1), np.float32))

# name -> (file name, bytes, error class, cause); every one is refused before anything is run.
INPUT_CASES: dict[str, tuple[str, Callable[[], bytes], str, str]] = {
    "pickled_npy": ("x.npy", lambda: _saved(np.array([1, "a", None], dtype=object)), "UnsafeContentError",
                    r"x.npy': holds Python objects .* never unpickled"),
    "object_in_npz": ("x.npz", lambda: _npz([("image.npy", _saved(np.array([None], dtype=object)))]),
                      "UnsafeContentError", r"array 'image': holds Python objects"),
    "not_numpy": ("x.npy", lambda: b"hello, world", "ModelFormatError", r"not an .npy array nor an .npz"),
    "bad_header": ("x.npy", lambda: b"\x93NUMPY\x01\x00\x10\x00{'descr': os.system", "ModelFormatError",
                   r"truncated|not a Python literal"),
    "header_code": ("x.npy", lambda: _npy({"descr": "<f4", "fortran_order": False, "shape": (1,)}, b"")
                    .replace(b"(1,)", b"[1] "), "ModelFormatError", r"shape \[1\] is not a tuple"),
    "negative_dim": ("x.npy", lambda: _npy({**F4, "shape": (-1, 28)}, b""), "ModelFormatError",
                     r"not a tuple of non-negative integers"),
    "truncated": ("x.npy", lambda: _npy({**F4, "shape": (1, 28, 28, 1)}, bytes(100)), "ModelFormatError",
                  r"truncated: the header declares float32 \[1, 28, 28, 1\] \(3136 bytes\)"),
    "trailing_data": ("x.npy", lambda: GOOD + b"more", "ModelFormatError", r"more data follows"),
    "declares_3gb": ("x.npy", lambda: _npy({**F4, "shape": (1000, 1000, 800)}, bytes(64)),
                     "ModelFormatError", r"declares float32 \[1000, 1000, 800\] \(3200000000 bytes\) but the file"),
    "declares_16tb": ("x.npy", lambda: _npy({**F4, "shape": (2**21, 2**21)}, b""), "LimitExceededError",
                      r"x.npy' declares 16.0 TiB .* more than the memory limit"),
    "npz_member_lies": ("x.npz", lambda: _npz([("image.npy", _npy({**F4, "shape": (1000, 1000, 800)}, bytes(4096)))],
                                              zipfile.ZIP_DEFLATED),
                        "ModelFormatError", r"array 'image': truncated"),
    "npz_duplicate": ("x.npz", lambda: _npz([("image.npy", GOOD), ("image.npy", GOOD)]), "ModelFormatError",
                      r"the array 'image' appears twice"),
    "npz_not_npy_member": ("x.npz", lambda: _npz([("../image", GOOD)]), "ModelFormatError",
                           r"member '../image' is not an array NAME.npy"),
    "npz_broken": ("x.npz", lambda: _npz([("image.npy", GOOD)])[:-30], "ModelFormatError",
                   r"not an .npy array nor an .npz|broken .npz"),
    "wrong_name": ("x.npz", lambda: _npz([("label.npy", GOOD)]), "RuntimeModelError",
                   r"unknown input name\(s\) \['label'\]; the model's inputs are \['image'\]"),
    "wrong_shape": ("x.npy", lambda: _saved(np.zeros((1, 27, 28, 1), np.float32)), "RuntimeModelError",
                    r"input 'image' expects shape \[any, 28, 28, 1\], got \[1, 27, 28, 1\]"),
    "wrong_dtype": ("x.npy", lambda: _saved(np.zeros((1, 28, 28, 1), np.complex64)), "RuntimeModelError",
                    r"input 'image' expects float32, got complex64"),
    "strings": ("x.npy", lambda: _saved(np.array(["a"])), "RuntimeModelError", r"input 'image' expects float32"),
}
#: Cases that would allocate what the file declares if the header were trusted: run in a child.
MEMORY_CASES = {"declares_3gb", "declares_16tb", "npz_member_lies"}


@pytest.mark.parametrize("case", sorted(INPUT_CASES))
def test_run_input_file(case: str, tmp_path: Path) -> None:
    name, build, cls, cause = INPUT_CASES[case]
    (tmp_path / "m.tflite").write_bytes(_tflite_bytes())
    (tmp_path / name).write_bytes(build())
    args = ["run", "m.tflite", "--input", name, "-o", "out.npz"]
    out = run_cli(args, cwd=str(tmp_path)) if case in MEMORY_CASES else run_cli_here(args, cwd=tmp_path)
    assert_clean_cli_failure(out, cause)
    assert_no_leftovers(tmp_path, {"m.tflite", name})
    if cls != "RuntimeModelError":  # the file itself is refused: the same through the API
        with pytest.raises(getattr(k2e, cls), match=cause):
            load_inputs(tmp_path / name)


def test_run_input_limit_applies_to_a_zip_bomb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 50 KB .npz whose member inflates to 50 MB, truthfully declared: K2E_MAX_MEMORY refuses it
    from the header, before anything is inflated."""
    member = _npy({**F4, "shape": (50, 1000, 250)}, bytes(50_000_000))
    (tmp_path / "x.npz").write_bytes(_npz([("image.npy", member)], zipfile.ZIP_DEFLATED))
    del member
    assert (tmp_path / "x.npz").stat().st_size < 100_000
    (tmp_path / "m.tflite").write_bytes(_tflite_bytes())
    monkeypatch.setenv("K2E_MAX_MEMORY", "16M")
    out = run_cli(["run", "m.tflite", "--input", "x.npz"], cwd=str(tmp_path))
    assert_clean_cli_failure(out, r"'x.npz': array 'image' declares 47.7 MiB .* memory limit of 16.0 MiB",
                             rss_bound=200 << 20)


def test_run_reads_good_files_exactly(tmp_path: Path) -> None:
    """The reader agrees with np.load on what np.save/np.savez/np.savez_compressed write."""
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    f = np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "f.npy", f)
    np.savez(tmp_path / "s.npz", a=a, f=f, empty=np.zeros((0, 3), np.uint8))
    np.savez_compressed(tmp_path / "c.npz", a=a)
    np.testing.assert_array_equal(load_inputs(tmp_path / "a.npy"), a)
    np.testing.assert_array_equal(load_inputs(tmp_path / "f.npy"), f)
    got = load_inputs(tmp_path / "s.npz")
    assert isinstance(got, dict) and sorted(got) == ["a", "empty", "f"]
    np.testing.assert_array_equal(got["f"], f)
    assert got["empty"].shape == (0, 3) and got["empty"].dtype == np.uint8
    np.testing.assert_array_equal(load_inputs(tmp_path / "c.npz")["a"], a)  # type: ignore[index]
    for other in (a.astype(">f4"), np.array(["2020-01-01"], "datetime64[D]"), np.array([1 + 2j]),
                  np.zeros(3, [("i", "<i4"), ("f", "<f8")]), np.array([b"ab"])):
        np.save(tmp_path / "o.npy", other)
        got_o = load_inputs(tmp_path / "o.npy")
        assert isinstance(got_o, np.ndarray) and got_o.dtype == other.dtype
        np.testing.assert_array_equal(got_o, other)


def test_run_and_inspect_name_the_model_file(tmp_path: Path) -> None:
    """A runtime error says what is wrong inside the bytes; the CLI line also names the file."""
    (tmp_path / "m.tflite").write_bytes(EXAMPLE.read_bytes())  # a Keras archive, not a flatbuffer
    (tmp_path / "x.npy").write_bytes(GOOD)
    out = run_cli_here(["run", "m.tflite", "--input", "x.npy", "-o", "out.npz"], cwd=tmp_path)
    assert_clean_cli_failure(out, r"^Error: 'm.tflite': .*not a .tflite flatbuffer")
    (tmp_path / "t.tflite").write_bytes(_tflite_bytes()[:1000])
    out = run_cli_here(["inspect", "t.tflite"], cwd=tmp_path)
    assert_clean_cli_failure(out, r"^Error: 't.tflite': .*past the end of the 1000-byte buffer")
    assert_no_leftovers(tmp_path, {"m.tflite", "x.npy", "t.tflite"})


@pytest.mark.filterwarnings("error")
def test_run_input_reader_fuzz() -> None:
    """Seeded byte mutations of .npy / .npz / compressed .npz files: every outcome is arrays or a
    Keras2EdgeError, with no warning (longer runs found the zlib, encrypted-member and member-name
    cases this reader now refuses)."""
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    seeds = [_saved(a)]
    for save in (np.savez, np.savez_compressed):
        buf = io.BytesIO()
        save(buf, x=a, y=a[:1].astype(np.int8))
        seeds.append(buf.getvalue())
    rng = random.Random(6)
    outcomes = {"arrays": 0, "refused": 0}
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.bin"
        for _ in range(1000):
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(len(data))
                kind = rng.random()
                if kind < 0.6:
                    data[pos] = rng.randrange(256)
                elif kind < 0.8:
                    del data[pos:pos + rng.randint(1, 16)]
                else:
                    data[pos:pos] = rng.randbytes(rng.randint(1, 8))
            path.write_bytes(data)
            try:
                load_inputs(path)
                outcomes["arrays"] += 1
            except k2e.Keras2EdgeError:
                outcomes["refused"] += 1
    assert outcomes["arrays"] > 30 and outcomes["refused"] > 300, outcomes  # both kinds of outcome were met
