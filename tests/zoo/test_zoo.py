"""Zoo: real Keras applications (Keras 3, random weights) converted by keras2edge, run in onnxruntime.

Run with the ``zoo`` extra installed (TensorFlow, tf-keras, tf2onnx)::

    pip install -e ".[test,zoo]"
    pytest -q -m zoo tests/zoo

Each model is built ONCE (weights=None, ``keras.utils.set_random_seed``) and given non-trivial
weights from a fixed generator so that BN folding and bias handling are really exercised: random
biases, BatchNormalization gamma / beta, then moving statistics calibrated on a separate random batch
and perturbed (see ``_randomize_norm_layers``: this keeps the logits well conditioned and dependent on
the input), random LayerNormalization / LayerScale weights. Keras' own output on a fixed random batch
of 2 is recorded, and the model is saved as Keras 3 legacy HDF5 (``.h5``) and as a ``.keras``
archive. Then, for each format: ``keras2edge.convert_model`` in-process, ``onnx.checker`` (full
check), onnxruntime (CPUExecutionProvider, 1 thread), and

* max |onnx - keras| / max |keras| <= ``tolerances.ZOO`` (and the same for LiteRT, its reference
  kernels, TFLite Micro and keras2edge.runtime on the emitted ``.tflite``); classifiers are built with
  ``classifier_activation=None`` so logits are compared, not near-zero softmax probabilities;
* every model here is a conv net, so Transpose nodes may only sit at the graph's inputs and outputs:
  count(Transpose) <= number of inputs + outputs, and no Transpose has a layout-dependent op (conv,
  pooling, matmul, ...) both before and after it.

Timings (build, reference, save, convert, onnxruntime) and errors are collected per model and printed
in a table at the end of the run (``K2E_ZOO_REPORT=file.json`` also writes them as JSON).

CI budget: ``K2E_ZOO_DEADLINE`` (epoch seconds) — a model whose test starts after the deadline fails
with a message saying the CI time budget ran out (it is not skipped silently).

If TensorFlow (or onnxruntime) cannot be imported, every test FAILS telling you to install the zoo
extra: a zoo run that tests nothing must not look green.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import keras2edge
import pytest

from ..tolerances import scaled_error, ZOO as TOL
from .conftest import ZOO_RESULTS

pytestmark = [
    pytest.mark.zoo,
    # Keras 3 on NumPy 2 warns once per tensor conversion; thousands of lines of noise.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

# Must be set before TensorFlow / Keras are imported (they are imported lazily, in _keras()).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # reproducible float results
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

SEED = 1234
BATCH = 2
FORMATS = ("h5", "keras")


@dataclass(frozen=True)
class Spec:
    """How to build one zoo model."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    # Input value range: models that include their own preprocessing (Rescaling / Normalization
    # layers) take raw pixels in [0, 255]; the others expect already-preprocessed input in [-1, 1].
    pixels: bool = False
    conv: bool = True  # a conv net: Transpose nodes only at inputs / outputs
    norm: bool = True  # has BatchNormalization / LayerNormalization layers to randomize


SPECS = [
    Spec("MobileNet"),
    Spec("MobileNetV2"),
    # MobileNetV3 leaves H, W open unless told; pin its default size.
    Spec("MobileNetV3Small", {"input_shape": (224, 224, 3)}, pixels=True),
    Spec("MobileNetV3Large", {"input_shape": (224, 224, 3)}, pixels=True),
    Spec("ResNet50"),
    Spec("ResNet50V2"),
    Spec("EfficientNetB0", pixels=True),
    Spec("EfficientNetV2B0", pixels=True),
    Spec("DenseNet121"),
    # VGG16 keeps its classifier (Flatten of an NHWC feature map into a 25088 x 4096 Dense: the
    # layout-sensitive case) although it is 138 M parameters (528 MB per saved file): measured on
    # 2 cores it costs ~40 s of the zoo's ~2.5 min (build + 2 saves ~7 s, converts ~10-15 s each).
    # If it ever blows the CI budget, use {"include_top": False, "pooling": "avg",
    # "input_shape": (224, 224, 3)} (14.7 M parameters, ~3 s).
    Spec("VGG16", norm=False),
    Spec("InceptionV3"),
    Spec("Xception"),
    Spec("NASNetMobile"),
    Spec("ConvNeXtTiny", pixels=True),
]
SPEC_BY_NAME = {s.name: s for s in SPECS}


# ------------------------------------------------------------------------------------------------
# Guards: missing zoo extra, CI deadline
# ------------------------------------------------------------------------------------------------

