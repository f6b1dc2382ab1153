"""Calibration data: every source kind gives back exactly the samples it holds, in order, in batches;
every refusal names the file or batch, the input, and both shapes or what is wrong; a 200 MB .npy and
.npz stream through with a bounded peak RSS (measured with getrusage in a subprocess)."""

from __future__ import annotations

import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from keras2edge.errors import QuantizationError
from keras2edge.quantize.data import WARN_BELOW, CalibrationData, calibration_batches
from keras2edge.runtime.limits import Limits

from ..corpus import REPO

X = ("x", (None, 4, 3))
RNG = np.random.default_rng(7)
DATA = RNG.standard_normal((100, 4, 3)).astype(np.float32)
TWO = [("image", (None, 2, 2, 1)), ("meta", (-1, 5))]


def _all(data: CalibrationData) -> dict[str, np.ndarray]:
    batches = list(data)
    assert all(b[n].dtype == np.float32 for b in batches for n in b)
    return {n: np.concatenate([b[n] for b in batches]) for n in batches[0]}


def _sizes(data: CalibrationData) -> list[int]:
    return [len(next(iter(b.values()))) for b in data]


# ---- every source kind --------------------------------------------------------------------------------

def test_array_source_batches_and_count() -> None:
    data = CalibrationData(DATA, [X], 32)
    assert data.count == 100 and _sizes(data) == [32, 32, 32, 4]
    np.testing.assert_array_equal(_all(data)["x"], DATA)
    assert _sizes(data) == [32, 32, 32, 4]  # iterable again


