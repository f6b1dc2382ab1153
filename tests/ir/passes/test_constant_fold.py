"""ConstantFoldPass: constant subgraphs become constants; shared constants stay untouched."""

from __future__ import annotations

import numpy as np

from keras2edge.ir import DType, Graph, QuantParams
from keras2edge.ir.passes import ConstantFoldPass

from tests.ir_graphs import ops

from tests.ir.helpers import check_pass

RNG = np.random.default_rng(3)


def test_folds_weight_arithmetic_feeding_a_conv() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (1, 4, 4, 3))
    w_oihw = g.add_const("w_oihw", RNG.standard_normal((2, 3, 1, 1)))
    w = g.op("Transpose", [w_oihw], perm=(2, 3, 1, 0))
    b = g.op("Add", [g.add_const("b", RNG.standard_normal(2)), g.add_const("one", np.ones(2))])
    g.outputs.append(g.op("Conv2D", [x, w, b]))
    w_name = w.name
    check_pass(g, ConstantFoldPass())
    assert ops(g) == ["Conv2D"]
    conv = g.nodes[0]
    assert conv.inputs[1] is not None and conv.inputs[1].is_const and conv.inputs[1].name == w_name
    np.testing.assert_array_equal(conv.inputs[1].const, np.transpose(w_oihw.const, (2, 3, 1, 0)))
    assert conv.inputs[1].const.flags.c_contiguous  # type: ignore[union-attr]


def test_shared_constant_is_copied_not_aliased() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (2, 6))
    table = g.add_const("table", RNG.standard_normal((6, 2)))
    before = table.const.copy()  # type: ignore[union-attr]
    flat = g.op("Reshape", [table], shape=(3, 4))
    g.outputs += [g.op("FullyConnected", [x, table]), g.op("Add", [flat, flat])]
    check_pass(g, ConstantFoldPass())
    assert ops(g) == ["FullyConnected"]
    assert g.nodes[0].inputs[1] is table
    np.testing.assert_array_equal(table.const, before)
    folded = g.outputs[1]
    assert folded.is_const and not np.shares_memory(folded.const, table.const)


def test_graph_output_keeps_name_and_quantization() -> None:
    g = Graph()
    g.add_input("x", DType.FLOAT32, (1,))
    y = g.op("Relu", [g.add_const("c", np.array([-1.0, 2.0]))])
    y.quant = QuantParams(np.array([0.1], np.float32), np.array([0], np.int32), qtype=DType.INT8)
    g.rename_value(y, "logits")
    g.outputs.append(y)
    check_pass(g, ConstantFoldPass())
    assert ops(g) == []
    out = g.outputs[0]
    assert out.name == "logits" and out.is_const and out.quant is y.quant
    np.testing.assert_array_equal(out.const, [0.0, 2.0])


def test_folds_multi_output_node() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (3,))
    split = g.add_node("Split", [g.add_const("c", np.arange(6, dtype=np.float32))], {"axis": 0, "sizes": (3, 3)})
    g.outputs.append(g.op("Add", [g.op("Mul", [x, split.outputs[0]]), split.outputs[1]]))
    check_pass(g, ConstantFoldPass())
    assert ops(g) == ["Mul", "Add"]


def test_keeps_dtype_of_integer_results() -> None:
    g = Graph()
    x = g.add_input("x", DType.INT64, (2,))
    idx = g.op("Cast", [g.add_const("f", np.array([1.7, -1.2]))], to="int64")
    g.outputs.append(g.op("Add", [x, idx]))
    check_pass(g, ConstantFoldPass())
    assert g.nodes[0].inputs[1].dtype == DType.INT64  # type: ignore[union-attr]
    np.testing.assert_array_equal(g.nodes[0].inputs[1].const, [1, -1])  # type: ignore[union-attr]


def test_declines_runtime_inputs_and_oversized_outputs() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (4, 4))
    big = g.op("Tile", [g.add_const("c", np.ones((4, 4)))], multiples=(8, 8))
    corner = g.op("StridedSlice", [big], begin=(0, 0), end=(4, 4), strides=(1, 1))
    g.outputs.append(g.op("Add", [g.op("Relu", [x]), corner]))
    check_pass(g, ConstantFoldPass(max_bytes=1024), changed=False)  # the Tile would take 4 KB
    assert ops(g) == ["Tile", "StridedSlice", "Relu", "Add"]
    check_pass(g, ConstantFoldPass())
    assert ops(g) == ["Relu", "Add"]
