"""The emitters' value maps (``emit_tflite`` / ``emit_onnx``), on every fixture model that converts.

Each emission says where every IR value went, so ranges calibrated on the emitted bytes can be
attributed to IR values and Keras layers. Checked here: every value a graph output depends on has an
entry; the mapped tensor is in the emitted file with the value's shape (permuted when ONNX holds it
channels first); run on the fixture's inputs (keras2edge.runtime for the ``.tflite``, onnxruntime for
the ``.onnx``), it holds what the IR evaluator computes for that value; its Keras layer is reached
through the producer's ``origin``; and what is missing next to the caller's graph is exactly the
inputs of fused activations.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import keras2edge
from keras2edge.convert.onnx import emit_onnx, onnx_bytes
from keras2edge.convert.onnx.layout import CF, FLAT_CF, NHWC, cf_perm, layout_perm
from keras2edge.convert.onnx.proto import join
from keras2edge.convert.tflite import emit_tflite, tflite_bytes, write_model
from keras2edge.ir import DType, Graph
from keras2edge.ir.evaluate import evaluate
from keras2edge.ir.value import Value
from keras2edge.runtime import Interpreter

from .corpus import FIXTURES
from .ir_graphs import chain
from .onnxrt import ort_session
from .tolerances import KERAS_FIXTURES as TOLERANCE
from .tolerances import scaled_error

MANIFEST = [e for e in json.loads((FIXTURES / "manifest.json").read_text()) if e["expect"] == "convert"]
IDS = [f"{e['era']}-{e['model']}-{e['format']}" for e in MANIFEST]


def _load(entry: dict) -> tuple[Graph, dict[str, np.ndarray]]:
    weights = FIXTURES / entry["weights"] if entry.get("weights") else None
    graph = keras2edge.load(FIXTURES / entry["file"], weights)
    io = np.load(FIXTURES / entry["io"], allow_pickle=False)
    return graph, {k[3:]: io[k] for k in io.files if k.startswith("in:")}


def _live(graph: Graph) -> list[Value]:
    """The graph inputs and the outputs of every node some graph output depends on, in graph order."""
    needed = {id(v) for v in graph.outputs}
    held = list(graph.inputs)
    for node in reversed(graph.nodes):
        if any(id(v) in needed for v in node.outputs):
            needed |= {id(v) for v in node.inputs if v is not None}
            held[len(graph.inputs):len(graph.inputs)] = node.outputs
    return [v for v in held if not v.is_const]


def _every_value(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The IR evaluator's value of every live value (by name)."""
    copy = graph.copy()
    copy.outputs = _live(copy)
    return evaluate(copy, feeds)


def _check_map(graph: Graph, emitted: Graph, names: set[str]) -> None:
    """Every live value of the emitted graph has an entry and a Keras layer; what the caller's graph
    has beyond the map is exactly the fused activations' inputs (and nodes nothing depends on)."""
    live = _live(emitted)
    assert names == {v.name for v in live}
    for v in live:
        assert v in emitted.inputs or (v.producer is not None and v.producer.origin is not None
                                       and v.producer.origin.layer), v.name
    emitted_names = {v.name for v in emitted.values()}
    for v in _live(graph):
        if v.name not in names:
            assert v.name not in emitted_names, v.name
            (act, _), = v.uses
            assert act.op in ("Relu", "Relu6", "ReluN1To1") and act.output.name in names, v.name


def _same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape, what
    if np.issubdtype(want.dtype, np.floating):
        assert scaled_error(got, want) <= TOLERANCE, what
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


@pytest.mark.parametrize("entry", MANIFEST, ids=IDS)
def test_tflite_value_map(entry: dict) -> None:
    graph, feeds = _load(entry)
    batch = next(iter(feeds.values())).shape[0]
    emission = emit_tflite(graph, batch=batch)
    data = write_model(emission.model)
    assert data == tflite_bytes(graph, batch=batch)  # the same model as the existing functions
    _check_map(graph, emission.graph, set(emission.values))

    it = Interpreter(data, keep_intermediates=True)
    it.run(feeds)
    tensors = it.model.subgraphs[0].tensors
    want = _every_value(emission.graph, feeds)
    for name, (index, tensor_name) in emission.values.items():
        tensor = tensors[index]
        assert tensor.name == tensor_name and tensor.shape == want[name].shape, name
        _same(it.intermediates[tensor_name], want[name], f"{name} -> tensor {index} {tensor_name!r}")


@pytest.mark.parametrize("entry", MANIFEST, ids=IDS)
def test_onnx_value_map(entry: dict) -> None:
    import onnx

    graph, feeds = _load(entry)
    emission = emit_onnx(graph)
    data = join(emission.pieces)
    assert data == onnx_bytes(graph)
    _check_map(graph, emission.graph, set(emission.values))
    assert {v.layout for v in emission.values.values()} <= {NHWC, CF, FLAT_CF}

    model = onnx.load_from_string(data)
    inferred = onnx.shape_inference.infer_shapes(model)
    infos = {i.name: i for i in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]}
    outputs = {o.name for o in model.graph.output}
    for name, held in emission.values.items():
        assert held.name in infos, (name, held)  # a graph input or a node output
        if held.name not in outputs:
            model.graph.output.append(infos[held.name])
    session = ort_session(model.SerializeToString())
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    want = _every_value(emission.graph, feeds)
    producers = {v.name: v.producer for v in emission.graph.values()}
    for name, held in emission.values.items():
        w = want[name]
        assert held.channels_first == (held.layout == CF)
        if held.layout == FLAT_CF:  # the flatten (a Reshape) of a channels-first tensor: C, H, W order
            x = producers[name].inputs[0]
            w = np.transpose(want[x.name], cf_perm(x.rank)).reshape(w.shape)
        _same(got[held.name], np.transpose(w, layout_perm(held.layout, w.ndim)), f"{name} -> {held}")


def test_fused_and_forwarded_values() -> None:
    """The documented decisions on a small graph: a fused activation's input is absent from the TFLite
    map (the activation's output maps to the fused CONV_2D's output); an Identity's output maps to the
    tensor that carries it; ONNX maps every value, the conv's channels first."""
    rng = np.random.default_rng(0)
    g = Graph("fused")
    x = g.add_input("x", DType.FLOAT32, (None, 5, 5, 2))
    y = chain(g, "Conv2D", [x, g.add_const("k", rng.standard_normal((3, 3, 2, 4)).astype(np.float32))], "conv")
    r = chain(g, "Relu", [y], "relu")
    i = chain(g, "Identity", [r], "same")
    g.outputs = [chain(g, "Mul", [i, g.add_const("two", np.float32(2))], "mul")]

    t = emit_tflite(g)
    assert set(t.values) == {x.name, r.name, i.name, g.outputs[0].name}
    assert y.name not in t.values
    conv_op, = [op for op in t.model.subgraphs[0].operators if op.options.get("fused_activation_function")]
    assert t.values[r.name].index == conv_op.outputs[0] == t.values[i.name].index
    assert t.model.subgraphs[0].tensors[t.values[r.name].index].name == r.name

    o = emit_onnx(g)
    assert set(o.values) == {x.name, y.name, r.name, i.name, g.outputs[0].name}
    assert o.values[y.name].channels_first and not o.values[x.name].channels_first
