"""One-op bit-exactness checks shared by the quantized kernel tests: build the one-op ``.tflite``
(``tests/runtime/int8_bench.one_op_model``), feed random integers to every graph input, run it in
``keras2edge.runtime.Interpreter`` and in TFLite Micro (the golden oracle), compare every element."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keras2edge.runtime import Interpreter

from ...int8_bench import T, one_op_model, run_litert_ref, run_tflm


@dataclass
class Case:
    """A one-op model: its op, input specs (graph inputs have ``data`` None), output specs, options."""

    name: str
    op: str
    inputs: list[T | None]
    outputs: list[T]
    options: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name

    def model(self) -> bytes:
        return one_op_model(self.op, self.inputs, self.outputs, self.options or None)

    def feeds(self, rng: np.random.Generator) -> list[np.ndarray]:
        """Random integers over each graph input's whole dtype range."""
        out = []
        for t in self.inputs:
            if t is None or t.data is not None:
                continue
            info = np.iinfo(t.dtype)
            out.append(rng.integers(info.min, int(info.max) + 1, t.shape).astype(t.dtype))
        return out


def run_ours(model: bytes, feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
    """keras2edge.runtime's outputs, in the subgraph's output order."""
    it = Interpreter(model)
    got = it.run(list(feeds))
    return list(got.values()) if isinstance(got, dict) else [got]


def run_both(case: Case, seed: int) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """(feeds, ours, TFLM) for one case."""
    model = case.model()
    feeds = case.feeds(np.random.default_rng(seed))
    return feeds, run_ours(model, feeds), run_tflm(model, feeds, len(case.outputs))


def assert_bitexact(case: Case, seed: int = 0) -> list[np.ndarray]:
    """Ours == TFLM on every element (and shape) of every output; returns our outputs."""
    _, ours, micro = run_both(case, seed)
    for k, (a, b) in enumerate(zip(ours, micro)):
        assert a.dtype == b.dtype and a.shape == b.shape, \
            f"{case}: output {k}: {a.dtype} {a.shape} vs TFLM {b.dtype} {b.shape}"
        bad = np.argwhere(a != b)
        assert bad.size == 0, f"{case}: output {k} differs from TFLM at {len(bad)} elements, " \
                              f"first {bad[0].tolist()}: {a[tuple(bad[0])]} vs {b[tuple(bad[0])]}"
    return ours


def litert_ref(case: Case, feeds: Sequence[np.ndarray]) -> list[np.ndarray]:
    """LiteRT BUILTIN_REF's outputs (the secondary oracle)."""
    return run_litert_ref(case.model(), feeds)
