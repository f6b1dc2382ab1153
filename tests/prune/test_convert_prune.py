"""``keras2edge convert MODEL --prune ... --quantize int8 -o OUT``: pruning and quantization chained in
one command (issue 12 item 5), with the prune command's options.

Oracles: the written int8 ``.tflite`` runs in keras2edge.runtime bit-exactly against TFLite Micro on
every test sample; the pruned float file is byte for byte the one ``keras2edge prune`` writes with
the same options; a channel-pruned int8 file is smaller than the unpruned int8 file written by
``keras2edge quantize``; the report's accuracy is the written file's. Bad input exits 1 with one line
and writes nothing; pruning options without ``--prune`` are a usage error (exit 2).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from keras2edge.cli import main
from keras2edge.runtime import Interpreter
from keras2edge.runtime.reader import load_model
from keras2edge.runtime.schema import ENUMS

from ..tflm import tflm
from .helpers import model_path, split

MLP = str(model_path("digits_mlp"))
CNN = str(model_path("digits_cnn"))
INT8 = ENUMS["TensorType"]["INT8"]


def _data(tmp_path: Path, name: str) -> tuple[str, str]:
    np.save(tmp_path / f"{name}_calib.npy", split(name, "calib")[0])
    xt, yt = split(name, "test")
    np.savez(tmp_path / f"{name}_test.npz", image=xt, labels=yt)
    return str(tmp_path / f"{name}_calib.npy"), str(tmp_path / f"{name}_test.npz")


def _invoke(args: list[str]) -> dict:
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return json.loads(res.output) if "--json" in args else {}


def _int8_bit_exact_with_tflm(blob: bytes, name: str) -> float:
    """Every test sample through our runtime and TFLite Micro: equal int8 outputs; our top-1 accuracy (%)."""
    it = Interpreter(blob)
    d = it.get_input_details()[0]
    assert np.dtype(d["dtype"]) == np.int8
    scale, zero = d["quantization"]
    x, y = split(name, "test")
    hits = 0
    for k in range(len(x)):
        xq = np.clip(np.round(x[k:k + 1] / scale) + zero, -128, 127).astype(np.int8)
        ours = np.asarray(it.run(xq))
        micro = tflm(blob, [xq])[0]
        np.testing.assert_array_equal(ours, micro.reshape(ours.shape), err_msg=f"sample {k}")
        hits += int(ours.argmax() == y[k])
    return 100.0 * hits / len(x)


def test_convert_prune_quantize_int8_is_bit_exact_with_tflm(tmp_path: Path) -> None:
    calib, test = _data(tmp_path, "digits_mlp")
    out = tmp_path / "pq.tflite"
    rep = _invoke(["convert", MLP, "--prune", "--sparsity", "0.5", "--calibration", calib, "--eval", test,
                   "--quantize", "int8", "--io", "int8", "-o", str(out), "--json"])
    assert rep["quantize"] == "int8" and rep["method"] == "magnitude" and rep["output"] == str(out)
    assert rep["totals"]["pruned"] == round(0.5 * rep["totals"]["prunable"])
    acc = _int8_bit_exact_with_tflm(out.read_bytes(), "digits_mlp")
    assert acc >= rep["eval"]["accuracy_after_pct"] - 1.5          # int8 keeps the pruned model's accuracy
    # the zeros survive quantization: the int8 weight buffers hold at least the pruned count of zeros
    model = load_model(out.read_bytes())
    weights = [t for t in model.subgraphs[0].tensors if t.type == INT8 and len(t.shape) == 2 and t.buffer
               and model.buffers[t.buffer].size]
    zeros = sum(int(np.sum(np.frombuffer(model.buffers[t.buffer], np.int8) == 0)) for t in weights)
    assert zeros >= rep["totals"]["pruned"], (zeros, rep["totals"])


def test_convert_prune_float_is_what_prune_writes(tmp_path: Path) -> None:
    """Without --quantize, convert --prune writes the very file `keras2edge prune` writes (same options),
    and its output shows the report's table."""
    calib, _ = _data(tmp_path, "digits_mlp")
    a, b = tmp_path / "a.tflite", tmp_path / "b.tflite"
    res = CliRunner().invoke(main, ["convert", MLP, "--prune", "--method", "nm", "--calibration", calib,
                                    "-o", str(a)])
    assert res.exit_code == 0, res.output
    assert "| dense_1 | Dense |" in res.output and f"Wrote {a}" in res.output
    _invoke(["prune", MLP, "--method", "nm", "--calibration", calib, "-o", str(b)])
    assert a.read_bytes() == b.read_bytes()


def test_convert_prune_channel_int8_is_smaller_and_bit_exact(tmp_path: Path) -> None:
    calib, test = _data(tmp_path, "digits_cnn")
    base, out = tmp_path / "base.tflite", tmp_path / "pq.tflite"
    _invoke(["quantize", CNN, "--calibration", calib, "--io", "int8", "-o", str(base)])
    rep = _invoke(["convert", CNN, "--prune", "--method", "channel", "--sparsity", "0.3", "--calibration", calib,
                   "--eval", test, "--quantize", "int8", "--io", "int8", "-o", str(out), "--json"])
    assert rep["method"] == "channel" and "reconstruction" in rep["ran"]
    smaller = 1 - out.stat().st_size / base.stat().st_size
    assert smaller >= 0.25, (base.stat().st_size, out.stat().st_size)
    acc = _int8_bit_exact_with_tflm(out.read_bytes(), "digits_cnn")
    assert acc >= rep["eval"]["accuracy_after_pct"] - 2.0


