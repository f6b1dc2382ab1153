"""Read ``.tflite`` bytes into a :class:`runtime.model.Model` (NumPy + stdlib only, zero-copy weights).

``load_model`` is the inverse of ``convert.tflite.writer.write_model``. It walks the flatbuffer
with the bounds-checked :mod:`runtime.flatbuf` reader, following the field tables of
:mod:`runtime.schema`, and checks what the in-memory form relies on: the ``TFL3`` identifier,
schema version 3, every tensor/buffer/opcode/subgraph index, buffers long enough for their
tensors, the empty sentinel ``buffers[0]``. Anything wrong raises
:class:`runtime.errors.RuntimeModelError` naming the field path (``Model.subgraphs[0].operators[3]
...``), the byte offset, and the operator or tensor concerned.

What the Model holds, compared to the file:

* constant buffers and quantization vectors are ``np.frombuffer`` views of ``data`` (read-only
  when ``data`` is ``bytes``);
* operator codes: ``builtin_code = max(deprecated_builtin_code, builtin_code)`` (what runtimes
  do); ``OperatorCode.deprecated_builtin_code`` is None when the file holds the canonical value
  ``min(code, 127)`` and the raw byte otherwise;
* options: a dict of every field of the union's table by name, defaults applied for absent
  fields (vectors/strings absent -> None); ``{}`` for NONE. Op codes are kept as numbers even if
  unknown: the interpreter decides what it runs;
* a QuantizationParameters table without any scale, zero point, min or max reads as None;
  empty min/max vectors read as None;
* sparse constants (``Tensor.sparsity``) keep their SparsityParameters as a :class:`~.model.Sparsity`
  (index vectors as views), validated by :func:`.sparse.check_sparsity`; their buffer must hold the
  stored values (the loader densifies them);
* absent strings read as ``""`` (``OperatorCode.custom_code``: None);
* fields the Model has no place for and that runtimes ignore are dropped (``metadata_buffer``,
  ``mutating_variable_inputs``, ``custom_options_format``, debug metadata indices). Fields that
  would change the meaning if dropped are refused as unsupported: external or > 2 GB buffers, quantization ``details``, ``builtin_options_2`` (StableHLO), variant subtypes.
"""

from __future__ import annotations

import numpy as np

from .errors import RuntimeModelError
from .codes import NUMPY_DTYPES, TENSOR_TYPES, tensor_type_name
from .flatbuf import FlatBuffer, TableView
from .model import DimensionMetadata, Metadata, Model, Operator, OperatorCode, Quantization, SignatureDef, \
    Sparsity, SubGraph, Tensor
from .schema import BUILTIN_OPTIONS, PLACEHOLDER_FOR_GREATER_OP_CODES, TABLES, UNIONS, default_options, op_name, \
    tensor_nbytes
from .sparse import check_sparsity

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3

_EMPTY_U8 = np.zeros(0, np.uint8)
_EMPTY_F32 = np.zeros(0, np.float32)
_EMPTY_I64 = np.zeros(0, np.int64)
for _a in (_EMPTY_U8, _EMPTY_F32, _EMPTY_I64):
    _a.flags.writeable = False


def load_model(data: bytes | bytearray | memoryview) -> Model:
    """Parse ``.tflite`` flatbuffer bytes into a Model.

    Args:
        data: the whole file. It must stay alive and unchanged while the Model is used: buffers
            and quantization arrays are views into it.

    Returns:
        The model, with buffers, operator codes, subgraphs, metadata and signatures.

    Raises:
        RuntimeModelError: the bytes are not a valid TFLite schema-3 flatbuffer, or use a feature
            the Model cannot represent (the message names the field, offset, operator, tensor).
    """
    buf = FlatBuffer(data)
    root = buf.root(TABLES["Model"], FILE_IDENTIFIER)
    version = root.scalar("version")
    if version != SCHEMA_VERSION:
        raise RuntimeModelError(f"Model.version is {version}: only TFLite schema version {SCHEMA_VERSION} "
                                "is supported")
    for name in ("external_buffer_groups", "external_buffers"):
        if root.tables(name):
            raise RuntimeModelError(f"Model.{name} is set: external weight files are not supported")

    buffers = [_read_buffer(b, i) for i, b in enumerate(root.tables("buffers") or [])]
    if not buffers:
        raise RuntimeModelError("Model.buffers is empty: buffers[0] must be the empty sentinel buffer")
    if buffers[0].size:
        raise RuntimeModelError(f"Model.buffers[0] holds {buffers[0].size} bytes: it must be the empty "
                                "sentinel buffer (tensors with buffer 0 are activations)")
    opcodes = [_read_opcode(t, i) for i, t in enumerate(root.tables("operator_codes") or [])]
    sub_tables = root.tables("subgraphs") or []
    if not sub_tables:
        raise RuntimeModelError("Model.subgraphs is empty: a model needs at least its main subgraph")
    subgraphs = [_read_subgraph(t, i, buffers, opcodes) for i, t in enumerate(sub_tables)]

    metadata = []
    for i, t in enumerate(root.tables("metadata") or []):
        name, b = t.string("name") or "", t.scalar("buffer")
        if b >= len(buffers):
            raise RuntimeModelError(f"Model.metadata[{i}] ({name!r}): buffer {b} out of range "
                                    f"({len(buffers)} buffers)")
        metadata.append(Metadata(name, b))

    signatures = [_read_signature(t, i, subgraphs) for i, t in enumerate(root.tables("signature_defs") or [])]
    return Model(operator_codes=opcodes, subgraphs=subgraphs, buffers=buffers, version=version,
                 description=root.string("description") or "", metadata=metadata, signature_defs=signatures)


