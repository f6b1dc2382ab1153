"""quantize/weights_only.py: the "dynamic" and "float16" schemes on every committed fixture model.

Each Keras fixture of tests/fixtures (k3 and k2, one file per model, with its Keras-recorded
``.io.npz``) is quantized in both schemes with ``min_weight_elements=0`` (the fixtures' weights are all
below the converter's 1024-element threshold, so the default would leave them float; 0 quantizes
every weight, and for float16 every float constant, as the converter's float16 mode does). Then:

* the graph verifies, its integer (float16) constants sit behind Dequantize nodes only
  (``ir.quant.outside_qdq``), and the weights obey the spec (int8 in [-127, 127], zero point 0, one
  scale per output channel on the op spec's axis, scale = max|w| / 127);
* the ``.tflite`` runs in LiteRT (reference kernels where BUILTIN_REF has every builtin of the file,
  and the default kernels) and in keras2edge.runtime; ours is within :data:`OURS_VS_LITERT` of LiteRT's
  reference kernels (the hybrid kernels are bit-exact per op, tests/runtime/kernels/test_hybrid.py; the
  float ops between them sum in another order), and every backend is within the scheme's bound of
  Keras's float outputs (:data:`KERAS_BOUND`, measured worst with a margin);
* the float16 file is refused by TFLite Micro (no float16 DEQUANTIZE: its dequantize_common.cc
  accepts int8/int16/uint8 only), which ``keras2edge check --target tflm`` reports;
* the weights stored shrink: int8 4×, float16 2× the float32 bytes, and the dynamic file is never
  larger;
* the ONNX file runs in onnxruntime within the same bounds (DequantizeLinear / Cast of the stored
  weights).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import keras2edge
from keras2edge.convert.onnx import to_onnx
from keras2edge.convert.tflite import to_tflite, write_model
from keras2edge.ir.dtypes import DType
from keras2edge.ir.ops import QuantRule, op_spec
from keras2edge.ir.quant import outside_qdq
from keras2edge.quantize.schemes import QuantizeOptions, scheme
from keras2edge.runtime import Interpreter
from keras2edge.runtime.schema import op_name

from ..corpus import FIXTURES
from ..litert import LITERT_REF_MISSING, litert
from ..onnxrt import run_graph_onnx
from ..test_fixtures import KERAS_BUGS
from ..tflm import tflm, tflm_unsupported
from ..tolerances import scaled_error

MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
# One entry per model (its first format that converts).
MODELS: list[dict] = []
for _e in MANIFEST:
    if _e["expect"] == "convert" and not any((m["era"], m["model"]) == (_e["era"], _e["model"]) for m in MODELS):
        MODELS.append(_e)

# Error against Keras's float outputs (scaled_error: max |got - want| / max |want|), worst measured
# over LiteRT reference and default kernels, keras2edge.runtime and onnxruntime, with min_weight_elements=0:
# dynamic 2.5e-2 (k2-merge, LiteRT/ours), float16 1.1e-3 (k3-cnn_cf); margin about 2x.
KERAS_BOUND = {"dynamic": 5e-2, "float16": 3e-3}
# Except k2-cnn2d, whose ReLU(threshold=0.1) and ThresholdedReLU(0.1) turn small input changes into
# jumps of 0.1 (a third of the output's peak): dynamic 0.116 (the hybrid input quantization moves
# values across the threshold), float16 0.292 (the threshold itself is stored as 0.099976). The
# IR evaluator of the float16 graph gives the same 0.292: the scheme, not a backend.
KERAS_BOUND_EXCEPT = {("k2-cnn2d", "dynamic"): 0.25, ("k2-cnn2d", "float16"): 0.6}
# keras2edge.runtime against LiteRT's reference kernels on the same file: worst 4.4e-7 (k2-bn_eps,
# float16); margin 4.5x.
OURS_VS_LITERT = 2e-6


def _id(e: dict) -> str:
    return f"{e['era']}-{e['model']}"


def _load(entry: dict):
    weights = FIXTURES / entry["weights"] if entry.get("weights") else None
    graph = keras2edge.load(FIXTURES / entry["file"], weights)
    io = np.load(FIXTURES / entry["io"], allow_pickle=False)
    feeds = {k[3:]: io[k] for k in io.files if k.startswith("in:")}
    (x0,) = feeds.values() if len(feeds) == 1 else (None,)
    want = [KERAS_BUGS[name](x0) if name in KERAS_BUGS and x0 is not None else io[f"out:{k}"]
            for k, name in enumerate(entry["outputs"])]
    return graph, feeds, want


def _quantized(graph, name: str):
    return scheme(name)(graph, QuantizeOptions(scheme=name, min_weight_elements=0))


def _bound(entry: dict, name: str) -> float:
    return KERAS_BOUND_EXCEPT.get((_id(entry), name), KERAS_BOUND[name])


def _has_weights(graph, name: str) -> bool:
    """Whether the scheme stores anything of ``graph``: a float constant (float16), a weight of a
    PER_CHANNEL_WEIGHTS op (dynamic: k3-activations, k3-kops, k2-activations, k2-tfop have none)."""
    if name == "float16":
        return any(c.dtype == DType.FLOAT32 for c in graph.constants())
    return any(op_spec(n.op).quant == QuantRule.PER_CHANNEL_WEIGHTS for n in graph.nodes)


def _check_weights(graph, q, name: str) -> None:
    """Stored constants: behind Dequantize nodes; int8 per the spec; float16 the float32 values rounded."""
    assert outside_qdq(q.values(), q.outputs) == []
    float_consts = {c.name: c.const for c in graph.constants() if c.dtype == DType.FLOAT32}
    dqs = [n for n in q.nodes if n.op == "Dequantize"]
    assert bool(dqs) == _has_weights(graph, name), "what is stored differs from what the scheme stores"
    for dq in dqs:
        c = dq.inputs[0]
        assert c is not None and c.is_const and [n.op for n, _ in dq.output.uses]
        w = float_consts[c.name].astype(np.float64)
        if name == "float16":
            assert c.dtype == DType.FLOAT16 and dq.attrs["quant"] is None
            assert np.array_equal(c.const, w.astype(np.float16))
            continue
        assert c.dtype == DType.INT8
        qp = dq.attrs["quant"]
        readers = {op_spec(n.op).weights.out_axis for n, _ in dq.output.uses  # type: ignore[union-attr]
                   if op_spec(n.op).quant == QuantRule.PER_CHANNEL_WEIGHTS}
        assert readers == {qp.axis}
        assert np.all(qp.zero_point == 0) and -127 <= c.const.min() and c.const.max() <= 127
        peak = np.abs(w).max(axis=tuple(a for a in range(w.ndim) if a != qp.axis))
        assert np.array_equal(qp.scale, np.where(peak > 0, peak / 127, 1.0).astype(np.float32))
        shape = [1] * w.ndim
        shape[qp.axis] = -1
        # Within half a step of the float weights (the rounding), exactly at each channel's peak.
        err = np.abs(c.const * qp.scale.reshape(shape).astype(np.float64) - w)
        assert np.all(err <= qp.scale.reshape(shape) * (0.5 + 1e-6))


@pytest.mark.parametrize("name", ["dynamic", "float16"])
@pytest.mark.parametrize("entry", MODELS, ids=[_id(e) for e in MODELS])
def test_fixture_tflite(entry: dict, name: str) -> None:
    graph, feeds, want = _load(entry)
    q = _quantized(graph, name)
    q.verify()
    _check_weights(graph, q, name)
    xs = [feeds[v.name] for v in graph.inputs]
    model = to_tflite(q)
    data = write_model(model)
    bound = _bound(entry, name)

    ours = Interpreter(data).run(xs[0] if len(xs) == 1 else xs)
    ours = [ours] if isinstance(ours, np.ndarray) else list(ours.values() if isinstance(ours, dict) else ours)
    errs = {"ours": max(scaled_error(g, w) for g, w in zip(ours, want))}
    errs["litert"] = max(scaled_error(g, w) for g, w in zip(litert(data, xs, reference=False), want))
    codes = {(op_name(c.builtin_code), c.version) for c in model.operator_codes}
    if not codes & LITERT_REF_MISSING:
        ref = litert(data, xs, reference=True)
        errs["litert_ref"] = max(scaled_error(g, w) for g, w in zip(ref, want))
        gap = max(scaled_error(g, r) for g, r in zip(ours, ref))
        assert gap <= OURS_VS_LITERT, f"{_id(entry)} {name}: keras2edge.runtime vs LiteRT reference {gap}"
    assert max(errs.values()) <= bound, f"{_id(entry)} {name}: errors against Keras {errs} (bound {bound})"

    # Storage: int8 weights are a quarter, float16 constants half of their float32 bytes.
    sg = model.subgraphs[0]
    kind = {"dynamic": DType.INT8, "float16": DType.FLOAT16}[name]
    stored = [t for t in sg.tensors if t.buffer and len(model.buffers[t.buffer]) and t.type == _code(kind)]
    assert bool(stored) == _has_weights(graph, name)
    for t in stored:
        assert len(model.buffers[t.buffer]) * (4 // kind.np.itemsize) == int(np.prod(t.shape)) * 4
    if name == "dynamic":
        assert len(data) <= len(write_model(to_tflite(graph)))


def _code(dtype: DType) -> int:
    from keras2edge.convert.tflite.emitter import tensor_type

    return tensor_type(dtype)


def test_float16_refused_by_tflite_micro() -> None:
    """TFLite Micro has no float16 DEQUANTIZE: it fails to prepare the file, and the support check says so."""
    entry = next(e for e in MODELS if _id(e) == "k3-mlp")
    graph, feeds, want = _load(entry)
    (x,) = feeds.values()
    model = to_tflite(_quantized(graph, "float16"), batch=x.shape[0])
    assert tflm_unsupported(model) == ["DEQUANTIZE (float16)"]
    with pytest.raises(RuntimeError, match="allocate"):
        tflm(write_model(model), [x])
    # The dynamic file needs LiteRT's hybrid kernels: TFLite Micro's FULLY_CONNECTED refuses float32
    # input with int8 filter ("not supported"; keras2edge.check.support does not list it yet).
    with pytest.raises(RuntimeError, match="allocate"):
        tflm(write_model(to_tflite(_quantized(graph, "dynamic"), batch=x.shape[0])), [x])


@pytest.mark.parametrize("name", ["dynamic", "float16"])
@pytest.mark.parametrize("entry", MODELS, ids=[_id(e) for e in MODELS])
def test_fixture_onnx(entry: dict, name: str) -> None:
    graph, feeds, want = _load(entry)
    q = _quantized(graph, name)
    model = to_onnx(q)
    ops = [n.op_type for n in model.graph.node]
    # Stored weights are widened where they are read, in the reader's layout (a conv kernel OIHW).
    assert ("DequantizeLinear" in ops) == (name == "dynamic" and _has_weights(graph, name))
    assert ("Cast" in ops) >= (name == "float16" and _has_weights(graph, name))
    got = run_graph_onnx(q, feeds)
    errs = [scaled_error(g, w) for g, w in zip(got, want)]
    assert max(errs) <= _bound(entry, name), f"{_id(entry)} {name}: onnxruntime errors {errs}"


def test_default_threshold_and_per_tensor() -> None:
    """Weights below 1024 elements stay float by default (the converter's rule); per_tensor: one scale."""
    entry = next(e for e in MODELS if _id(e) == "k2-theano_conv")   # a 1890-weight Dense, small convs
    graph, _, _ = _load(entry)
    q = scheme("dynamic")(graph, QuantizeOptions(scheme="dynamic"))
    dqs = [n for n in q.nodes if n.op == "Dequantize"]
    assert [(n.inputs[0].shape, n.attrs["quant"].axis) for n in dqs] == [((630, 3), 1)]  # type: ignore[union-attr]
    assert {n.op for n, _ in dqs[0].output.uses} == {"FullyConnected"}
    q = scheme("dynamic")(graph, QuantizeOptions(scheme="dynamic", per_tensor=True, min_weight_elements=0))
    assert all(n.attrs["quant"].axis is None and n.attrs["quant"].channels == 1 for n in q.nodes
               if n.op == "Dequantize")
    f16 = scheme("float16")(graph, QuantizeOptions(scheme="float16"))
    assert [n.inputs[0].shape for n in f16.nodes if n.op == "Dequantize"] == [(630, 3)]
    # The input graph is untouched.
    assert not any(n.op == "Dequantize" for n in graph.nodes)


def test_unknown_scheme_is_refused() -> None:
    from keras2edge.errors import QuantizationError

    with pytest.raises(QuantizationError, match="dynamic, float16"):
        scheme("int3")


def _one_dense(kernel: np.ndarray):
    from keras2edge.ir import Graph

    g = Graph("bad")
    x = g.add_input("x", DType.FLOAT32, (None, kernel.shape[0]))
    g.outputs = [g.op("FullyConnected", [x, g.add_const("dense/kernel", kernel)], ("dense", "Dense"))]
    return g


def test_non_finite_weights_are_refused_naming_the_layer() -> None:
    from keras2edge.errors import QuantizationError

    w = np.ones((32, 32), np.float32)
    w[3, 4] = np.nan
    with pytest.raises(QuantizationError, match=r"Keras layer dense \(Dense\).*NaN or Inf"):
        scheme("dynamic")(_one_dense(w), QuantizeOptions(scheme="dynamic"))


def test_float16_keeps_what_float16_cannot_hold(caplog) -> None:
    w = np.ones((32, 32), np.float32)
    w[0, 0] = 1e5          # beyond float16's 65504: stays float32, with a warning naming the layer
    g = _one_dense(w)
    with caplog.at_level("WARNING"):
        q = scheme("float16")(g, QuantizeOptions(scheme="float16"))
    assert not any(n.op == "Dequantize" for n in q.nodes)
    assert "Keras layer dense (Dense)" in caplog.text and "65504" in caplog.text
