"""Zoo: structured channel pruning (``keras2edge.prune``, method ``channel``) of MobileNetV2 and
ResNet50 — Keras 3 applications with random weights and randomised BatchNorm statistics, built as
tests/zoo builds them (``make_converter_models``' seed and ``_randomize_bn``), at 96x96 and 64x64
inputs to keep the run short — with 8 random calibration images.

For each model, 30% of every prunable group's channels (schedule ``layer``: the global schedule
would take the deep layers only, where 8 small images give too few rows to solve a reconstruction),
with and without the recovery (the same channels removed: the greedy reconstruction-cost selection
on the calibration data; then least-squares reconstruction, or nothing): the pruned graph verifies, parameters and MACs shrink, its emitted ``.tflite`` (LiteRT
reference kernels) and ``.onnx`` (onnxruntime) compute what the pruned IR computes (the IR
evaluator, within ``tolerances.ZOO``), and the output agreement with the unpruned model on 4 other
random images (relative L2 of the logits, of their deviations from the batch mean, top-1
agreement) is printed; the reconstruction must bring the logits closer to the unpruned model's
than no recovery. Random-weight logits are mostly one shared vector (their input-dependent part is
tiny: tests/zoo's bench notes), so the deviations and top-1 measure noise here; measured, relative
L2 no recovery -> reconstruction: MobileNetV2 0.512 -> 0.448, ResNet50 0.425 -> 0.146 (deviations
1.24 -> 1.27 and 0.87 -> 0.80); parameters 3.54M -> 2.03M and 25.6M -> 13.0M, MACs 56.3M -> 29.0M
and 316.8M -> 158.0M.

Run: ``PYTHONPATH=src /work/zoovenv/bin/python -m pytest -q -m zoo tests/zoo/test_prune_channels.py -s``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import keras2edge
from keras2edge.convert.tflite import tflite_bytes
from keras2edge.ir.evaluate import evaluate
from keras2edge.ir.passes.base import PassManager
from keras2edge.prune import PruneOptions, prune_graph, prune_passes
from keras2edge.runtime import Interpreter

from ..litert import litert
from ..onnxrt import run_graph_onnx
from ..tolerances import ZOO as TOL
from ..tolerances import scaled_error
from .conftest import ZOO_RESULTS

pytestmark = [pytest.mark.zoo, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

MODELS = {"MobileNetV2": 96, "ResNet50": 64}
SPARSITY = 0.3
CALIBRATION = 8
EVAL = 4


def _build(name: str, hw: int, path) -> None:
    try:
        import keras
    except ImportError as e:  # a zoo run that tests nothing must not look green
        pytest.fail(f"the zoo tests need TensorFlow/Keras (the zoo extra, /work/zoovenv): {e}")
    from ..runtime.make_converter_models import SEED, _randomize_bn

    keras.utils.set_random_seed(SEED)
    model = getattr(keras.applications, name)(weights=None, input_shape=(hw, hw, 3), classifier_activation=None)
    _randomize_bn(model, np.random.default_rng(SEED))
    model.save(str(path))
    keras.backend.clear_session()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_channel_pruning(name: str, tmp_path) -> None:
    hw = MODELS[name]
    path = tmp_path / f"{name}.keras"
    _build(name, hw, path)
    graph = keras2edge.load(path, cleanup=False)
    PassManager(prune_passes()).run(graph)
    rng = np.random.default_rng(0)
    x_cal = rng.uniform(-1, 1, (CALIBRATION, hw, hw, 3)).astype(np.float32)
    x_eval = rng.uniform(-1, 1, (EVAL, hw, hw, 3)).astype(np.float32)
    ref = np.asarray(Interpreter(tflite_bytes(graph)).run(x_eval), np.float64)
    name_in, name_out = graph.inputs[0].name, graph.outputs[0].name
    agreement = {}
    for label, extra in (("no recovery", {"recover": False}), ("reconstruction", {})):
        result = prune_graph(graph, PruneOptions(method="channel", sparsity=SPARSITY, schedule="layer",
                                                 calibration=x_cal, batch_size=4, **extra))
        pruned = result.graph
        pruned.verify()
        t = result.report["totals"]
        assert t["params_after"] < 0.7 * t["params_before"] and t["macs_after"] < 0.7 * t["macs_before"], t
        # 8 images give too few rows to solve the deep layers (a few pixels each): those get bias correction
        assert bool(result.report["recovery"]["reconstruction"]) == (label == "reconstruction")
        x2 = x_eval[:2]
        want = evaluate(pruned, {name_in: x2})[name_out]
        assert scaled_error(litert(tflite_bytes(pruned, batch=2), [x2])[0], want) <= TOL
        assert scaled_error(run_graph_onnx(pruned, {name_in: x2})[0], want) <= TOL
        out = np.asarray(Interpreter(tflite_bytes(pruned)).run(x_eval), np.float64)
        rel = float(np.linalg.norm(out - ref) / np.linalg.norm(ref))
        # random-weight logits are mostly one shared vector (a bias restores it): the input-dependent
        # part is each sample's deviation from the batch mean
        dev, ref_dev = out - out.mean(axis=0), ref - ref.mean(axis=0)
        rel_dev = float(np.linalg.norm(dev - ref_dev) / np.linalg.norm(ref_dev))
        top1 = float(np.mean(out.argmax(-1) == ref.argmax(-1)))
        agreement[label] = (rel_dev, rel, top1)
        print(f"{name} {hw}x{hw} channel {SPARSITY:.0%} {label}: params {t['params_before']} -> {t['params_after']}, "
              f"MACs {t['macs_before']} -> {t['macs_after']}; vs unpruned: relative L2 {rel:.3f} (of the deviations "
              f"from the batch mean {rel_dev:.3f}), top-1 {top1:.0%}; {result.report['recovery'].get('consumers', {})}")
        ZOO_RESULTS.append({"model": f"{name}-ch{int(SPARSITY * 100)}", "format": label[:6], "status": "ok",
                            "rel_err": rel})
    assert agreement["reconstruction"][1] < agreement["no recovery"][1], agreement
