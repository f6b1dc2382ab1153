"""ONNX initializers kept as arrays until written, and a ModelProto streamed to a file piece by piece.

An :class:`Initializer` is a name and an array, often a transposed *view* of an IR weight; it
becomes a ``TensorProto`` only when the whole ModelProto is wanted (:func:`to_onnx`). Saving never
builds that ModelProto: :func:`write_model` writes the protobuf wire format directly, so the
weights go from the IR arrays to the file one tensor at a time.

How the bytes are laid out (protobuf serializes the fields of a message in field-number order, and
a length-delimited field is ``tag, varint(length), payload``):

* ``ModelProto`` = [fields 1..6] ``graph`` (field 7) [fields 8..];
* ``GraphProto`` = [``node`` (1), ``name`` (2)] ``initializer`` (5) * N [fields 10..];
* each initializer ``TensorProto`` = [``dims`` (1), ``data_type`` (2), ``name`` (8)] ``raw_data`` (9),
  the raw data being the array's C-order little-endian bytes (what ``numpy_helper.from_array``
  writes; :mod:`keras2edge.convert.rawbytes`).

The parts around the initializers are serialized from the skeleton model (the model without
initializers) by protobuf itself; the lengths of ``graph`` and of each initializer are computed
from the arrays' sizes before any byte is written. The result is the exact bytes of
``ModelProto.SerializeToString()`` on the full model (a test compares them on every fixture).

:func:`check_skeleton` runs ``onnx.checker`` (full check, with shape inference) on the skeleton
with the large initializers declared as graph inputs of the same type and shape: shape inference
reads the *values* of small constants only (shapes, axes, pads, sizes), which stay in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import onnx
from google.protobuf.message import Message
from onnx import TensorProto, helper, numpy_helper

from ..rawbytes import raw_chunks

#: Initializers larger than this are left out of the checked skeleton (declared as inputs instead).
CHECK_INLINE_BYTES = 4096
#: Protobuf cannot parse a message of 2 GiB or more; ONNX needs external data beyond that.
MAX_PROTOBUF_BYTES = (1 << 31) - 1

_MODEL_GRAPH = 7          # ModelProto.graph
_GRAPH_INITIALIZER = 5    # GraphProto.initializer
_TENSOR_RAW_DATA = 9      # TensorProto.raw_data


@dataclass(frozen=True)
class Initializer:
    """An initializer before it is a TensorProto: its ONNX name and its data (any layout; a view of
    an IR constant is not copied until the initializer is written). ``dims``, when given, is the
    ONNX shape of the array's C-order elements (a permuted view cannot always take the final shape)."""

    name: str
    array: np.ndarray
    dims: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.dims is not None and int(np.prod(self.dims, dtype=np.int64)) != self.array.size:
            raise ValueError(f"initializer {self.name!r}: dims {self.dims} do not hold the {self.array.size} "
                             f"elements of its array {self.array.shape}")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in (self.array.shape if self.dims is None else self.dims))

    @property
    def data_type(self) -> int:
        return helper.np_dtype_to_tensor_dtype(self.array.dtype)

    def to_proto(self) -> TensorProto:
        """The whole TensorProto (the data copied into ``raw_data``)."""
        return numpy_helper.from_array(np.array(self.array, order="C").reshape(self.shape), self.name)

    def header(self) -> TensorProto:
        """The TensorProto without its data: dims, data type and name, as :meth:`to_proto` sets them."""
        t = TensorProto()
        t.dims.extend(self.shape)
        t.data_type = self.data_type
        if self.name:
            t.name = self.name
        return t


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field_prefix(number: int, length: int) -> bytes:
    """The tag (wire type 2, length-delimited) and length of one field."""
    return _varint(number << 3 | 2) + _varint(length)


def _split(msg: Message, number: int) -> tuple[bytes, bytes]:
    """The serialized fields of ``msg`` numbered below / above ``number`` (that field left out)."""
    before, after = type(msg)(), type(msg)()
    before.CopyFrom(msg)
    after.CopyFrom(msg)
    for fd, _ in msg.ListFields():
        (after if fd.number < number else before).ClearField(fd.name)
        if fd.number == number:
            after.ClearField(fd.name)
    return before.SerializeToString(), after.SerializeToString()


class _Plan:
    """The pieces of the serialized model, sizes computed, data not yet touched."""

    def __init__(self, skeleton: onnx.ModelProto, initializers: Sequence[Initializer]) -> None:
        if len(skeleton.graph.initializer):
            raise ValueError("write_model: the skeleton model must have no initializers")
        self.model_head, self.model_tail = _split(skeleton, _MODEL_GRAPH)
        self.graph_head, self.graph_tail = _split(skeleton.graph, _GRAPH_INITIALIZER)
        self.initializers = list(initializers)
        self.headers = [i.header().SerializeToString() for i in self.initializers]
        self.tensor_sizes = [len(h) + len(_field_prefix(_TENSOR_RAW_DATA, i.array.nbytes)) + i.array.nbytes
                             for h, i in zip(self.headers, self.initializers)]
        self.graph_size = len(self.graph_head) + len(self.graph_tail) + sum(
            len(_field_prefix(_GRAPH_INITIALIZER, n)) + n for n in self.tensor_sizes)
        self.size = len(self.model_head) + len(_field_prefix(_MODEL_GRAPH, self.graph_size)) + self.graph_size \
            + len(self.model_tail)


def serialized_size(skeleton: onnx.ModelProto, initializers: Sequence[Initializer]) -> int:
    """The size in bytes of the model :func:`write_model` writes (nothing is serialized but metadata)."""
    return _Plan(skeleton, initializers).size


def write_model(out: BinaryIO, skeleton: onnx.ModelProto, initializers: Sequence[Initializer]) -> int:
    """Write the model ``skeleton`` with ``initializers`` added to its graph; returns the bytes written.

    The bytes are those of ``ModelProto.SerializeToString()`` on the full model; an initializer's
    data is written from its array (slices of it copied when it is a non-contiguous view).
    """
    plan = _Plan(skeleton, initializers)
    out.write(plan.model_head)
    out.write(_field_prefix(_MODEL_GRAPH, plan.graph_size))
    out.write(plan.graph_head)
    for init, header, size in zip(plan.initializers, plan.headers, plan.tensor_sizes):
        out.write(_field_prefix(_GRAPH_INITIALIZER, size))
        out.write(header)
        out.write(_field_prefix(_TENSOR_RAW_DATA, init.array.nbytes))
        for chunk in raw_chunks(init.array):
            out.write(chunk)
    out.write(plan.graph_tail)
    out.write(plan.model_tail)
    return plan.size


def check_skeleton(skeleton: onnx.ModelProto, initializers: Sequence[Initializer]) -> None:
    """``onnx.checker.check_model(full_check=True)`` on the model without copying its large weights.

    Initializers up to :data:`CHECK_INLINE_BYTES` are checked as initializers; larger ones are
    declared as graph inputs with their exact type and shape, which is all the checker and shape
    inference use of them (their bytes are written from arrays of exactly that shape and dtype).
    """
    m = onnx.ModelProto()
    m.CopyFrom(skeleton)
    for init in initializers:
        if init.array.nbytes <= CHECK_INLINE_BYTES:
            m.graph.initializer.append(init.to_proto())
        else:
            m.graph.input.append(helper.make_tensor_value_info(init.name, init.data_type, init.shape))
    onnx.checker.check_model(m, full_check=True)
