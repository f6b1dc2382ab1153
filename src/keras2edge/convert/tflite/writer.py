"""Serialize a :class:`keras2edge.runtime.model.Model` to ``.tflite`` flatbuffer bytes.

``write_model`` is the inverse of ``keras2edge.runtime.reader.load_model``; both follow the field
tables of :mod:`keras2edge.runtime.schema` (slot numbers, types, defaults), so the writer builds
every table generically from them, options included. It uses the ``flatbuffers`` Builder and
NumPy only.

What the bytes look like:

* ``TFL3`` identifier, ``Model.version`` 3, ``buffers[0]`` the empty sentinel (enforced);
* operator codes de-duplicated on (builtin code, custom code, version), operators re-pointed,
  and the 127 rule applied: ``deprecated_builtin_code = min(code, 127)``, ``builtin_code = code``;
* operators in the Model's order; ``shape_signature`` only when the tensor has one; ``has_rank``
  as the Tensor says (True by default); quantization as ``scale`` float32 / ``zero_point`` int64
  / ``quantized_dimension`` (+ ``min``/``max`` when given), omitted when None; a sparse constant's
  ``sparsity`` as SparsityParameters, each index vector as the SparseIndexVector member of its dtype
  (validated like the reader does: the buffer must hold every stored value);
* every non-empty buffer's data starts at a multiple of 16 bytes from the start of the file
  (schema.fbs declares ``force_align: 16``; the Python Builder ignores it, so the vector is
  prepared with 16-byte alignment here);
* options tables from the ``Operator.options`` dict (missing fields take the schema default);
  metadata, signature defs and description as given;
* tensors whose quantization holds the same numbers share one QuantizationParameters table (a
  flatbuffer table may have several referrers; readers never write through it): a quantized
  model's activations mostly repeat a few parameter sets (fixed Logistic/Tanh outputs, equal-scale
  ops), which would otherwise cost a table each; likewise every tensor shape, shape signature and
  quantization vector (scale, zero_point, min, max) is written once per content and shared (an
  unrolled recurrent layer repeats a few shapes hundreds of times), and operators whose builtin
  options are equal (type and every field) share one options table.

Streaming (``write_model_to``): the buffers' data are the tail of the file. The Builder never
holds them: each data vector's bytes are left out of its byte array (which counts them, so every
offset is the one the whole array would give) and written to the file after the metadata, from the
arrays themselves. A buffer given as an :class:`ArrayBuffer` (say, a transposed view of a weight)
becomes bytes only as it is written, so at most one buffer is copied at a time.

An invalid Model (data in buffers[0], an index out of range, a buffer shorter than its tensor,
an options key the table does not have, a value outside its field's range ...) is rejected with
a ``ValueError`` naming the subgraph, operator or tensor before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import flatbuffers
import numpy as np

from ...runtime import schema
from ...runtime.codes import NUMPY_DTYPES, TENSOR_TYPES, tensor_type_name
from ...runtime.errors import LimitExceededError, RuntimeModelError
from ...runtime.model import Model, Operator, OperatorCode, Quantization, SignatureDef, Sparsity, SubGraph, Tensor
from ...runtime.sparse import INDEX_DTYPES, check_sparsity, index_tag
from ..rawbytes import raw_bytes, raw_chunks

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
BUFFER_ALIGNMENT = 16

_PREPEND = {
    "bool": "PrependBoolSlot", "byte": "PrependInt8Slot", "ubyte": "PrependUint8Slot",
    "short": "PrependInt16Slot", "ushort": "PrependUint16Slot", "int": "PrependInt32Slot",
    "uint": "PrependUint32Slot", "long": "PrependInt64Slot", "ulong": "PrependUint64Slot",
    "float": "PrependFloat32Slot", "double": "PrependFloat64Slot",
}


#: Flatbuffers offsets are 32-bit signed: a .tflite file without offset buffers stays below 2 GiB.
MAX_FLATBUFFER_BYTES = flatbuffers.Builder.MAX_BUFFER_SIZE


def _check_size(nbytes: int, what: str) -> None:
    if nbytes >= MAX_FLATBUFFER_BYTES:
        raise LimitExceededError(f"write_model: {what} {nbytes} bytes; a .tflite flatbuffer must stay below "
                                 f"{MAX_FLATBUFFER_BYTES} bytes (2 GiB)")


@dataclass(frozen=True)
class ArrayBuffer:
    """A buffer given as an array of any dtype and layout: its data are the array's C-order
    little-endian bytes (:func:`~keras2edge.convert.rawbytes.raw_bytes`), made only when the file
    is written, in slices when the array is a non-contiguous view."""

    array: np.ndarray

    @property
    def size(self) -> int:
        return int(self.array.nbytes)


def write_model(model: Model) -> bytes:
    """Serialize ``model`` to ``.tflite`` bytes (TFLite schema version 3).

    Args:
        model: the model; it is not modified. ``model.buffers[i]`` is a 1-D uint8 array (raw
            bytes) or an :class:`ArrayBuffer`.

    Returns:
        The flatbuffer bytes, loadable by LiteRT, TFLite Micro and ``runtime.reader.load_model``.

    Raises:
        ValueError: the model is invalid; the message names what and where.
        LimitExceededError: the file would reach 2 GiB.
    """
    return _Writer(model, _check_model(model), stream=False).build_bytes()


def write_model_to(out: BinaryIO, model: Model) -> int:
    """Write the bytes of :func:`write_model` to ``out``, the buffers' data straight from their
    arrays (never gathered into one bytes object). Returns the number of bytes written.

    Same bytes as :func:`write_model` (which builds them all in memory with the plain Builder);
    slower per table, so small models and tests use :func:`write_model`."""
    size = 0
    for piece in _Writer(model, _check_model(model), stream=True).build_pieces():
        out.write(piece)
        size += len(piece)
    return size


# ---------------------------------------------------------------------------------------------
# Validation: everything is checked (and normalized) before the first byte is written.


class _Plan:
    """What validation worked out: de-duplicated opcodes and normalized options per operator."""

    def __init__(self) -> None:
        self.opcodes: list[OperatorCode] = []
        self.opcode_map: list[int] = []
        self.options: dict[tuple[int, int], dict[str, Any]] = {}


def _fail(msg: str) -> None:
    raise ValueError(f"write_model: {msg}")


def _int(v: Any, kind: str, where: str) -> int:
    if isinstance(v, (bool, np.bool_)) and kind != "bool":
        _fail(f"{where}: expected an integer, got {v!r}")
    if not isinstance(v, (int, np.integer, bool, np.bool_)):
        _fail(f"{where}: expected an integer, got {type(v).__name__} {v!r}")
    lo, hi = schema.INT_RANGES[kind]
    if not lo <= int(v) <= hi:
        _fail(f"{where}: {int(v)} is outside the range of {kind} [{lo}, {hi}]")
    return int(v)


def _scalar(v: Any, kind: str, where: str) -> Any:
    if kind == "bool":
        return bool(_int(v, "bool", where))
    if kind in ("float", "double"):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            _fail(f"{where}: expected a number, got {type(v).__name__} {v!r}")
        f = float(v)
        if kind == "float" and math.isfinite(f) and abs(f) > float(np.finfo(np.float32).max):
            _fail(f"{where}: {f} does not fit a float32")
        return f
    return _int(v, kind, where)


def _int_vector(v: Any, kind: str, where: str, lo: int | None = None, hi: int | None = None) -> np.ndarray:
    """A 1-D vector of integers of ``kind`` as a little-endian array (range-checked)."""
    try:
        a = np.asarray(v)
    except Exception as e:  # noqa: BLE001 - ragged lists and the like
        _fail(f"{where}: not a vector of integers ({e})")
    if a.ndim != 1 or (a.size and not (np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_)):
        _fail(f"{where}: expected a 1-D sequence of integers, got {a.dtype} array of shape {a.shape}")
    klo, khi = schema.INT_RANGES[kind]
    lo = klo if lo is None else max(lo, klo)
    hi = khi if hi is None else min(hi, khi)
    if a.size and (int(a.min()) < lo or int(a.max()) > hi):
        bad = next(int(x) for x in a.tolist() if not lo <= int(x) <= hi)
        _fail(f"{where}: value {bad} out of range [{lo}, {hi}]")
    return a.astype(schema.NUMPY_DTYPES[kind], copy=False)


def _float_vector(v: Any, kind: str, where: str) -> np.ndarray:
    try:
        a = np.asarray(v, dtype=schema.NUMPY_DTYPES[kind])
    except (TypeError, ValueError) as e:
        _fail(f"{where}: not a vector of numbers ({e})")
    if a.ndim != 1:
        _fail(f"{where}: expected a 1-D vector, got shape {a.shape}")
    return a


def _vector(v: Any, elem: str, where: str) -> np.ndarray:
    return _float_vector(v, elem, where) if elem in ("float", "double") else _int_vector(v, elem, where)


def _options(op: Operator, where: str) -> dict[str, Any]:
    """The operator's options checked against its table, values normalized (None = omit)."""
    if not isinstance(op.options_type, (int, np.integer)) or isinstance(op.options_type, bool):
        _fail(f"{where}: options_type must be an int, got {op.options_type!r}")
    tag = int(op.options_type)
    opts = op.options or {}
    if tag == 0:
        if opts:
            _fail(f"{where}: options {sorted(opts)} given with options_type 0 (NONE)")
        return {}
    table = schema.options_table(tag)
    if table is None:
        _fail(f"{where}: unknown BuiltinOptions type {tag} (1..{len(schema.BUILTIN_OPTIONS)})")
    live = {f.name: f for f in table.live_fields}
    unknown = sorted(set(opts) - set(live))
    if unknown:
        _fail(f"{where}: {table.name} has no field(s) {unknown}; fields: {sorted(live)}")
    out: dict[str, Any] = {}
    for name, value in opts.items():
        f = live[name]
        fw = f"{where}: {table.name}.{name}"
        if value is None:
            continue
        if f.kind == "string":
            if not isinstance(value, str):
                _fail(f"{fw}: expected a str, got {type(value).__name__}")
            out[name] = value
        elif f.kind == "vector":
            out[name] = _vector(value, f.elem, fw)
        else:
            out[name] = _scalar(value, f.kind, fw)
    return out


