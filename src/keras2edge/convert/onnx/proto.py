"""The ONNX protobuf messages the emitter writes, encoded to wire bytes by keras2edge itself.

Why not ``onnx.helper``: importing any part of the ``onnx`` package runs ``onnx/__init__.py``,
which imports ``onnx.helper`` and with it ``ml_dtypes``; ml_dtypes 0.7.0 takes 0.7-1 s to register
its NumPy casts (quadratic ``PyUFunc_AddLoop``), more than the whole conversion of MobileNetV2. The
writer needs none of it: the messages below are a small, fixed subset of ``onnx/onnx.proto``.

What maps to what (field numbers from ``onnx.proto``; proto2 rules, as onnx's own Python classes
encode them: fields in field-number order, repeated scalars not packed, an optional field that was
set is written even when it is empty or zero):

- :class:`OnnxTensor` (name, NumPy array) → ``TensorProto`` {dims 1, data_type 2, name 8, raw_data 9}
  with little-endian ``raw_data`` (as ``onnx.numpy_helper.from_array``);
- :class:`OnnxNode` → ``NodeProto`` {input 1, output 2, name 3, op_type 4, attribute 5, doc_string 6};
  attributes sorted by name, typed as ``onnx.helper.make_attribute`` types them (int / float /
  str → INT / FLOAT / STRING; sequences of them → INTS / FLOATS / STRINGS);
- :class:`OnnxValueInfo` (name, elem type, dims: int or str) → ``ValueInfoProto`` with a tensor type;
- :func:`encode_model` → ``ModelProto`` {ir_version 1, producer_name 2, producer_version 3, graph 7,
  opset_import 8, metadata_props 14} around a ``GraphProto`` {node 1, name 2, initializer 5,
  input 11, output 12}.

``tests/onnx/test_onnx_proto.py`` checks the bytes against onnx's own classes.
"""

from __future__ import annotations

import numbers
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# TensorProto.DataType for the NumPy dtypes keras2edge writes.
ELEM_TYPE: dict[np.dtype[Any], int] = {
    np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int8): 3, np.dtype(np.uint16): 4,
    np.dtype(np.int16): 5, np.dtype(np.int32): 6, np.dtype(np.int64): 7, np.dtype(np.bool_): 9,
    np.dtype(np.float16): 10, np.dtype(np.float64): 11, np.dtype(np.uint32): 12, np.dtype(np.uint64): 13,
}

# Minimum IR version for a default-domain opset (onnx.helper.VERSION_TABLE; checked by a test).
IR_VERSION_FOR_OPSET: dict[int, int] = {13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9,
                                        21: 10, 22: 10, 23: 11, 24: 12}

# AttributeProto.AttributeType
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_FLOATS, _ATTR_INTS, _ATTR_STRINGS = 1, 2, 3, 6, 7, 8

Chunks = list[bytes]


# ---------------------------------------------------------------- wire format
def _varint(n: int) -> bytes:
    """Base-128 varint; a negative int64 is written as its 64-bit two's complement (10 bytes)."""
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _tag(num: int, wire: int) -> bytes:
    return _varint(num << 3 | wire)


def _int(num: int, value: int) -> bytes:
    return _tag(num, 0) + _varint(int(value))


def _float(num: int, value: float) -> bytes:
    return _tag(num, 5) + struct.pack("<f", value)


def _bytes(num: int, data: bytes) -> Chunks:
    return [_tag(num, 2) + _varint(len(data)), data]


def _str(num: int, text: str) -> Chunks:
    return _bytes(num, text.encode("utf-8"))


def _msg(num: int, chunks: Chunks) -> Chunks:
    """An embedded message: the chunks are kept as they are (no copy of large raw_data)."""
    return [_tag(num, 2) + _varint(sum(len(c) for c in chunks)), *chunks]


