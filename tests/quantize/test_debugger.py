"""The per-layer quantization report (quantize/debugger.py, report.py) on the trained digits fixtures.

Oracles: Keras' recorded accuracy and outputs (tests/fixtures/trained), TFLite Micro running the saved
quantized file, and direct NumPy computations of the numbers the report gives (the input layer's
quantization error). Measured (int8, minmax, 200 calibration samples, 360 test samples), layer-local /
accumulated SQNR in dB: MLP dense_1 45.3/45.3, dense_2 44.9/43.8, probs 39.4/39.2; CNN from stem_conv
43.3/43.3 down to pw2 41.0/28.1; LSTM lstm 26.9/26.9; GRU gru 29.8/29.8; inputs 56.5. The broken MLP
(dense_1's weights from an always-zero pixel set to 1000x) puts dense_1 at 0.4 dB (accuracy 96.94% ->
10.28%) while the next layers' local SQNR stays at 44.9 and 39.4 dB.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import keras2edge
from keras2edge.convert.tflite import emit_tflite
from keras2edge.quantize.errorstats import ErrorMetrics
from keras2edge.quantize.report import (
    BAD_CHANNEL_SQNR_DB,
    BAD_SQNR_DB,
    KEEP_FLOAT_BELOW_DB,
    LayerReport,
    suggest,
)

from .report_cases import broken_mlp, data, load, shape, tflm_outputs, tflm_top1
from .test_trained_fixtures import MANIFEST, MODELS, TRAINED

#: Classes whose layers leave no op of their own: BatchNormalization is folded into the conv before
#: it, ReLU fused into it (the report shows them under that layer).
FOLDED = {"BatchNormalization", "ReLU"}


def _report(g, d, **kw):
    name = g.name
    x = d["x_test"].reshape((-1, *shape(name)))
    return keras2edge.quantize(g, calibration=d["x_calib"].reshape((-1, *shape(name))),
                               eval_data={g.inputs[0].name: x, "labels": d["y_test"]}, report=True, **kw)


@pytest.fixture(scope="module")
def d() -> dict[str, np.ndarray]:
    return data()


@pytest.mark.parametrize("name", MODELS)
def test_every_layer_reported(name: str, d) -> None:
    """Every Keras layer that has ops in the shipped model has a row (inputs included), in model
    order; the rest are the folded classes; accuracy of the float model is Keras'."""
    g = load(name)
    _q, rep = _report(g, d)
    lowered = emit_tflite(g).graph
    with_ops = [v.name for v in lowered.inputs] + list(dict.fromkeys(n.origin.layer for n in lowered.nodes))
    assert [r.name for r in rep.layers] == with_ops
    keras_layers = {rec.name: rec.cls for rec in g.layers}
    missing = {n: c for n, c in keras_layers.items() if n not in with_ops}
    assert set(missing.values()) <= FOLDED, missing
    assert rep.samples == 360 and rep.labelled
    assert rep.float_top1 == MANIFEST["models"][name]["keras_test_accuracy"]
    for r in rep.layers:
        assert r.precision == "int8"
        assert r.accumulated.elements > 0 and r.local.elements > 0
        assert math.isfinite(r.local.sqnr_db) and r.local.sqnr_db > BAD_SQNR_DB, r
        assert r.local.worst_channel_sqnr_db > BAD_CHANNEL_SQNR_DB, r  # every channel healthy here
        assert 0.99 < r.accumulated.cosine <= 1.0 + 1e-12
        assert not r.bad and r.suggestion is None
        if r.has_weights:
            assert 0 < r.quant_bytes < r.float_bytes or name in ("digits_lstm", "digits_gru"), r
    assert rep.quant_size < rep.float_size or name in ("digits_lstm", "digits_gru")