def _check_str(v: Any, where: str, optional: bool = False) -> None:
    if not (isinstance(v, str) or (optional and v is None)):
        _fail(f"{where}: expected a str, got {type(v).__name__} {v!r}")


def _check_model(model: Model) -> _Plan:
    plan = _Plan()
    if model.version != SCHEMA_VERSION:
        _fail(f"Model.version is {model.version!r}: only TFLite schema version {SCHEMA_VERSION} can be written")
    _check_str(model.description, "Model.description")

    # buffers
    if not model.buffers:
        _fail("Model.buffers is empty: buffers[0] must be the empty sentinel buffer")
    for i, b in enumerate(model.buffers):
        if isinstance(b, ArrayBuffer) and isinstance(b.array, np.ndarray):
            continue
        if not isinstance(b, np.ndarray) or b.dtype != np.uint8 or b.ndim != 1:
            what = f"{b.dtype} array of shape {b.shape}" if isinstance(b, np.ndarray) else type(b).__name__
            _fail(f"Model.buffers[{i}] must be a 1-D uint8 array (raw bytes; e.g. np.frombuffer(arr.tobytes(), "
                  f"np.uint8)) or an ArrayBuffer, got {what}")
    _check_size(sum(int(b.size) for b in model.buffers), "the buffers hold")
    if model.buffers[0].size:
        _fail(f"Model.buffers[0] holds {model.buffers[0].size} bytes: it must be empty (the sentinel; "
              "tensors with buffer 0 are activations)")
    nbuf = len(model.buffers)

    # operator codes, de-duplicated
    seen: dict[tuple[int, str | None, int], int] = {}
    for i, oc in enumerate(model.operator_codes):
        where = f"Model.operator_codes[{i}]"
        code = _int(oc.builtin_code, "int", f"{where}.builtin_code")
        if code < 0:
            _fail(f"{where}.builtin_code is {code}: BuiltinOperator codes are >= 0")
        version = _int(oc.version, "int", f"{where}.version")
        _check_str(oc.custom_code, f"{where}.custom_code", optional=True)
        key = (code, oc.custom_code, version)
        if key not in seen:
            seen[key] = len(plan.opcodes)
            plan.opcodes.append(OperatorCode(builtin_code=code, version=version, custom_code=oc.custom_code))
        plan.opcode_map.append(seen[key])

    # subgraphs
    if not model.subgraphs:
        _fail("Model.subgraphs is empty: a model needs at least its main subgraph")
    for si, sg in enumerate(model.subgraphs):
        _check_subgraph(sg, si, model, nbuf, plan)

    for i, md in enumerate(model.metadata):
        _check_str(md.name, f"Model.metadata[{i}].name")
        b = _int(md.buffer, "uint", f"Model.metadata[{i}] ({md.name!r}).buffer")
        if b >= nbuf:
            _fail(f"Model.metadata[{i}] ({md.name!r}): buffer {b} out of range ({nbuf} buffers)")

    for i, sd in enumerate(model.signature_defs):
        where = f"Model.signature_defs[{i}] ({sd.signature_key!r})"
        _check_str(sd.signature_key, f"{where}.signature_key")
        si = _int(sd.subgraph_index, "uint", f"{where}.subgraph_index")
        if si >= len(model.subgraphs):
            _fail(f"{where}: subgraph_index {si} out of range ({len(model.subgraphs)} subgraphs)")
        n = len(model.subgraphs[si].tensors)
        for field in ("inputs", "outputs"):
            for k, entry in enumerate(getattr(sd, field)):
                if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
                    _fail(f"{where}.{field}[{k}]: expected a (name, tensor index) pair, got {entry!r}")
                name, ti = entry
                _check_str(name, f"{where}.{field}[{k}] name")
                ti = _int(ti, "uint", f"{where}.{field}[{k}] ({name!r}) tensor index")
                if ti >= n:
                    _fail(f"{where}.{field}[{k}] ({name!r}): tensor {ti} out of range ({n} tensors in "
                          f"subgraph {si})")
    return plan


