"""Issue 11: every zoo model quantizes in every scheme and runs in every backend (zoo-marked: the
models are Keras applications with random weights, built with TensorFlow, the ``zoo`` extra).

The five models of the int8 zoo (``tests/runtime/zoo_int8.ZOO_INT8``), each in int8, int16x8, mixed
(``keep_float`` on the first layer with an integer kernel, ``int16`` on the last), dynamic and float16,
calibrated on 4 samples (uniform in the model's input range), one sample through each backend with
the checks of test_scheme_matrix._check_cell: TFLite Micro bit for bit with keras2edge.runtime where
``check_tflm`` says the file runs (and refusing it where the check says not: float16 DEQUANTIZE, hybrid
kernels), LiteRT's reference kernels within test_scheme_matrix.LITERT_STEPS output steps (default one), the QDQ
ONNX in onnxruntime within test_scheme_matrix.ORT_BOUND of keras2edge.runtime.

Measured (25 cells, 464 s with the MobileNetV3Small top-1 test on a loaded 2-core machine): TFLite Micro
equals keras2edge.runtime on every int8, 16x8 and mixed file and refuses every dynamic (hybrid
CONV_2D) and float16 (DEQUANTIZE) file; LiteRT's reference kernels are within one step but for the
16x8 logits of MobileNetV3Small/Large (2 steps) and EfficientNetB0 (3) (the dynamic files, once
0.0080 and 0.0106 apart, now equal LiteRT: test_hybrid_float_inputs); onnxruntime's relative L2 against keras2edge.runtime: int8 0.010-0.018,
16x8 7.5e-5-0.0079, mixed 0.0059-0.016, dynamic 0.0077-0.015, float16 <= 4.7e-7. EfficientNetB0 16x8 ran
only after the all-zero Normalization mean took its input's parameters (quantize/int8.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import keras2edge

from ..runtime.zoo_int8 import ZOO_INT8
from .test_scheme_matrix import _check_cell, _options

pytestmark = pytest.mark.zoo

SCHEMES = ("int8", "int16x8", "mixed", "dynamic", "float16")
CALIBRATION_SAMPLES = 4


@pytest.fixture(scope="module")
def zoo_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, np.ndarray, np.ndarray]]:
    return {}


def _model(cache: dict[str, tuple[Path, np.ndarray, np.ndarray]], name: str,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    if name not in cache:
        import keras

        from ..runtime import make_converter_models as base

        _, (lo, hi) = base.ZOO[name]
        model = base.zoo_model(name)
        path = tmp_path_factory.mktemp(name) / f"{name}.keras"
        model.save(path)
        shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        rng = np.random.default_rng(7)
        calib = rng.uniform(lo, hi, (CALIBRATION_SAMPLES, *shape)).astype(np.float32)
        x = rng.uniform(lo, hi, (1, *shape)).astype(np.float32)
        keras.backend.clear_session()
        cache[name] = (path, calib, x)
    return cache[name]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name", ZOO_INT8)
def test_zoo_model_in_every_backend(name: str, scheme: str, zoo_models: dict, tmp_path: Path,
                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    path, calib, x = _model(zoo_models, name, tmp_path_factory)
    g = keras2edge.load(path)
    kw = {"calibration": calib} if scheme in ("int8", "int16x8", "mixed") else {}
    q = keras2edge.quantize(path, **kw, **_options(g, scheme))
    cell = _check_cell(q, {g.inputs[0].name: x}, scheme, tmp_path, f"{name}-{scheme}")
    print(name, scheme, cell)
    assert cell["tflm"] == (scheme not in ("dynamic", "float16")), cell
