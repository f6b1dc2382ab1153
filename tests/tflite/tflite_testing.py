"""Helpers for the TFLite emitter tests: one-op IR graphs, the three oracles (LiteRT reference and
default kernels, TFLite Micro) and the independent PyPI ``tflite`` reader."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keras2edge.ir import DType, Graph

# The message both LiteRT and TFLite Micro give for a builtin they do not register.
MISSING_OP = "Didn't find op for builtin opcode"

# Builtins (op, version) LiteRT 2.3.0's reference resolver (BUILTIN_REF) does not register; the
# default resolver runs them.
LITERT_REF_MISSING = {("ELU", 1), ("CEIL", 1), ("ROUND", 1), ("ABS", 5)}

# Builtins the TFLite Micro Python package (tflite-micro 0.dev20261023) does not register.
TFLM_MISSING = {"RELU_N1_TO_1", "RELU_0_TO_1", "SIGN", "GELU", "POW", "REDUCE_PROD", "REDUCE_ANY", "TILE"}
# Builtins TFLite Micro registers for float only (it fails at invoke on INT32).
TFLM_FLOAT_ONLY = {"ABS", "FLOOR_DIV", "FLOOR_MOD"}


def tflm_unsupported(model) -> list[str]:
    """Builtins of ``model`` TFLite Micro cannot run (missing, or float-only on a non-float input)."""
    sg = model.subgraphs[0]
    bad = set()
    for op, name in zip(sg.operators, op_names(model)):
        if name in TFLM_MISSING:
            bad.add(name)
        elif name in TFLM_FLOAT_ONLY and sg.tensors[op.inputs[0]].type != 0:
            bad.add(f"{name} (non-float)")
    return sorted(bad)


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
    """One op test, written once and run through every oracle."""

    name: str
    op: str
    inputs: list[In | None]
    attrs: dict[str, Any] = field(default_factory=dict)

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


def chain(g: Graph, op: str, inputs: Sequence[Any], name: str, **attrs: Any) -> Any:
    """Add a node named after a pretend Keras layer and return its output."""
    return g.op(op, list(inputs), (name, op), **attrs)


# ---------------------------------------------------------------------------- oracles

def litert(data: bytes, feeds: Sequence[np.ndarray], *, reference: bool = True) -> list[np.ndarray]:
    """Run ``data`` in LiteRT (reference kernels, or the default resolver), resizing inputs to the feeds."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = OpResolverType.BUILTIN_REF if reference else OpResolverType.AUTO
    it = Interpreter(model_content=data, num_threads=1, experimental_op_resolver_type=kind)
    for d, x in zip(it.get_input_details(), feeds):
        if tuple(d["shape"]) != tuple(x.shape):
            it.resize_tensor_input(d["index"], list(x.shape))
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), feeds):
        it.set_tensor(d["index"], np.ascontiguousarray(x, dtype=d["dtype"]))
    it.invoke()
    return [np.array(it.get_tensor(d["index"])) for d in it.get_output_details()]


def litert_signature(data: bytes, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run through the ``serving_default`` signature runner (inputs/outputs by Keras name)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=data, num_threads=1, experimental_op_resolver_type=OpResolverType.AUTO)
    runner = it.get_signature_runner("serving_default")
    return {k: np.array(v) for k, v in runner(**feeds).items()}


def tflm(data: bytes, feeds: Sequence[np.ndarray], n_outputs: int, arena: int | None = None) -> list[np.ndarray]:
    """Run ``data`` in TFLite Micro (the model must have the feeds' shapes); its ``n_outputs`` outputs."""
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(data, arena_size=arena or max(len(data) * 10, 1 << 20))
    for k, x in enumerate(feeds):
        it.set_input(np.ascontiguousarray(x), k)
    it.invoke()
    return [np.array(it.get_output(k)) for k in range(n_outputs)]


def assert_close(got: np.ndarray, want: np.ndarray, what: str = "", rtol: float = 1e-5) -> None:
    """Equal for integers/bools; floats within rtol of the output's range."""
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    span = float(np.max(np.abs(want))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, span), err_msg=what)


def op_names(model: Any) -> list[str]:
    """Builtin names of a runtime.model.Model's operators, in order."""
    from keras2edge.runtime import schema

    codes = [schema.op_name(c.builtin_code) for c in model.operator_codes]
    return [codes[op.opcode_index] for op in model.subgraphs[0].operators]