def _check_subgraph(sg: SubGraph, si: int, model: Model, nbuf: int, plan: _Plan) -> None:
    where = f"Model.subgraphs[{si}]"
    _check_str(sg.name, f"{where}.name")
    n = len(sg.tensors)
    for ti, t in enumerate(sg.tensors):
        _check_tensor(t, f"{where}.tensors[{ti}] ({getattr(t, 'name', None)!r})", model, nbuf)
    for field in ("inputs", "outputs"):
        _int_vector(getattr(sg, field), "int", f"{where}.{field}", 0, n - 1)
    nops = len(model.operator_codes)
    for oi, op in enumerate(sg.operators):
        ow = f"{where}.operators[{oi}]"
        idx = _int(op.opcode_index, "uint", f"{ow}.opcode_index")
        if idx >= nops:
            _fail(f"{ow}: opcode_index {idx} out of range ({nops} operator codes)")
        ow = f"{ow} ({schema.op_name(int(model.operator_codes[idx].builtin_code))})"
        _int_vector(op.inputs, "int", f"{ow}.inputs (-1 = omitted, {n} tensors)", -1, n - 1)
        _int_vector(op.outputs, "int", f"{ow}.outputs ({n} tensors)", 0, n - 1)
        _int_vector(op.intermediates, "int", f"{ow}.intermediates ({n} tensors)", 0, n - 1)
        if op.custom_options is not None and not isinstance(op.custom_options, (bytes, bytearray, memoryview)):
            _fail(f"{ow}.custom_options: expected bytes, got {type(op.custom_options).__name__}")
        plan.options[(si, oi)] = _options(op, ow)


