"""keras2edge: Keras models (every era) to ONNX and TFLite for edge devices, without TensorFlow.

Public API::

    import keras2edge
    g = keras2edge.load("model.h5")           # IR graph (NHWC, Keras layer names kept)
    keras2edge.save(g, "model.onnx")
    q = keras2edge.quantize(g, calibration=x)  # int8 (QDQ graph): save(q, "m.onnx")
    keras2edge.convert_model("model.h5", "model.onnx")
    keras2edge.inspect("model.h5").to_text()
    keras2edge.convert_many(["a.h5", "zoo/*.keras"], "out/", fmt="onnx", jobs=2)   # list[ConvertResult]
    keras2edge.check_tflm("model.tflite").runs        # TFLite Micro: ops, arena, flash, I/O (TflmCheck)
    keras2edge.run_tflite("m.tflite", x)      # outputs by name; int8 models take/return real values
    keras2edge.bench_tflite("m.tflite")       # BenchResult (a fresh process: cold start, latency, ...)

Importing the package loads only NumPy; h5py and onnx are imported when a function needs them.
The Keras handler table (for custom layers) is ``keras2edge.convert.keras.KERAS_HANDLERS``.
"""

from __future__ import annotations

from . import quantize as _quantize_package  # noqa: F401 - loaded before the function takes its name
from . import prune as _prune_package  # noqa: F401 - likewise for keras2edge.prune (the function)
from .api import (
    BenchResult,
    RunOutputs,
    bench_tflite,
    check_tflm,
    convert_model,
    inspect,
    load,
    prune,
    quantize,
    run_tflite,
    save,
    save_pruned,
)
from .batch import ConvertResult, convert_many
from .errors import (
    BatchInputError,
    InvalidWeightsError,
    Keras2EdgeError,
    LimitExceededError,
    ModelFormatError,
    OptionError,
    OutputPathError,
    PruneError,
    QuantizationError,
    RuntimeModelError,
    UnsafeContentError,
    UnsupportedLayerError,
    UnsupportedOpError,
    WeightsMismatchError,
)
from .ir import Graph
from .ir.passes import optimize
from .runtime.limits import Limits

__version__ = "0.1.0"
__all__ = [
    # functions and types
    "check_tflm", "convert_model", "convert_many", "ConvertResult", "inspect", "load", "quantize", "save", "optimize", "Graph", "Limits",
    "run_tflite", "RunOutputs", "bench_tflite", "BenchResult", "prune", "save_pruned",
    # errors
    "BatchInputError", "InvalidWeightsError", "Keras2EdgeError", "LimitExceededError", "ModelFormatError", "OptionError",
    "OutputPathError", "PruneError", "QuantizationError", "RuntimeModelError", "UnsafeContentError", "UnsupportedLayerError", "UnsupportedOpError",
    "WeightsMismatchError",
]
