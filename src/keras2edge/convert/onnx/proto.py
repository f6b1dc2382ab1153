"""The ONNX protobuf messages the emitter writes, encoded to wire bytes by keras2edge itself.

Why not ``onnx.helper``: importing any part of the ``onnx`` package runs ``onnx/__init__.py``,
which imports ``onnx.helper`` and with it ``ml_dtypes``; ml_dtypes 0.7.0 takes 0.7-1 s to register
its NumPy casts (quadratic ``PyUFunc_AddLoop``), more than the whole conversion of MobileNetV2. The
writer needs none of it: the messages below are a small, fixed subset of ``onnx/onnx.proto``.

What maps to what (field numbers from ``onnx.proto``; proto2 rules, as onnx's own Python classes
encode them: fields in field-number order, repeated scalars not packed, an optional field that was
set is written even when it is empty or zero):

- :class:`OnnxTensor` (name, NumPy array) → ``TensorProto`` {dims 1, data_type 2, name 8, raw_data 9}
  with C-order little-endian ``raw_data`` (as ``onnx.numpy_helper.from_array``);
- :class:`OnnxNode` → ``NodeProto`` {input 1, output 2, name 3, op_type 4, attribute 5, doc_string 6};
  attributes sorted by name, typed as ``onnx.helper.make_attribute`` types them (int / float /
  str → INT / FLOAT / STRING; sequences of them → INTS / FLOATS / STRINGS);
- :class:`OnnxValueInfo` (name, elem type, dims: int or str) → ``ValueInfoProto`` with a tensor type;
- :func:`encode_model` → ``ModelProto`` {ir_version 1, producer_name 2, producer_version 3, graph 7,
  opset_import 8, metadata_props 14} around a ``GraphProto`` {node 1, name 2, initializer 5,
  input 11, output 12}.

Messages are encoded as *pieces* (:data:`Chunks`): small ``bytes`` and, for each initializer's
``raw_data``, the array itself (often a transposed view of an IR weight), whose length is its
``nbytes``. Nothing copies a weight until the pieces are written (:func:`raw_pieces`, in 16 MiB
slices for a non-contiguous view), so a model goes to its file with the weights held once.

``tests/convert/onnx/test_proto.py`` checks the bytes against onnx's own classes.
"""

from __future__ import annotations

import numbers
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..rawbytes import raw_chunks

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

#: Encoded pieces of a message: bytes, or an array standing for its C-order little-endian bytes.
Chunks = list["bytes | np.ndarray"]


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


def _piece_size(piece: bytes | np.ndarray) -> int:
    """The number of bytes ``piece`` stands for."""
    return int(piece.nbytes) if isinstance(piece, np.ndarray) else len(piece)


def total_size(chunks: Chunks) -> int:
    """The number of bytes ``chunks`` encode."""
    return sum(_piece_size(c) for c in chunks)


def _msg(num: int, chunks: Chunks) -> Chunks:
    """An embedded message: the chunks are kept as they are (no copy of large raw_data)."""
    return [_tag(num, 2) + _varint(total_size(chunks)), *chunks]


def raw_pieces(chunks: Chunks) -> Iterator[bytes | np.ndarray]:
    """The bytes of ``chunks`` in order, ready to write: an array piece as its raw bytes (the array
    itself when it is C-order little-endian, else slices copied one at a time)."""
    for c in chunks:
        if isinstance(c, np.ndarray):
            yield from raw_chunks(c)
        else:
            yield c


def join(chunks: Chunks) -> bytes:
    """The encoded message as one bytes object."""
    return b"".join(raw_pieces(chunks))


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


@dataclass(frozen=True)
class OnnxTensor:
    """One ``TensorProto`` initializer: dims, element type and the array's C-order little-endian bytes.

    The array is kept as given (any layout, often a view of an IR constant: nothing is copied until
    it is written). ``dims``, when given, is the ONNX shape of the array's C-order elements (a
    permuted view cannot always take the final shape without a copy); else the array's shape.
    """

    name: str
    array: np.ndarray
    dims: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.dims is not None and int(np.prod(self.dims, dtype=np.int64)) != self.array.size:
            raise ValueError(f"ONNX initializer {self.name!r}: dims {self.dims} do not hold the {self.array.size} "
                             f"elements of its array {self.array.shape}")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in (self.array.shape if self.dims is None else self.dims))

    @property
    def elem_type(self) -> int:
        elem = ELEM_TYPE.get(self.array.dtype.newbyteorder("="))
        if elem is None:
            raise TypeError(f"ONNX initializer {self.name!r}: dtype {self.array.dtype} is not written by keras2edge")
        return elem

    def encode(self) -> Chunks:
        out: Chunks = [_int(1, d) for d in self.shape] + [_int(2, self.elem_type)]
        if self.name:
            out += _str(8, self.name)
        return out + [_tag(9, 2) + _varint(self.array.nbytes), self.array]

    def declared(self) -> OnnxValueInfo:
        """The graph input of this tensor's type and shape (what the checker is given instead of a large weight)."""
        return OnnxValueInfo(self.name, self.elem_type, list(self.shape))


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
                 producer_name: str, producer_version: str, metadata: Mapping[str, str],
                 declare_above: int | None = None) -> Chunks:
    """The serialized ``ModelProto`` of one graph importing the default domain at ``opset``, as pieces
    (:func:`join` makes the bytes).

    ``declare_above``: initializers of more bytes than this are left out and declared as graph
    inputs of the same type and shape instead (the model ``onnx.checker`` is run on, without the
    large weights; see :mod:`.check`).
    """
    inline = [declare_above is None or t.array.nbytes <= declare_above for t in initializers]
    kept = [t for t, keep in zip(initializers, inline) if keep]
    declared = [t for t, keep in zip(initializers, inline) if not keep]
    graph: Chunks = []
    for n in nodes:
        graph += _msg(1, n.encode())
    graph += _str(2, name)
    for t in kept:
        graph += _msg(5, t.encode())
    for v in [*inputs, *(t.declared() for t in declared)]:
        graph += _msg(11, v.encode())
    for v in outputs:
        graph += _msg(12, v.encode())
    model: Chunks = [_int(1, IR_VERSION_FOR_OPSET[opset]), *_str(2, producer_name), *_str(3, producer_version),
                     *_msg(7, graph), *_msg(8, [*_str(1, ""), _int(2, opset)])]
    for key, value in metadata.items():
        model += _msg(14, _str(1, key) + _str(2, value))
    return model
