"""Every committed fixture with Keras-recorded inputs and outputs quantizes to full int8 (calibrated
on its inputs plus perturbed copies): the graph verifies and is in QDQ form, every int8 op reads only
dequantized values, the caller's graph is untouched, and the QDQ ONNX runs in onnxruntime with an
output close to Keras's float output.

``BOUNDS`` is the relative L2 error (||onnxruntime int8 - Keras float|| / ||Keras float||, worst
output) measured with onnxruntime 1.32 at commit time, and the bound asserted: about 1.5x the
measurement, at least 0.01. k2-cnn2d's logits read a ThresholdedReLU (x > theta ? x : 0), whose
elements near theta flip when x is quantized: 0.16 there already, 0.21 at the logits.
"""

from __future__ import annotations

import logging

import pytest

import keras2edge
from keras2edge.ir.dtypes import DType
from keras2edge.ir.ops import op_spec
from keras2edge.ir.ops.core import QuantRule
from keras2edge.ir.quant import outside_qdq

from ..onnxrt import run_graph_onnx
from .cases import ENTRIES, load_case, rel_l2

#: model -> (measured worst relative L2 error, bound asserted)
BOUNDS: dict[str, tuple[float, float]] = {
    "k3-mlp": (0.0140, 0.021), "k3-cnn2d": (0.0528, 0.08), "k3-cnn1d": (0.0197, 0.03),
    "k3-merge": (0.0169, 0.026), "k3-rnn": (0.0211, 0.032), "k3-embed": (0.0042, 0.01),
    "k3-attention": (0.0222, 0.034), "k3-preprocess": (0.0059, 0.01), "k3-activations": (0.0129, 0.02),
    "k3-kops": (0.0080, 0.012), "k2-mlp": (0.0134, 0.02), "k2-mlp_k2seq": (0.0215, 0.033),
    "k2-cnn2d": (0.2108, 0.32), "k2-cnn1d": (0.0217, 0.033), "k2-merge": (0.0198, 0.03),
    "k2-rnn": (0.0234, 0.035), "k2-embed": (0.0022, 0.01), "k2-attention": (0.0184, 0.028),
    "k2-preprocess": (0.0048, 0.01), "k2-activations": (0.0100, 0.015), "k2-tfop": (0.0097, 0.015),
    "k3-bn_eps": (0.0100, 0.015), "k2-bn_eps": (0.0094, 0.015), "k2-theano_conv": (0.0124, 0.019),
    "k3-cnn_cf": (0.0175, 0.027), "k2-cnn_cf": (0.0152, 0.023), "k3-mbv3_block": (0.0115, 0.018),
    "k2-mbv3_block": (0.0088, 0.014),
}
INT8_RULES = (QuantRule.OWN_SCALE, QuantRule.SAME_SCALE, QuantRule.FIXED_OUTPUT, QuantRule.PER_CHANNEL_WEIGHTS)


def test_every_fixture_has_a_bound() -> None:
    assert sorted(BOUNDS) == sorted(ENTRIES)


def _snapshot(g: keras2edge.Graph) -> tuple:
    return ([(n.name, n.op, [None if v is None else (v.name, id(v)) for v in n.inputs],
              [(v.name, v.dtype, v.shape) for v in n.outputs]) for n in g.nodes],
            [(v.name, v.dtype, v.quant) for v in g.inputs], [v.name for v in g.outputs])


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_fixture_quantizes(name: str, caplog: pytest.LogCaptureFixture) -> None:
    case = load_case(name)
    before = _snapshot(case.graph)
    with caplog.at_level(logging.WARNING, logger="keras2edge"):
        # The plain scheme (BOUNDS were measured without the accuracy-preserving algorithms; their
        # defaults run on every fixture in test_algorithms_fixtures.py).
        q = keras2edge.quantize(case.graph, calibration=case.calibration, cle=False, bias_correction=False)
    assert _snapshot(case.graph) == before, "the caller's graph changed"
    q.verify()
    assert outside_qdq(q.values(), q.outputs) == []
    assert [v.name for v in q.outputs] == case.output_names
    assert [v.name for v in q.inputs] == [v.name for v in case.graph.inputs]
    quantized = 0
    for n in q.nodes:
        if n.op in ("Quantize", "Dequantize"):
            assert n.origin is not None, f"{n.name} has no Keras origin"
            continue
        rule = op_spec(n.op).quant
        if rule == QuantRule.FLOAT:  # kept float, and said so naming the Keras layer
            assert any(n.origin.layer in r.getMessage() for r in caplog.records), n.where()
        if rule not in INT8_RULES:
            continue
        quantized += 1
        for v in n.inputs:
            if v is not None and v.dtype == DType.FLOAT32 and not (v.is_const and n.op == "BatchNorm"):
                assert v.producer is not None and v.producer.op == "Dequantize", \
                    f"{n.where()} reads {v.name}, not a dequantized value"
    assert quantized
    got = run_graph_onnx(q, case.feeds)
    errs = [rel_l2(g, w) for g, w in zip(got, case.want)]
    measured, bound = BOUNDS[name]
    assert max(errs) <= bound, f"{name}: relative L2 errors {errs} (measured {measured} at commit)"
