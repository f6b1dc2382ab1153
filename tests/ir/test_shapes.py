"""infer_shapes and graph surgery: pins propagate, "change constants, re-infer" works for pruning."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.errors import GraphError, ShapeInferenceError
from keras2edge.ir import DType, Graph
from keras2edge.ir.evaluate import evaluate
from keras2edge.ir.shapes import infer_shapes

from .helpers import random_feeds


def conv_net() -> tuple[Graph, dict[str, object]]:
    """x -> conv1 (3->8) -> Relu -> conv2 (8->4) -> Mean(H, W) -> FullyConnected (4->2)."""
    rng = np.random.default_rng(0)
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (None, 6, 6, 3))
    w1 = g.add_const("w1", rng.standard_normal((3, 3, 3, 8)))
    b1 = g.add_const("b1", rng.standard_normal(8))
    c1 = g.add_node("Conv2D", [x, w1, b1], {"padding": "same"}, origin=("conv1", "Conv2D"))
    r1 = g.add_node("Relu", [c1.output], origin=("relu1", "ReLU"))
    w2 = g.add_const("w2", rng.standard_normal((3, 3, 8, 4)))
    c2 = g.add_node("Conv2D", [r1.output, w2], {"strides": (2, 2)}, origin=("conv2", "Conv2D"))
    m = g.add_node("Mean", [c2.output], {"axes": (1, 2)}, origin=("gap", "GlobalAveragePooling2D"))
    wf = g.add_const("wf", rng.standard_normal((4, 2)))
    fc = g.add_node("FullyConnected", [m.output, wf], origin=("dense", "Dense"))
    g.outputs.append(fc.output)
    g.verify()
    return g, {"w1": w1, "b1": b1, "w2": w2, "wf": wf, "c1": c1, "r1": r1, "c2": c2, "m": m, "fc": fc}


def test_infer_shapes_propagates_pins_without_touching_the_graph() -> None:
    g, n = conv_net()
    types = infer_shapes(g, {"x": (5, 6, 6, 3)})
    assert types[id(n["c1"].output)] == (DType.FLOAT32, (5, 6, 6, 8))
    assert types[id(n["c2"].output)] == (DType.FLOAT32, (5, 2, 2, 4))
    assert types[id(n["fc"].output)] == (DType.FLOAT32, (5, 2))
    assert n["fc"].output.shape == (None, 2)   # the graph keeps its own shapes
    assert infer_shapes(g)[id(n["fc"].output)] == (DType.FLOAT32, (None, 2))


def test_infer_shapes_names_the_node_that_rejects_a_pin() -> None:
    g, _ = conv_net()
    with pytest.raises(ShapeInferenceError, match=r"'conv1/Conv2D'.*conv1 \(Conv2D\).*not a multiple") as info:
        infer_shapes(g, {"x": (1, 6, 6, 5)})
    assert info.value.node is g.nodes[0]


def test_pruning_channels_reinfers_every_downstream_shape() -> None:
    g, n = conv_net()
    keep = [0, 2, 3, 5, 7]                    # conv1 keeps 5 of its 8 output channels
    feeds = random_feeds(g)
    g.replace_const(n["w1"], n["w1"].const[..., keep], refresh=False)
    g.replace_const(n["b1"], n["b1"].const[keep], refresh=False)
    g.replace_const(n["w2"], n["w2"].const[:, :, keep, :], refresh=False)
    keep2 = [1, 3]                             # conv2 keeps 2 of its 4
    g.replace_const(n["c2"].inputs[1], n["c2"].inputs[1].const[..., keep2], refresh=False)
    g.replace_const(n["wf"], n["wf"].const[keep2, :], refresh=False)
    g.refresh_shapes()
    g.verify()
    assert n["c1"].output.shape == (None, 6, 6, 5)
    assert n["r1"].output.shape == (None, 6, 6, 5)
    assert n["c2"].output.shape == (None, 2, 2, 2)
    assert n["m"].output.shape == (None, 2)
    assert n["fc"].output.shape == (None, 2)
    assert n["w1"].const.shape == (3, 3, 3, 8)   # the old constants are never modified
    assert [v.name for v in g.constants()] == ["w1", "b1", "w2", "wf"]   # names kept
    # the pruned graph computes the pruned network
    x = feeds["x"]
    ref = _numpy_net(x, n["c1"].inputs[1].const, n["c1"].inputs[2].const, n["c2"].inputs[1].const,
                     n["fc"].inputs[1].const)
    np.testing.assert_allclose(evaluate(g, feeds)[g.outputs[0].name], ref, rtol=1e-4, atol=1e-4)


def _numpy_net(x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, wf: np.ndarray) -> np.ndarray:
    """The conv_net computed directly (same-padded 3x3 stride 1, valid 3x3 stride 2, mean, matmul)."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    h = sum(xp[:, i:i + 6, j:j + 6, :] @ w1[i, j] for i in range(3) for j in range(3)) + b1
    h = np.maximum(h, 0)
    y = sum(h[:, i:i + 3:2, j:j + 3:2, :] @ w2[i, j] for i in range(3) for j in range(3))
    return y.mean(axis=(1, 2)) @ wf


def test_inconsistent_replacement_raises_naming_the_node_and_is_undone() -> None:
    g, n = conv_net()
    w1 = n["w1"]
    with pytest.raises(ShapeInferenceError, match=r"'conv2/Conv2D'.*conv2 \(Conv2D\).*5 not a multiple of.* 8") as info:
        g.replace_const(w1, w1.const[..., :5])     # conv2 still expects 8 input channels
    assert info.value.node is n["c2"]
    assert isinstance(info.value, GraphError)
    assert n["c1"].inputs[1] is w1 and n["c1"].output.shape == (None, 6, 6, 8)
    g.verify()


def test_refresh_shapes_failure_changes_nothing() -> None:
    g, n = conv_net()
    g.replace_const(n["wf"], np.zeros((3, 2), np.float32), refresh=False)
    with pytest.raises(ShapeInferenceError, match="dense"):
        g.refresh_shapes()
    assert n["fc"].output.shape == (None, 2)


def test_replace_const_refuses_a_non_constant() -> None:
    g, n = conv_net()
    with pytest.raises(GraphError, match="not a constant"):
        g.replace_const(n["c1"].output, np.zeros(1))


def test_op_shape_rules_are_applied_only_by_ir_shapes() -> None:
    """One shape inference: no module but ir/shapes.py calls an op spec's ``infer`` (the emitters and
    passes ask infer_shapes / infer_node)."""
    import re
    from pathlib import Path

    import keras2edge

    src = Path(keras2edge.__file__).parent
    callers = sorted(str(p.relative_to(src)) for p in src.rglob("*.py")
                     if re.search(r"\.infer\(", p.read_text(encoding="utf-8")))
    assert callers == ["ir/shapes.py"]
