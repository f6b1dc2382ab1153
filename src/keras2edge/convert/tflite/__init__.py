"""IR → ``.tflite``: ``write_model`` serializes a :class:`keras2edge.runtime.model.Model` to flatbuffer bytes."""

from .writer import write_model

__all__ = ["write_model"]

# The emitter (IR graph -> Model / bytes / file).
from .emitter import (KNOWN_GAPS, TFLITE_EMITTERS, EmittedTensor, TFLiteContext, TFLiteEmission,  # noqa: E402
                      emit_tflite, save_tflite, tflite_bytes, to_tflite)
from . import (ops_activation, ops_conv, ops_dense, ops_elementwise, ops_normalization,  # noqa: E402,F401 - fill TFLITE_EMITTERS
               ops_pool, ops_quant, ops_reduce, ops_resize, ops_shape)

__all__ += ["KNOWN_GAPS", "TFLITE_EMITTERS", "EmittedTensor", "TFLiteContext", "TFLiteEmission", "emit_tflite",
            "save_tflite", "tflite_bytes", "to_tflite"]
