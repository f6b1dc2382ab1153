"""IR element types and their NumPy equivalents."""

from __future__ import annotations

import enum

import numpy as np


class DType(str, enum.Enum):
    """Element type of an IR value; the string value is the NumPy dtype name."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"
    INT8 = "int8"
    UINT8 = "uint8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    BOOL = "bool"

    @property
    def np(self) -> np.dtype:
        return np.dtype(self.value)

    @property
    def is_float(self) -> bool:
        return self in (DType.FLOAT32, DType.FLOAT16)

    @classmethod
    def from_any(cls, dtype: object) -> DType:
        """Map a NumPy dtype, a Keras dtype string or a Keras 3 DTypePolicy dict to a DType."""
        if isinstance(dtype, DType):
            return dtype
        if isinstance(dtype, dict):  # Keras 3 DTypePolicy {"config": {"name": "float32"}}
            cfg = dtype.get("config")
            dtype = cfg.get("name", "float32") if isinstance(cfg, dict) else None
        if dtype is None:
            return cls.FLOAT32
        try:
            name = str(np.dtype(dtype)) if not isinstance(dtype, str) else dtype
        except TypeError:  # not a dtype at all (a number, a list in a broken config): the default below
            name = ""
        name = {"mixed_float16": "float32", "mixed_bfloat16": "float32", "float64": "float32",
                "bfloat16": "float32", "half": "float16", "float": "float32",
                "uint16": "int32", "uint32": "int64", "int": "int32"}.get(name, name)
        try:
            return cls(name)
        except ValueError:
            return cls.FLOAT32