def _read_buffer(t: TableView, i: int) -> np.ndarray:
    if t.scalar("offset") > 1:
        raise RuntimeModelError(f"Model.buffers[{i}] keeps its {t.scalar('size')} bytes outside the flatbuffer "
                                f"(offset {t.scalar('offset')}; models > 2 GB): not supported")
    data = t.array("data")
    return _EMPTY_U8 if data is None else data


def _read_opcode(t: TableView, i: int) -> OperatorCode:
    dep = t.scalar("deprecated_builtin_code")
    code = max(dep, t.scalar("builtin_code"))
    if code < 0:
        raise RuntimeModelError(f"Model.operator_codes[{i}]: builtin code {code} is negative "
                                f"(deprecated_builtin_code {dep}, builtin_code {t.scalar('builtin_code')})")
    return OperatorCode(builtin_code=code, version=t.scalar("version"), custom_code=t.string("custom_code"),
                        deprecated_builtin_code=None if dep == min(code, PLACEHOLDER_FOR_GREATER_OP_CODES)
                        else dep)


def _read_subgraph(t: TableView, si: int, buffers: list[np.ndarray], opcodes: list[OperatorCode]) -> SubGraph:
    where = f"Model.subgraphs[{si}]"
    tensors = [_read_tensor(tt, f"{where}.tensors[{ti}]", buffers) for ti, tt in enumerate(t.tables("tensors") or [])]
    n = len(tensors)
    io = {}
    for field in ("inputs", "outputs"):
        idx = t.ints(field) or ()
        for k, i in enumerate(idx):
            if not 0 <= i < n:
                raise RuntimeModelError(f"{where}.{field}[{k}] is tensor {i}: out of range ({n} tensors)")
        io[field] = idx
    operators = [_read_operator(ot, f"{where}.operators[{oi}]", tensors, opcodes)
                 for oi, ot in enumerate(t.tables("operators") or [])]
    return SubGraph(tensors=tensors, inputs=io["inputs"], outputs=io["outputs"], operators=operators,
                    name=t.string("name") or "")


def _read_tensor(t: TableView, where: str, buffers: list[np.ndarray]) -> Tensor:
    name = t.string("name") or ""
    where = f"{where} ({name!r})"
    try:
        shape = t.ints("shape") or ()
        signature = t.ints("shape_signature")
        ttype = t.scalar("type")
        b = t.scalar("buffer")
        quant = t.table("quantization")
        q = None if quant is None else _read_quantization(quant)
        is_variable = t.scalar("is_variable")
        has_rank = t.scalar("has_rank")
        sparse_table = t.table("sparsity")
        sparsity = None if sparse_table is None else _read_sparsity(sparse_table)
        external = t.scalar("external_buffer")
        variants = t.tables("variant_tensors")
    except RuntimeModelError as e:
        raise RuntimeModelError(f"tensor {name!r}: {e}") from None
    if ttype not in TENSOR_TYPES:
        raise RuntimeModelError(f"{where}: unknown TensorType {ttype}")
    for dims, field in ((shape, "shape"), (signature or (), "shape_signature")):
        if any(d < -1 for d in dims):
            raise RuntimeModelError(f"{where}: {field} {list(dims)} has a dimension below -1")
    if external:
        raise RuntimeModelError(f"{where}: external buffer {external} (Tensor.external_buffer) is not supported")
    if variants:
        raise RuntimeModelError(f"{where}: VARIANT subtypes (Tensor.variant_tensors) are not supported")
    if b >= len(buffers):
        raise RuntimeModelError(f"{where}: buffer {b} out of range ({len(buffers)} buffers)")
    size = buffers[b].size if b else 0
    if size:
        if is_variable:
            raise RuntimeModelError(f"{where}: a variable tensor must not have buffer data (buffer {b}, "
                                    f"{size} bytes)")
        need = tensor_nbytes(shape, ttype)
        if sparsity is not None:
            if ttype not in NUMPY_DTYPES:
                raise RuntimeModelError(f"{where}: sparse {tensor_type_name(ttype)} tensors are not supported")
            need = check_sparsity(sparsity, tuple(shape), where) * NUMPY_DTYPES[ttype].itemsize
        elif need is None and any(d < 0 for d in shape):
            raise RuntimeModelError(f"{where}: constant tensor (buffer {b}) has an unknown dimension in "
                                    f"shape {list(shape)}")
        if need is not None and size < need:
            raise RuntimeModelError(f"{where}: buffer {b} holds {size} bytes, the tensor "
                                    f"(shape {list(shape)}, {tensor_type_name(ttype)}) needs {need}")
    return Tensor(name=name, shape=shape, type=ttype, buffer=b, shape_signature=signature, quantization=q,
                  is_variable=is_variable, has_rank=has_rank, sparsity=sparsity)