def _keras():
    """Import Keras 3 on TensorFlow, or FAIL the test telling how to get it."""
    try:
        import tensorflow as tf
        import keras
    except Exception as e:  # noqa: BLE001 - ImportError, or a broken TF install
        pytest.fail(f"the zoo tests need TensorFlow, which cannot be imported ({type(e).__name__}: {e}); "
                    "install the zoo extra: pip install -e '.[test,zoo]'", pytrace=False)
    if not keras.__version__.startswith("3."):
        pytest.fail(f"the zoo tests need Keras 3 as `keras`, found keras {keras.__version__} "
                    "(is TF_USE_LEGACY_KERAS set?); install the zoo extra: pip install -e '.[test,zoo]'",
                    pytrace=False)
    tf.get_logger().setLevel("ERROR")
    return keras


def _ort():
    try:
        import onnxruntime as ort
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"the zoo tests need onnxruntime, which cannot be imported ({type(e).__name__}: {e}); "
                    "install the test and zoo extras: pip install -e '.[test,zoo]'", pytrace=False)
    return ort


def _k2e_convert():
    """keras2edge's one-step convert: ``convert_model`` (``convert`` is also the name of the
    ``keras2edge.convert`` subpackage, which shadows a function of that name once it is imported)."""
    import keras2edge

    fn = getattr(keras2edge, "convert_model", None)
    if fn is None:
        fn = getattr(keras2edge, "convert", None)
    if not callable(fn):
        pytest.fail("keras2edge has neither convert_model() nor a callable convert()", pytrace=False)
    return fn


def _check_deadline(what: str) -> None:
    raw = os.environ.get("K2E_ZOO_DEADLINE")
    if not raw:
        return
    try:
        deadline = float(raw)
    except ValueError:
        pytest.fail(f"K2E_ZOO_DEADLINE={raw!r} is not a number of epoch seconds", pytrace=False)
    now = time.time()
    if now > deadline:
        pytest.fail(f"the CI time budget ran out: K2E_ZOO_DEADLINE passed {now - deadline:.0f} s before "
                    f"{what} started; this model was NOT tested (make the zoo faster or raise the budget "
                    "in .ci/run)", pytrace=False)


# ------------------------------------------------------------------------------------------------
# Building each model once
# ------------------------------------------------------------------------------------------------

@dataclass
class Built:
    name: str
    dir: Path
    files: dict[str, Path]
    x: np.ndarray
    want: list[np.ndarray]
    n_inputs: int
    n_outputs: int
    n_params: int
    build_s: float
    ref_s: float
    save_s: dict[str, float]
    charged: set = field(default_factory=set)   # formats whose row already carries build/ref time


def _randomize_norm_layers(model, rng: np.random.Generator, calib: list[np.ndarray]) -> int:
    """Non-trivial BN statistics / affine parameters (and LayerNorm, LayerScale); returns the count.

    With weights=None every BN has mean 0 / variance 1, which (a) makes BN folding trivial and (b)
    does not match the real activation statistics, so the signal decays or explodes through a deep
    net and the logits end up ill-conditioned or nearly independent of the input (a weak test). So:
    biases, gamma / beta (and LayerNorm / LayerScale weights) are drawn at random first; then the
    moving statistics are calibrated on a separate random batch (one training-mode forward pass with
    momentum 0 and Dropout off: moving stats := batch stats, layer by layer); then they are perturbed.
    """
    import keras

    def assign(var, values):
        if var is not None:
            var.assign(np.asarray(values).astype(np.dtype(var.dtype)))

    layers = list(model._flatten_layers(include_self=False, recursive=True))
    count = 0
    for layer in layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = tuple(layer.moving_mean.shape)
            assign(layer.gamma, rng.uniform(0.5, 1.5, shape))
            assign(layer.beta, rng.normal(0.0, 0.1, shape))
            count += 1
        elif isinstance(layer, keras.layers.LayerNormalization):
            if layer.gamma is not None:
                assign(layer.gamma, rng.uniform(0.5, 1.5, tuple(layer.gamma.shape)))
            if layer.beta is not None:
                assign(layer.beta, rng.normal(0.0, 0.1, tuple(layer.beta.shape)))
            count += 1
        elif type(layer).__name__ == "LayerScale":
            # ConvNeXt's LayerScale starts at 1e-6, which would make every block an identity.
            for w in layer.weights:
                assign(w, rng.uniform(0.1, 0.5, tuple(w.shape)))
            count += 1
        else:
            # Biases start at zero with weights=None: give every conv / dense bias a value, so bias
            # handling (and its folding into BN) is tested too.
            bias = getattr(layer, "bias", None)
            if bias is not None and hasattr(bias, "assign"):
                assign(bias, rng.normal(0.0, 0.05, tuple(bias.shape)))

    bns = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    if bns:
        # training=True would also switch on Dropout (EfficientNet's drop-connect sits in every
        # residual block), giving statistics that inference never sees: turn it off meanwhile.
        drops = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
        saved = [bn.momentum for bn in bns], [d.rate for d in drops]
        for bn in bns:
            bn.momentum = 0.0
        for d in drops:
            d.rate = 0.0
        model(calib[0] if len(calib) == 1 else calib, training=True)
        for bn, m in zip(bns, saved[0]):
            bn.momentum = m
        for d, r in zip(drops, saved[1]):
            d.rate = r
        for bn in bns:
            shape = tuple(bn.moving_mean.shape)
            mean = np.asarray(bn.moving_mean.numpy(), np.float64)
            var = np.maximum(np.asarray(bn.moving_variance.numpy(), np.float64), 1e-4)
            assign(bn.moving_mean, mean + rng.normal(0.0, 0.1, shape) * np.sqrt(var))
            assign(bn.moving_variance, var * rng.uniform(0.8, 1.25, shape))
    return count


