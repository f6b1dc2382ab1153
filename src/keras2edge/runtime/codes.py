"""The one table of TFLite tensor types and the one of fused activation codes.

Both are built from :mod:`.schema`'s enums, so a code's name is written once (in ``ENUMS``):

* ``TensorType``: code -> :class:`TensorType` (schema name, bits per element, NumPy dtype, itemsize).
  Only the NumPy dtype of each type is stated here (``_NUMPY``): the types NumPy has a dtype for
  that the runtime reads (no FLOAT16 arithmetic is done, but its constants can be loaded and
  dequantized). The reader, the interpreter, the validators, the TFLite writer/emitter and
  ``inspect``'s report all read this table.
* ``ActivationFunctionType``: code <-> name (``ACTIVATIONS`` / ``ACTIVATION_CODES``) and the
  ``ACT_*`` constants the emitters put in operator option dicts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .schema import ENUMS, TENSOR_TYPE_BITS


@dataclass(frozen=True)
class TensorType:
    """One TensorType enum value."""

    code: int
    name: str  # schema name, e.g. "FLOAT32"
    bits: int | None  # bits per element (sub-byte types packed); None for STRING/RESOURCE/VARIANT
    dtype: np.dtype | None  # the NumPy dtype the runtime uses; None where it has none (INT4, BFLOAT16...)

    @property
    def itemsize(self) -> int | None:
        """Bytes per element of :attr:`dtype`; None where the runtime has no dtype for the type."""
        return None if self.dtype is None else self.dtype.itemsize


#: TensorType name -> NumPy dtype, for the types the runtime reads and writes (the only fact stated here).
_NUMPY: dict[str, type[np.generic]] = {
    "FLOAT32": np.float32, "FLOAT16": np.float16, "INT32": np.int32, "UINT8": np.uint8, "INT64": np.int64,
    "BOOL": np.bool_, "INT16": np.int16, "INT8": np.int8, "FLOAT64": np.float64, "UINT64": np.uint64,
    "UINT32": np.uint32, "UINT16": np.uint16,
}

#: TensorType code -> its row, every code of the schema's enum.
TENSOR_TYPES: dict[int, TensorType] = {
    code: TensorType(code, name, TENSOR_TYPE_BITS.get(code), np.dtype(_NUMPY[name]) if name in _NUMPY else None)
    for name, code in ENUMS["TensorType"].items()
}
#: TensorType code -> NumPy dtype, only the codes that have one.
NUMPY_DTYPES: dict[int, np.dtype] = {c: t.dtype for c, t in TENSOR_TYPES.items() if t.dtype is not None}
#: NumPy dtype -> TensorType code (the inverse of :data:`NUMPY_DTYPES`).
TENSOR_TYPE_CODES: dict[np.dtype, int] = {d: c for c, d in NUMPY_DTYPES.items()}
#: TensorType name -> code (``TENSOR_TYPE_BY_NAME["INT8"] == 9``).
TENSOR_TYPE_BY_NAME: dict[str, int] = dict(ENUMS["TensorType"])


def tensor_type_name(code: int) -> str:
    """The schema name of a TensorType code ("FLOAT32"), or the number as text for an unknown code."""
    t = TENSOR_TYPES.get(code)
    return t.name if t is not None else str(code)


#: ActivationFunctionType name -> code, and code -> name.
ACTIVATION_CODES: dict[str, int] = dict(ENUMS["ActivationFunctionType"])
ACTIVATIONS: dict[int, str] = {code: name for name, code in ACTIVATION_CODES.items()}

ACT_NONE = ACTIVATION_CODES["NONE"]
ACT_RELU = ACTIVATION_CODES["RELU"]
ACT_RELU_N1_TO_1 = ACTIVATION_CODES["RELU_N1_TO_1"]
ACT_RELU6 = ACTIVATION_CODES["RELU6"]
ACT_TANH = ACTIVATION_CODES["TANH"]
ACT_SIGN_BIT = ACTIVATION_CODES["SIGN_BIT"]


def activation_name(code: int) -> str:
    """The schema name of an ActivationFunctionType code ("RELU6"), or the number as text if unknown."""
    return ACTIVATIONS.get(code, str(code))