@pytest.mark.parametrize("name", ["digits_mlp", "digits_lstm"])
def test_numbers_against_oracles(name: str, d, tmp_path) -> None:
    """The input layer's SQNR and max error equal a direct computation with the file's input
    parameters; the quantized accuracy equals TFLite Micro's on the saved file; the output SQNR
    equals TFLite Micro's outputs against Keras' recorded outputs (within 0.001 dB; measured: equal to 4
    decimals, MLP 39.1551 dB, LSTM 33.8802 dB)."""
    g = load(name)
    q, rep = _report(g, d)
    x = d["x_test"].reshape((-1, *shape(name))).astype(np.float32)
    inp = g.inputs[0].name
    qnode = next(n for n in q.nodes if n.op == "Quantize" and n.inputs[0].name == inp)
    p = qnode.attrs["quant"]
    s, zp = np.float32(p.scale[0]), int(p.zero_point[0])
    r = x / s  # TFLite's AffineQuantize: float32 division, round half away from zero, clamp
    xq = np.clip(np.sign(r) * np.floor(np.abs(r) + 0.5) + zp, -128, 127)
    back = ((xq - zp) * float(s)).astype(np.float32)  # DEQUANTIZE: float32(double(scale) * (q - zp))
    err = back.astype(np.float64) - x.astype(np.float64)
    sqnr = 10 * math.log10(float(np.sum(x.astype(np.float64) ** 2)) / float(np.sum(err ** 2)))
    row = rep.layer(inp)
    assert row.cls == "InputLayer"
    assert row.accumulated.sqnr_db == pytest.approx(sqnr, abs=1e-9)
    assert row.accumulated.max_abs == pytest.approx(float(np.max(np.abs(err))), rel=1e-6)
    assert row.accumulated.rmse_over_scale == pytest.approx(math.sqrt(float(np.mean(err ** 2))) / float(s), rel=1e-9)
    assert row.local == row.accumulated

    out = tmp_path / "q.tflite"
    keras2edge.save(q, out)
    blob = out.read_bytes()
    assert np.mean(tflm_top1(blob, x) == d["y_test"]) == pytest.approx(rep.quant_top1, abs=1e-12)
    with np.load(TRAINED / "keras_outputs.npz") as z:
        ref = z[name].astype(np.float64)
    got = tflm_outputs(blob, x)
    oracle = 10 * math.log10(float(np.sum(ref ** 2)) / float(np.sum((got - ref) ** 2)))
    assert rep.output_sqnr_db == pytest.approx(oracle, abs=1e-3)
    assert rep.layer("probs").accumulated.sqnr_db == rep.output_sqnr_db


def test_local_equals_accumulated_right_after_the_input(d) -> None:
    """The MLP's dense_1 reads the quantized input through an exact Flatten: its layer-local run
    (a sub-model fed the float input) computes what the whole model computes, to the bit."""
    _q, rep = _report(load("digits_mlp"), d)
    a, loc = rep.layer("dense_1").accumulated, rep.layer("dense_1").local
    assert loc.sqnr_db == a.sqnr_db and loc.max_abs == a.max_abs and loc.cosine == a.cosine
    assert rep.layer("dense_2").local.sqnr_db > rep.layer("dense_2").accumulated.sqnr_db


def test_broken_layer_ranks_first(d) -> None:
    """dense_1 with outlier weights (on an always-zero pixel: the float model is unchanged) is the
    worst layer by far, marked bad with a suggestion; later layers' local errors stay good while their
    accumulated errors collapse."""
    g = broken_mlp()
    _q, rep = _report(g, d)
    assert rep.float_top1 == MANIFEST["models"]["digits_mlp"]["keras_test_accuracy"]
    assert rep.drop_pt > 50
    ranked = rep.ranked()
    assert ranked[0].name == "dense_1"
    bad = [r for r in rep.layers if r.bad]
    assert [r.name for r in bad] == ["dense_1"]
    assert bad[0].local.sqnr_db < KEEP_FLOAT_BELOW_DB and bad[0].suggestion == "keep float"
    for later in ("dense_2", "probs"):
        assert rep.layer(later).local.sqnr_db > BAD_SQNR_DB
        assert rep.layer(later).accumulated.sqnr_db < KEEP_FLOAT_BELOW_DB
    md = rep.to_markdown()
    assert "| dense_1 | Dense | int8 |" in md and "keep float" in md


def test_per_tensor_is_seen(d) -> None:
    """--per-tensor: the report reads each weight layer's quantization from the graph."""
    _q, rep = _report(load("digits_mlp"), d, per_tensor=True)
    assert rep.options["per_tensor"] is True
    assert all(rep.layer(n).has_weights and rep.layer(n).per_tensor for n in ("dense_1", "dense_2", "probs"))
    assert not rep.layer("flatten").has_weights


