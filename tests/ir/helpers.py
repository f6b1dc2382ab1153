"""Shared test helpers for the IR: random feeds and the checks every pass test makes."""

from __future__ import annotations

import numpy as np

from keras2edge.ir import Graph
from keras2edge.ir.evaluate import evaluate
from keras2edge.ir.passes import Pass

DYNAMIC_DIM = 2  # the size used for an unknown (None) dimension when making test data


def random_feeds(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Random data for every graph input (unknown dims become DYNAMIC_DIM)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for v in graph.inputs:
        shape = tuple(DYNAMIC_DIM if d is None else d for d in v.shape)
        if v.dtype.is_float:
            data = rng.standard_normal(shape)
        elif v.dtype.value == "bool":
            data = rng.random(shape) > 0.5
        else:
            data = rng.integers(0, 3, shape)
        feeds[v.name] = np.asarray(data).astype(v.dtype.np)
    return feeds


def output_names(graph: Graph) -> list[str]:
    return [v.name for v in graph.outputs]


def assert_same_outputs(before: dict[str, np.ndarray], after: dict[str, np.ndarray], atol: float = 1e-5) -> None:
    assert list(before) == list(after), "graph output names changed"
    for name in before:
        assert before[name].shape == after[name].shape, name
        assert before[name].dtype == after[name].dtype, name
        np.testing.assert_allclose(after[name], before[name], atol=atol, rtol=1e-5, err_msg=name)


def check_pass(graph: Graph, p: Pass, changed: bool = True, seed: int = 0) -> Graph:
    """Run ``p`` once and check what every pass test checks.

    The changed flag is as expected; ``verify()`` passes; outputs (by name, on random inputs)
    are unchanged; and a second run changes nothing.
    """
    graph.verify()
    feeds = random_feeds(graph, seed)
    before = evaluate(graph, feeds)
    assert p.run(graph) is changed
    graph.verify()
    assert_same_outputs(before, evaluate(graph, feeds))
    assert p.run(graph) is False, f"second run of {p.name} changed the graph"
    graph.verify()
    return graph
