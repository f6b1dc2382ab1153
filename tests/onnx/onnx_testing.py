"""Helpers for the ONNX emitter tests: build one-op IR graphs, run models in onnxruntime, compare."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from keras2edge.ir import DType, Graph


@dataclass
class In:
    """One input of a test op: a graph input (random data) or a constant.

    ``kind``: randn (normal·scale), pos (uniform 0.5..2.5), bool, int (uniform low..high),
    nonzero (|randn| + 0.5 with random sign), or ``data`` given explicitly.
    ``batch``: axis 0 of a graph input is declared dynamic (None) in the IR.
    """

    shape: tuple[int, ...]
    dtype: str = "float32"
    kind: str = "randn"
    const: bool = False
    scale: float = 1.0
    low: int = -5
    high: int = 6
    data: Any = None
    batch: bool = True


@dataclass
class Case:
    """One op test, written once and run for every layout / opset combination."""

    name: str
    op: str
    inputs: list[In | None]
    attrs: dict[str, Any] = field(default_factory=dict)
    xfail: str = ""

    def __str__(self) -> str:
        return self.name


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
    """A one-node graph for ``case`` and random feeds for its graph inputs."""
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
        else:
            shape = tuple(data.shape)
            if spec.batch and len(shape) >= 2:
                shape = (None,) + shape[1:]
            v = g.add_input(f"in{k}", DType(str(data.dtype)), shape)
            ins.append(v)
            feeds[v.name] = data
    node = g.add_node(case.op, ins, case.attrs, origin=(f"layer_{case.op.lower()}", case.op))
    g.outputs = list(node.outputs)
    g.verify()
    return g, feeds


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def cf(a: np.ndarray) -> np.ndarray:
    """NHWC (IR order) -> channels first."""
    return np.transpose(a, [0, a.ndim - 1] + list(range(1, a.ndim - 1))) if a.ndim >= 3 else a


def nhwc(a: np.ndarray) -> np.ndarray:
    """Channels first -> NHWC (IR order)."""
    return np.transpose(a, [0] + list(range(2, a.ndim)) + [1]) if a.ndim >= 3 else a


def run_onnx(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], *, nchw_inputs: bool = False,
             nchw_outputs: bool = False) -> dict[str, np.ndarray]:
    """Run the model on IR-order feeds; outputs by name, returned in IR order."""
    sess = session(model)
    names = [o.name for o in sess.get_outputs()]
    f = {k: (cf(v) if nchw_inputs else v) for k, v in feeds.items()}
    outs = sess.run(names, f)
    return {n: (nhwc(o) if nchw_outputs else o) for n, o in zip(names, outs)}


def assert_close(got: np.ndarray, want: np.ndarray, what: str = "", rtol: float = 1e-5) -> None:
    """Equal for integers/bools; floats within rtol of the output's range."""
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    span = float(np.max(np.abs(want))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, span), err_msg=what)


def count_ops(model: onnx.ModelProto, op_type: str) -> int:
    return sum(1 for n in model.graph.node if n.op_type == op_type)


def chain(g: Graph, op: str, inputs: Sequence[Any], name: str, **attrs: Any) -> Any:
    """Add a node named after a pretend Keras layer and return its output."""
    return g.op(op, list(inputs), (name, op), **attrs)