def test_npy_file(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", DATA)
    data = CalibrationData(tmp_path / "x.npy", [X], 30)
    assert data.count == 100 and _sizes(data) == [30, 30, 30, 10]
    np.testing.assert_array_equal(_all(data)["x"], DATA)


def test_npy_file_fortran_order_and_integer_dtypes(tmp_path: Path) -> None:
    ints = RNG.integers(-128, 128, (10, 4, 3)).astype(np.int8)
    np.save(tmp_path / "i.npy", ints)
    np.save(tmp_path / "f.npy", np.asfortranarray(DATA[:10].astype(np.float64)))
    np.testing.assert_array_equal(_all(CalibrationData(tmp_path / "i.npy", [X], 3))["x"], ints.astype(np.float32))
    np.testing.assert_array_equal(_all(CalibrationData(tmp_path / "f.npy", [X], 3))["x"], DATA[:10])


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_keyed_by_input_names(tmp_path: Path, save) -> None:  # noqa: ANN001
    image = RNG.standard_normal((9, 2, 2, 1))
    meta = RNG.integers(0, 9, (9, 5)).astype(np.uint8)
    save(tmp_path / "d.npz", meta=meta, image=image)
    data = CalibrationData(tmp_path / "d.npz", TWO, 4)
    assert data.count == 9 and _sizes(data) == [4, 4, 1]
    got = _all(data)
    np.testing.assert_array_equal(got["image"], image.astype(np.float32))
    np.testing.assert_array_equal(got["meta"], meta.astype(np.float32))


def test_npz_with_one_key_for_a_one_input_model(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", whatever=DATA)
    np.testing.assert_array_equal(_all(CalibrationData(tmp_path / "d.npz", [X], 64))["x"], DATA)


def test_folder_sorted_and_samples_run_across_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    np.save(tmp_path / "b.npy", DATA[10:25])
    np.save(tmp_path / "a.npy", DATA[:10])
    np.savez(tmp_path / "c.npz", x=DATA[25:])
    (tmp_path / ".DS_Store").write_bytes(b"junk")
    data = CalibrationData(tmp_path, [X], 16)
    assert data.count == 100 and _sizes(data) == [16] * 6 + [4]
    np.testing.assert_array_equal(_all(data)["x"], DATA)


def test_dict_and_iterables(caplog: pytest.LogCaptureFixture) -> None:
    image, meta = RNG.standard_normal((6, 2, 2, 1)), RNG.standard_normal((6, 5))
    assert CalibrationData({"image": image, "meta": meta}, TWO, 4).count == 6
    # a list of batches (count known) of arrays / of tuples in input order
    listed = CalibrationData([DATA[:7], DATA[7:50], DATA[50:]], [X], 20)
    assert listed.count == 100 and _sizes(listed) == [20] * 5
    np.testing.assert_array_equal(_all(listed)["x"], DATA)
    tuples = CalibrationData([(image[:3], meta[:3]), (image[3:], meta[3:])], TWO, 5)
    assert tuples.count == 6
    np.testing.assert_array_equal(_all(tuples)["meta"], meta.astype(np.float32))
    # a generator: count unknown, read once
    gen = CalibrationData((DATA[i:i + 9] for i in range(0, 100, 9)), [X], 32)
    assert gen.count is None and _sizes(gen) == [32, 32, 32, 4]
    with pytest.raises(QuantizationError, match="one-shot iterator and was already read; pass a list"):
        list(gen)


def test_num_batches_and_a_calibration_data_as_source() -> None:
    data = CalibrationData(DATA, [X], 32)
    assert data.num_batches == 4 == len(list(data))
    again = CalibrationData(data, [X], 50)
    assert again.count == 100 and again.num_batches == 2 and _sizes(again) == [50, 50]
    assert CalibrationData(iter([DATA]), [X]).num_batches is None


def test_calibration_batches_is_an_iterator() -> None:
    it = calibration_batches(DATA, [X], 64)
    assert next(it)["x"].shape == (64, 4, 3) and next(it)["x"].shape == (36, 4, 3)
    with pytest.raises(StopIteration):
        next(it)


def test_few_samples_warn_and_min_samples_refuses(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="keras2edge.quantize.data"):
        CalibrationData(DATA[:3], [X])
    assert f"only 3 calibration samples; ranges from fewer than {WARN_BELOW} samples are unreliable" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="keras2edge.quantize.data"):
        CalibrationData(DATA[:WARN_BELOW], [X])
    assert not caplog.text
    with pytest.raises(QuantizationError, match=r"calibration data: holds 20 samples; at least 50 are needed"):
        CalibrationData(DATA[:20], [X], min_samples=50)
    gen = CalibrationData((b for b in [DATA[:5], DATA[5:8]]), [X], min_samples=10)
    with pytest.raises(QuantizationError, match="holds 8 samples; at least 10 are needed"):
        list(gen)


# ---- refusals: each names the file/batch, the input, and what is wrong ---------------------------------

def test_shape_and_rank_mismatch_name_the_file_the_input_and_both_shapes(tmp_path: Path) -> None:
    np.save(tmp_path / "bad.npy", DATA[:, :, :2])
    with pytest.raises(QuantizationError) as e:
        CalibrationData(tmp_path / "bad.npy", [X])
    assert str(e.value) == (f"calibration data '{tmp_path / 'bad.npy'}': input 'x' has shape (100, 4, 2) but the "
                            "model's input 'x' is (N, 4, 3)")
    with pytest.raises(QuantizationError, match=r"calibration data \(array\): input 'x' has shape \(4, 3\) but the "
                                                r"model's input 'x' is \(N, 4, 3\) \(one sample without the sample "
                                                r"axis\? add it: x\[None\]\)"):
        CalibrationData(DATA[0], [X])
    np.savez(tmp_path / "two.npz", image=np.zeros((3, 2, 2)), meta=np.zeros((3, 5)))
    with pytest.raises(QuantizationError, match=r"two.npz': array 'image': input 'image' has shape \(3, 2, 2\) but "
                                                r"the model's input 'image' is \(N, 2, 2, 1\)"):
        CalibrationData(tmp_path / "two.npz", TWO)
    with pytest.raises(QuantizationError, match=r"calibration data batch 2: input 'x' has shape \(5, 3\) but"):
        list(CalibrationData(iter([DATA[:5], DATA[5:10], DATA[:5, 0]]), [X]))


def test_wrong_dtypes_are_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", np.array([["a", "b", "c"]] * 4).reshape(1, 4, 3))
    with pytest.raises(QuantizationError, match=r"s.npy': input 'x' holds text \(<U1\); calibration data must be "
                                                r"numeric arrays"):
        CalibrationData(tmp_path / "s.npy", [X])
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(QuantizationError, match=r"o.npy'.*holds Python objects.*never unpickled"):
        CalibrationData(tmp_path / "o.npy", [X])
    with pytest.raises(QuantizationError, match=r"input 'x' holds complex \(complex64\)"):
        CalibrationData(DATA.astype(np.complex64), [X])
    with pytest.raises(QuantizationError, match=r"input 'x' holds Python objects \(object\)"):
        CalibrationData(np.empty((2, 4, 3), object), [X])


def test_nan_and_inf_are_counted_with_the_file_and_samples(tmp_path: Path) -> None:
    bad = DATA.copy()
    bad[40, 0, 0] = np.nan
    bad[41, 1] = np.inf
    bad[45, 2, 2] = -np.inf
    np.save(tmp_path / "n.npy", bad)
    data = CalibrationData(tmp_path / "n.npy", [X], 32)
    with pytest.raises(QuantizationError) as e:
        list(data)
    assert str(e.value) == (f"calibration data '{tmp_path / 'n.npy'}' samples 32..63: input 'x' holds 1 NaN and 4 "
                            "Inf values; calibration data must be finite")
    with pytest.raises(QuantizationError, match=r"calibration data batch 1 samples 0..9: input 'x' holds 1 NaN"):
        list(CalibrationData([DATA[:10], bad[40:50]], [X], 32))


def test_empty_data_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", np.zeros((0, 4, 3), np.float32))
    with pytest.raises(QuantizationError, match=r"e.npy': empty \(no samples\)"):
        CalibrationData(tmp_path / "e.npy", [X])
    with pytest.raises(QuantizationError, match=r"calibration data: empty \(no samples\)"):
        list(CalibrationData(iter([]), [X]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(QuantizationError, match="calibration folder '.*empty' holds no .npy or .npz files"):
        CalibrationData(tmp_path / "empty", [X])


def test_input_names_unknown_missing_and_counts(tmp_path: Path) -> None:
    image, meta = np.zeros((3, 2, 2, 1)), np.zeros((3, 5))
    np.savez(tmp_path / "d.npz", image=image, extra=meta)
    with pytest.raises(QuantizationError) as e:
        CalibrationData(tmp_path / "d.npz", TWO)
    assert str(e.value) == (f"calibration data '{tmp_path / 'd.npz'}': holds inputs ['extra', 'image'] (unknown "
                            "['extra'], missing ['meta']); the model's inputs are ['image', 'meta']")
    with pytest.raises(QuantizationError, match=r"calibration data \(dict\): holds inputs \['image'\] \(missing "
                                                r"\['meta'\]\)"):
        CalibrationData({"image": image}, TWO)
    with pytest.raises(QuantizationError, match=r"the inputs hold different numbers of samples \('image': 3, "
                                                r"'meta': 2\)"):
        CalibrationData({"image": image, "meta": meta[:2]}, TWO)
    np.save(tmp_path / "one.npy", image)
    with pytest.raises(QuantizationError, match=r"one.npy': a .npy file holds one input but the model has 2 "
                                                r"\(image, meta\); use an .npz keyed by input name"):
        CalibrationData(tmp_path / "one.npy", TWO)
    with pytest.raises(QuantizationError, match=r"the model has 2 inputs \(image, meta\): give a dict"):
        CalibrationData(image, TWO)


def test_paths_and_types_that_are_not_calibration_data(tmp_path: Path) -> None:
    with pytest.raises(QuantizationError, match=r"calibration data '.*nope.npy' does not exist"):
        CalibrationData(tmp_path / "nope.npy", [X])
    (tmp_path / "img.png").write_bytes(b"\x89PNG")
    with pytest.raises(QuantizationError, match=r"img.png': input 'x' has shape \[None, 4, 3\]; images need an NHWC "
                                                r"input with a fixed height"):
        CalibrationData(tmp_path / "img.png", [X])  # an image, for a model that does not take images
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(QuantizationError, match=r"notes.txt': expected a .npy or .npz file, or a folder of them "
                                                r"\(or a .png/.jpg image"):
        CalibrationData(tmp_path / "notes.txt", [X])
    np.save(tmp_path / "a.npy", DATA)
    with pytest.raises(QuantizationError, match=r"calibration images '.*': 'a.npy' is not a .png/.jpg/.jpeg image"):
        CalibrationData(tmp_path, [X])  # images and arrays mixed
    (tmp_path / "img.png").unlink()
    with pytest.raises(QuantizationError, match=r"calibration folder '.*': 'notes.txt' is not a .npy or .npz file"):
        CalibrationData(tmp_path, [X])
    with pytest.raises(QuantizationError, match="calibration data of type int is not supported"):
        CalibrationData(5, [X])  # type: ignore[arg-type]
    with pytest.raises(QuantizationError, match="batch size must be at least 1, not 0"):
        CalibrationData(DATA, [X], 0)


# ---- hostile and broken files: refused before anything is allocated ------------------------------------

def _npy_bytes(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def test_huge_declared_shape_and_truncated_npy_are_refused(tmp_path: Path) -> None:
    huge = tmp_path / "huge.npy"
    huge.write_bytes(_npy_bytes((10**12, 4, 3)) + b"\0" * 48)
    with pytest.raises(QuantizationError, match=r"huge.npy': truncated: the header declares float32 "
                                                r"\[1000000000000, 4, 3\] \(48000000000000 bytes\) but 48 bytes "
                                                r"follow it"):
        CalibrationData(huge, [X])
    np.save(tmp_path / "t.npy", DATA)
    cut = tmp_path / "t.npy"
    cut.write_bytes(cut.read_bytes()[:-5])
    with pytest.raises(QuantizationError, match=r"t.npy': truncated: .* \(4800 bytes\) but 4795 bytes follow"):
        CalibrationData(cut, [X])
    long = tmp_path / "l.npy"
    long.write_bytes(_npy_bytes((2, 4, 3)) + b"\0" * 100)
    with pytest.raises(QuantizationError, match="longer than its header says"):
        CalibrationData(long, [X])
    (tmp_path / "m.npy").write_bytes(b"NOTNUMPY" * 10)
    with pytest.raises(QuantizationError, match=r"m.npy'.*bad magic"):
        CalibrationData(tmp_path / "m.npy", [X])


def test_hostile_npz_members_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "h.npz"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", _npy_bytes((10**9, 4, 3)) + b"\0" * 1000)
    with pytest.raises(QuantizationError, match=r"h.npz': array 'x': truncated: the header declares float32 "
                                                r"\[1000000000, 4, 3\] .* but the member holds at most"):
        CalibrationData(p, [X])
    with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as z:  # declares 100 samples, holds 10: found on reading
        z.writestr("x.npy", _npy_bytes((100, 4, 3)) + DATA[:10].tobytes())
    with pytest.raises(QuantizationError, match=r"truncated"):
        list(CalibrationData(p, [X]))
    with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as z:  # more data than declared
        z.writestr("x.npy", _npy_bytes((10, 4, 3)) + DATA[:11].tobytes())
    with pytest.raises(QuantizationError, match=r"h.npz': array 'x' holds more data than its header declares"):
        list(CalibrationData(p, [X]))
    big = np.tile(DATA, (10, 1, 1))  # 48 KB: the header check reads only the first block of it
    with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as z:
        z.writestr("x.npy", _npy_bytes(big.shape) + big.tobytes())
    raw = p.read_bytes()
    at = raw.index(big.tobytes()) + big.nbytes - 100
    p.write_bytes(raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1:])  # one data byte flipped: the CRC fails
    with pytest.raises(QuantizationError, match=r"h.npz': the archive is damaged \(Bad CRC-32"):
        list(CalibrationData(p, [X]))
    p.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(QuantizationError, match=r"h.npz': not a readable .npz archive"):
        CalibrationData(p, [X])
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("notes.txt", "hi")
    with pytest.raises(QuantizationError, match=r"member 'notes.txt' is not an array NAME.npy"):
        CalibrationData(p, [X])


def test_a_batch_beyond_the_memory_limit_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", DATA)
    with pytest.raises(QuantizationError, match=r"a batch of 32 samples of input 'x' declares .* more than the "
                                                r"memory limit"):
        CalibrationData(tmp_path / "x.npy", [X], 32, limits=Limits(max_memory=1000))


# ---- memory bound ---------------------------------------------------------------------------------------

_MEASURE = """
import resource, sys
from keras2edge.quantize.data import CalibrationData
from keras2edge.quantize.observers import make_observer
obs = make_observer("minmax")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n = 0
for batch in CalibrationData(sys.argv[1], [("x", (None, 1024))], 32):
    obs.update(batch["x"])
    n += len(batch["x"])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(n, (after - before) / 1024, *obs.range())
"""


@pytest.mark.parametrize("kind", ["npy", "npz"])
def test_200mb_file_streams_in_bounded_memory(tmp_path: Path, kind: str) -> None:
    """51,200 samples of 4 KiB (200 MiB) pass through with a peak RSS increase under 50 MiB (Linux
    ru_maxrss, KiB): the .npy is memory-mapped with its pages released per batch, the .npz read from
    the zip stream a batch at a time."""
    n, chunk = 51_200, (np.arange(1024 * 1024, dtype=np.float32) / 1e6).reshape(1024, 1024)
    path = tmp_path / f"big.{kind}"
    header = {"descr": "<f4", "fortran_order": False, "shape": (n, 1024)}
    with open(path, "wb") as raw:
        z = zipfile.ZipFile(raw, "w") if kind == "npz" else None
        f = z.open("x.npy", "w", force_zip64=True) if z else raw
        np.lib.format.write_array_header_1_0(f, header)
        for _ in range(n // 1024):
            f.write(chunk.tobytes())
        if z:
            f.close()
            z.close()
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, check=True,
                         cwd=REPO / "src")
    count, grew_mib, lo, hi = out.stdout.split()
    assert int(count) == n and float(lo) == 0.0 and float(hi) == pytest.approx(chunk.max())
    assert float(grew_mib) < 50, f"peak RSS grew {grew_mib} MiB streaming a 200 MiB .{kind}"