def _check_tensor(t: Tensor, where: str, model: Model, nbuf: int) -> None:
    _check_str(t.name, f"{where}.name")
    shape = _int_vector(t.shape, "int", f"{where}.shape", -1)
    if t.shape_signature is not None:
        _int_vector(t.shape_signature, "int", f"{where}.shape_signature", -1)
    ttype = _int(t.type, "byte", f"{where}.type")
    if ttype not in TENSOR_TYPES:
        _fail(f"{where}: unknown TensorType {ttype}")
    b = _int(t.buffer, "uint", f"{where}.buffer")
    if b >= nbuf:
        _fail(f"{where}: buffer {b} out of range ({nbuf} buffers)")
    size = model.buffers[b].size if b else 0
    if t.sparsity is not None and not size:
        _fail(f"{where}: a sparse tensor must be a constant with buffer data")
    if size:
        if t.is_variable:
            _fail(f"{where}: a variable tensor must not have buffer data (buffer {b}, {size} bytes)")
        need = schema.tensor_nbytes(shape.tolist(), ttype)
        if t.sparsity is not None:
            need = _sparse_nbytes(t, where)
        elif need is None and (shape < 0).any():
            _fail(f"{where}: constant tensor (buffer {b}) has an unknown dimension in shape {shape.tolist()}")
        if need is not None and size < need:
            _fail(f"{where}: buffer {b} holds {size} bytes, the tensor (shape {shape.tolist()}, "
                  f"{tensor_type_name(ttype)}) needs {need}")
    q = t.quantization
    if q is not None:
        if not isinstance(q, Quantization):
            _fail(f"{where}.quantization: expected a Quantization, got {type(q).__name__}")
        _float_vector(q.scale, "float", f"{where}.quantization.scale")
        _int_vector(q.zero_point, "long", f"{where}.quantization.zero_point")
        _int(q.quantized_dimension, "int", f"{where}.quantization.quantized_dimension")
        for name in ("min", "max"):
            if getattr(q, name) is not None:
                _float_vector(getattr(q, name), "float", f"{where}.quantization.{name}")


