"""RecoverHardSwishPass: every form Keras writes is rewritten, every near miss is left alone, and the
real MobileNetV3-style fixtures (tf_keras and Keras 3) still match Keras' recorded outputs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import keras2edge
from keras2edge.convert.tflite import tflite_bytes
from keras2edge.ir import DType, Graph, Value
from keras2edge.ir.passes import RecoverHardSwishPass
from keras2edge.runtime import Interpreter

from tests.corpus import FIXTURES
from tests.ir_graphs import ops

from tests.ir.helpers import check_pass

Build = Callable[[Graph, Value, Callable[[float], Value]], Value]


def _k(g: Graph) -> Callable[[float], Value]:
    return lambda c: g.add_const("c", np.float32(c))


# Each form: (x, const maker) -> the chain's output. Operand orders as Keras and users write them.
FORMS: dict[str, Build] = {
    # tf_keras MobileNetV3: Multiply()([x, ReLU(6.)(x + 3.) * (1. / 6.)])
    "tf_keras": lambda g, x, k: g.op("Mul", [x, g.op("Mul", [g.op("Relu6", [g.op("Add", [x, k(3)])]), k(1 / 6)])]),
    "scale_first_swapped": lambda g, x, k: g.op("Mul", [g.op("Mul", [k(1 / 6), g.op("Relu6", [g.op("Add", [k(3), x])])]), x]),
    "div_six": lambda g, x, k: g.op("Mul", [x, g.op("Div", [g.op("Relu6", [g.op("Add", [x, k(3)])]), k(6)])]),
    # x * tf.nn.relu6(x + 3.) * (1. / 6.), left to right
    "left_to_right": lambda g, x, k: g.op("Mul", [g.op("Mul", [x, g.op("Relu6", [g.op("Add", [x, k(3)])])]), k(1 / 6)]),
    "left_to_right_div": lambda g, x, k: g.op("Div", [g.op("Mul", [g.op("Relu6", [g.op("Add", [x, k(3)])]), x]), k(6)]),
    # Keras 3: x * hard_sigmoid(x), hard_sigmoid imported as Relu0To1(x / 6 + 0.5)
    "keras3_hard_sigmoid": lambda g, x, k: g.op(
        "Mul", [x, g.op("Relu0To1", [g.op("Add", [g.op("Mul", [x, k(1 / 6)]), k(0.5)])])]),
    "keras3_hard_sigmoid_swapped": lambda g, x, k: g.op(
        "Mul", [g.op("Relu0To1", [g.op("Add", [k(0.5), g.op("Mul", [k(1 / 6), x])])]), x]),
}


def graph_of(build: Build, shape: tuple[int | None, ...] = (None, 4, 4, 3)) -> Graph:
    """x -> Tanh -> form -> Logistic: the chain's input and output are inner values."""
    g = Graph()
    x = g.op("Tanh", [g.add_input("x", DType.FLOAT32, shape)])
    g.outputs.append(g.op("Logistic", [build(g, g.op("Mul", [x, g.add_const("four", np.float32(4))]), _k(g))]))
    return g


@pytest.mark.parametrize("form", list(FORMS))
def test_rewrites_each_form(form: str) -> None:
    g = graph_of(FORMS[form])
    name = g.outputs[0].producer.inputs[0].name
    check_pass(g, RecoverHardSwishPass())
    assert ops(g) == ["Tanh", "Mul", "HardSwish", "Logistic"]
    hs = g.nodes[2]
    assert hs.inputs[0] is g.nodes[1].output and hs.output.name == name
    assert not [v for v in g.constants() if v.name.startswith("c")]   # the chain's constants are gone


def test_rewrites_a_chain_ending_at_a_graph_output_and_keeps_its_name() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (None, 8))
    y = FORMS["tf_keras"](g, x, _k(g))
    g.outputs.append(y)
    name = y.name
    check_pass(g, RecoverHardSwishPass())
    assert ops(g) == ["HardSwish"] and g.outputs[0].name == name


