"""runtime/sparse.py: sparse constants densified exactly, and every malformed sparsity a hostile file can
declare refused with an error naming the tensor (never an IndexError, never a huge allocation).

The exact densification is checked against LiteRT's DENSIFY in tests/runtime/kernels/builtin_cases.py
(CSR at every level, 1x4 blocks), on whole models in tests/convert/tflite/test_sparse.py, and on files
the official TFLite converter wrote with sparse weights (tests/fixtures/tflite_sparse) here.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from keras2edge.runtime import Interpreter
from keras2edge.runtime.errors import LimitExceededError, RuntimeModelError
from keras2edge.runtime.limits import Limits
from keras2edge.runtime.model import DimensionMetadata, Sparsity
from keras2edge.convert.tflite.sparse import candidates
from keras2edge.runtime.reader import load_model
from keras2edge.runtime.sparse import densify

from ..corpus import FIXTURES
from ..litert import litert
from ..tflm import op_names
from ..tolerances import rel_err
from .helpers import Out, Sparse, op_model, to_bytes
from .kernels.builtin_cases import sparse_blocks, sparse_csr


def _fc(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((8, 16)).astype(np.float32)
    a[rng.random(a.shape) < 0.6] = 0
    a[2] = 0
    return a


def _model(spec: Sparse) -> bytes:
    return to_bytes(op_model("DENSIFY", [spec], [Out()]))


@pytest.mark.parametrize("seed", range(6))
def test_densify_round_trips_every_level_and_blocks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in rng.integers(1, 6, size=int(rng.integers(1, 5))))
    a = rng.standard_normal(shape).astype(np.float32)
    a[rng.random(shape) < rng.random()] = 0
    for order, k in candidates(a.ndim):
        m = load_model(_model(sparse_csr(a, k, order)))
        got = m.tensor_data(0, 0)
        np.testing.assert_array_equal(got, a)
        assert not got.flags.writeable
    b = _fc(seed)
    for block in (1, 2, 4, 8):
        np.testing.assert_array_equal(load_model(_model(sparse_blocks(b, block))).tensor_data(0, 0), b)
    np.testing.assert_array_equal(Interpreter(_model(sparse_blocks(b, 4))).run(), b)


def _edit(fn) -> Sparse:  # noqa: ANN001
    spec = sparse_csr(_fc(), 1)
    spec = Sparse(spec.dense, spec.values, copy.deepcopy(spec.sparsity))
    fn(spec)
    return spec


def _seg(spec: Sparse) -> DimensionMetadata:
    return spec.sparsity.dim_metadata[1]


def _set(md: DimensionMetadata, name: str, value: np.ndarray) -> None:
    setattr(md, name, value)


BAD = {
    "not a permutation": (lambda s: setattr(s.sparsity, "traversal_order", (0, 0)),
                          r"traversal_order \[0, 0\] is not a permutation"),
    "missing metadata": (lambda s: s.sparsity.dim_metadata.pop(), r"1 dim_metadata entries for 2 traversal dims"),
    "dense size": (lambda s: setattr(s.sparsity.dim_metadata[0], "dense_size", 9),
                   r"dim_metadata\[0\] is DENSE with dense_size 9, the dim has 8 entries"),
    "segments length": (lambda s: _set(_seg(s), "array_segments", _seg(s).array_segments[:-1]),
                        r"array_segments has 8 entries, 8 parent positions need 9"),
    "segments decrease": (lambda s: _set(_seg(s), "array_segments",
                                         np.array([0, 5, 3, 6, 7, 8, 9, 10, _seg(s).array_indices.size], np.uint8)),
                          r"array_segments must start at 0, never decrease"),
    "segments overrun": (lambda s: _set(_seg(s), "array_segments", _seg(s).array_segments + np.uint8(1)),
                         r"array_segments must start at 0"),
    "index out of range": (lambda s: _set(_seg(s), "array_indices",
                                          np.where(np.arange(_seg(s).array_indices.size) == 0, 16,
                                                   _seg(s).array_indices).astype(np.uint8)),
                           r"array_indices out of range \[0, 16\)"),
    "duplicate index": (lambda s: _set(_seg(s), "array_indices",
                                       np.where(np.arange(_seg(s).array_indices.size) == 1, _seg(s).array_indices[0],
                                                _seg(s).array_indices).astype(np.uint8)),
                        r"increase strictly within a segment"),
    "unknown format": (lambda s: setattr(s.sparsity.dim_metadata[1], "format", 2), r"unknown DimensionType 2"),
    "csr without arrays": (lambda s: _set(_seg(s), "array_indices", None), r"SPARSE_CSR without array_segments"),
    "bad block": (lambda s: setattr(s, "sparsity", Sparsity((0, 1, 2), (1,), [
        DimensionMetadata(0, 8), DimensionMetadata(0, 3), DimensionMetadata(0, 5)])),
        r"block dim 2 of tensor dim 1 \(size 16\) must be DENSE with a dense_size dividing it"),
    "short buffer": (lambda s: setattr(s, "values", s.values[:-1]), r"buffer 1 holds 184 bytes, the tensor \(shape \[8, 16\], FLOAT32\) needs 188"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_sparsity_is_refused(case: str) -> None:
    edit, match = BAD[case]
    spec = _edit(edit)
    if case == "short buffer":
        assert spec.values.size == 47 - 1  # the fixture's count, which the message quotes
    data = to_bytes_unchecked(spec)
    with pytest.raises(RuntimeModelError, match=r"tensors\[0\] \('const0'\): .*" + match):
        load_model(data)
    with pytest.raises(RuntimeModelError, match=match):
        Interpreter(data)


def to_bytes_unchecked(spec: Sparse) -> bytes:
    """The file with a malformed sparsity: written with a valid one, then the tensor's sparsity and
    buffer swapped in the Model the writer serializes without its checks."""
    from keras2edge.convert.tflite import writer

    model = op_model("DENSIFY", [sparse_csr(spec.dense, 1)], [Out()])
    model.subgraphs[0].tensors[0].sparsity = spec.sparsity
    model.buffers[1] = np.frombuffer(np.ascontiguousarray(spec.values).tobytes(), np.uint8)
    plan = writer._check_model(op_model("DENSIFY", [sparse_csr(spec.dense, 1)], [Out()]))
    return writer._Writer(model, plan, stream=False).build_bytes()


def test_dense_size_is_held_to_the_limits() -> None:
    """One stored value cannot declare a dense tensor above the memory limit."""
    seg = np.ones(65, np.int32)
    seg[0] = 0
    sp = Sparsity((0, 1), (), [DimensionMetadata(0, 64), DimensionMetadata(1, 0, seg, np.zeros(1, np.int32))])
    model = op_model("DENSIFY", [Sparse(np.zeros((64, 1), np.float32), np.ones(1, np.float32), sp)], [Out()])
    model.subgraphs[0].tensors[0].shape = (64, 1 << 20)  # 256 MiB dense, from 4 bytes of data
    m = load_model(to_bytes(model))
    with pytest.raises(LimitExceededError, match=r"the dense form of sparse tensor \[64, 1048576\] float32"):
        densify(m.buffers[1], m.subgraphs[0].tensors[0], "tensor 0", Limits(max_memory=1 << 20))
    with pytest.raises(LimitExceededError):
        Interpreter(m, limits=Limits(max_memory=1 << 20))


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_the_converters_sparse_files_run_as_in_litert(name: str) -> None:
    """Files the official TFLite converter wrote with EXPERIMENTAL_SPARSITY (make_sparse_converter_models.py):
    sparse constants read through DENSIFY, run by keras2edge.runtime as by LiteRT."""
    data = (FIXTURES / "tflite_sparse" / f"{name}.tflite").read_bytes()
    m = load_model(data)
    sg = m.subgraphs[0]
    sparse = [t for t in sg.tensors if t.sparsity is not None]
    assert len(sparse) == 2 and op_names(m).count("DENSIFY") == 2
    for t in sparse:  # the converter's form is the one the TFLite emitter writes for unstructured zeros
        assert t.sparsity.traversal_order == tuple(range(len(t.shape))) and not t.sparsity.block_map
        assert [d.format for d in t.sparsity.dim_metadata] == [0] * (len(t.shape) - 1) + [1]
        assert np.mean(m.tensor_data(0, sg.tensors.index(t)) == 0) >= 0.79
    shape = (3, *sg.tensors[sg.inputs[0]].shape[1:])
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    got = Interpreter(data).run(x)
    for reference in (True, False):
        assert rel_err(got, litert(data, [x], reference=reference)[0], same_dtype=True) <= 2e-6