def _sparse_nbytes(t: Tensor, where: str) -> int:
    """Bytes the buffer of sparse tensor ``t`` must hold (its sparsity checked as the reader does)."""
    if t.type not in NUMPY_DTYPES:
        _fail(f"{where}: sparse {tensor_type_name(t.type)} tensors are not supported")
    for i, md in enumerate(t.sparsity.dim_metadata):  # type: ignore[union-attr]
        for name in ("array_segments", "array_indices"):
            a = getattr(md, name)
            if a is not None:
                try:
                    index_tag(np.asarray(a).dtype)
                except ValueError as e:
                    _fail(f"{where}.sparsity.dim_metadata[{i}].{name}: {e}")
    try:
        n = check_sparsity(t.sparsity, tuple(int(d) for d in t.shape), where)  # type: ignore[arg-type]
    except RuntimeModelError as e:
        _fail(str(e))
    return n * NUMPY_DTYPES[t.type].itemsize


# ---------------------------------------------------------------------------------------------
# Building


class _TailBytes(bytearray):
    """The Builder's byte array without the end of the buffer, which has been handed out already
    (``tail`` bytes: data vectors, and the tables built before them). ``len()`` counts the tail, so
    every offset the Builder computes (from the end of the buffer) is that of the whole file."""

    tail = 0

    def __len__(self) -> int:
        return bytearray.__len__(self) + self.tail


