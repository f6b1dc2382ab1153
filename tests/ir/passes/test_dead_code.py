"""DeadCodePass: unused nodes and chains go; anything reaching an output stays."""

from __future__ import annotations

import numpy as np

from keras2edge.ir import DType, Graph
from keras2edge.ir.passes import DeadCodePass

from tests.ir_graphs import ops

from tests.ir.helpers import check_pass


def test_removes_dead_chain_and_its_constants() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (2, 3))
    w = g.add_const("w", np.ones((3, 4)))
    dead = g.op("Tanh", [g.op("FullyConnected", [g.op("Relu", [x]), w])])
    g.outputs.append(g.op("Neg", [x]))
    assert dead.uses == []
    check_pass(g, DeadCodePass())
    assert ops(g) == ["Neg"]
    assert g.constants() == [] and w.uses == []


def test_keeps_multi_output_node_with_one_live_output() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (2, 6))
    split = g.add_node("Split", [x], {"axis": 1, "sizes": (2, 4)})
    g.op("Relu", [split.outputs[0]])  # dead
    g.outputs.append(split.outputs[1])
    check_pass(g, DeadCodePass())
    assert ops(g) == ["Split"]


def test_keeps_graph_outputs_and_unused_inputs() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (2, 3))
    g.add_input("unused", DType.FLOAT32, (1,))
    a = g.op("Relu", [x])
    g.outputs += [a, g.op("Neg", [a])]
    check_pass(g, DeadCodePass(), changed=False)
    assert ops(g) == ["Relu", "Neg"] and len(g.inputs) == 2
