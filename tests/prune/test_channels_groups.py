"""Channel groups (keras2edge.prune.groups) and surgery (keras2edge.prune.surgery) on small
hand-built graphs, one per kind of group: residual Add, Concatenate, squeeze-excite, Flatten ->
Dense, depth multiplier 2, channels a graph output exposes, a Transpose that breaks the flow.

For each: which layers group together and which are left alone (and why); then every other unit
of each prunable group is removed and the pruned graph, emitted as ``.tflite`` and run in
keras2edge.runtime, computes what the unpruned graph computes with those producers' filters
zeroed (the IR evaluator of the masked graph); the input graph is untouched (same arrays, same
shapes) and parameters and MACs shrink."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.convert.tflite import tflite_bytes
from keras2edge.ir.cost import node_macs
from keras2edge.ir.evaluate import evaluate
from keras2edge.prune.groups import find_groups, group_of
from keras2edge.prune.surgery import remove_units
from keras2edge.runtime import Interpreter

from .channel_graphs import GRAPHS, masked

# graph -> (groups as sorted producer layers, with None = prunable or a word of the reason)
EXPECTED = {
    "residual": {("conv_a", "conv_b"): None, ("head",): None, ("out",): "graph output"},
    "concat": {("conv_a",): None, ("conv_b",): None, ("head",): "graph output"},
    "squeeze_excite": {("conv_a", "se_expand"): None, ("se_reduce",): None, ("head",): "graph output"},
    "flatten_dense": {("conv_a",): None, ("out",): "graph output"},
    "depth_multiplier": {("conv_a",): None, ("head",): "graph output"},
    "output_exposed": {("conv_a",): "graph output", ("conv_b",): None, ("conv_c",): "graph output"},
    "transpose_breaks": {("conv_a",): "Transpose", ("head",): "graph output"},
}


def _node(graph, name: str):
    """The node of ``graph`` named ``name``."""
    return next(n for n in graph.nodes if n.name == name)


def _weight(graph, name: str) -> np.ndarray:
    """The weight constant (input 1) of node ``name``."""
    return _node(graph, name).inputs[1].const


def _feeds(graph, n: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {v.name: rng.standard_normal((n, *v.shape[1:])).astype(np.float32) for v in graph.inputs}


def _run(graph, feeds) -> list[np.ndarray]:
    out = Interpreter(tflite_bytes(graph)).run([feeds[v.name] for v in graph.inputs][0])
    return [np.asarray(o) for o in (out.values() if isinstance(out, dict) else [out])]


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_groups(name: str) -> None:
    analysis = find_groups(GRAPHS[name]())
    got = {tuple(sorted(g.layers)): g.reason for g in analysis.groups}
    assert set(got) == set(EXPECTED[name]), got
    for layers, want in EXPECTED[name].items():
        if want is None:
            assert got[layers] is None, (layers, got[layers])
        else:
            assert got[layers] is not None and want in got[layers], (layers, got[layers])


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_surgery_matches_masked_graph(name: str) -> None:
    graph = GRAPHS[name]()
    before = {v.name: (v.const, v.const.copy(), v.shape) for v in graph.constants()}
    shapes = {v.name: v.shape for n in graph.nodes for v in n.outputs}
    analysis = find_groups(graph)
    removed: set[int] = set()
    for g in analysis.groups:
        if g.prunable:
            removed.update(int(r) for r in g.units[1::2])   # every other unit
    pruned = remove_units(graph, analysis, removed)
    pruned.verify()
    # the input graph is untouched: same arrays, same values, same shapes
    for v in graph.constants():
        arr, copy, shape = before[v.name]
        assert v.const is arr and np.array_equal(arr, copy) and v.shape == shape
    assert shapes == {v.name: v.shape for n in graph.nodes for v in n.outputs}
    feeds = _feeds(graph)
    want = evaluate(masked(graph, analysis, removed), feeds)
    got = _run(pruned, feeds)
    for o, g in zip(graph.outputs, got):
        np.testing.assert_allclose(g, want[o.name], rtol=1e-5, atol=1e-5)
    params = lambda gr: sum(v.const.size for v in gr.constants())  # noqa: E731
    macs = lambda gr: sum(node_macs(n) for n in gr.nodes)  # noqa: E731
    if removed:
        assert params(pruned) < params(graph) and macs(pruned) < macs(graph)
    else:
        assert params(pruned) == params(graph)


def test_concat_offsets_and_flatten_rows() -> None:
    """Concatenate: conv_b's channel j is row 4 + j of head's kernel; Flatten: channel c of conv_a
    is every 4th row of the Dense kernel from c."""
    graph = GRAPHS["concat"]()
    a = find_groups(graph)
    b_units = group_of(a, "conv_b").units
    pruned = remove_units(graph, a, {int(b_units[0])})
    head = _weight(graph, "head/Conv2D")
    new = _weight(pruned, "head/Conv2D")
    np.testing.assert_array_equal(new, np.delete(head, 4, axis=2))

    graph = GRAPHS["flatten_dense"]()
    a = find_groups(graph)
    units = group_of(a, "conv_a").units
    pruned = remove_units(graph, a, {int(units[1])})
    dense = _weight(graph, "out/FullyConnected")
    new = _weight(pruned, "out/FullyConnected")
    np.testing.assert_array_equal(new, np.delete(dense, np.arange(1, 36, 4), axis=0))
    assert _node(pruned, "flatten/Reshape").attrs["shape"] == (-1, 27)


def test_depth_multiplier_removes_both_copies() -> None:
    graph = GRAPHS["depth_multiplier"]()
    a = find_groups(graph)
    units = group_of(a, "conv_a").units
    pruned = remove_units(graph, a, {int(units[1])})
    dw = _weight(graph, "dw/DepthwiseConv2D")
    new = _weight(pruned, "dw/DepthwiseConv2D")
    np.testing.assert_array_equal(new, np.delete(dw, [2, 3], axis=3))
    head = _weight(pruned, "head/Conv2D")
    assert head.shape == (3, 3, 6, 3)
