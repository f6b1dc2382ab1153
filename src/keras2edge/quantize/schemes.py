"""The quantization schemes, one registry: ``--scheme`` name -> the function that quantizes an IR graph.

A scheme takes a float IR graph (after the cleanup passes) and :class:`QuantizeOptions` and returns a
new graph in QDQ form (``ir.quant``): integer constants and values appear only between a Quantize and
a Dequantize, so both emitters accept it (ONNX writes QuantizeLinear/DequantizeLinear; the TFLite
emitter folds each Dequantize → op → Quantize into the op's integer kernel). Modules that implement a
scheme register it here with :func:`register_scheme`; ``quantize/__init__`` imports them explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..choices import Choices
from ..errors import QuantizationError

if TYPE_CHECKING:
    from ..ir.graph import Graph


@dataclass(frozen=True)
class QuantizeOptions:
    """What the user asked for (CLI flags and ``keras2edge.quantize`` keywords map one to one)."""

    scheme: str = "int8"              # a key of SCHEMES
    calibration: Any = None           # a data.Source (arrays, dict, iterable of batches, .npy/.npz path)
    method: str = "minmax"            # a key of observers.OBSERVERS
    per_tensor: bool = False          # per-tensor weights (targets without per-channel kernels)
    io: str = "float"                 # model inputs/outputs: "float", "int8" or "uint8"
    batch_size: int = 32              # calibration batch size
    min_weight_elements: int = 1024   # dynamic: smaller weights stay float (the TFLite converter's threshold)
    # Mixed precision (the accuracy budget sets these too): globs on Keras layer names (node.origin).
    keep_float: tuple[str, ...] = ()  # these layers stay float, joined by QUANTIZE/DEQUANTIZE
    int16: tuple[str, ...] = ()       # these layers run 16x8 (int16 activations, int8 weights)
    # Accuracy-preserving algorithms: None = on where it helps (the scheme decides), True/False forces.
    cle: bool | None = None              # cross-layer equalization
    bias_correction: bool | None = None  # empirical bias correction from calibration data
    adaround: bool | None = None         # AdaRound-style weight rounding
    high_bias_absorption: bool | None = None  # after CLE, biases moved into the next layer (None: with CLE)
    progress: Any = None                 # progress.ProgressFn: fn(task, samples done, total) per batch run


SchemeFn = Callable[["Graph", QuantizeOptions], "Graph"]

#: scheme name -> implementation (filled by the scheme modules).
SCHEMES: Choices[SchemeFn] = Choices("quantization scheme", QuantizationError)
#: Decorator: register ``fn`` as scheme ``name`` (one implementation per name).
register_scheme = SCHEMES.register
#: The implementation of scheme ``name``, or a QuantizationError listing the schemes.
scheme = SCHEMES.get
