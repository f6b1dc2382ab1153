"""Eval data (quantize/evaldata.py): inputs streamed as calibration data, labels riding along."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.errors import QuantizationError
from keras2edge.quantize.evaldata import EvalData

INPUTS = [("image", (None, 8, 8))]


def _x(n: int = 23) -> np.ndarray:
    return np.random.default_rng(0).random((n, 8, 8), dtype=np.float32)


def _collect(e: EvalData) -> tuple[np.ndarray, np.ndarray | None]:
    xs, ys = [], []
    for batch, y in e:
        xs.append(batch["image"])
        ys.append(y)
    return np.concatenate(xs), (None if ys[0] is None else np.concatenate(ys))


def test_npz_with_labels_streams_aligned(tmp_path) -> None:
    x, y = _x(), np.arange(23) % 10
    np.savez(tmp_path / "e.npz", image=x, labels=y)
    e = EvalData(tmp_path / "e.npz", INPUTS, batch_size=7)
    assert e.labelled and e.count == 23
    gx, gy = _collect(e)
    np.testing.assert_array_equal(gx, x)
    np.testing.assert_array_equal(gy, y)


def test_one_hot_y_and_dict(tmp_path) -> None:
    x, y = _x(), np.arange(23) % 10
    np.savez(tmp_path / "e.npz", image=x, y=np.eye(10, dtype=np.float32)[y])
    np.testing.assert_array_equal(_collect(EvalData(tmp_path / "e.npz", INPUTS, 5))[1], y)
    np.testing.assert_array_equal(_collect(EvalData({"image": x, "labels": y}, INPUTS, 5))[1], y)


def test_unlabelled(tmp_path) -> None:
    x = _x()
    np.save(tmp_path / "e.npy", x)
    for src in (tmp_path / "e.npy", x, {"image": x}):
        e = EvalData(src, INPUTS, 8)
        assert not e.labelled
        gx, gy = _collect(e)
        assert gy is None and gx.shape == x.shape


def test_refusals(tmp_path) -> None:
    x = _x()
    np.savez(tmp_path / "few.npz", image=x, labels=np.zeros(5, np.int64))
    with pytest.raises(QuantizationError, match=r"eval data '.*few.npz': 5 labels for 23 samples"):
        EvalData(tmp_path / "few.npz", INPUTS)
    np.savez(tmp_path / "float.npz", image=x, labels=np.zeros(23, np.float32))
    with pytest.raises(QuantizationError, match="class ids"):
        EvalData(tmp_path / "float.npz", INPUTS)
    np.savez(tmp_path / "shape.npz", image=x[:, :4], labels=np.zeros(23, np.int64))
    with pytest.raises(QuantizationError, match=r"eval data .*'image'.*\(23, 4, 8\)") as e:
        EvalData(tmp_path / "shape.npz", INPUTS)
    assert "calibration" not in str(e.value)
    np.savez(tmp_path / "other.npz", image=x, weights=x)
    with pytest.raises(QuantizationError, match="eval data .*unknown.*weights"):
        EvalData(tmp_path / "other.npz", INPUTS)
    with pytest.raises(QuantizationError, match="eval data .* does not exist"):
        EvalData(tmp_path / "missing.npz", INPUTS)
    bad = x.copy()
    bad[3, 0, 0] = np.nan
    with pytest.raises(QuantizationError, match="eval data"):
        _collect(EvalData(bad, INPUTS, 8))
