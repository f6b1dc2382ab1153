"""Sparse weight storage (``convert/tflite/sparse.py``, ``save(..., sparse=True)``): the trained digits
fixtures with weights zeroed as pruning leaves them, written dense and sparse, against the oracles.

* LiteRT (reference and default XNNPACK kernels) gives the sparse file exactly the dense file's outputs;
* keras2edge.runtime reads it back (DENSIFY, sparse constants densified at load) with the same outputs;
* the PyPI ``tflite`` package reads the same SparsityParameters;
* the file shrinks by what the report says, and a weight that would not shrink stays dense;
* TFLite Micro cannot run it, and ``check --target tflm`` says so; int8 weights are refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import keras2edge
from keras2edge.check.support import UNSUPPORTED, WRONG, check_op
from keras2edge.convert.tflite import tflite_bytes, to_tflite, write_model
from keras2edge.convert.tflite.sparse import SPARSE_OVERHEAD, candidates, encode, sparsify_model
from keras2edge.errors import OptionError, UnsupportedOpError
from keras2edge.runtime import Interpreter
from keras2edge.runtime.model import Operator, OperatorCode, Tensor
from keras2edge.runtime.schema import op_code
from keras2edge.runtime.reader import load_model

from ...corpus import FIXTURES
from ...litert import litert
from ...tflm import op_names, tflm
from .helpers import check_with_tflite_package, zero_weights

TRAINED = FIXTURES / "trained"
MANIFEST = json.loads((TRAINED / "manifest.json").read_text())
PATTERNS = ["magnitude:0.5", "magnitude:0.75", "magnitude:0.9", "nm:2:4", "rows:0.5"]


def _model(name: str, how: str | None):  # noqa: ANN202
    g = keras2edge.load(TRAINED / MANIFEST["models"][name]["file"])
    return g if how is None else zero_weights(g, how)


def _x(name: str, n: int = 32) -> np.ndarray:
    d = np.load(TRAINED / "digits.npz")
    return d["x_test"][:n].reshape((-1, *MANIFEST["models"][name]["input_shape"])).astype(np.float32)


@pytest.mark.parametrize("how", PATTERNS)
@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn"])
def test_sparse_file_runs_as_the_dense_one(name: str, how: str) -> None:
    g = _model(name, how)
    dense = tflite_bytes(g)
    model = to_tflite(g)
    report = sparsify_model(model)
    sparse = write_model(model)
    assert sparse == tflite_bytes(g, sparse=True)
    check_with_tflite_package(sparse, model)
    x = [_x(name)]
    for reference in (True, False):
        want = litert(dense, x, reference=reference)[0]
        got = litert(sparse, x, reference=reference)[0]
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(Interpreter(sparse).run(x[0]), Interpreter(dense).run(x[0]))
    # What the report says is what the file saves (the overhead estimate is an upper bound).
    n_sparse = sum(w.sparse for w in report.weights)
    assert n_sparse == op_names(load_model(sparse)).count("DENSIFY")
    assert len(sparse) <= len(dense) - report.dense_bytes + report.stored_bytes
    assert len(sparse) >= len(dense) - report.dense_bytes + report.stored_bytes - SPARSE_OVERHEAD * n_sparse
    for w in report.weights:
        assert w.sparse == (w.stored_bytes < w.dense_bytes), w
    if how == "magnitude:0.9":
        assert n_sparse == len(report.weights) and len(sparse) < 0.5 * len(dense)


def test_reader_keeps_the_sparsity_and_densifies_exactly() -> None:
    g = _model("digits_cnn", "magnitude:0.75")
    data = tflite_bytes(g, sparse=True)
    m = load_model(data)
    sg = m.subgraphs[0]
    dense_model = to_tflite(g)
    dsg = dense_model.subgraphs[0]
    by_name = {t.name: i for i, t in enumerate(dsg.tensors)}
    checked = 0
    for i, t in enumerate(sg.tensors):
        if t.sparsity is None:
            continue
        assert t.name.endswith("/sparse")
        want = dense_model.tensor_data(0, by_name[t.name[: -len("/sparse")]])
        np.testing.assert_array_equal(m.tensor_data(0, i), want)
        checked += 1
    assert checked == op_names(m).count("DENSIFY") > 0


@pytest.mark.parametrize("order,k", candidates(4), ids=str)
def test_every_encoding_runs_in_litert(order: tuple[int, ...], k: int) -> None:
    """Each encoding the writer chooses from (traversal order, SPARSE_CSR level; levels before it dense,
    levels after it dense inside each kept slice) as LiteRT's DENSIFY reads it, on a conv weight (OHWI)."""
    rng = np.random.default_rng(k)
    g = _model("digits_cnn", None)
    model = to_tflite(g)
    sg = model.subgraphs[0]
    conv = next(op for op, n in zip(sg.operators, op_names(model))
                if n == "CONV_2D" and sg.tensors[op.inputs[1]].shape[3] >= 3)
    wi = conv.inputs[1]
    t = sg.tensors[wi]
    w = np.array(model.tensor_data(0, conv.inputs[1]))
    w[rng.random(w.shape) < 0.6] = 0
    w[..., 2] = 0
    values, sparsity = encode(w, k, order)
    assert [d.format for d in sparsity.dim_metadata] == [int(j == k) for j in range(4)]
    assert sparsity.traversal_order == order
    model.buffers[t.buffer] = w.view(np.uint8).ravel()
    dense = write_model(model)
    model.buffers[t.buffer] = values.view(np.uint8).ravel()
    t.sparsity = sparsity
    sg.tensors.append(Tensor(name="w_dense", shape=t.shape, type=t.type))
    model.operator_codes.append(OperatorCode(op_code("DENSIFY")))
    conv.inputs = (conv.inputs[0], len(sg.tensors) - 1, *conv.inputs[2:])
    sg.operators.insert(0, Operator(len(model.operator_codes) - 1, (wi,), (len(sg.tensors) - 1,)))
    sparse = write_model(model)
    x = [_x("digits_cnn", 8)]
    np.testing.assert_array_equal(litert(sparse, x)[0], litert(dense, x)[0])
    np.testing.assert_array_equal(Interpreter(sparse).run(x[0]), Interpreter(dense).run(x[0]))