class _StreamBuilder(flatbuffers.Builder):
    """A flatbuffers Builder whose [ubyte] data vectors stay out of memory.

    ``pieces`` collects the end of the file, last piece first: bytes the Builder made, and the
    buffers' arrays (written as they are when the file is written).
    """

    def __init__(self, initial_size: int) -> None:
        super().__init__(initial_size)
        self.Bytes = _TailBytes(self.Bytes)
        self.pieces: list[bytes | np.ndarray | ArrayBuffer] = []

    def GrowByteBuffer(self) -> None:  # noqa: N802 - the Builder's method
        old = self.Bytes
        real = bytearray.__len__(old)
        _check_size(len(old), "the file would take more than")
        new = _TailBytes(max(2 * real, 1))
        new[bytearray.__len__(new) - real:] = old
        new.tail = old.tail
        self.Bytes = new

    def data_vector(self, data: np.ndarray | ArrayBuffer) -> int:
        """A [ubyte] vector of ``data`` (raw bytes or an ArrayBuffer), its first byte on a
        ``BUFFER_ALIGNMENT`` boundary of the file, as ``StartVector(1, n, 16)``, n bytes and
        ``EndVector()`` would make it; the n bytes are not copied but recorded as a piece."""
        self.assertNotNested()
        n = int(data.size)
        self.minalign = max(self.minalign, BUFFER_ALIGNMENT)
        pad = -(self.Offset() + n) % BUFFER_ALIGNMENT
        self.Prep(1, pad)
        self.Pad(pad)
        # Hand out what the Builder made since the last vector, then the data, as the file's end.
        done = bytes(self.Bytes[self.head:])
        if done:
            self.pieces.append(done)
        self.pieces.append(data)
        del self.Bytes[self.head:]
        self.Bytes.tail += len(done) + n
        _check_size(len(self.Bytes), "the file would take more than")
        self.Prep(4, 0)
        self.PlaceUOffsetT(n)
        return self.Offset()

    def file_pieces(self) -> Iterator[bytes | np.ndarray]:
        """The finished file, first piece first (an ArrayBuffer's raw bytes are made as it comes)."""
        yield bytes(self.Output())
        for p in reversed(self.pieces):
            if isinstance(p, ArrayBuffer):
                yield from raw_chunks(p.array)
            else:
                yield p


def _quant_key(q: Quantization) -> tuple[bytes, ...]:
    """What a QuantizationParameters table holds, as bytes: tensors with equal keys share one table."""
    def vec(a: Any, dtype: str) -> bytes:
        return b"-" if a is None else np.asarray(a, dtype).ravel().tobytes()
    return (vec(q.scale, "<f4"), vec(q.zero_point, "<i8"), int(q.quantized_dimension).to_bytes(8, "little", signed=True),
            vec(q.min, "<f4"), vec(q.max, "<f4"))


