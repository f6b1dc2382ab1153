"""Graph construction, rewiring methods, and ``verify()`` catching each broken invariant."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.errors import GraphError
from keras2edge.ir import DType, Graph, Node, Value
from keras2edge.ir.evaluate import evaluate


def small_graph() -> tuple[Graph, Node, Node]:
    """x -> Conv2D(w, b) -> Relu -> output."""
    g = Graph("small")
    x = g.add_input("x", DType.FLOAT32, (None, 6, 6, 3))
    rng = np.random.default_rng(0)
    w = g.add_const("conv/kernel", rng.standard_normal((3, 3, 3, 4)))
    b = g.add_const("conv/bias", rng.standard_normal(4))
    conv = g.add_node("Conv2D", [x, w, b], {"padding": "same"}, origin=("conv", "Conv2D"))
    relu = g.add_node("Relu", [conv.output], origin=("relu", "ReLU"))
    g.outputs.append(relu.output)
    g.verify()
    return g, conv, relu


def test_build_infers_shapes_and_names() -> None:
    g, conv, relu = small_graph()
    assert conv.output.shape == (None, 6, 6, 4)
    assert conv.name == "conv/Conv2D" and conv.output.name == "conv/Conv2D"
    assert conv.attrs == {"strides": (1, 1), "dilations": (1, 1), "padding": "same", "activation": "none"}
    assert [n for n, _ in conv.output.uses] == [relu]
    assert g.consumers(conv.output) == [relu]
    assert g.is_output(relu.output) and not g.is_output(conv.output)
    assert {v.name for v in g.constants()} == {"conv/kernel", "conv/bias"}
    assert "conv/Conv2D" in conv.where() and "conv (Conv2D)" in conv.where()


def test_add_node_rejects_bad_inputs() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (1, 4))
    with pytest.raises(GraphError, match="unknown attributes"):
        g.add_node("Relu", [x], {"alpha": 1})
    with pytest.raises(GraphError, match="required"):
        g.add_node("Reshape", [x])
    with pytest.raises(GraphError, match="expects inputs"):
        g.add_node("Add", [x])
    with pytest.raises(GraphError, match="does not match"):
        g.add_node("FullyConnected", [x, g.add_const("w", np.zeros((3, 2)))])


def test_insert_after_and_before_keep_order() -> None:
    g, conv, relu = small_graph()
    mid = g.add_node("Identity", [conv.output], after=conv)
    first = g.add_node("Identity", [g.inputs[0]], before=conv)
    assert g.nodes == [first, conv, mid, relu]
    g.verify()


def test_rewiring_keeps_use_lists() -> None:
    g, conv, relu = small_graph()
    tanh = g.add_node("Tanh", [conv.output], after=conv)
    g.replace_all_uses(conv.output, tanh.output, except_node=tanh)
    assert relu.inputs[0] is tanh.output
    assert conv.output.uses == [(tanh, 0)]
    g.verify()
    g.replace_all_uses(relu.output, tanh.output)  # graph outputs follow
    assert g.outputs == [tanh.output]
    g.remove_node(relu)
    g.verify()


def test_remove_used_node_is_refused() -> None:
    g, conv, _ = small_graph()
    with pytest.raises(GraphError, match="still used"):
        g.remove_node(conv)


def test_rename_value_frees_the_old_name() -> None:
    g, conv, _ = small_graph()
    g.rename_value(conv.output, "features")
    assert conv.output.name == "features"
    assert g.unique_name("conv/Conv2D") == "conv/Conv2D"
    g.verify()


def test_evaluate_matches_numpy() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (None, 3))
    y = g.op("Relu", [g.op("Add", [x, g.add_const("one", np.ones(3))])])
    g.outputs.append(y)
    data = np.array([[-2.0, 0.0, 1.0]], np.float32)
    np.testing.assert_array_equal(evaluate(g, {"x": data})[y.name], np.maximum(data + 1, 0))
    with pytest.raises(GraphError, match="no data"):
        evaluate(g, {})


# ---------------------------------------------------------------------------- verify()

def test_verify_stale_use_list() -> None:
    g, conv, relu = small_graph()
    conv.output.uses.append((relu, 0))
    with pytest.raises(GraphError, match="use list is stale"):
        g.verify()


def test_verify_missing_use() -> None:
    g, conv, relu = small_graph()
    ident = g.add_node("Identity", [conv.output], after=conv)
    relu.inputs[0] = ident.output  # rewired behind the graph's back: both use lists are stale
    with pytest.raises(GraphError, match="use list is stale"):
        g.verify()


def test_verify_out_of_order_nodes() -> None:
    g, conv, relu = small_graph()
    g.nodes.reverse()
    with pytest.raises(GraphError, match="topological order"):
        g.verify()


def test_verify_wrong_shape() -> None:
    g, conv, _ = small_graph()
    conv.output.shape = (None, 3, 3, 4)
    with pytest.raises(GraphError, match="but the op gives"):
        g.verify()


def test_verify_wrong_dtype() -> None:
    g, _, relu = small_graph()
    relu.output.dtype = DType.INT8
    with pytest.raises(GraphError, match="but the op gives"):
        g.verify()


def test_verify_unknown_attr() -> None:
    g, conv, _ = small_graph()
    conv.attrs["groups"] = 2
    with pytest.raises(GraphError, match="attributes differ"):
        g.verify()


def test_verify_missing_attr() -> None:
    g, conv, _ = small_graph()
    del conv.attrs["padding"]
    with pytest.raises(GraphError, match="attributes differ"):
        g.verify()


def test_verify_wrong_arity() -> None:
    g, _, relu = small_graph()
    relu.inputs.append(relu.inputs[0])
    with pytest.raises(GraphError, match="expects inputs"):
        g.verify()


def test_verify_duplicate_names() -> None:
    g, conv, relu = small_graph()
    relu.output.name = conv.output.name
    with pytest.raises(GraphError, match="two values are named"):
        g.verify()


def test_verify_duplicate_constant_name() -> None:
    g, conv, _ = small_graph()
    conv.inputs[2].name = "x"  # type: ignore[union-attr]
    with pytest.raises(GraphError, match="two values are named"):
        g.verify()


def test_verify_dangling_output() -> None:
    g, _, _ = small_graph()
    g.outputs.append(Value("ghost", DType.FLOAT32, (1,)))
    with pytest.raises(GraphError, match="not produced"):
        g.verify()


def test_verify_output_of_removed_node() -> None:
    g, conv, relu = small_graph()
    g.nodes.remove(relu)  # removed without updating uses or outputs
    with pytest.raises(GraphError):
        g.verify()


def test_verify_constant_shape_differs_from_data() -> None:
    g, conv, _ = small_graph()
    conv.inputs[2].shape = (5,)  # type: ignore[union-attr]
    with pytest.raises(GraphError, match="shape"):
        g.verify()


def test_verify_wrong_producer() -> None:
    g, conv, relu = small_graph()
    conv.output.producer = relu
    with pytest.raises(GraphError, match="another producer"):
        g.verify()


def test_verify_input_with_producer() -> None:
    g, conv, _ = small_graph()
    g.inputs[0].producer = conv
    with pytest.raises(GraphError, match="has a producer"):
        g.verify()


def test_verify_unknown_op() -> None:
    g, _, relu = small_graph()
    relu.op = "NoSuchOp"
    with pytest.raises(GraphError):
        g.verify()