def test_weight_only_scheme(d) -> None:
    """A dynamic-range model: activations float, the large weights int8 (the report says so)."""
    g = load("digits_mlp")
    _q, rep = keras2edge.quantize(g, scheme="dynamic", eval_data=d["x_test"], report=True)
    assert rep.scheme == "dynamic" and not rep.labelled
    assert rep.layer("dense_1").precision == "int8 weights"
    assert rep.layer("dense_1").quant_bytes < rep.layer("dense_1").float_bytes
    assert not any(r.bad for r in rep.layers)


def _row(precision: str, sqnr: float, *, weights: bool = False, per_tensor: bool = False,
         median: float = math.inf) -> LayerReport:
    m = ErrorMetrics(sqnr, 1.0, 0.0, 0.0, None, 1, min(median, sqnr), median)
    return LayerReport("l", "Dense", precision, ["l"], m, m, 0, 0, has_weights=weights, per_tensor=per_tensor)


@pytest.mark.parametrize(("precision", "sqnr", "weights", "per_tensor", "expected"), [
    ("int8", BAD_SQNR_DB + 0.1, True, True, (False, None)),
    ("int8", BAD_SQNR_DB - 0.1, True, True, (True, "per-channel")),
    ("int8", BAD_SQNR_DB - 0.1, True, False, (True, "int16")),
    ("int8", KEEP_FLOAT_BELOW_DB, False, False, (True, "int16")),
    ("int8", KEEP_FLOAT_BELOW_DB - 0.1, False, False, (True, "keep float")),
    ("int16", BAD_SQNR_DB - 0.1, True, False, (True, "keep float")),
    ("float", 0.0, True, False, (False, None)),
    ("int8 weights", 0.0, True, False, (False, None)),
])
def test_rule(precision, sqnr, weights, per_tensor, expected) -> None:
    """The written rule (report.RULE): bad below 20 dB local SQNR; per-channel, int16, keep float."""
    assert suggest(_row(precision, sqnr, weights=weights, per_tensor=per_tensor)) == expected


@pytest.mark.parametrize(("median", "per_tensor", "expected"), [
    (BAD_CHANNEL_SQNR_DB + 0.1, False, (False, None)),
    (BAD_CHANNEL_SQNR_DB - 0.1, False, (True, "int16")),
    (BAD_CHANNEL_SQNR_DB - 0.1, True, (True, "int16")),  # per-channel weights do not widen a shared range
])
def test_rule_drowned_channels(median, per_tensor, expected) -> None:
    """A good tensor (40 dB) with half its channels drowned is bad; int16 gives its range finer steps."""
    assert suggest(_row("int8", 40.0, weights=True, per_tensor=per_tensor, median=median)) == expected


def test_drowned_channels_found(d) -> None:
    """The loud-unit MLP: dense_1's output range is set by one constant unit of 3000, the others round
    to a few int8 levels. The tensor's SQNR stays high (the loud unit carries the power) but its median
    channel is at 0 dB: dense_1 is bad with suggestion int16 (what the accuracy budget finds)."""
    from .report_cases import loud_unit_mlp

    _q, rep = _report(loud_unit_mlp(), d)
    row = rep.layer("dense_1")
    assert row.local.sqnr_db > BAD_SQNR_DB and row.local.median_channel_sqnr_db < 1.0
    assert row.bad and row.suggestion == "int16"
    assert {r.name for r in rep.ranked()[:2]} == {"dense_1", "dense_2"}


