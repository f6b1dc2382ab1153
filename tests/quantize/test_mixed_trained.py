"""Mixed precision on the trained digits models: ``keep_float`` layers stay float and ``int16`` layers run
16x8 inside an int8 model (and ``keep_float`` inside a 16x8 one), joined to their neighbours by
QUANTIZE (float -> int, int8 <-> int16 requantize) and DEQUANTIZE.

Every file goes through :func:`run_oracles` (TFLite Micro runs it, keras2edge.runtime equals it on every
output element of the 360 test samples, LiteRT's reference kernels and onnxruntime on the QDQ ONNX run
it). Measured top-1 (keras2edge.runtime = LiteRT = onnxruntime unless said) against Keras: MLP 96.94%
(= Keras; also with int8 io), CNN int8 with dw2 float and the pw/ir blocks int16 98.06% (Keras 98.33%),
CNN 16x8 with ir_dw float 98.33% (onnxruntime 98.06%), LSTM int16 in an int8 model 96.94% (=), GRU with
the recurrent layer float 97.22% (Keras 96.94%); relative L2 error against Keras at most 1.12e-2 (MLP),
held to the int8 bar (0.5 point, 3e-2). The error cases: a glob matching no layer, a precision switch on a
weight-only scheme, ``--io int8`` with an int16 output layer; and the CLI flags.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import keras2edge
from keras2edge.cli import main
from keras2edge.errors import QuantizationError
from keras2edge.runtime import Interpreter

from .test_int16x8_trained import run_oracles
from .test_trained_fixtures import MANIFEST, TRAINED, _data

MAX_DROP = 0.005  # the int8 bar (issue 11)
MAX_REL_L2 = 0.03

#: model -> (keras2edge.quantize keywords, layers expected float, layers expected int16)
CASES = {
    "digits_mlp": (dict(keep_float=("dense_1",), int16=("dense_2",)), ["dense_1"], ["dense_2"]),
    "digits_mlp-io-int8": (dict(keep_float=("dense_1",), int16=("dense_2",), io="int8"), ["dense_1"], ["dense_2"]),
    "digits_cnn": (dict(keep_float=("dw2",), int16=("pw*", "ir_*")), ["dw2"], ["pw1", "pw2", "ir_expand", "ir_dw",
                                                                          "ir_project", "ir_add"]),
    "digits_cnn-int16x8": (dict(scheme="int16x8", keep_float=("ir_dw",)), ["ir_dw"], ["stem_conv", "pw2", "probs"]),
    "digits_lstm": (dict(int16=("lstm",)), [], ["lstm"]),
    "digits_gru": (dict(keep_float=("gru",)), ["gru"], []),
}


def _names(layers: list[str]) -> set[str]:
    return {entry.split(" (")[0] for entry in layers}


@pytest.mark.parametrize("case", sorted(CASES))
def test_mixed_precision_in_every_backend(case: str, tmp_path: Path) -> None:
    name = case.split("-")[0]
    options, floats, wide = CASES[case]
    run = run_oracles(name, tmp_path, **options)
    assert _names(run.info["kept_float"]) == set(floats), run.info
    assert set(wide) <= _names(run.info["int16_layers"]), run.info
    if options.get("scheme") != "int16x8":
        assert not _names(run.info["int16_layers"]) - set(wide), run.info
    dtypes = {dt for op, dt in run.ops if op not in ("QUANTIZE", "DEQUANTIZE")}
    assert ("float32" in dtypes) == bool(floats) and ("int16" in dtypes) == bool(wide), run.ops
    if wide and options.get("scheme") != "int16x8":
        # the region boundaries TFLite Micro ran: QUANTIZE int16 -> int8 into the int8 output layer, and
        # in the CNN (int8 stem, int16 blocks) QUANTIZE int8 -> int16 as well
        assert ("QUANTIZE", "int16") in run.ops, run.ops
        assert (("QUANTIZE", "int8") in run.ops) == (case == "digits_cnn"), run.ops
    keras_acc = MANIFEST["models"][name]["keras_test_accuracy"]
    for backend, acc in run.accuracy.items():
        assert acc >= keras_acc - MAX_DROP, (backend, acc, keras_acc)
    for backend, err in run.rel_l2.items():
        assert err <= MAX_REL_L2, (backend, err)


def _calibration(name: str) -> np.ndarray:
    return _data()["x_calib"].reshape((-1, *MANIFEST["models"][name]["input_shape"]))


def test_glob_matching_no_layer_is_refused() -> None:
    with pytest.raises(QuantizationError, match=r"--keep-float 'dens_\*' matches no Keras layer .*dense_1, dense_2"):
        keras2edge.quantize(TRAINED / "digits_mlp.keras", calibration=_calibration("digits_mlp"), keep_float=["dens_*"])
    with pytest.raises(QuantizationError, match=r"--int16 'conv' matches no Keras layer"):
        keras2edge.quantize(TRAINED / "digits_mlp.keras", calibration=_calibration("digits_mlp"), int16="conv")


def test_precision_switches_need_a_full_integer_scheme() -> None:
    with pytest.raises(QuantizationError, match=r"apply to the full-integer schemes \(int8, int16x8\), not to 'dynamic'"):
        keras2edge.quantize(TRAINED / "digits_mlp.keras", scheme="dynamic", keep_float=["dense_1"])


def test_int8_io_with_an_int16_output_layer_is_refused() -> None:
    with pytest.raises(QuantizationError, match=r"--io int8: model output 'probs' is int16 .*probs \(Dense\).*--io int16"):
        keras2edge.quantize(TRAINED / "digits_mlp.keras", calibration=_calibration("digits_mlp"), int16=["probs"],
                            io="int8")


def test_cli_flags(tmp_path: Path) -> None:
    cal = tmp_path / "cal.npy"
    np.save(cal, _calibration("digits_mlp"))
    out = tmp_path / "m.tflite"
    res = CliRunner().invoke(main, ["quantize", str(TRAINED / "digits_mlp.keras"), "-o", str(out), "--calibration",
                                    str(cal), "--keep-float", "dense_1", "--int16", "dense_2", "--int16", "probs"])
    assert res.exit_code == 0, res.output
    assert "kept float: dense_1 (Dense), int16: dense_2 (Dense), probs (Dense)" in res.output
    ops = {(op.name, op.dtype) for op in Interpreter(out.read_bytes()).ops}
    assert {op for op in ops if op[0] == "FULLY_CONNECTED"} == {("FULLY_CONNECTED", "float32"),
                                                                ("FULLY_CONNECTED", "int16")}
    bad = tmp_path / "bad.tflite"
    res = CliRunner().invoke(main, ["quantize", str(TRAINED / "digits_mlp.keras"), "-o", str(bad), "--calibration",
                                    str(cal), "--keep-float", "nope*"])
    assert res.exit_code == 1
    assert res.output.strip().count("\n") == 0 and "--keep-float 'nope*' matches no Keras layer" in res.output
    assert not bad.exists()