def test_convert_prune_to_onnx(tmp_path: Path) -> None:
    """--opset reaches the ONNX writer; the pruned float model computes what the pruned .tflite computes."""
    import onnx

    from ..onnxrt import ort_session

    calib, _ = _data(tmp_path, "digits_mlp")
    onnx_out, tfl = tmp_path / "p.onnx", tmp_path / "p.tflite"
    _invoke(["convert", MLP, "--prune", "--calibration", calib, "--opset", "17", "-o", str(onnx_out)])
    _invoke(["convert", MLP, "--prune", "--calibration", calib, "-o", str(tfl)])
    assert onnx.load(str(onnx_out)).opset_import[0].version == 17
    x = split("digits_mlp", "test")[0][:32]
    sess = ort_session(str(onnx_out))
    theirs = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(np.asarray(Interpreter(tfl.read_bytes()).run(x)), theirs, rtol=1e-5, atol=1e-6)


def _refused(tmp_path: Path, args: list[str], message: str, model: str = MLP, code: int = 1,
             output: str = "p.tflite") -> None:
    out = tmp_path / "out" / output
    out.parent.mkdir(exist_ok=True)
    res = CliRunner().invoke(main, ["convert", model, "-o", str(out), *args])
    assert res.exit_code == code, res.output
    assert message in res.output, res.output
    assert "Traceback" not in res.output
    if code == 1:
        assert res.output.startswith("Error: ") and res.output.count("\n") == 1, res.output
    assert os.listdir(out.parent) == []


def test_bad_input_exits_1_one_line_no_file(tmp_path: Path) -> None:
    calib, _ = _data(tmp_path, "digits_mlp")
    _refused(tmp_path, ["--prune", "--sparsity", "1.2"], "sparsity must be in [0, 1), got 1.2")
    _refused(tmp_path, ["--prune", "--method", "nm", "--n", "4", "--m", "2"], "N:M pruning needs 1 <= N < M, got 4:2")
    _refused(tmp_path, ["--prune", "--method", "nm", "--n", "1", "--m", "3"],
             "dense_1 (Dense) weight dense_1/kernel input dimension 64")
    # calibration data required by a step and not given
    _refused(tmp_path, ["--prune", "--quantize", "int8"], "--quantize int8 needs --calibration data")
    _refused(tmp_path, ["--prune", "--schedule", "auto", "--quantize", "dynamic"], "--schedule auto needs --calibration")
    _refused(tmp_path, ["--prune", "--recover"], "needs --calibration data")
    _refused(tmp_path, ["--prune", "--method", "channel", "--criterion", "activation"], "needs calibration data",
             model=CNN)
    _refused(tmp_path, ["--prune", "--calibration", str(tmp_path / "nope.npy")], "no such file")
    np.save(tmp_path / "bad.npy", np.zeros((4, 8, 7), np.float32))
    _refused(tmp_path, ["--prune", "--calibration", str(tmp_path / "bad.npy")], "calibration data")
    _refused(tmp_path, ["--prune", "--quantize", "int4", "--calibration", calib], "int4")
    _refused(tmp_path, ["--prune", "--sparse", "--quantize", "int8", "--calibration", calib],
             "a --quantize'd model has none to store")
    _refused(tmp_path, ["--prune"], "supported: .onnx, .tflite", output="p.keras")


def test_pruning_options_need_prune(tmp_path: Path) -> None:
    """Without --prune, convert is unchanged: its pruning options are a usage error (exit 2), and
    --prune is for one model."""
    calib, _ = _data(tmp_path, "digits_mlp")
    _refused(tmp_path, ["--sparsity", "0.5"], "--sparsity: pruning options, used with --prune", code=2)
    _refused(tmp_path, ["--no-recover"], "--no-recover: pruning options, used with --prune", code=2)
    _refused(tmp_path, ["--quantize", "int8", "--calibration", calib],
             "--calibration, --quantize: pruning options, used with --prune", code=2)
    out = tmp_path / "batch"
    res = CliRunner().invoke(main, ["convert", MLP, CNN, "--prune", "-o", f"{out}/", "--format", "tflite"])
    assert res.exit_code == 2 and "--prune applies to one model" in res.output
    assert not out.exists()


def test_convert_prune_sparse_is_smaller_and_computes_the_same(tmp_path: Path) -> None:
    """--sparse reaches the TFLite writer: the 90%-pruned float model stored sparse is smaller and runs
    (DENSIFY) to the dense file's outputs."""
    dense, sparse = tmp_path / "d.tflite", tmp_path / "s.tflite"
    for out, extra in ((dense, []), (sparse, ["--sparse"])):
        _invoke(["convert", MLP, "--prune", "--sparsity", "0.9", "--schedule", "layer", *extra, "-o", str(out)])
    assert sparse.stat().st_size < 0.7 * dense.stat().st_size
    x = split("digits_mlp", "test")[0][:32]
    np.testing.assert_array_equal(np.asarray(Interpreter(sparse.read_bytes()).run(x)),
                                  np.asarray(Interpreter(dense.read_bytes()).run(x)))
