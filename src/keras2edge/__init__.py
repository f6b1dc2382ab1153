"""keras2edge: Keras models (every era) to ONNX and TFLite for edge devices, without TensorFlow.

Public API::

    import keras2edge
    g = keras2edge.load("model.h5")           # IR graph (NHWC, Keras layer names kept)
    keras2edge.save(g, "model.onnx")
    keras2edge.inspect("model.h5").to_text()
"""

from __future__ import annotations

from .api import convert, inspect, load, save
from .convert.keras.context import KERAS_HANDLERS, LayerContext
from .errors import (
    Keras2EdgeError,
    ModelFormatError,
    UnsafeContentError,
    UnsupportedLayerError,
    UnsupportedOpError,
    WeightsMismatchError,
)
from .ir import Graph
from .ir.passes import optimize

__version__ = "0.1.0"
__all__ = ["convert", "inspect", "load", "save", "optimize", "Graph", "KERAS_HANDLERS", "LayerContext",
           "Keras2EdgeError", "ModelFormatError", "UnsafeContentError", "UnsupportedLayerError",
           "UnsupportedOpError", "WeightsMismatchError"]