def _read_sparsity(t: TableView) -> Sparsity:
    """SparsityParameters as read (index vectors as views); validated against the shape by the caller."""
    dims = []
    for dt in t.tables("dim_metadata") or []:
        arrays = []
        for name in ("array_segments", "array_indices"):
            tag, vec = dt.union(name, UNIONS["SparseIndexVector"])
            arrays.append(None if vec is None else vec.array("values"))
            if tag and arrays[-1] is None:
                arrays[-1] = np.zeros(0, np.int32)
        dims.append(DimensionMetadata(format=dt.scalar("format"), dense_size=dt.scalar("dense_size"),
                                      array_segments=arrays[0], array_indices=arrays[1]))
    return Sparsity(traversal_order=t.ints("traversal_order") or (), block_map=t.ints("block_map") or (),
                    dim_metadata=dims)


def _read_quantization(t: TableView) -> Quantization | None:
    tag = t.scalar("details_type")
    if tag:
        raise RuntimeModelError(f"{t.what}: QuantizationParameters.details (type {tag}: custom, blockwise or "
                                "multi-axis quantization) is not supported")
    scale, zp = t.array("scale"), t.array("zero_point")
    lo, hi = t.array("min"), t.array("max")
    lo = None if lo is None or lo.size == 0 else lo
    hi = None if hi is None or hi.size == 0 else hi
    if (scale is None or scale.size == 0) and (zp is None or zp.size == 0) and lo is None and hi is None:
        return None
    return Quantization(scale=_EMPTY_F32 if scale is None else scale, zero_point=_EMPTY_I64 if zp is None else zp,
                        quantized_dimension=t.scalar("quantized_dimension"), min=lo, max=hi)


def _read_operator(t: TableView, where: str, tensors: list[Tensor], opcodes: list[OperatorCode]) -> Operator:
    oi = t.scalar("opcode_index")
    if oi >= len(opcodes):
        raise RuntimeModelError(f"{where}: opcode_index {oi} out of range ({len(opcodes)} operator codes)")
    name = op_name(opcodes[oi].builtin_code)
    where = f"{where} ({name})"
    try:
        inputs = t.ints("inputs") or ()
        outputs = t.ints("outputs") or ()
        intermediates = t.ints("intermediates") or ()
        tag, opt = t.union("builtin_options", BUILTIN_OPTIONS)
        options = opt.decode() if opt is not None else default_options(tag)
        custom = t.array("custom_options")
        options2 = t.scalar("builtin_options_2_type")
        large_custom = t.scalar("large_custom_options_offset")
    except RuntimeModelError as e:
        raise RuntimeModelError(f"operator {name}: {e}") from None
    if options2:
        raise RuntimeModelError(f"{where}: builtin_options_2 (StableHLO options, type {options2}) is not supported")
    if large_custom > 1:
        raise RuntimeModelError(f"{where}: custom options stored outside the flatbuffer "
                                "(large_custom_options_offset) are not supported")
    n = len(tensors)
    for field, idx, lo in (("inputs", inputs, -1), ("outputs", outputs, 0), ("intermediates", intermediates, 0)):
        for k, i in enumerate(idx):
            if not lo <= i < n:
                raise RuntimeModelError(f"{where}: {field}[{k}] is tensor {i}: out of range ({n} tensors"
                                        f"{', -1 = omitted' if lo < 0 else ''})")
    return Operator(opcode_index=oi, inputs=inputs, outputs=outputs, options_type=tag, options=options,
                    custom_options=None if custom is None else custom.tobytes(), intermediates=intermediates)


def _read_signature(t: TableView, i: int, subgraphs: list[SubGraph]) -> SignatureDef:
    key = t.string("signature_key") or ""
    where = f"Model.signature_defs[{i}] ({key!r})"
    si = t.scalar("subgraph_index")
    if si >= len(subgraphs):
        raise RuntimeModelError(f"{where}: subgraph_index {si} out of range ({len(subgraphs)} subgraphs)")
    n = len(subgraphs[si].tensors)
    maps = {}
    for field in ("inputs", "outputs"):
        entries = []
        for k, tm in enumerate(t.tables(field) or []):
            name, ti = tm.string("name") or "", tm.scalar("tensor_index")
            if ti >= n:
                raise RuntimeModelError(f"{where}: {field}[{k}] ({name!r}) is tensor {ti}: out of range "
                                        f"({n} tensors in subgraph {si})")
            entries.append((name, ti))
        maps[field] = entries
    return SignatureDef(signature_key=key, subgraph_index=si, inputs=maps["inputs"], outputs=maps["outputs"])
