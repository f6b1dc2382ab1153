"""The streamed .tflite file (writer.write_model_to, save_tflite): the bytes of the in-memory writer,
with the buffers' data written from the arrays themselves (no copy for a C-order little-endian one)."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest

import keras2edge
from keras2edge.convert.tflite import save_tflite, tflite_bytes, to_tflite, write_model
from keras2edge.convert.rawbytes import raw_bytes
from keras2edge.convert.tflite.writer import ArrayBuffer, write_model_to
from keras2edge.errors import LimitExceededError
from keras2edge.ir import DType, Graph
from keras2edge.runtime.reader import load_model
from tests.corpus import FIXTURES
from tests.ir_graphs import chain

MANIFEST = [e for e in json.loads((FIXTURES / "manifest.json").read_text()) if not e["expect"].startswith("fail:")]


class _Sink(io.RawIOBase):
    """A file that keeps what it is given, as given (to see whether the writer copied it)."""

    def __init__(self) -> None:
        super().__init__()
        self.pieces: list[object] = []

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:  # type: ignore[override]
        self.pieces.append(b)
        return memoryview(b).nbytes  # type: ignore[arg-type]

    def value(self) -> bytes:
        return b"".join(memoryview(p).cast("B").tobytes() for p in self.pieces)  # type: ignore[arg-type]


def _streamed(model: object) -> bytes:
    sink = _Sink()
    n = write_model_to(sink, model)  # type: ignore[arg-type]
    data = sink.value()
    assert n == len(data)
    return data


def test_every_fixture_saves_the_bytes_of_tflite_bytes(tmp_path: Path) -> None:
    for e in MANIFEST:
        weights = FIXTURES / e["weights"] if e.get("weights") else None
        g = keras2edge.load(FIXTURES / e["file"], weights)
        path = tmp_path / "m.tflite"
        size = save_tflite(g, path)
        data = path.read_bytes()
        assert size == len(data) and data == tflite_bytes(g), e["file"]
        assert _streamed(to_tflite(g)) == data, e["file"]


@pytest.mark.parametrize("name", ["ops_float.tflite", "ops_int8.tflite", "ops_int8_float_io.tflite"])
def test_converter_files_stream_like_the_in_memory_writer(name: str) -> None:
    model = load_model((FIXTURES / "tflite" / name).read_bytes())
    assert _streamed(model) == write_model(model)


def _model_with(*buffers: object) -> object:
    """A converter file's model with extra (unreferenced) buffers, which are written all the same."""
    base = load_model((FIXTURES / "tflite" / "ops_float.tflite").read_bytes())
    return dataclasses.replace(base, buffers=[*base.buffers, *buffers])


def test_array_buffers_are_their_c_order_little_endian_bytes() -> None:
    w = np.arange(2 * 3 * 4, dtype=">f4").reshape(2, 3, 4)
    view = np.transpose(w, (2, 0, 1))               # big-endian and not contiguous
    deferred = _model_with(ArrayBuffer(view), ArrayBuffer(np.array([True, False])))
    plain = _model_with(np.frombuffer(np.ascontiguousarray(view).astype("<f4").tobytes(), np.uint8),
                        np.array([1, 0], np.uint8))
    assert _streamed(deferred) == write_model(plain) == write_model(deferred)
    raw = raw_bytes(view)
    assert raw.dtype == np.uint8 and raw.ndim == 1 and not raw.flags.writeable


def test_contiguous_buffers_are_written_without_a_copy() -> None:
    w = np.random.default_rng(0).random((256, 1024), dtype=np.float32)
    sink = _Sink()
    write_model_to(sink, _model_with(ArrayBuffer(w)))
    big = [p for p in sink.pieces if memoryview(p).nbytes == w.nbytes]  # type: ignore[arg-type]
    assert len(big) == 1 and np.shares_memory(np.asarray(big[0]), w)
    # ... and the metadata pieces stay small: the Builder never held the weights.
    assert sum(memoryview(p).nbytes for p in sink.pieces if p is not big[0]) < 64 << 10  # type: ignore[arg-type]


def test_a_model_past_two_gib_is_refused_before_anything_is_built() -> None:
    huge = ArrayBuffer(np.broadcast_to(np.float32(0), ((1 << 29) + 1,)))   # 2 GiB + 4 bytes, no memory
    with pytest.raises(LimitExceededError, match="2 GiB"):
        write_model(_model_with(huge))  # type: ignore[arg-type]
    sink = _Sink()
    with pytest.raises(LimitExceededError, match="2 GiB"):
        write_model_to(sink, _model_with(huge))  # type: ignore[arg-type]
    assert sink.pieces == []


def test_save_tflite_refuses_a_model_past_two_gib_naming_the_file(tmp_path: Path) -> None:
    n = (1 << 29) + 1                                        # float32: 2 GiB + 4 bytes, held by no memory
    g = Graph("huge")
    x = g.add_input("x", DType.FLOAT32, (None, n))
    bias = g.add_const("bias", np.broadcast_to(np.float32(1), (n,)))
    g.outputs = [chain(g, "Add", [x, bias], "add")]
    with pytest.raises(LimitExceededError, match=r"huge\.tflite.*2 GiB"):
        save_tflite(g, tmp_path / "huge.tflite")
    assert list(tmp_path.iterdir()) == []
