"""Small hand-built IR graphs for the channel-pruning tests (one per kind of channel group) and the
oracle they share: a pruned graph computes what the unpruned one computes with the removed
producers' filters and biases zeroed (every graph here keeps a removed channel at zero downstream:
no per-channel offsets after a producer)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from keras2edge.ir import DType, Graph
from keras2edge.ir.ops import op_spec
from keras2edge.prune.groups import ChannelAnalysis

RNG_SEED = 7


class Builder:
    """A pretend-Keras graph: every node has an origin (layer name, class)."""

    def __init__(self, name: str, shape: tuple[int | None, ...] = (None, 6, 6, 3)) -> None:
        self.g = Graph(name)
        self.rng = np.random.default_rng(RNG_SEED)
        self.x = self.g.add_input("x", DType.FLOAT32, shape)

    def w(self, name: str, *shape: int) -> object:
        return self.g.add_const(name, self.rng.standard_normal(shape).astype(np.float32) * 0.5)

    def conv(self, layer: str, x, cout: int, k: int = 3, act: str = "none", bias: bool = True):
        cin = x.shape[-1]
        ins = [x, self.w(f"{layer}/kernel", k, k, cin, cout), self.w(f"{layer}/bias", cout) if bias else None]
        return self.g.add_node("Conv2D", ins, {"padding": "same", "activation": act}, origin=(layer, "Conv2D")).output

    def dw(self, layer: str, x, mult: int = 1):
        c = x.shape[-1]
        return self.g.add_node("DepthwiseConv2D", [x, self.w(f"{layer}/depthwise_kernel", 1, 3, 3, c * mult), None],
                               {"padding": "same"}, origin=(layer, "DepthwiseConv2D")).output

    def dense(self, layer: str, x, n: int):
        return self.g.add_node("FullyConnected", [x, self.w(f"{layer}/kernel", x.shape[-1], n),
                                                  self.w(f"{layer}/bias", n)], origin=(layer, "Dense")).output

    def op(self, op: str, ins, layer: str, cls: str, **attrs):
        return self.g.add_node(op, ins, attrs, origin=(layer, cls)).output

    def done(self, *outs) -> Graph:
        self.g.outputs = list(outs)
        self.g.verify()
        return self.g


def residual() -> Graph:
    """Two convs into one Add (one group), a head conv, a Dense output."""
    b = Builder("residual")
    a = b.conv("conv_a", b.x, 6, act="relu")
    c = b.conv("conv_b", b.x, 6)
    s = b.op("Add", [a, c], "add", "Add")
    h = b.conv("head", s, 5, act="relu")
    m = b.op("Mean", [h], "gap", "GlobalAveragePooling2D", axes=(1, 2), keepdims=False)
    return b.done(b.dense("out", m, 4))


def concat() -> Graph:
    """Two convs concatenated on the channels, then a conv."""
    b = Builder("concat")
    a = b.conv("conv_a", b.x, 4, act="relu")
    c = b.conv("conv_b", b.x, 5, act="relu")
    j = b.op("Concatenation", [a, c], "cat", "Concatenate", axis=3)
    h = b.conv("head", j, 3)
    return b.done(h)


def squeeze_excite() -> Graph:
    """conv -> Mean -> Dense -> Relu -> Dense -> Logistic -> Reshape(1, 1, C) -> Mul onto the conv."""
    b = Builder("se")
    f = b.conv("conv_a", b.x, 8, act="relu")
    m = b.op("Mean", [f], "se_gap", "GlobalAveragePooling2D", axes=(1, 2), keepdims=False)
    d1 = b.op("Relu", [b.dense("se_reduce", m, 4)], "se_relu", "ReLU")
    d2 = b.op("Logistic", [b.dense("se_expand", d1, 8)], "se_sigmoid", "Activation")
    r = b.op("Reshape", [d2], "se_reshape", "Reshape", shape=(-1, 1, 1, 8))
    y = b.op("Mul", [f, r], "se_mul", "Multiply")
    return b.done(b.conv("head", y, 3))


def flatten_dense() -> Graph:
    """conv (4 channels, 3x3 map) -> Flatten -> Dense: each channel is 9 rows of the Dense kernel."""
    b = Builder("flatten", (None, 3, 3, 2))
    f = b.conv("conv_a", b.x, 4, act="relu")
    flat = b.op("Reshape", [f], "flatten", "Flatten", shape=(-1, 36))
    return b.done(b.dense("out", flat, 5))


def depth_multiplier() -> Graph:
    """conv (4) -> DepthwiseConv2D with depth multiplier 2 (8) -> conv."""
    b = Builder("dm2")
    f = b.conv("conv_a", b.x, 4, act="relu")
    d = b.dw("dw", f, mult=2)
    return b.done(b.conv("head", d, 3))


def output_exposed() -> Graph:
    """conv_a's channels are a graph output (through a Relu); conv_b feeds only conv_c."""
    b = Builder("exposed")
    a = b.op("Relu", [b.conv("conv_a", b.x, 4)], "relu_a", "ReLU")
    c = b.conv("conv_c", b.conv("conv_b", b.x, 5, act="relu"), 3)
    return b.done(a, c)


def transpose_breaks() -> Graph:
    """conv_a -> Transpose (channels move off the last axis) -> conv: conv_a cannot be pruned."""
    b = Builder("transpose")
    a = b.conv("conv_a", b.x, 6, act="relu")
    t = b.op("Transpose", [a], "permute", "Permute", perm=(0, 3, 2, 1))
    return b.done(b.conv("head", t, 3))


GRAPHS: dict[str, Callable[[], Graph]] = {
    "residual": residual, "concat": concat, "squeeze_excite": squeeze_excite, "flatten_dense": flatten_dense,
    "depth_multiplier": depth_multiplier, "output_exposed": output_exposed, "transpose_breaks": transpose_breaks,
}


def masked(graph: Graph, analysis: ChannelAnalysis, removed: set[int]) -> Graph:
    """``graph`` with the filters and biases of the removed units zeroed in every producer."""
    g = graph.copy()
    nodes = {n.name: n for n in g.nodes}
    for name, ids in analysis.producer_ids.items():
        node = nodes[name]
        axes = op_spec(node.op).weights
        gone = ~analysis.keep_mask(ids, removed)
        if not gone.any():
            continue
        w = node.inputs[axes.input]
        k = np.array(w.const)
        idx = [slice(None)] * k.ndim
        idx[axes.out_axis] = np.flatnonzero(gone)
        k[tuple(idx)] = 0
        g.replace_const(w, k, refresh=False)
        if len(node.inputs) > 2 and node.inputs[2] is not None:
            bias = np.array(node.inputs[2].const)
            bias[gone] = 0
            g.replace_const(node.inputs[2], bias, refresh=False)
    g.refresh_shapes()
    return g
