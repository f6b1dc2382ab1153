"""An independent reading of emitted files with the PyPI ``tflite`` package (flatc-generated, TF 2.18
schema), compared field by field with the Model the emitter produced."""

from __future__ import annotations

import numpy as np
import tflite

from keras2edge.runtime import schema
from keras2edge.runtime.model import Model


def _s(b: bytes | None) -> str:
    return b.decode() if b else ""


def _check_sparsity(r, want) -> None:  # noqa: ANN001 - tflite.SparsityParameters or None, ours
    """The PyPI ``tflite`` reading of a tensor's SparsityParameters equals the Model's."""
    assert (r is None) == (want is None)
    if r is None:
        return
    assert r.TraversalOrderAsNumpy().tolist() == list(want.traversal_order)
    assert (r.BlockMapAsNumpy().tolist() if r.BlockMapLength() else []) == list(want.block_map)
    assert r.DimMetadataLength() == len(want.dim_metadata)
    vectors = {tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
               tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
               tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector}
    for k, md in enumerate(want.dim_metadata):
        d = r.DimMetadata(k)
        assert d.Format() == md.format and d.DenseSize() == md.dense_size
        for kind, table, a in ((d.ArraySegmentsType(), d.ArraySegments(), md.array_segments),
                               (d.ArrayIndicesType(), d.ArrayIndices(), md.array_indices)):
            if a is None:
                assert kind == 0
                continue
            vec = vectors[kind]()
            vec.Init(table.Bytes, table.Pos)
            got = vec.ValuesAsNumpy()
            assert got.dtype == np.asarray(a).dtype and got.tolist() == np.asarray(a).tolist()


def check_with_tflite_package(data: bytes, model: Model) -> None:
    """Parse ``data`` with PyPI ``tflite`` and check it says what ``model`` says."""
    assert tflite.Model.ModelBufferHasIdentifier(data, 0), "no TFL3 identifier"
    m = tflite.Model.GetRootAsModel(data, 0)
    assert m.Version() == 3
    assert _s(m.Description()) == model.description
    # Operator codes: the 127 rule, versions, no custom codes.
    assert m.OperatorCodesLength() == len(model.operator_codes)
    for k, oc in enumerate(model.operator_codes):
        r = m.OperatorCodes(k)
        code = max(r.BuiltinCode(), r.DeprecatedBuiltinCode())
        assert code == oc.builtin_code
        assert r.DeprecatedBuiltinCode() == min(oc.builtin_code, 127)
        assert r.Version() == oc.version
        assert r.CustomCode() is None
        assert code != tflite.BuiltinOperator.CUSTOM
    # Buffers: [0] empty, every constant's bytes as emitted.
    assert m.BuffersLength() == len(model.buffers)
    assert m.Buffers(0).DataLength() == 0
    for k, b in enumerate(model.buffers):
        got = m.Buffers(k).DataAsNumpy() if m.Buffers(k).DataLength() else np.zeros(0, np.uint8)
        np.testing.assert_array_equal(np.asarray(got, np.uint8), np.asarray(b, np.uint8))
    assert m.SubgraphsLength() == 1
    sg, want = m.Subgraphs(0), model.subgraphs[0]
    assert list(sg.InputsAsNumpy()) == list(want.inputs)
    assert list(sg.OutputsAsNumpy()) == list(want.outputs)
    assert sg.TensorsLength() == len(want.tensors)
    for k, t in enumerate(want.tensors):
        r = sg.Tensors(k)
        assert _s(r.Name()) == t.name
        assert tuple(r.ShapeAsNumpy().tolist() if r.ShapeLength() else ()) == tuple(t.shape)
        sig = tuple(r.ShapeSignatureAsNumpy().tolist()) if r.ShapeSignatureLength() else None
        assert sig == (None if t.shape_signature is None else tuple(t.shape_signature))
        assert r.Type() == t.type and r.Buffer() == t.buffer and r.HasRank()
        _check_sparsity(r.Sparsity(), t.sparsity)
    # Each constant has its own (non-empty) buffer; every other buffer is metadata.
    const_buffers = [t.buffer for t in want.tensors if t.buffer != 0]
    assert len(const_buffers) == len(set(const_buffers)), "a buffer is shared by two tensors"
    assert all(model.buffers[b].size > 0 for b in const_buffers)
    assert sorted(const_buffers + [md.buffer for md in model.metadata]) == list(range(1, len(model.buffers)))
    assert sg.OperatorsLength() == len(want.operators)
    for k, op in enumerate(want.operators):
        r = sg.Operators(k)
        assert r.OpcodeIndex() == op.opcode_index
        assert list(r.InputsAsNumpy()) == list(op.inputs)
        assert list(r.OutputsAsNumpy()) == list(op.outputs)
        assert r.BuiltinOptionsType() == op.options_type
        if op.options_type:
            name = schema.BUILTIN_OPTIONS[op.options_type - 1]
            opts = getattr(tflite, name)()
            table = r.BuiltinOptions()
            opts.Init(table.Bytes, table.Pos)
            for key, value in op.options.items():
                getter = "".join(p[:1].upper() + p[1:] for p in key.split("_"))
                if isinstance(value, (list, tuple)):
                    got = getattr(opts, getter + "AsNumpy")().tolist() if value else []
                    assert got == list(value), (name, key)
                elif isinstance(value, float):
                    assert abs(getattr(opts, getter)() - value) <= 1e-6 * max(1.0, abs(value)), (name, key)
                else:
                    assert getattr(opts, getter)() == value, (name, key)
    # Signature and metadata.
    assert m.SignatureDefsLength() == len(model.signature_defs)
    for k, sd in enumerate(model.signature_defs):
        r = m.SignatureDefs(k)
        assert _s(r.SignatureKey()) == sd.signature_key and r.SubgraphIndex() == sd.subgraph_index
        assert [(_s(r.Inputs(i).Name()), r.Inputs(i).TensorIndex()) for i in range(r.InputsLength())] == sd.inputs
        assert [(_s(r.Outputs(i).Name()), r.Outputs(i).TensorIndex()) for i in range(r.OutputsLength())] == sd.outputs
    assert [(_s(m.Metadata(i).Name()), m.Metadata(i).Buffer()) for i in range(m.MetadataLength())] == \
        [(md.name, md.buffer) for md in model.metadata]


