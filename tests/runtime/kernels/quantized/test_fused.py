"""runtime/kernels/quantized/fused.py: ``MUL(x, LOGISTIC(x))`` (swish) and ``MUL(x, TANH(x))`` as one
table of x, against TFLite Micro element for element, with and without the gate op run.

Each case is a two-op int8 model (gate, then MUL of the gate's input and output, in either input
order) whose input holds all 256 int8 values (a small tensor: one lookup per byte; a large one:
TFLM-sized pairs of bytes per lookup), with random scales and zero points. Without an observer the
gate op is skipped (nothing reads its output); with one it runs and the observer sees it; the
outputs are the same bytes both ways and equal TFLite Micro's. A gate of another tensor, or a gate
output the graph also returns, is not fused away.
"""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.convert.tflite.writer import write_model
from keras2edge.runtime import Interpreter
from keras2edge.runtime.kernels.quantized.activation import PAIR_LUT_MIN

from ...helpers import GraphBuilder
from ...int8_bench import ALL_INT8, T, run_tflm

RNG = np.random.default_rng(1110)
# (gate, output scale and zero point the gate must have in TFLM)
GATES = {"LOGISTIC": (1 / 256, -128), "TANH": (1 / 128, 0)}


def _model(gate: str, shape: tuple[int, ...], gate_first: bool, qx: tuple[float, int], qo: tuple[float, int],
           also_return_gate: bool = False, other_input: bool = False) -> bytes:
    """x -> G(x) -> MUL(x, G(x)) (``gate_first``: MUL(G(x), x)); ``other_input``: the gate reads a second
    graph input y instead, so MUL(x, G(y)) is not self-gated."""
    g = GraphBuilder()
    x = g.input("x", shape, np.int8, quant=qx)
    src = g.input("y", shape, np.int8, quant=qx) if other_input else x
    gt = g.op(gate, [src], dtype=np.int8, shapes=[shape], name="gate")
    ins = [gt, x] if gate_first else [x, gt]
    y = g.op("MUL", ins, dtype=np.int8, shapes=[shape], name="mul")
    q = {gt: T(shape, np.int8, *GATES[gate]), y: T(shape, np.int8, *qo)}
    for i, spec in q.items():
        g.tensors[i].quantization = spec.quantization()
    g.output(y, gt) if also_return_gate else g.output(y)
    return write_model(g.model())


def _feed(shape: tuple[int, ...], seed: int) -> np.ndarray:
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(np.resize(ALL_INT8, n)).reshape(shape)


def _qparams() -> tuple[tuple[float, int], tuple[float, int]]:
    qx = (float(np.exp(RNG.uniform(np.log(1e-3), np.log(0.5)))), int(RNG.integers(-128, 128)))
    qo = (float(np.exp(RNG.uniform(np.log(1e-3), np.log(0.5)))), int(RNG.integers(-128, 128)))
    return qx, qo


CASES = [(gate, first, shape, k) for gate in GATES for first in (False, True)
         for shape in ((1, 4, 8, 8), (1, 64, 64, 64)) for k in range(3)]


@pytest.mark.parametrize("gate,gate_first,shape,k", CASES)
def test_self_gated_mul_is_bit_exact_with_tflm_run_or_skipped(gate: str, gate_first: bool,
                                                              shape: tuple[int, ...], k: int) -> None:
    qx, qo = _qparams()
    data = _model(gate, shape, gate_first, qx, qo)
    x = _feed(shape, k)
    (want,) = run_tflm(data, [x], 1)
    it = Interpreter(data)
    steps = it._plan.steps  # the plan (white box: the gate step is marked unread)
    assert [s.unread for s in steps] == [True, False]
    got = it.run(x)
    seen: list[str] = []
    observed = it.run(x, observer=lambda i, op, outs: seen.append(op.name))
    assert seen == [gate, "MUL"]  # with an observer the gate runs and is seen
    assert np.array_equal(got, want), f"{np.count_nonzero(got != want)} elements differ from TFLite Micro"
    assert np.array_equal(observed, want)
    if k == 0 and shape[-1] == 64:
        assert int(np.prod(shape)) >= PAIR_LUT_MIN  # the large case takes the pair-of-bytes lookup


@pytest.mark.parametrize("gate", sorted(GATES))
def test_gate_output_returned_too_still_runs(gate: str) -> None:
    shape = (1, 16, 16)
    qx, qo = _qparams()
    data = _model(gate, shape, False, qx, qo, also_return_gate=True)
    x = _feed(shape, 7)
    want = run_tflm(data, [x], 2)
    it = Interpreter(data)
    assert not any(s.unread for s in it._plan.steps)
    got = it.run(x)
    got = list(got.values()) if isinstance(got, dict) else got
    for g, w in zip(got, want):
        assert np.array_equal(g, w)


def test_gate_of_another_tensor_is_not_fused() -> None:
    shape = (1, 8, 32)
    qx, qo = _qparams()
    data = _model("LOGISTIC", shape, False, qx, qo, other_input=True)
    x, y = _feed(shape, 1), _feed(shape, 2)
    (want,) = run_tflm(data, [x, y], 1)
    it = Interpreter(data)
    assert not any(s.unread for s in it._plan.steps)
    assert np.array_equal(it.run([x, y]), want)
