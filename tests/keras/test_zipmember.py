"""``.keras`` weights read in place from the archive (convert/keras/zipmember.py): same bytes and same
graph as reading the member into memory, damaged members refused, compressed members still read."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

import keras2edge
from keras2edge.convert.keras.zipmember import MemberFile, open_member
from keras2edge.errors import ModelFormatError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "k3" / "cnn1d.keras"


def _consts(path: Path) -> dict[str, np.ndarray]:
    return {v.name: v.const for v in keras2edge.load(path).values() if v.const is not None}


def test_stored_member_reads_the_same_bytes_in_place() -> None:
    with zipfile.ZipFile(FIXTURE) as z:
        want = z.read("model.weights.h5")
        assert z.getinfo("model.weights.h5").compress_type == zipfile.ZIP_STORED
        with open_member(z, str(FIXTURE), "model.weights.h5") as f:
            assert isinstance(f.raw, MemberFile)   # not a copy in memory
            assert f.read() == want
            f.seek(-10, os.SEEK_END)
            assert f.tell() == len(want) - 10 and f.read() == want[-10:]
            f.seek(5)
            assert f.read(7) == want[5:12] and f.read(0) == b""
            f.seek(len(want) + 100)
            assert f.read() == b""


def test_compressed_member_is_read_into_memory_and_gives_the_same_graph(tmp_path: Path) -> None:
    deflated = tmp_path / "deflated.keras"
    with zipfile.ZipFile(FIXTURE) as src, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    with zipfile.ZipFile(deflated) as z, open_member(z, str(deflated), "model.weights.h5") as f:
        assert isinstance(f, io.BytesIO)
    got, want = _consts(deflated), _consts(FIXTURE)
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


def test_damaged_weights_member_is_refused(tmp_path: Path) -> None:
    data = bytearray(FIXTURE.read_bytes())
    with zipfile.ZipFile(FIXTURE) as z:
        info = z.getinfo("model.weights.h5")
    # A byte inside the member's data (past its local header) flipped: the CRC-32 no longer matches.
    data[info.header_offset + 30 + len(info.filename) + info.file_size // 2] ^= 0xFF
    bad = tmp_path / "bad.keras"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match=r"bad\.keras.*(CRC|zip)"):
        keras2edge.load(bad)