def _build(spec: Spec, root: Path) -> Built:
    keras = _keras()
    t0 = time.perf_counter()
    keras.utils.set_random_seed(SEED)
    ctor = getattr(keras.applications, spec.name)
    kwargs = {"weights": None, **spec.kwargs}
    if kwargs.get("include_top", True):
        kwargs.setdefault("classifier_activation", None)   # compare logits, not softmax
    model = ctor(**kwargs)
    rng = np.random.default_rng(SEED)
    shapes = [(BATCH, *inp.shape[1:]) for inp in model.inputs]
    assert all(d is not None for s in shapes for d in s), f"{spec.name}: input shape not fixed: {shapes}"
    low, high = (0.0, 255.0) if spec.pixels else (-1.0, 1.0)
    calib = [rng.uniform(low, high, (2 * BATCH, *s[1:])).astype(np.float32) for s in shapes]
    n_norm = _randomize_norm_layers(model, rng, calib)
    if not spec.norm:
        # No normalization to calibrate (VGG16): Glorot-initialised convs with ReLU halve the
        # signal's variance at every layer, so the output would be ~1e-2 and nearly input-independent;
        # scale the kernels to He initialisation (x sqrt(2)) to keep the signal alive.
        for layer in model._flatten_layers(include_self=False, recursive=True):
            if isinstance(layer, keras.layers.Conv2D):
                layer.kernel.assign(layer.kernel.numpy() * np.float32(np.sqrt(2.0)))
    assert n_norm > 0 or not spec.norm, f"{spec.name}: no normalization layer was randomized"
    build_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    xs = [rng.uniform(low, high, s).astype(np.float32) for s in shapes]
    out = model(xs[0] if len(xs) == 1 else xs, training=False)
    outs = out if isinstance(out, (list, tuple)) else [out]
    want = [np.asarray(o, dtype=np.float32) for o in outs]
    ref_s = time.perf_counter() - t0

    d = root / spec.name
    d.mkdir(parents=True, exist_ok=True)
    files, save_s = {}, {}
    for fmt in FORMATS:
        p = d / f"{spec.name}.{fmt}"
        t0 = time.perf_counter()
        model.save(str(p))   # ".h5" -> Keras 3 legacy HDF5, ".keras" -> zip archive
        save_s[fmt] = time.perf_counter() - t0
        files[fmt] = p
    built = Built(spec.name, d, files, xs[0] if len(xs) == 1 else xs, want, len(model.inputs),
                  len(model.outputs), int(model.count_params()), build_s, ref_s, save_s)
    del model, out, outs
    keras.backend.clear_session()
    gc.collect()
    return built


