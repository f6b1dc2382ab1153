"""``keras2edge prune``: the table and files it writes, --json and --report, exit codes and one-line
errors, nothing written when the input is bad."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from keras2edge.cli import main
from keras2edge.runtime import Interpreter

from .helpers import model_path, split

MLP = str(model_path("digits_mlp"))


def _data(tmp_path: Path) -> tuple[str, str]:
    xc = split("digits_mlp", "calib")[0]
    xt, yt = split("digits_mlp", "test")
    np.save(tmp_path / "calib.npy", xc)
    np.savez(tmp_path / "test.npz", image=xt, labels=yt)
    return str(tmp_path / "calib.npy"), str(tmp_path / "test.npz")


def test_prune_writes_model_table_and_reports(tmp_path: Path) -> None:
    calib, test = _data(tmp_path)
    out, rep_json, rep_md = tmp_path / "p.tflite", tmp_path / "r.json", tmp_path / "r.md"
    res = CliRunner().invoke(main, ["prune", MLP, "-o", str(out), "--calibration", calib, "--eval", test,
                                    "--report", str(rep_json)])
    assert res.exit_code == 0, res.output
    # the defaults: with --calibration on a small model, the auto schedule and the bar (<= 1 point)
    assert "(schedule auto, target sparsity 0.50)" in res.output and "| dense_1 | Dense |" in res.output
    assert "Accuracy on 360 eval samples: 96.94% -> 96.67%" in res.output
    rep = json.loads(rep_json.read_text())
    assert rep["eval"]["accuracy_before_pct"] == 96.944 and rep["eval"]["accuracy_drop_pts"] <= 1.0
    assert rep["totals"]["pruned"] == round(0.5 * rep["totals"]["prunable"])
    it = Interpreter(out.read_bytes())
    y = np.asarray(it.run(split("digits_mlp", "test")[0]))
    acc = 100 * np.mean(y.argmax(-1) == split("digits_mlp", "test")[1])     # the written file has the reported accuracy
    assert abs(acc - rep["eval"]["accuracy_after_pct"]) < 1e-3
    res = CliRunner().invoke(main, ["prune", MLP, "-o", str(tmp_path / "p.onnx"), "--method", "nm", "--json",
                                    "--eval", test, "--report", str(rep_md), "--no-recover"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["nm"] == "2:4" and data["ran"] == ["magnitude"] and data["eval"]["samples"] == 360
    assert rep_md.read_text().startswith("Pruned digits_mlp with nm 2:4")


def test_unlabelled_eval_reports_agreement(tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", image=split("digits_mlp", "test")[0])
    res = CliRunner().invoke(main, ["prune", MLP, "-o", str(tmp_path / "p.tflite"), "--sparsity", "0.3",
                                    "--schedule", "layer", "--eval", str(tmp_path / "x.npz"), "--json"])
    assert res.exit_code == 0, res.output
    ev = json.loads(res.output)["eval"]
    assert "accuracy_before_pct" not in ev and 90 <= ev["agreement_pct"] <= 100


def _refused(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "out" / "p.tflite"
    out.parent.mkdir(exist_ok=True)
    res = CliRunner().invoke(main, ["prune", MLP, "-o", str(out), *args])
    assert res.exit_code == 1, res.output
    assert res.output.startswith("Error: ") and message in res.output, res.output
    assert "Traceback" not in res.output and res.output.count("\n") == 1
    assert os.listdir(out.parent) == []


def test_bad_input_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    calib, test = _data(tmp_path)
    _refused(tmp_path, ["--sparsity", "1.5"], "sparsity must be in [0, 1), got 1.5")
    _refused(tmp_path, ["--sparsity", "-0.1"], "sparsity must be in [0, 1)")
    _refused(tmp_path, ["--method", "nm", "--n", "4", "--m", "4"], "N:M pruning needs 1 <= N < M, got 4:4")
    _refused(tmp_path, ["--method", "nm", "--m", "3", "--n", "1"], "dense_1 (Dense) weight dense_1/kernel input dimension 64")
    _refused(tmp_path, ["--exclude", "dense*", "--exclude", "probs"], "excludes every prunable layer")
    _refused(tmp_path, ["--method", "shuffle"], "unknown pruning method 'shuffle'")
    _refused(tmp_path, ["--schedule", "auto"], "--schedule auto needs --calibration")
    _refused(tmp_path, ["--recover"], "needs --calibration data")
    _refused(tmp_path, ["--calibration", str(tmp_path / "nope.npy")], "no such file")
    np.save(tmp_path / "bad.npy", np.zeros((4, 8, 7), np.float32))
    _refused(tmp_path, ["--calibration", str(tmp_path / "bad.npy")], "calibration data")
    np.savez(tmp_path / "badlab.npz", image=split("digits_mlp", "test")[0], labels=np.zeros(5, np.int64))
    _refused(tmp_path, ["--eval", str(tmp_path / "badlab.npz")], "5 labels for 360 samples")
    _refused(tmp_path, ["--report", str(tmp_path / "r.txt")], "the report is written as .json or .md")


def test_prune_then_quantize_int8(tmp_path: Path) -> None:
    calib, test = _data(tmp_path)
    out = tmp_path / "pq.tflite"
    res = CliRunner().invoke(main, ["prune", MLP, "-o", str(out), "--calibration", calib, "--eval", test,
                                    "--quantize", "int8", "--io", "int8", "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["quantize"] == "int8"
    it = Interpreter(out.read_bytes())
    d = it.get_input_details()[0]
    assert np.dtype(d["dtype"]) == np.int8
    x, y = split("digits_mlp", "test")
    scale, zero = d["quantization"]
    xq = np.clip(np.round(x / scale) + zero, -128, 127).astype(np.int8)
    acc = 100 * np.mean(np.asarray(it.run(xq)).argmax(-1) == y)
    assert acc >= rep["eval"]["accuracy_after_pct"] - 1.5      # int8 of the pruned model keeps its accuracy
    _refused(tmp_path, ["--quantize", "int8"], "--quantize int8 needs --calibration data")
    _refused(tmp_path, ["--quantize", "int4", "--calibration", calib], "int4")


def test_channel_pruning_to_keras_and_back(tmp_path: Path) -> None:
    """``--method channel -o .keras``: the pruned model is written into the source's Keras file, the
    report carries the channel figures and the eval accuracy, and the written file, converted again by
    keras2edge, has that accuracy; ``--quantize`` refuses a Keras output before any work."""
    cnn = str(model_path("digits_cnn"))
    xc = split("digits_cnn", "calib")[0]
    xt, yt = split("digits_cnn", "test")
    np.save(tmp_path / "calib.npy", xc)
    np.savez(tmp_path / "test.npz", image=xt, labels=yt)
    out = tmp_path / "p.keras"
    res = CliRunner().invoke(main, ["prune", cnn, "--method", "channel", "--sparsity", "0.3", "-o", str(out),
                                    "--calibration", str(tmp_path / "calib.npy"), "--eval", str(tmp_path / "test.npz"),
                                    "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["method"] == "channel" and "reconstruction" in rep["ran"]
    assert rep["totals"]["params_after"] < 0.8 * rep["totals"]["params_before"]
    res = CliRunner().invoke(main, ["convert", str(out), "-o", str(tmp_path / "p.tflite")])
    assert res.exit_code == 0, res.output
    y = np.asarray(Interpreter((tmp_path / "p.tflite").read_bytes()).run(xt))
    assert abs(100 * np.mean(y.argmax(-1) == yt) - rep["eval"]["accuracy_after_pct"]) < 1e-3
    bad = tmp_path / "q.keras"
    res = CliRunner().invoke(main, ["prune", cnn, "--method", "channel", "-o", str(bad), "--quantize", "float16"])
    assert res.exit_code == 1 and "written as .tflite or .onnx, not as a Keras file" in res.output
    assert not bad.exists()
