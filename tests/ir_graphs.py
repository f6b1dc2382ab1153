"""Small IR graphs for the backend tests: one-op graphs built from a case of ``tests/op_cases.py``
(with seeded random feeds), pretend-Keras chains of ops, a graph's op names, and comparing a backend's outputs with the
IR's own (``keras2edge.ir.evaluate``)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras2edge.ir import DType, Graph

from .op_cases import Case, In


def make_data(spec: In, rng: np.random.Generator) -> np.ndarray:
    if spec.data is not None:
        return np.asarray(spec.data, dtype=spec.dtype)
    if spec.kind == "bool":
        return rng.random(spec.shape) > 0.5
    if spec.kind == "int":
        return rng.integers(spec.low, spec.high, spec.shape).astype(spec.dtype)
    if spec.kind == "pos":
        return rng.uniform(0.5, 2.5, spec.shape).astype(spec.dtype)
    if spec.kind == "nonzero":
        v = np.abs(rng.standard_normal(spec.shape)) + 0.5
        return (v * np.where(rng.random(spec.shape) > 0.5, 1, -1) * spec.scale).astype(spec.dtype)
    return (rng.standard_normal(spec.shape) * spec.scale).astype(spec.dtype)


def build_case(case: Case) -> tuple[Graph, dict[str, np.ndarray]]:
    """A one-node graph for ``case`` and random feeds for its graph inputs (seeded by the case name)."""
    rng = np.random.default_rng(zlib.crc32(case.name.encode()))
    g = Graph(case.name.replace("/", "_"))
    ins, feeds = [], {}
    for k, spec in enumerate(case.inputs):
        if spec is None:
            ins.append(None)
            continue
        data = make_data(spec, rng)
        if spec.const:
            ins.append(g.add_const(f"c{k}", data, DType(str(data.dtype))))
            ins[-1].quant = spec.quant
        else:
            shape = tuple(data.shape)
            if spec.batch and len(shape) >= 2:
                shape = (None,) + shape[1:]
            v = g.add_input(f"in{k}", DType(str(data.dtype)), shape)
            v.quant = spec.quant
            ins.append(v)
            feeds[v.name] = data
    node = g.add_node(case.op, ins, case.attrs, origin=(f"layer_{case.op.lower()}", case.op))
    g.outputs = list(node.outputs)
    g.verify()
    return g, feeds


def ops(graph: Graph) -> list[str]:
    """The graph's op names, in node order."""
    return [n.op for n in graph.nodes]


def chain(g: Graph, op: str, inputs: Sequence[Any], name: str, **attrs: Any) -> Any:
    """Add a node named after a pretend Keras layer and return its output."""
    return g.op(op, list(inputs), (name, op), **attrs)


def assert_close(got: np.ndarray, want: np.ndarray, what: str = "", rtol: float = 1e-5) -> None:
    """Equal for integers/bools; floats within rtol of the output's range."""
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    span = float(np.max(np.abs(want))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, span), err_msg=what)