class _Zoo:
    """Keeps one built model at a time (tests run model-major), so memory and disk stay small."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="k2e-zoo-"))
        self.current: Built | None = None
        self.failed: dict[str, str] = {}   # model -> why Keras could not build / save it

    def get(self, name: str) -> Built:
        if self.current is not None and self.current.name == name:
            return self.current
        if name in self.failed:   # do not spend the budget building it again for the other format
            pytest.fail(f"building {name} with Keras failed (see its first test): {self.failed[name]}",
                        pytrace=False)
        self.evict()
        try:
            self.current = _build(SPEC_BY_NAME[name], self.root)
        except Exception as e:
            self.failed[name] = f"{type(e).__name__}: {e}"
            raise
        return self.current

    def evict(self) -> None:
        if self.current is not None:
            shutil.rmtree(self.current.dir, ignore_errors=True)
            self.current = None
            gc.collect()

    def close(self) -> None:
        self.evict()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def zoo():
    z = _Zoo()
    yield z
    z.close()


# ------------------------------------------------------------------------------------------------
# The test
# ------------------------------------------------------------------------------------------------

def _check_tflite(graph, built: Built, path: Path, row: dict[str, Any]) -> None:
    """The same graph emitted as .tflite (keras2edge's writer) runs in LiteRT and in keras2edge's own
    NumPy runtime, both matching Keras as tightly as the ONNX path."""
    from ai_edge_litert.interpreter import Interpreter as LiteRT

    from keras2edge.runtime import Interpreter

    keras2edge.save(graph, path)
    xs = built.x if isinstance(built.x, list) else [built.x]
    lite = LiteRT(model_path=str(path), num_threads=1)
    for d, x in zip(lite.get_input_details(), xs):
        lite.resize_tensor_input(d["index"], list(x.shape))
    lite.allocate_tensors()
    for d, x in zip(lite.get_input_details(), xs):
        lite.set_tensor(d["index"], x)
    lite.invoke()
    got = [lite.get_tensor(d["index"]) for d in lite.get_output_details()]
    row["tflite_err"] = max(scaled_error(g, w) for g, w in zip(got, built.want))
    assert row["tflite_err"] <= TOL, f"LiteRT on keras2edge's .tflite: {row['tflite_err']:.3e} > {TOL:g}"
    if built.n_params < 6e6:  # the reference kernels are slow: the MobileNets and EfficientNetB0 only
        _check_reference_runtimes(path, xs, built, row)
    it = Interpreter(str(path))
    out = it.run(xs[0] if len(xs) == 1 else list(xs))
    ours = [out] if not isinstance(out, dict) else list(out.values())
    row["runtime_err"] = max(scaled_error(g, w) for g, w in zip(ours, built.want))
    row["arena_mb"] = round(it.arena_bytes / 2**20, 1)
    assert row["runtime_err"] <= TOL, f"keras2edge.runtime on its .tflite: {row['runtime_err']:.3e} > {TOL:g}"


def _check_reference_runtimes(path: Path, xs: list[np.ndarray], built: Built, row: dict[str, Any]) -> None:
    """LiteRT's reference kernels (BUILTIN_REF) and TFLite Micro (file shapes, batch 1) on the same file."""
    from keras2edge.runtime.reader import load_model

    from ..litert import litert
    from ..tflm import tflm, tflm_unsupported

    data = path.read_bytes()
    got = litert(data, xs, reference=True)
    row["litert_ref_err"] = max(scaled_error(g, w) for g, w in zip(got, built.want))
    assert row["litert_ref_err"] <= TOL, f"LiteRT BUILTIN_REF: {row['litert_ref_err']:.3e} > {TOL:g}"
    lacking = tflm_unsupported(load_model(data))
    if lacking:
        row["tflm"] = f"lacks {lacking}"
        return
    first = [x[:1] for x in xs]
    got = tflm(data, first, len(built.want), arena=64 << 20)
    row["tflm_err"] = max(scaled_error(g, w[:1]) for g, w in zip(got, built.want))
    assert row["tflm_err"] <= TOL, f"TFLite Micro: {row['tflm_err']:.3e} > {TOL:g}"


def _run_ort(path: Path, built: Built) -> list[np.ndarray]:
    ort = _ort()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    xs = built.x if isinstance(built.x, list) else [built.x]
    ins = sess.get_inputs()
    assert len(ins) == len(xs), f"ONNX has {len(ins)} inputs, Keras model has {len(xs)}"
    return sess.run(None, {i.name: x for i, x in zip(ins, xs)})


# Ops that may sit between a graph input / output and its layout Transpose: they work the same in
# either layout, so a Transpose next to them is still "at the border".
_BORDER_OPS = {"Pad", "Add", "Sub", "Mul", "Div", "Cast", "Identity", "Constant", "Relu", "Clip", "Sqrt",
               "Reciprocal", "Neg", "Abs", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Max", "Min", "Softmax",
               "LogSoftmax", "Reshape", "Flatten", "Squeeze", "Unsqueeze"}


def _inner_transposes(graph) -> list[str]:
    """Transpose nodes with a layout-dependent op (conv, pooling, matmul, ...) both upstream and downstream."""
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def reaches_heavy(start, step) -> bool:
        seen, todo = set(), list(start)
        while todo:
            n = todo.pop()
            if id(n) in seen:
                continue
            seen.add(id(n))
            if n.op_type not in _BORDER_OPS:
                return True
            todo.extend(step(n))
        return False

    def ups(n):
        return [producer[i] for i in n.input if i in producer]

    def downs(n):
        return [c for o in n.output for c in consumers.get(o, [])]

    return [n.name for n in graph.node
            if n.op_type == "Transpose" and reaches_heavy(ups(n), ups) and reaches_heavy(downs(n), downs)]


CASES = [pytest.param(s.name, fmt, id=f"{s.name}-{fmt}") for s in SPECS for fmt in FORMATS]


@pytest.mark.parametrize(("name", "fmt"), CASES)
def test_zoo_model(zoo: _Zoo, name: str, fmt: str, tmp_path: Path) -> None:
    t_start = time.perf_counter()
    row: dict[str, Any] = {"model": name, "format": fmt, "status": "FAIL"}
    ZOO_RESULTS.append(row)
    try:
        _check_deadline(f"{name} ({fmt})")
        _keras()
        _ort()
        import onnx

        convert = _k2e_convert()
        built = zoo.get(name)
        row["params"] = built.n_params
        w0 = built.want[0]
        row["out_range"] = float(w0.max() - w0.min())
        # How much the output depends on the input (0 would mean the test only checks biases).
        row["sample_spread"] = float(np.max(np.abs(w0[0] - w0[-1]))) if len(w0) > 1 else None
        row["save_s"] = round(built.save_s[fmt], 2)
        if not built.charged:
            row["build_s"] = round(built.build_s, 2)
            row["ref_s"] = round(built.ref_s, 2)
        built.charged.add(fmt)

        out = tmp_path / f"{name}-{fmt}.onnx"
        t0 = time.perf_counter()
        graph = convert(built.files[fmt], out)
        row["convert_s"] = round(time.perf_counter() - t0, 3)
        assert graph is not None and out.exists(), "keras2edge.convert wrote no file"

        onnx.checker.check_model(str(out), full_check=True)
        proto = onnx.load(str(out), load_external_data=False)
        ops = [n.op_type for n in proto.graph.node]
        n_transpose = ops.count("Transpose")
        row["onnx_nodes"] = len(ops)
        row["transposes"] = n_transpose

        t0 = time.perf_counter()
        got = _run_ort(out, built)
        row["ort_s"] = round(time.perf_counter() - t0, 2)
        assert len(got) == len(built.want), f"ONNX has {len(got)} outputs, Keras model has {len(built.want)}"
        errs = [scaled_error(g, w) for g, w in zip(got, built.want)]
        row["rel_err"] = max(errs)
        row["abs_err"] = max(float(np.max(np.abs(np.asarray(g, np.float64) - w))) for g, w in zip(got, built.want))

        assert row["rel_err"] <= TOL, (
            f"{name} ({fmt}): max |onnx - keras| / max |keras| = {row['rel_err']:.3e} > {TOL:g} "
            f"(per output: {', '.join(f'{e:.3e}' for e in errs)})")
        if SPEC_BY_NAME[name].conv:
            limit = built.n_inputs + built.n_outputs
            where = [n.name for n in proto.graph.node if n.op_type == "Transpose"]
            assert n_transpose <= limit, (
                f"{name} ({fmt}): {n_transpose} Transpose nodes, at most {limit} allowed "
                f"(only at the {built.n_inputs} input(s) and {built.n_outputs} output(s)); they are: "
                f"{where[:20]}{' ...' if len(where) > 20 else ''}")
            # ... and each one really sits at the border: only cheap layout-agnostic ops (a leading
            # ZeroPadding / Rescaling, a trailing Softmax / Reshape) between it and a graph input or output.
            inner = _inner_transposes(proto.graph)
            row["transpose_names"] = where
            assert not inner, (f"{name} ({fmt}): Transpose nodes inside the graph (a layout-dependent op both "
                               f"before and after them): {inner}")
        if fmt == FORMATS[0]:
            _check_tflite(graph, built, tmp_path / f"{name}.tflite", row)
        row["status"] = "pass"
    except BaseException as e:
        msg = getattr(e, "msg", None) or str(e)
        row["error"] = f"{type(e).__name__}: {msg}"[:4000] if msg else type(e).__name__
        raise
    finally:
        row["test_s"] = round(time.perf_counter() - t_start, 2)
        if fmt == FORMATS[-1]:
            zoo.evict()   # both formats done: free the model's files before the next one
