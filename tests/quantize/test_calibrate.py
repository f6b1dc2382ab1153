"""Calibration runs the emitted float .tflite in keras2edge's runtime: batches given any way (one
array, an iterable of batches, a .npz file, any batch size) and a model pinned to batch 1 observe the
same values, so they give the same int8 parameters (min/max does not depend on how samples are cut;
the float kernels' sums may round differently with the batch size, hence a relative 1e-5 on scales
and one step on zero points)."""

from __future__ import annotations

import numpy as np
import pytest

import keras2edge
from keras2edge.quantize.calibrate import calibrate

from ..corpus import FIXTURES
from .cases import load_case


def _params(q: keras2edge.Graph) -> list:
    return [(n.name, n.attrs["quant"]) for n in q.nodes if n.op == "Quantize"]


def _same(got: list, want: list) -> bool:
    assert [n for n, _ in got] == [n for n, _ in want]
    for (name, a), (_, b) in zip(got, want):
        np.testing.assert_allclose(a.scale, b.scale, rtol=1e-5, err_msg=name)
        assert np.all(np.abs(a.zero_point - b.zero_point) <= 1), name
    return True


@pytest.fixture(scope="module")
def case():
    return load_case("k3-cnn2d")


@pytest.fixture(scope="module")
def reference(case):
    return _params(keras2edge.quantize(case.graph, calibration=case.calibration))


def test_batches_any_way_give_the_same_parameters(case, reference, tmp_path) -> None:
    x = case.calibration["image"]

    def batches():
        for i in range(0, len(x), 5):
            yield {"image": x[i:i + 5]}

    assert _same(_params(keras2edge.quantize(case.graph, calibration=batches())), reference)
    assert _same(_params(keras2edge.quantize(case.graph, calibration=x, batch_size=1)), reference)
    path = tmp_path / "cal.npz"
    np.savez(path, image=x)
    assert _same(_params(keras2edge.quantize(case.graph, calibration=str(path))), reference)


def test_model_pinned_to_batch_1(case, reference) -> None:
    g = keras2edge.load(FIXTURES / "k3" / "cnn2d.keras", input_shapes={"image": (1, 12, 12, 3)})
    assert _same(_params(keras2edge.quantize(g, calibration=case.calibration)), reference)


def test_every_sample_is_seen(case) -> None:
    cal = calibrate(case.graph, case.calibration, batch_size=4)
    assert cal.samples == len(case.calibration["image"])
    lo, hi = cal.ranges["image"]
    assert (lo, hi) == (float(case.calibration["image"].min()), float(case.calibration["image"].max()))
