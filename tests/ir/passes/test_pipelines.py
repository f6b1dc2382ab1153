"""CLEANUP_PASSES and optimize(): the whole cleanup on a small Keras-like graph."""

from __future__ import annotations

import numpy as np

from keras2edge.ir import DType, Graph
from keras2edge.ir.evaluate import evaluate
from keras2edge.ir.passes import (CLEANUP_PASSES, ConstantFoldPass, DeadCodePass, FoldBatchNormPass,
                                  FoldIdentityPass, PassManager, RecoverHardSwishPass, optimize)

from tests.ir_graphs import ops

from tests.ir.helpers import assert_same_outputs, random_feeds

RNG = np.random.default_rng(11)


def keras_like() -> Graph:
    """conv -> Identity -> BN -> relu -> transpose pair -> flatten-ish reshapes -> dense; plus junk."""
    g = Graph("keras_like")
    x = g.add_input("image", DType.FLOAT32, (None, 6, 6, 3))
    w = g.op("Transpose", [g.add_const("conv/kernel_oihw", RNG.standard_normal((4, 3, 3, 3)))], perm=(2, 3, 1, 0))
    conv = g.op("Conv2D", [x, w], origin=("conv", "Conv2D"), padding="same")
    ident = g.op("Identity", [conv], origin=("dropout", "Dropout"))
    bn = g.add_node("BatchNorm", [ident, g.add_const("bn/mean", RNG.standard_normal(4)),
                                  g.add_const("bn/var", RNG.uniform(0.5, 2, 4)),
                                  g.add_const("bn/gamma", RNG.standard_normal(4)),
                                  g.add_const("bn/beta", RNG.standard_normal(4))], origin=("bn", "BatchNormalization"))
    relu = g.op("Relu", [bn.output], origin=("relu", "ReLU"))
    t = g.op("Transpose", [g.op("Transpose", [relu], perm=(0, 3, 1, 2))], perm=(0, 2, 3, 1))
    flat = g.op("Reshape", [g.op("Reshape", [t], shape=(-1, 36, 4))], shape=(-1, 144))
    g.op("Tanh", [flat])  # dead
    dense = g.op("FullyConnected", [flat, g.add_const("dense/kernel", RNG.standard_normal((144, 5)))],
                 origin=("dense", "Dense"))
    out = g.op("Identity", [dense], origin=("out", "Activation"))
    g.rename_value(out, "out")
    g.outputs.append(out)
    g.verify()
    return g


def test_cleanup_passes_are_fresh_and_ordered() -> None:
    a, b = CLEANUP_PASSES(), CLEANUP_PASSES()
    assert [type(p) for p in a] == [ConstantFoldPass, FoldIdentityPass, FoldBatchNormPass, RecoverHardSwishPass,
                                    DeadCodePass]
    assert isinstance(a, tuple) and all(p is not q for p, q in zip(a, b))


def test_optimize_cleans_a_keras_like_graph() -> None:
    g = keras_like()
    feeds = random_feeds(g)
    before = evaluate(g, feeds)
    assert optimize(g) is g
    g.verify()
    assert ops(g) == ["Conv2D", "Relu", "Reshape", "FullyConnected"]
    assert [v.name for v in g.outputs] == ["out"]
    assert g.nodes[0].origin is not None and g.nodes[0].origin.layer == "conv"
    assert_same_outputs(before, evaluate(g, feeds))
    assert PassManager(CLEANUP_PASSES(), max_iterations=4).run(g) is False


def test_optimize_with_custom_passes() -> None:
    g = keras_like()
    optimize(g, passes=(DeadCodePass(),))
    assert "Tanh" not in ops(g) and "BatchNorm" in ops(g)