class _Writer:
    """Builds the file with the plain Builder (every byte in memory) or, with ``stream``, with the
    :class:`_StreamBuilder` (buffers' data left out and handed out as pieces)."""

    def __init__(self, model: Model, plan: _Plan, *, stream: bool) -> None:
        self.model = model
        self.plan = plan
        est = 32 * len(model.buffers) + 4096 + sum(
            200 * len(sg.tensors) + 100 * len(sg.operators) for sg in model.subgraphs)
        self.stream = _StreamBuilder(est) if stream else None
        self.b = self.stream or flatbuffers.Builder(est + sum(int(b.size) for b in model.buffers))
        self._quant_offsets: dict[tuple[bytes, ...], int] = {}  # QuantizationParameters written, by content
        self._shared_vectors: dict[tuple[str, bytes], int] = {}  # small vectors written, by content
        self._options_offsets: dict[tuple[Any, ...], int] = {}  # builtin options tables written, by content

    # -- primitives -------------------------------------------------------------------------
    def table(self, tdef: schema.Table, values: dict[str, Any]) -> int:
        """Build a table from {field: value}: scalars, or offsets already created (ints) for
        strings/vectors/tables. Fields absent or None are omitted (reader applies defaults)."""
        b = self.b
        b.StartObject(tdef.num_slots)
        for f in tdef.fields:
            v = values.get(f.name)
            if v is None:
                continue
            if f.is_scalar:
                getattr(b, _PREPEND[f.kind])(f.slot, v, f.default)
            elif f.kind == "union_type":
                b.PrependUint8Slot(f.slot, v, 0)
            else:
                b.PrependUOffsetTRelativeSlot(f.slot, v, 0)
        return b.EndObject()

    def offsets(self, offs: Sequence[int]) -> int:
        b = self.b
        b.StartVector(4, len(offs), 4)
        for o in reversed(offs):
            b.PrependUOffsetTRelative(o)
        return b.EndVector()

    def numbers(self, a: np.ndarray) -> int:
        """A vector of scalars from a little-endian array (already normalized)."""
        return self.b.CreateNumpyVector(np.ascontiguousarray(a))

    def shared(self, a: np.ndarray) -> int:
        """A vector of scalars like :meth:`numbers`, written once per content (dtype and bytes): tensor
        shapes, shape signatures and quantization vectors repeat across tensors and are read-only."""
        a = np.ascontiguousarray(a)
        key = (a.dtype.str, a.tobytes())
        off = self._shared_vectors.get(key)
        if off is None:
            off = self._shared_vectors[key] = self.numbers(a)
        return off

    def data(self, buf: np.ndarray | ArrayBuffer) -> int:
        """A [ubyte] vector whose first byte lands on a 16-byte boundary of the final file."""
        if self.stream is not None:
            return self.stream.data_vector(buf)
        raw = raw_bytes(buf.array) if isinstance(buf, ArrayBuffer) else buf
        b = self.b
        n = int(raw.size)
        b.StartVector(1, n, BUFFER_ALIGNMENT)
        b.head = b.Head() - n
        b.Bytes[b.Head():b.Head() + n] = memoryview(np.ascontiguousarray(raw)).cast("B")
        return b.EndVector()

    def string(self, s: str) -> int:
        return self.b.CreateString(s)

    # -- model ------------------------------------------------------------------------------
    def build_bytes(self) -> bytes:
        self.build()
        return bytes(self.b.Output())

    def build_pieces(self) -> Iterator[bytes | np.ndarray]:
        """The file as pieces, first piece first; buffers as arrays of raw bytes."""
        assert self.stream is not None
        self.build()
        return self.stream.file_pieces()

    def build(self) -> None:
        m, b, T = self.model, self.b, schema.TABLES
        # Buffers first: the Builder fills back to front, so the weights end up at the end of the
        # file, as in the converter's output.
        buffer_offs = []
        for raw in m.buffers:
            data = self.data(raw) if raw.size else None
            buffer_offs.append(self.table(T["Buffer"], {"data": data}))
        buffers = self.offsets(buffer_offs)
        subgraphs = self.offsets([self.subgraph(sg, si) for si, sg in enumerate(m.subgraphs)])
        opcodes = self.offsets([self.opcode(oc) for oc in self.plan.opcodes])
        metadata = self.offsets([self.table(T["Metadata"], {"name": self.string(md.name), "buffer": int(md.buffer)})
                                 for md in m.metadata]) if m.metadata else None
        signatures = self.offsets([self.signature(sd) for sd in m.signature_defs]) if m.signature_defs else None
        description = self.string(m.description) if m.description else None
        root = self.table(T["Model"], {
            "version": SCHEMA_VERSION, "operator_codes": opcodes, "subgraphs": subgraphs,
            "description": description, "buffers": buffers, "metadata": metadata, "signature_defs": signatures})
        b.Finish(root, file_identifier=FILE_IDENTIFIER)

    def opcode(self, oc: OperatorCode) -> int:
        custom = self.string(oc.custom_code) if oc.custom_code is not None else None
        code = oc.builtin_code
        return self.table(schema.TABLES["OperatorCode"], {
            "deprecated_builtin_code": min(code, schema.PLACEHOLDER_FOR_GREATER_OP_CODES),
            "custom_code": custom, "version": oc.version, "builtin_code": code})

    def signature(self, sd: SignatureDef) -> int:
        T = schema.TABLES
        maps = {}
        for field in ("inputs", "outputs"):
            maps[field] = self.offsets([self.table(T["TensorMap"], {"name": self.string(name),
                                                                    "tensor_index": int(ti)})
                                        for name, ti in getattr(sd, field)])
        return self.table(T["SignatureDef"], {**maps, "signature_key": self.string(sd.signature_key),
                                              "subgraph_index": int(sd.subgraph_index)})

    def subgraph(self, sg: SubGraph, si: int) -> int:
        T = schema.TABLES
        tensors = self.offsets([self.tensor(t) for t in sg.tensors])
        operators = self.offsets([self.operator(op, si, oi) for oi, op in enumerate(sg.operators)])
        return self.table(T["SubGraph"], {
            "tensors": tensors, "inputs": self.numbers(np.asarray(sg.inputs, "<i4")),
            "outputs": self.numbers(np.asarray(sg.outputs, "<i4")), "operators": operators,
            "name": self.string(sg.name) if sg.name else None})

    def tensor(self, t: Tensor) -> int:
        T = schema.TABLES
        q = None if t.quantization is None else self._quant_offsets.get(_quant_key(t.quantization))
        if t.quantization is not None and q is None:
            qp = t.quantization
            q = self._quant_offsets[_quant_key(qp)] = self.table(T["QuantizationParameters"], {
                "min": None if qp.min is None else self.shared(np.asarray(qp.min, "<f4").ravel()),
                "max": None if qp.max is None else self.shared(np.asarray(qp.max, "<f4").ravel()),
                "scale": self.shared(np.asarray(qp.scale, "<f4").ravel()),
                "zero_point": self.shared(np.asarray(qp.zero_point, "<i8").ravel()),
                "quantized_dimension": int(qp.quantized_dimension)})
        sparsity = None if t.sparsity is None else self.sparsity(t.sparsity)
        return self.table(T["Tensor"], {
            "shape": self.shared(np.asarray(t.shape, "<i4").reshape(-1)),
            "type": int(t.type), "buffer": int(t.buffer), "name": self.string(t.name), "quantization": q,
            "sparsity": sparsity,
            "is_variable": bool(t.is_variable),
            "shape_signature": None if t.shape_signature is None
            else self.shared(np.asarray(t.shape_signature, "<i4").reshape(-1)),
            "has_rank": bool(t.has_rank)})

    def sparsity(self, sp: Sparsity) -> int:
        T = schema.TABLES
        members = schema.UNIONS["SparseIndexVector"]
        dims = []
        for md in sp.dim_metadata:
            values: dict[str, Any] = {"format": int(md.format), "dense_size": int(md.dense_size)}
            for name in ("array_segments", "array_indices"):
                a = getattr(md, name)
                if a is None:
                    continue
                a = np.asarray(a)
                tag = index_tag(a.dtype)
                vec = self.numbers(a.astype(INDEX_DTYPES[tag], copy=False).ravel())
                values[name] = self.table(T[members[tag - 1]], {"values": vec})
                values[f"{name}_type"] = tag
            dims.append(self.table(T["DimensionMetadata"], values))
        return self.table(T["SparsityParameters"], {
            "traversal_order": self.numbers(np.asarray(sp.traversal_order, "<i4").reshape(-1)),
            "block_map": self.numbers(np.asarray(sp.block_map, "<i4").reshape(-1)) if len(sp.block_map) else None,
            "dim_metadata": self.offsets(dims)})

    def operator(self, op: Operator, si: int, oi: int) -> int:
        T = schema.TABLES
        options = None
        tag = int(op.options_type)
        if tag:
            given = self.plan.options[(si, oi)]
            key = (tag, *sorted((k, v.dtype.str, v.tobytes()) if isinstance(v, np.ndarray) else (k, repr(v))
                                for k, v in given.items()))
            options = self._options_offsets.get(key)
            if options is None:
                tdef = schema.options_table(tag)
                values: dict[str, Any] = {}
                for name, v in given.items():
                    f = tdef.by_name[name]
                    if f.kind == "string":
                        values[name] = self.string(v)
                    elif f.kind == "vector":
                        values[name] = self.numbers(v)
                    else:
                        values[name] = v
                options = self._options_offsets[key] = self.table(tdef, values)
        custom = None
        if op.custom_options is not None:
            custom = self.numbers(np.frombuffer(bytes(op.custom_options), np.uint8))
        intermediates = self.numbers(np.asarray(op.intermediates, "<i4").reshape(-1)) if len(op.intermediates) \
            else None
        return self.table(T["Operator"], {
            "opcode_index": self.plan.opcode_map[op.opcode_index],
            "inputs": self.numbers(np.asarray(op.inputs, "<i4").reshape(-1)),
            "outputs": self.numbers(np.asarray(op.outputs, "<i4").reshape(-1)),
            "builtin_options_type": tag if tag else None, "builtin_options": options,
            "custom_options": custom, "intermediates": intermediates})