def test_weights_without_enough_zeros_stay_dense(caplog: pytest.LogCaptureFixture) -> None:
    g = _model("digits_mlp", "magnitude:0.1")
    model = to_tflite(g)
    report = sparsify_model(model)
    assert report.weights and not any(w.sparse for w in report.weights)
    assert all(w.reason.startswith("kept dense: 10% zeros") for w in report.weights), report.weights
    assert tflite_bytes(g, sparse=True) == tflite_bytes(g)
    d = report.to_dict()
    assert d["sparse_weights"] == 0 and d["stored_bytes"] == d["dense_bytes"]


def test_int8_weights_are_refused() -> None:
    g = _model("digits_mlp", "magnitude:0.75")
    q = keras2edge.quantize(g, calibration=_x("digits_mlp", 64))
    with pytest.raises(UnsupportedOpError, match=r"weight '.*' of FULLY_CONNECTED is int8: sparse weights are "
                                                  r"written for float32 weights only"):
        tflite_bytes(q, sparse=True)


def test_save_and_cli(tmp_path: Path) -> None:
    g = _model("digits_mlp", "magnitude:0.75")
    dense, sparse = tmp_path / "d.tflite", tmp_path / "s.tflite"
    keras2edge.save(g, dense)
    keras2edge.save(g, sparse, sparse=True)
    assert sparse.stat().st_size < 0.6 * dense.stat().st_size
    assert sparse.read_bytes() == tflite_bytes(g, sparse=True)
    # inspect counts the bytes a sparse weight stores, not its dense size
    from keras2edge.api import inspect_tflite

    dense_report, sparse_report = inspect_tflite(dense), inspect_tflite(sparse)
    assert sparse_report["weight_bytes"] < 0.35 * dense_report["weight_bytes"]
    assert sparse_report["total_macs"] == dense_report["total_macs"]
    with pytest.raises(OptionError, match=r"'.*m.onnx' with sparse weights: they are written to .tflite only"):
        keras2edge.save(g, tmp_path / "m.onnx", sparse=True)
    assert not (tmp_path / "m.onnx").exists()

    from click.testing import CliRunner

    from keras2edge.cli import main

    out = tmp_path / "cli.tflite"
    r = CliRunner().invoke(main, ["convert", str(TRAINED / "digits_mlp.keras"), "-o", str(out), "--sparse"])
    assert r.exit_code == 0, r.output
    assert "DENSIFY" not in op_names(load_model(out.read_bytes()))  # the trained weights have no zeros
    r = CliRunner().invoke(main, ["convert", str(TRAINED / "digits_mlp.keras"), "-o", str(tmp_path / "x.onnx"),
                                  "--sparse"])
    assert r.exit_code == 1 and "written to .tflite only" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x.onnx").exists()


def test_tflite_micro_cannot_run_it_and_check_says_so() -> None:
    g = _model("digits_mlp", "magnitude:0.75")
    data = tflite_bytes(g, sparse=True)
    with pytest.raises(RuntimeError):
        tflm(data, [_x("digits_mlp", 1)], 1)
    m = load_model(data)
    sg = m.subgraphs[0]
    for op, name in zip(sg.operators, op_names(m)):
        status, reason = check_op(name, m, sg, op)
        if name == "DENSIFY":
            assert status == UNSUPPORTED and "no DENSIFY kernel" in reason
        else:
            assert status != UNSUPPORTED
    # An op reading a sparse constant directly: TFLite Micro reads the stored values as dense.
    fc = next(op for op, name in zip(sg.operators, op_names(m)) if name == "FULLY_CONNECTED")
    densify = next(op for op, name in zip(sg.operators, op_names(m)) if name == "DENSIFY")
    fc.inputs = (fc.inputs[0], densify.inputs[0], *fc.inputs[2:])
    status, reason = check_op("FULLY_CONNECTED", m, sg, fc)
    assert status == WRONG and "stored sparse" in reason
