"""In-memory form of a ``.tflite`` model: what the reader returns and the writer serializes.

Plain dataclasses over NumPy, no flatbuffers: ``runtime.reader.load_model(bytes) -> Model``
and ``convert.tflite.writer.write_model(Model) -> bytes`` are inverses. Field names follow the
TFLite schema (schema.fbs); op names are BuiltinOperator enum names (``"CONV_2D"``); operator
options are a dict keyed by the options table's field names (``{"padding": 0, "stride_w": 2}``),
with enums as their integer values (Padding SAME=0, VALID=1; ActivationFunctionType and TensorType
codes from :mod:`.codes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .codes import NUMPY_DTYPES

PADDING_SAME, PADDING_VALID = 0, 1


@dataclass
class Quantization:
    """QuantizationParameters: real = scale * (q - zero_point), per tensor or per axis."""

    scale: np.ndarray  # float32, 1 or C entries
    zero_point: np.ndarray  # int64, same length as scale
    quantized_dimension: int = 0
    min: np.ndarray | None = None
    max: np.ndarray | None = None


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    type: int  # TensorType code; see codes.TENSOR_TYPES
    buffer: int = 0  # index into Model.buffers; 0 = no data (an activation)
    shape_signature: tuple[int, ...] | None = None  # -1 for dynamic dims
    quantization: Quantization | None = None
    is_variable: bool = False
    has_rank: bool = True

    @property
    def dtype(self) -> np.dtype:
        return NUMPY_DTYPES[self.type]


@dataclass
class OperatorCode:
    builtin_code: int
    version: int = 1
    custom_code: str | None = None
    deprecated_builtin_code: int | None = None  # as read; the writer applies the 127 rule itself


@dataclass
class Operator:
    opcode_index: int
    inputs: tuple[int, ...]  # -1 = omitted optional input
    outputs: tuple[int, ...]
    options_type: int = 0  # BuiltinOptions union tag, 0 = NONE
    options: dict[str, Any] = field(default_factory=dict)
    custom_options: bytes | None = None
    intermediates: tuple[int, ...] = ()


@dataclass
class SubGraph:
    tensors: list[Tensor]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    operators: list[Operator]
    name: str = "main"


@dataclass
class SignatureDef:
    signature_key: str
    subgraph_index: int
    inputs: list[tuple[str, int]]  # (name, tensor index)
    outputs: list[tuple[str, int]]


@dataclass
class Metadata:
    name: str
    buffer: int


@dataclass
class Model:
    """A whole .tflite file. ``buffers[i]`` is the raw bytes (uint8 array, possibly a zero-copy view)."""

    operator_codes: list[OperatorCode]
    subgraphs: list[SubGraph]
    buffers: list[np.ndarray]
    version: int = 3
    description: str = ""
    metadata: list[Metadata] = field(default_factory=list)
    signature_defs: list[SignatureDef] = field(default_factory=list)

    def tensor_data(self, subgraph: int, index: int) -> np.ndarray | None:
        """The constant data of a tensor as a typed, shaped (read-only) array, or None for activations."""
        t = self.subgraphs[subgraph].tensors[index]
        if t.buffer == 0 or t.buffer >= len(self.buffers) or self.buffers[t.buffer].size == 0:
            return None
        raw = self.buffers[t.buffer]
        return np.frombuffer(raw, dtype=t.dtype, count=int(np.prod(t.shape, dtype=np.int64))).reshape(t.shape)
