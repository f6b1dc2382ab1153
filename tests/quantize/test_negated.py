"""NEG quantizes as LiteRT's int8/int16 kernel computes it: q_out = -q_in on the raw integers, so the
output keeps the input's scale and takes zero point -z (QuantRule.NEGATED). A calibrated range of its
own (zero point -1 - z) would put every output one step off. An input at zero point -128 (a ReLU'd
value) has no representable -z: it is requantized to zero point -127 first."""

from __future__ import annotations

import numpy as np
import pytest

import keras2edge
from keras2edge.ir.dtypes import DType
from keras2edge.ir.graph import Graph
from keras2edge.runtime import Interpreter

from ..litert import litert


def _neg_graph(relu: bool) -> Graph:
    g = Graph("neg")
    x = g.add_input("x", DType.FLOAT32, (None, 6))
    y = g.op("Relu", [x], ("relu", "ReLU")) if relu else x
    g.outputs = [g.op("Neg", [y], ("neg", "Lambda"))]
    g.verify()
    return g


def _neg_params(q: Graph) -> tuple[tuple[float, int], tuple[float, int]]:
    neg = next(n for n in q.nodes if n.op == "Neg")
    p_in = neg.inputs[0].producer.attrs["quant"]
    (user,) = [n for n, _ in neg.outputs[0].uses]
    p_out = user.attrs["quant"]
    return (float(p_in.scale[0]), int(p_in.zero_point[0])), (float(p_out.scale[0]), int(p_out.zero_point[0]))


@pytest.mark.parametrize("relu", [False, True])
def test_neg_output_is_the_negated_input(relu: bool, tmp_path) -> None:
    rng = np.random.default_rng(0)
    cal = rng.uniform(-1.0, 3.0, (64, 6)).astype(np.float32)
    q = keras2edge.quantize(_neg_graph(relu), calibration=cal)
    (s_in, z_in), (s_out, z_out) = _neg_params(q)
    assert s_out == s_in and z_out == -z_in
    if relu:
        assert z_in == -127  # requantized from the ReLU output's -128
    path = tmp_path / "neg.tflite"
    keras2edge.save(q, path)
    x = cal[:8]
    want = -np.maximum(x, 0) if relu else -x
    it = Interpreter(path.read_bytes())
    ours = np.concatenate([np.asarray(it.run(x[i:i + 1])) for i in range(8)])
    assert np.max(np.abs(ours - want)) <= 1.01 * s_in  # one step (the saturated top at most)
    ref = np.concatenate([litert(path.read_bytes(), [x[i:i + 1]])[0] for i in range(8)])
    np.testing.assert_array_equal(ours, ref)
