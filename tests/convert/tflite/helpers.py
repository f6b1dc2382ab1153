"""An independent reading of emitted files with the PyPI ``tflite`` package (flatc-generated, TF 2.18
schema), compared field by field with the Model the emitter produced."""

from __future__ import annotations

import numpy as np
import tflite

from keras2edge.runtime import schema
from keras2edge.runtime.model import Model


def _s(b: bytes | None) -> str:
    return b.decode() if b else ""


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