def zero_weights(graph, how: str):  # noqa: ANN001, ANN201 - an IR Graph in, the same graph out
    """Exact zeros in every Conv2D / DepthwiseConv2D / FullyConnected weight of ``graph`` (swapped with
    ``Graph.replace_const``), the way pruning leaves them: ``"magnitude:0.75"`` zeroes the 75 % smallest
    magnitudes of each weight; ``"nm:2:4"`` keeps the N largest of every M consecutive weights along the
    input-channel axis (the op spec's ``WeightAxes.in_axis``; per output channel for depthwise);
    ``"rows:0.5"`` zeroes half the input channels entirely, ``"outputs:0.5"`` half the output channels
    (``WeightAxes.out_axis``; one is always kept). Returns ``graph``."""
    import numpy as np

    from keras2edge.ir.ops.core import op_spec

    kind, *args = how.split(":")
    for node in list(graph.nodes):
        axes = op_spec(node.op).weights
        if axes is None or node.op not in ("Conv2D", "DepthwiseConv2D", "FullyConnected"):
            continue
        w = node.inputs[axes.input]
        if not w.is_const:
            continue
        a = np.array(w.const, np.float32)
        if kind == "magnitude":
            a[np.abs(a) < np.quantile(np.abs(a), float(args[0]))] = 0
        elif kind == "nm":
            n, m = int(args[0]), int(args[1])
            axis = axes.in_axis if axes.in_axis is not None else axes.out_axis
            moved = np.moveaxis(a, axis, -1)
            if moved.shape[-1] % m:
                continue
            groups = moved.reshape(*moved.shape[:-1], -1, m)
            order = np.argsort(np.abs(groups), axis=-1)
            np.put_along_axis(groups, order[..., :m - n], 0.0, axis=-1)
            a = np.ascontiguousarray(np.moveaxis(groups.reshape(moved.shape), -1, axis))
        elif kind in ("rows", "outputs"):
            axis = axes.in_axis if kind == "rows" else axes.out_axis
            if axis is None:
                continue
            c = a.shape[axis]
            drop = np.unique(np.arange(c)[: int(c * float(args[0]))] * 2 % c)
            if kind == "outputs" and drop.size == c:
                drop = drop[1:]
            idx = [slice(None)] * a.ndim
            idx[axis] = drop
            a[tuple(idx)] = 0
        else:
            raise ValueError(how)
        graph.replace_const(w, a)
    return graph
