"""Smoke test of the text form of a graph."""

from __future__ import annotations

import numpy as np

from keras2edge.ir import DType, Graph
from keras2edge.ir.printer import format_graph


def test_format_graph_shows_inputs_nodes_attrs_origin_and_outputs() -> None:
    g = Graph("tiny")
    x = g.add_input("image", DType.FLOAT32, (None, 4, 4, 3))
    w = g.add_const("conv/kernel", np.zeros((1, 1, 3, 2)))
    conv = g.add_node("Conv2D", [x, w, None], {"strides": [1, 1]}, origin=("conv", "Conv2D"))
    y = g.op("Reshape", [conv.output], shape=(-1, 32))
    g.outputs.append(y)
    text = format_graph(g)
    lines = text.splitlines()
    assert lines[0] == "graph tiny("
    assert "%image: float32[?,4,4,3]," in lines[1]
    assert "%conv/Conv2D: float32[?,4,4,2] = Conv2D(%image, %conv/kernel<const>, None, strides=(1, 1)" in text
    assert "# conv (Conv2D)" in text
    assert "Reshape(%conv/Conv2D, shape=(-1, 32))" in text
    assert lines[-2] == f"  return %{y.name}" and lines[-1] == "}"
    assert repr(g) == text
