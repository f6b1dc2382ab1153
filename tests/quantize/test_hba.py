"""High-bias absorption (quantize/hba.py): which A -> activation -> B it rewrites and which it declines,
that the rewrite is exact on data in the activation's linear range (both graphs run as .tflite in
keras2edge.runtime), that c is 0 where a ReLU clipped or a Relu6 reached its clamp, and that the int8
error against float drops on a model built to have high biases."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.convert.tflite import tflite_bytes
from keras2edge.errors import QuantizationError
from keras2edge.quantize import QuantizeOptions, quantize_graph
from keras2edge.quantize.hba import absorb_high_biases, absorption, find_candidates, linear_above_zero
from keras2edge.quantize.probe import read_feeds
from keras2edge.runtime import Interpreter

from .algorithm_graphs import high_bias, inputs, mobilenet_like
from .cases import rel_l2


def _run(graph, x: np.ndarray) -> np.ndarray:
    return np.asarray(Interpreter(tflite_bytes(graph)).run(x))


def test_linear_above_zero_reads_the_op_semantics() -> None:
    assert linear_above_zero("Relu") == float("inf")
    assert linear_above_zero("Relu6") == 6.0
    assert linear_above_zero("Relu0To1") == 1.0
    for op in ("LeakyRelu", "Tanh", "Logistic", "ReluN1To1", "HardSwish", "Elu"):
        assert linear_above_zero(op) is None, op


def test_candidates_and_declines() -> None:
    g = high_bias()
    r_cands = find_candidates(g)
    assert [(c.a.origin.layer, c.b.origin.layer, c.high) for c in r_cands] == [("a", "b", float("inf"))]
    from keras2edge.quantize.hba import Absorption

    res = Absorption()
    find_candidates(mobilenet_like("Relu"), res)
    # conv1 -> dw: a 3x3 "same" kernel pads with zeros; project -> MaxPool; dw -> project (1x1) and fc1 -> fc2 qualify.
    assert "zero" in res.declined["conv1"] and "MaxPool2D" in res.declined["project"], res.declined
    assert [(c.a.origin.layer, c.b.origin.layer) for c in find_candidates(mobilenet_like("Relu"))] == [("dw", "project"),
                                                                                         ("fc1", "fc2")]


def test_exact_on_data_in_the_linear_range() -> None:
    """On the samples the statistics came from every absorbed channel stays >= c, so the outputs are
    the original's to float rounding; so on other samples in that range (inputs of half the amplitude:
    the absorbed channels stay within 1.5 standard deviations of their mean, c is 3 below it)."""
    g = high_bias()
    x = inputs(g, 32, seed=1)
    h = g.copy()
    res = absorb_high_biases(h, read_feeds(h, x, 32, 32))
    assert set(res.moved) == {"a"} and res.moved["a"][1] == 8, res  # the 8 high-bias channels
    assert 30 < res.moved["a"][0] < 40
    assert "b" in res.declined  # b -> relu -> Mean
    want = _run(g, x)
    np.testing.assert_allclose(_run(h, x), want, rtol=0, atol=1e-6 * float(np.abs(want).max()))
    x2 = 0.5 * inputs(g, 32, seed=2)
    want2 = _run(g, x2)
    np.testing.assert_allclose(_run(h, x2), want2, rtol=0, atol=1e-6 * float(np.abs(want2).max()))
    a = next(n for n in h.nodes if n.origin.layer == "a")
    assert float(a.inputs[2].const.max()) < 10  # the high biases left A
    assert g.nodes[0].inputs[2].const.max() == 40  # on a copy: the caller's constants are kept


def test_nothing_where_the_activation_clips() -> None:
    """c is 0 for a ReLU channel whose minimum is 0 (it clipped) and for a Relu6 channel that reached 6."""
    # rows: min, max, mean, std per channel; c = max(0, min(min, mean - 3 std)):
    # ch0 min 0 -> 0; ch1 min(2, 4 - 3) = 1; ch2 min(5, 6 - 0.9) = 5; ch3 min(3, 5 - 0.6) = 3.
    stats = np.array([[0.0, 2.0, 5.0, 3.0], [4.0, 5.5, 7.0, 8.0], [2.0, 4.0, 6.0, 5.0], [0.5, 1.0, 0.3, 0.2]])
    np.testing.assert_allclose(absorption(stats, float("inf")), [0.0, 1.0, 5.0, 3.0])
    np.testing.assert_allclose(absorption(stats, 6.0), [0.0, 1.0, 0.0, 0.0])  # ch2, ch3 reached 6


def test_int8_error_drops() -> None:
    """Half of A's channels near 40, half near 1: one int8 range for both leaves the small ones a few
    steps. Measured: relative L2 against float 0.0398 -> 0.0088 per channel (per tensor 0.116 -> 0.011),
    64 samples."""
    g = high_bias()
    cal, x = inputs(g, 64, seed=1), inputs(g, 64, seed=2)
    want = _run(g, x)
    err = {}
    for on in (False, True):
        q = quantize_graph(g, QuantizeOptions(calibration=cal, cle=False, bias_correction=False,
                                              high_bias_absorption=on))
        err[on] = rel_l2(_run(q, x), want)
        line = q.metadata["quantization_algorithms"]
        assert line.startswith("cle: off, high-bias absorption: 1 layers (largest c: a " if on else "cle: off;"), line
    assert err[True] < 0.5 * err[False], err


def test_default_follows_cle_and_one_shot_iterators() -> None:
    g = high_bias()
    cal = inputs(g, 16)
    q = quantize_graph(g, QuantizeOptions(calibration=cal, cle=True, bias_correction=False))
    assert "high-bias absorption: 1 layers" in q.metadata["quantization_algorithms"]
    q = quantize_graph(g, QuantizeOptions(calibration=iter([cal]), cle=True, bias_correction=False))
    assert "high-bias absorption: skipped (one-shot" in q.metadata["quantization_algorithms"]
    with pytest.raises(QuantizationError, match="one-shot iterator"):
        quantize_graph(g, QuantizeOptions(calibration=iter([cal]), high_bias_absorption=True, bias_correction=False))
