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

Importing the package loads only the error classes and ``Limits``: each public name above is
imported from its module (``_LAZY``) on first access (module ``__getattr__``), so
``from keras2edge.runtime import Interpreter`` runs a ``.tflite`` with NumPy and the runtime alone
(no IR, converters or quantizer in memory). h5py and onnx are imported when a function needs them.
The Keras handler table (for custom layers) is ``keras2edge.convert.keras.KERAS_HANDLERS``.

``keras2edge.quantize`` and ``keras2edge.prune`` are the API functions, although subpackages have the
same names: importing a subpackage (``import keras2edge.quantize.schemes``) would make the import system
set the package's attribute to the subpackage; ``_Package.__setattr__`` declines that for every name of
``_LAZY``, so the attribute stays the function (the subpackage is in ``sys.modules`` as ever).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

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
from .runtime.limits import Limits

if TYPE_CHECKING:  # the names _LAZY provides, for type checkers
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
        quantize_pruned,
        run_tflite,
        save,
        save_pruned,
    )
    from .batch import ConvertResult, convert_many
    from .ir import Graph
    from .ir.passes import optimize

#: public name -> the module (relative to this package) that defines it, imported on first access
_LAZY: dict[str, str] = {
    **dict.fromkeys(("BenchResult", "RunOutputs", "bench_tflite", "check_tflm", "convert_model", "inspect",
                     "load", "prune", "quantize", "run_tflite", "save", "save_pruned", "quantize_pruned"), ".api"),
    "ConvertResult": ".batch", "convert_many": ".batch",
    "Graph": ".ir", "optimize": ".ir.passes",
}

__version__ = "0.1.0"
__all__ = [
    # functions and types
    "check_tflm", "convert_model", "convert_many", "ConvertResult", "inspect", "load", "quantize", "save", "optimize", "Graph", "Limits",
    "run_tflite", "RunOutputs", "bench_tflite", "BenchResult", "prune", "save_pruned", "quantize_pruned",
    # errors
    "BatchInputError", "InvalidWeightsError", "Keras2EdgeError", "LimitExceededError", "ModelFormatError", "OptionError",
    "OutputPathError", "PruneError", "QuantizationError", "RuntimeModelError", "UnsafeContentError", "UnsupportedLayerError", "UnsupportedOpError",
    "WeightsMismatchError",
]


def __getattr__(name: str) -> Any:
    """A public name of ``_LAZY``, imported from its module on first access and kept."""
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'keras2edge' has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


class _Package(types.ModuleType):
    """This package's module type: a subpackage import never replaces a public name of ``_LAZY``."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
