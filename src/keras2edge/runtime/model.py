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
class DimensionMetadata:
    """One dimension of a sparse tensor, in traversal order (schema ``DimensionMetadata``).

    DENSE (``format`` 0): every index ``0 .. dense_size - 1`` is stored. SPARSE_CSR (1): the indices
    stored under parent position ``p`` are ``array_indices[array_segments[p]:array_segments[p + 1]]``.
    The index vectors are integer arrays; their NumPy dtype is the ``SparseIndexVector`` member they are
    stored as (int32 -> Int32Vector, uint16 -> Uint16Vector, uint8 -> Uint8Vector).
    """

    format: int  # DimensionType: DENSE 0, SPARSE_CSR 1
    dense_size: int = 0
    array_segments: np.ndarray | None = None
    array_indices: np.ndarray | None = None


@dataclass
class Sparsity:
    """SparsityParameters: how a constant tensor's buffer stores only its non-zero values.

    ``traversal_order`` lists the dimensions (the tensor's, then the block dimensions) in storage order;
    ``block_map[j]`` is the tensor dimension block dimension ``rank + j`` subdivides; ``dim_metadata``
    holds one entry per traversal dimension. The buffer holds the stored values in traversal order.
    """

    traversal_order: tuple[int, ...]
    block_map: tuple[int, ...] = ()
    dim_metadata: list[DimensionMetadata] = field(default_factory=list)


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
    sparsity: Sparsity | None = None  # a sparse constant: the buffer holds the stored values only

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
        """The constant data of a tensor as a typed, shaped (read-only) array, or None for activations.
        A sparse tensor is densified (a new array; bounds checked by :func:`.sparse.densify`)."""
        t = self.subgraphs[subgraph].tensors[index]
        if t.buffer == 0 or t.buffer >= len(self.buffers) or self.buffers[t.buffer].size == 0:
            return None
        raw = self.buffers[t.buffer]
        if t.sparsity is not None:
            from .sparse import densify

            return densify(raw, t, f"tensor {index} ({t.name!r})")
        return np.frombuffer(raw, dtype=t.dtype, count=int(np.prod(t.shape, dtype=np.int64))).reshape(t.shape)
