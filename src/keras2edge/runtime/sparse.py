"""Sparse constant tensors (``Tensor.sparsity``, schema ``SparsityParameters``) -> dense NumPy arrays.

A sparse tensor's buffer holds only the values its sparsity tree reaches (TFLite's format, the one
the TFLite converter writes for pruned weights and LiteRT's DENSIFY op reads): the tensor's
dimensions, optionally split into blocks (``block_map``), are walked in ``traversal_order``; a DENSE
level keeps every index, a SPARSE_CSR level keeps, under parent position ``p``, the indices
``array_indices[array_segments[p]:array_segments[p + 1]]``. The leaves, in that order, are the
buffer's values.

Everything a hostile file can declare is checked before anything is allocated (:func:`check_sparsity`):
the traversal order is a permutation, block dims divide their tensor dims, each level's size agrees
with the shape, segments start at 0, never decrease and end at the number of indices, indices are
in range and strictly increasing within a segment (no duplicate positions), the buffer holds every
stored value, and the dense size and the walk's index arrays are held to :class:`~.limits.Limits`. Densifying is vectorized: one
position array and one flat-index array per level, never more elements than the dense tensor.
"""

from __future__ import annotations

import math

import numpy as np

from .codes import NUMPY_DTYPES, tensor_type_name
from .errors import RuntimeModelError
from .limits import Limits, resolve
from .model import Sparsity, Tensor
from .schema import NUMPY_DTYPES as KIND_DTYPES
from .schema import TABLES, UNIONS

DENSE, SPARSE_CSR = 0, 1

#: SparseIndexVector union tag -> NumPy dtype of its ``values`` (from the schema's tables).
INDEX_DTYPES: dict[int, np.dtype] = {
    tag: np.dtype(KIND_DTYPES[TABLES[member].by_name["values"].elem])
    for tag, member in enumerate(UNIONS["SparseIndexVector"], start=1)}


def index_tag(dtype: np.dtype) -> int:
    """The SparseIndexVector union tag that stores an index array of ``dtype`` (int32, uint16, uint8)."""
    for tag, dt in INDEX_DTYPES.items():
        if dt == np.dtype(dtype).newbyteorder("<"):
            return tag
    raise ValueError(f"no SparseIndexVector member stores {np.dtype(dtype)} indices "
                     f"(supported: {', '.join(str(d) for d in INDEX_DTYPES.values())})")


def level_sizes(sp: Sparsity, shape: tuple[int, ...], where: str) -> list[int]:
    """The size of each traversal level (a tensor dim, divided by its block size, or a block dim)."""
    rank, order, bmap = len(shape), tuple(sp.traversal_order), tuple(sp.block_map)
    n = rank + len(bmap)
    if sorted(order) != list(range(n)):
        raise RuntimeModelError(f"{where}: sparsity traversal_order {list(order)} is not a permutation of "
                                f"0..{n - 1} (rank {rank} + {len(bmap)} block dims)")
    if len(sp.dim_metadata) != n:
        raise RuntimeModelError(f"{where}: sparsity has {len(sp.dim_metadata)} dim_metadata entries for "
                                f"{n} traversal dims")
    if any(not 0 <= d < rank for d in bmap) or len(set(bmap)) != len(bmap):
        raise RuntimeModelError(f"{where}: sparsity block_map {list(bmap)} must name distinct tensor dims "
                                f"(rank {rank})")
    if any(d < 0 for d in shape):
        raise RuntimeModelError(f"{where}: a sparse tensor needs a static shape, got {list(shape)}")
    level_of = {d: i for i, d in enumerate(order)}
    block = {}
    for j, d in enumerate(bmap):
        md = sp.dim_metadata[level_of[rank + j]]
        b = int(md.dense_size)
        if md.format != DENSE or b <= 0 or shape[d] % b:
            raise RuntimeModelError(f"{where}: block dim {rank + j} of tensor dim {d} (size {shape[d]}) must "
                                    f"be DENSE with a dense_size dividing it, got format {md.format}, "
                                    f"dense_size {b}")
        block[d] = b
    sizes = []
    for i, d in enumerate(order):
        size = shape[d] // block.get(d, 1) if d < rank else block[bmap[d - rank]]
        md = sp.dim_metadata[i]
        if md.format == DENSE:
            if int(md.dense_size) != size:
                raise RuntimeModelError(f"{where}: dim_metadata[{i}] is DENSE with dense_size {md.dense_size}, "
                                        f"the dim has {size} entries")
        elif md.format != SPARSE_CSR:
            raise RuntimeModelError(f"{where}: dim_metadata[{i}] has unknown DimensionType {md.format}")
        sizes.append(size)
    return sizes


def check_sparsity(sp: Sparsity, shape: tuple[int, ...], where: str) -> int:
    """Validate ``sp`` against a tensor of ``shape``; returns how many values the buffer must store."""
    return _walk(sp, shape, where)[0]