NEAR_MISSES: dict[str, Build] = {
    "plus_two": lambda g, x, k: g.op("Mul", [x, g.op("Mul", [g.op("Relu6", [g.op("Add", [x, k(2)])]), k(1 / 6)])]),
    "one_fifth": lambda g, x, k: g.op("Mul", [x, g.op("Mul", [g.op("Relu6", [g.op("Add", [x, k(3)])]), k(0.2)])]),
    "div_five": lambda g, x, k: g.op("Mul", [x, g.op("Div", [g.op("Relu6", [g.op("Add", [x, k(3)])]), k(5)])]),
    "add_not_mul": lambda g, x, k: g.op("Add", [x, g.op("Mul", [g.op("Relu6", [g.op("Add", [x, k(3)])]), k(1 / 6)])]),
    "relu_not_relu6": lambda g, x, k: g.op("Mul", [x, g.op("Mul", [g.op("Relu", [g.op("Add", [x, k(3)])]), k(1 / 6)])]),
    "sub_three": lambda g, x, k: g.op("Mul", [x, g.op("Mul", [g.op("Relu6", [g.op("Sub", [x, k(3)])]), k(1 / 6)])]),
    # Keras 2's hard_sigmoid is clip(0.2x + 0.5): x * hard_sigmoid(x) is not a HardSwish there
    "keras2_hard_sigmoid": lambda g, x, k: g.op(
        "Mul", [x, g.op("Relu0To1", [g.op("Add", [g.op("Mul", [x, k(0.2)]), k(0.5)])])]),
    # the squeeze-excite gate: the hard sigmoid of one tensor multiplied into another
    "other_tensor": lambda g, x, k: g.op(
        "Mul", [g.op("Neg", [x]), g.op("Mul", [g.op("Relu6", [g.op("Add", [x, k(3)])]), k(1 / 6)])]),
    "hard_sigmoid_only": lambda g, x, k: g.op("Mul", [g.op("Relu6", [g.op("Add", [x, k(3)])]), k(1 / 6)]),
    "vector_three": lambda g, x, k: g.op("Mul", [x, g.op("Mul", [g.op("Relu6", [g.op(
        "Add", [x, g.add_const("c3", np.full(3, 3, np.float32))])]), k(1 / 6)])]),
}


@pytest.mark.parametrize("miss", list(NEAR_MISSES))
def test_leaves_near_misses(miss: str) -> None:
    check_pass(graph_of(NEAR_MISSES[miss]), RecoverHardSwishPass(), changed=False)


def test_leaves_a_chain_whose_constant_would_broadcast_x() -> None:
    def bigger(g: Graph, x: Value, k: Callable[[float], Value]) -> Value:
        three = g.add_const("c3", np.full((1, 1, 1, 1, 1), 3, np.float32))
        return g.op("Mul", [x, g.op("Mul", [g.op("Relu6", [g.op("Add", [x, three])]), k(1 / 6)])])
    check_pass(graph_of(bigger), RecoverHardSwishPass(), changed=False)


@pytest.mark.parametrize("step", [0, 1, 2])
def test_leaves_a_chain_with_an_extra_consumer_or_output(step: str) -> None:
    """An intermediate (x + 3, relu6, the scaled relu6) with a second use, or as a graph output."""
    for as_output in (False, True):
        g = graph_of(FORMS["tf_keras"])
        inner = [n for n in g.nodes if n.op in ("Add", "Relu6")] + [g.nodes[-2].inputs[1].producer]
        v = inner[step].output
        if as_output:
            g.outputs.append(v)
        else:
            g.outputs.append(g.op("Neg", [v]))
        check_pass(g, RecoverHardSwishPass(), changed=False)


def test_leaves_quantized_and_integer_chains() -> None:
    from keras2edge.ir import QuantParams
    g = graph_of(FORMS["tf_keras"])
    g.nodes[3].output.quant = QuantParams(np.ones(1, np.float32), np.zeros(1, np.int64))   # relu6 output
    assert RecoverHardSwishPass().run(g) is False
    g = Graph()
    x = g.add_input("x", DType.INT32, (None, 4))
    k = lambda c: g.add_const("c", np.int32(c))  # noqa: E731
    g.outputs.append(g.op("Mul", [x, g.op("Div", [g.op("Relu6", [g.op("Add", [x, k(3)])]), k(6)])]))
    check_pass(g, RecoverHardSwishPass(), changed=False)


# The committed fixtures: MobileNetV3 blocks as tf_keras (k2) and Keras 3 (k3) save them.
# file -> (HardSwish ops imported as such, HardSwish ops after the cleanup)
FIXTURE_HARD_SWISH = {"k2/mbv3_block.h5": (0, 2), "k3/mbv3_block.keras": (1, 4)}


@pytest.mark.parametrize("rel", list(FIXTURE_HARD_SWISH))
def test_mobilenet_v3_fixture_recovers_every_hard_swish_and_matches_keras(rel: str) -> None:
    imported, recovered = FIXTURE_HARD_SWISH[rel]
    assert ops(keras2edge.load(FIXTURES / rel, cleanup=False)).count("HardSwish") == imported
    g = keras2edge.load(FIXTURES / rel)
    assert ops(g).count("HardSwish") == recovered
    assert ops(g).count("Relu6") == 1           # the squeeze-excite gate stays a hard sigmoid
    io = np.load(FIXTURES / rel.replace(".h5", ".io.npz").replace(".keras", ".io.npz"))
    x = io["in:image"]
    got = Interpreter(tflite_bytes(g)).run(x)
    np.testing.assert_allclose(got, io["out:0"], rtol=1e-4, atol=1e-5)