def test_constants_rounded_or_changed(d) -> None:
    """weightdiff: plain int8 weights and biases are within 0.5 LSB of the float ones ("rounded"); a bias
    moved by 3 LSB after rounding (what bias correction does) is reported "changed", by 3 LSB."""
    from keras2edge.quantize.weightdiff import constant_changes

    g = load("digits_mlp")
    lowered = emit_tflite(g).graph
    q = keras2edge.quantize(g, calibration=d["x_calib"])
    changes = constant_changes(lowered, q)
    assert set(changes) == {"dense_1", "dense_2", "probs"}
    for c in changes.values():
        assert 0 < c.weights_lsb <= 0.5 + 1e-6 and 0 <= c.bias_lsb <= 0.5 + 1e-6
        assert c.describe() == "weights rounded, bias rounded"
    fc = next(n for n in q.nodes if n.op == "FullyConnected" and n.origin.layer == "dense_2")
    bias = fc.inputs[2].producer.inputs[0]
    q.replace_const(bias, bias.const + np.int32(3))
    moved = constant_changes(lowered, q)["dense_2"]
    assert 2.5 <= moved.bias_lsb <= 3.5 and moved.describe() == "weights rounded, bias changed"


def test_chunking_does_not_change_the_numbers(d, monkeypatch) -> None:
    """Memory-bounded chunks (here one sample at a time) give the same report as whole batches (to
    float rounding: the float model's GEMMs sum in another order for another batch size)."""
    from keras2edge.quantize import debugger

    g = load("digits_mlp")
    q = keras2edge.quantize(g, calibration=d["x_calib"])
    ev = {"image": d["x_test"][:40], "labels": d["y_test"][:40]}
    whole = debugger.debug_quantization(g, q, ev)
    monkeypatch.setattr(debugger, "COMPARE_BYTES", 1)
    one = debugger.debug_quantization(g, q, ev)
    assert (one.samples, one.quant_top1, one.agreement) == (whole.samples, whole.quant_top1, whole.agreement)
    for a, b in zip(whole.layers, one.layers):
        assert b.accumulated.sqnr_db == pytest.approx(a.accumulated.sqnr_db, abs=1e-3)
        assert b.local.sqnr_db == pytest.approx(a.local.sqnr_db, abs=1e-3)
        assert b.accumulated.elements == a.accumulated.elements


def test_int8_io(d) -> None:
    """A model with int8 inputs and outputs: its inputs are quantized as its QUANTIZE would, and the
    report gives the same layer errors as the float-io model's."""
    g = load("digits_mlp")
    ev = {"image": d["x_test"], "labels": d["y_test"]}
    _q, a = keras2edge.quantize(g, calibration=d["x_calib"], eval_data=ev, report=True)
    _q, b = keras2edge.quantize(g, calibration=d["x_calib"], eval_data=ev, report=True, io="int8")
    assert [r.name for r in a.layers] == [r.name for r in b.layers]
    for ra, rb in zip(a.layers, b.layers):
        assert rb.accumulated.sqnr_db == pytest.approx(ra.accumulated.sqnr_db, abs=1e-9), ra.name
        assert rb.local.sqnr_db == pytest.approx(ra.local.sqnr_db, abs=1e-9), ra.name
    assert b.quant_top1 == a.quant_top1


def test_equalized_model_is_measured_against_its_equalized_float(d) -> None:
    """With cross-layer equalization (cle=True) the quantized graph's inner channels are rescaled; the
    report compares it with the equalized float graph (debugger.reference_graph), so every layer keeps
    a sane SQNR (measured with the iQA branch merged: dense_1 45.6 dB local; 19.4 dB against the
    unequalized float graph) and the constants column says the equalized weights changed."""
    from keras2edge.quantize.budget import quantize_reported
    from keras2edge.quantize.schemes import QuantizeOptions

    options = QuantizeOptions(calibration=d["x_calib"], cle=True)
    _q, rep = quantize_reported(load("digits_mlp"), options, {"image": d["x_test"], "labels": d["y_test"]})
    for r in rep.layers:
        assert r.local.sqnr_db > 35 and r.accumulated.sqnr_db > 35, r
    if str(rep.algorithms["cle"]).startswith(tuple("123456789")):  # "2 pairs, ...": equalization ran
        assert "weights changed" in rep.layer("dense_1").changed


def test_top1_of_a_sigmoid_unit() -> None:
    """A one-unit output is a binary classifier: its class is unit > 0.5, not an argmax over one value."""
    from keras2edge.quantize.debugger import _top1

    np.testing.assert_array_equal(_top1(np.array([[0.2], [0.7], [0.5]])), [0, 1, 0])
    np.testing.assert_array_equal(_top1(np.array([[0.1, 0.9], [0.8, 0.2]])), [1, 0])