def _walk(sp: Sparsity, shape: tuple[int, ...], where: str) -> tuple[int, int]:
    """(stored values, the most nodes any level has): the checks of :func:`check_sparsity`."""
    sizes = level_sizes(sp, shape, where)
    parents = widest = 1
    for i, (md, size) in enumerate(zip(sp.dim_metadata, sizes)):
        if md.format == DENSE:
            parents *= size
            widest = max(widest, parents)
            continue
        seg, idx = md.array_segments, md.array_indices
        if seg is None or idx is None:
            raise RuntimeModelError(f"{where}: dim_metadata[{i}] is SPARSE_CSR without array_segments and "
                                    "array_indices")
        seg, idx = np.asarray(seg, np.int64), np.asarray(idx, np.int64)
        if seg.shape != (parents + 1,):
            raise RuntimeModelError(f"{where}: dim_metadata[{i}].array_segments has {seg.size} entries, "
                                    f"{parents} parent positions need {parents + 1}")
        if seg[0] != 0 or (np.diff(seg) < 0).any() or seg[-1] != idx.size:
            raise RuntimeModelError(f"{where}: dim_metadata[{i}].array_segments must start at 0, never "
                                    f"decrease and end at the {idx.size} array_indices")
        if idx.size and (idx.min() < 0 or idx.max() >= size):
            raise RuntimeModelError(f"{where}: dim_metadata[{i}].array_indices out of range [0, {size})")
        if idx.size > 1:
            # strictly increasing inside each segment: a decrease is allowed only where a segment starts
            starts = np.zeros(idx.size, bool)
            starts[seg[(seg > 0) & (seg < idx.size)]] = True
            bad = (np.diff(idx) <= 0) & ~starts[1:]
            if bad.any():
                raise RuntimeModelError(f"{where}: dim_metadata[{i}].array_indices must increase strictly "
                                        "within a segment (duplicate or unsorted positions)")
        parents = int(idx.size)
        widest = max(widest, parents)
    return parents, widest


def densify(raw: np.ndarray, tensor: Tensor, where: str, limits: Limits | None = None) -> np.ndarray:
    """The dense (read-only, new) array of a sparse constant ``tensor`` whose buffer bytes are ``raw``.

    Raises:
        RuntimeModelError: malformed sparsity parameters or a buffer too short for the stored values.
        LimitExceededError: the dense tensor exceeds the memory limit.
    """
    sp = tensor.sparsity
    if sp is None:
        raise ValueError(f"{where} is not sparse")
    if tensor.type not in NUMPY_DTYPES:
        raise RuntimeModelError(f"{where}: sparse {tensor_type_name(tensor.type)} tensors are not supported")
    dtype = NUMPY_DTYPES[tensor.type]
    shape = tuple(int(d) for d in tensor.shape)
    nvals, widest = _walk(sp, shape, where)
    total = math.prod(shape)
    limit = resolve(limits)
    limit.check(total * dtype.itemsize, f"{where}: the dense form of sparse tensor {list(shape)} {dtype}")
    # the walk holds a position and a flat index (int64) per node of a level, and temporaries as large
    limit.check(32 * widest, f"{where}: densifying sparse tensor {list(shape)} ({widest} nodes at its widest level)")
    if raw.size < nvals * dtype.itemsize:
        raise RuntimeModelError(f"{where}: buffer holds {raw.size} bytes, the {nvals} stored "
                                f"{tensor_type_name(tensor.type)} values need {nvals * dtype.itemsize}")
    rank, order, bmap = len(shape), tuple(sp.traversal_order), tuple(sp.block_map)
    block = {d: int(sp.dim_metadata[order.index(rank + j)].dense_size) for j, d in enumerate(bmap)}
    strides = [math.prod(shape[d + 1:]) for d in range(rank)]
    # Flat-index weight of one step along each traversal dim.
    step = [strides[d] * block.get(d, 1) if d < rank else strides[bmap[d - rank]] for d in order]
    sizes = level_sizes(sp, shape, where)
    pos = np.zeros(1, np.int64)   # position of each node in its level (the last level: the value index)
    flat = np.zeros(1, np.int64)  # flat index in the dense tensor reached so far
    for md, size, w in zip(sp.dim_metadata, sizes, step):
        if md.format == DENSE:
            pos = (pos[:, None] * size + np.arange(size, dtype=np.int64)).ravel()
            flat = (flat[:, None] + np.arange(size, dtype=np.int64) * w).ravel()
            continue
        seg = np.asarray(md.array_segments, np.int64)
        idx = np.asarray(md.array_indices, np.int64)
        counts = seg[pos + 1] - seg[pos]
        first = np.repeat(seg[pos], counts)
        offset = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        pos = first + offset
        flat = np.repeat(flat, counts) + idx[pos] * w
    values = np.frombuffer(raw, dtype=dtype, count=nvals)
    out = np.zeros(total, dtype)
    out[flat] = values[pos]
    out = out.reshape(shape)
    out.flags.writeable = False
    return out