# ---------------------------------------------------------------- messages
def _attribute(name: str, value: Any) -> Chunks:
    """``AttributeProto`` typed from the Python value, as ``onnx.helper.make_attribute`` does."""
    out = _str(1, name)
    if isinstance(value, numbers.Integral):
        return out + [_int(3, int(value)), _int(20, _ATTR_INT)]
    if isinstance(value, numbers.Real):
        return out + [_float(2, float(value)), _int(20, _ATTR_FLOAT)]
    if isinstance(value, (str, bytes)):
        return out + _bytes(4, value.encode("utf-8") if isinstance(value, str) else value) + [_int(20, _ATTR_STRING)]
    if isinstance(value, Iterable):
        items = list(value)
        if items and all(isinstance(v, numbers.Integral) for v in items):
            return out + [_int(8, int(v)) for v in items] + [_int(20, _ATTR_INTS)]
        if items and all(isinstance(v, numbers.Real) for v in items):
            return out + [_float(7, float(v)) for v in items] + [_int(20, _ATTR_FLOATS)]
        if items and all(isinstance(v, (str, bytes)) for v in items):
            strs = [c for v in items for c in _bytes(9, v.encode("utf-8") if isinstance(v, str) else v)]
            return out + strs + [_int(20, _ATTR_STRINGS)]
    raise TypeError(f"ONNX attribute {name!r}: cannot type {value!r} (int, float, str or a non-empty list of one)")


@dataclass
class OnnxNode:
    """One ``NodeProto`` (default domain)."""

    op_type: str
    inputs: list[str]
    outputs: list[str]
    name: str = ""
    doc_string: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> Chunks:
        out: Chunks = []
        for s in self.inputs:
            out += _str(1, s)
        for s in self.outputs:
            out += _str(2, s)
        if self.name:
            out += _str(3, self.name)
        out += _str(4, self.op_type)
        for key in sorted(self.attrs):
            out += _msg(5, _attribute(key, self.attrs[key]))
        if self.doc_string:
            out += _str(6, self.doc_string)
        return out


@dataclass
class OnnxTensor:
    """One ``TensorProto`` initializer: the array's dims, element type and little-endian raw bytes."""

    name: str
    array: np.ndarray

    def encode(self) -> Chunks:
        a = self.array
        elem = ELEM_TYPE.get(a.dtype.newbyteorder("="))
        if elem is None:
            raise TypeError(f"ONNX initializer {self.name!r}: dtype {a.dtype} is not written by keras2edge")
        out = [_int(1, d) for d in a.shape] + [_int(2, elem)]
        if self.name:
            out += _str(8, self.name)
        return out + _bytes(9, np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes())


@dataclass
class OnnxValueInfo:
    """One ``ValueInfoProto`` of a tensor: element type and dims (int sizes or str parameters)."""

    name: str
    elem_type: int
    dims: Sequence[int | str]

    def encode(self) -> Chunks:
        shape: Chunks = []
        for d in self.dims:
            shape += _msg(1, _str(2, d) if isinstance(d, str) else [_int(1, d)])
        tensor_type = [_int(1, self.elem_type), *_msg(2, shape)]
        return _str(1, self.name) + _msg(2, _msg(1, tensor_type))


def encode_model(*, nodes: Sequence[OnnxNode], name: str, initializers: Sequence[OnnxTensor],
                 inputs: Sequence[OnnxValueInfo], outputs: Sequence[OnnxValueInfo], opset: int,
                 producer_name: str, producer_version: str, metadata: Mapping[str, str]) -> bytes:
    """The serialized ``ModelProto`` of one graph importing the default domain at ``opset``."""
    graph: Chunks = []
    for n in nodes:
        graph += _msg(1, n.encode())
    graph += _str(2, name)
    for t in initializers:
        graph += _msg(5, t.encode())
    for v in inputs:
        graph += _msg(11, v.encode())
    for v in outputs:
        graph += _msg(12, v.encode())
    model: Chunks = [_int(1, IR_VERSION_FOR_OPSET[opset]), *_str(2, producer_name), *_str(3, producer_version),
                     *_msg(7, graph), *_msg(8, [*_str(1, ""), _int(2, opset)])]
    for key, value in metadata.items():
        model += _msg(14, _str(1, key) + _str(2, value))
    return b"".join(model)
