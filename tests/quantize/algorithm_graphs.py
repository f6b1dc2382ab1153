"""Small float IR graphs for the accuracy-preserving algorithms' tests (CLE, bias correction): weight
ops joined by the activations and window ops CLE must pass or decline, with channel ranges spread
over two orders of magnitude (what per-tensor weights handle badly)."""

from __future__ import annotations

import numpy as np

from keras2edge.ir.dtypes import DType
from keras2edge.ir.graph import Graph
from keras2edge.ir.value import Value


def _spread(rng: np.random.Generator, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Random weights whose channels along ``axis`` have ranges from 0.01 to 1."""
    w = rng.normal(0.0, 1.0, shape)
    scales = np.geomspace(0.01, 1.0, shape[axis])
    rng.shuffle(scales)
    sh = [1] * len(shape)
    sh[axis] = -1
    return (w * scales.reshape(sh)).astype(np.float32)


def _conv(g: Graph, x: Value, name: str, w: np.ndarray, rng: np.random.Generator, op: str = "Conv2D",
          **attrs: object) -> Value:
    b = rng.normal(0.0, 0.1, w.shape[-1]).astype(np.float32)
    return g.op(op, [x, g.add_const(f"{name}/kernel", w), g.add_const(f"{name}/bias", b)], (name, op),
                padding="same", **attrs)


def mobilenet_like(between: str = "Relu", seed: int = 0) -> Graph:
    """input -> conv 3x3 -> act -> depthwise 3x3 (stride 2) -> act -> conv 1x1 -> act -> max pool ->
    conv 1x1 -> mean over H, W -> dense -> act -> dense; ``between`` is the activation op."""
    rng = np.random.default_rng(seed)
    g = Graph("mobilenet_like")
    x = g.add_input("x", DType.FLOAT32, (None, 12, 12, 3))
    y = _conv(g, x, "conv1", _spread(rng, (3, 3, 3, 16), 3), rng)
    y = g.op(between, [y], ("act1", between))
    y = _conv(g, y, "dw", _spread(rng, (1, 3, 3, 16), 3), rng, op="DepthwiseConv2D", strides=(2, 2))
    y = g.op(between, [y], ("act2", between))
    y = _conv(g, y, "project", _spread(rng, (1, 1, 16, 24), 3), rng)
    y = g.op(between, [y], ("act3", between))
    y = g.op("MaxPool2D", [y], ("pool", "MaxPooling2D"), pool_size=(2, 2), strides=(2, 2), padding="valid")
    y = _conv(g, y, "expand", _spread(rng, (1, 1, 24, 32), 3), rng)
    y = g.op("Mean", [y], ("gap", "GlobalAveragePooling2D"), axes=(1, 2), keepdims=False)
    w1 = _spread(rng, (32, 20), 1)
    y = g.op("FullyConnected", [y, g.add_const("fc1/kernel", w1),
                                g.add_const("fc1/bias", rng.normal(0, 0.1, 20).astype(np.float32))], ("fc1", "Dense"))
    y = g.op(between, [y], ("act4", between))
    w2 = rng.normal(0, 0.3, (20, 10)).astype(np.float32)
    y = g.op("FullyConnected", [y, g.add_const("fc2/kernel", w2),
                                g.add_const("fc2/bias", rng.normal(0, 0.1, 10).astype(np.float32))], ("fc2", "Dense"))
    g.outputs = [y]
    g.verify()
    return g


def residual(seed: int = 0) -> Graph:
    """conv -> relu -> conv, whose output is added to the first conv's: the second pair is joined by an
    Add with a second path (CLE must decline it)."""
    rng = np.random.default_rng(seed)
    g = Graph("residual")
    x = g.add_input("x", DType.FLOAT32, (None, 8, 8, 4))
    a = _conv(g, x, "a", _spread(rng, (3, 3, 4, 8), 3), rng)
    r = g.op("Relu", [a], ("relu", "ReLU"))
    b = _conv(g, r, "b", _spread(rng, (3, 3, 8, 8), 3), rng)
    s = g.op("Add", [a, b], ("add", "Add"))
    c = _conv(g, s, "c", _spread(rng, (1, 1, 8, 4), 3), rng)
    g.outputs = [c]
    g.verify()
    return g


def inputs(graph: Graph, n: int, seed: int = 1) -> np.ndarray:
    """``n`` random samples of the graph's single input in [-1, 1]."""
    shape = tuple(int(d) for d in graph.inputs[0].shape[1:])  # type: ignore[arg-type]
    return np.random.default_rng(seed).uniform(-1, 1, (n, *shape)).astype(np.float32)


def errors_with_and_without(algorithm: str, per_tensor: bool) -> dict[bool, tuple[float, Graph]]:
    """The int8 ``mobilenet_like("Relu")`` quantized with ``algorithm`` off (key False) and on (key
    True), CLE and bias correction otherwise off: (relative L2 error against float on 64 eval samples,
    the quantized graph), calibrated on 64 other samples."""
    from keras2edge.convert.tflite import tflite_bytes
    from keras2edge.quantize import QuantizeOptions, quantize_graph
    from keras2edge.runtime import Interpreter

    from .cases import rel_l2

    g = mobilenet_like("Relu")
    cal, x = inputs(g, 64, seed=1), inputs(g, 64, seed=2)
    want = np.asarray(Interpreter(tflite_bytes(g)).run(x))
    out: dict[bool, tuple[float, Graph]] = {}
    for on in (False, True):
        opts = {"cle": False, "bias_correction": False, algorithm: on}
        q = quantize_graph(g, QuantizeOptions(calibration=cal, per_tensor=per_tensor, **opts))
        out[on] = (rel_l2(np.asarray(Interpreter(tflite_bytes(q)).run(x)), want), q)
    return out


def high_bias(seed: int = 0, bias: float = 40.0) -> Graph:
    """input -> conv 3x3 -> relu -> conv 1x1 -> relu -> mean -> dense: half of the first conv's channels
    carry a bias of ``bias`` (a ReLU never clips them) and are read by the next conv with small weights,
    so that the first conv's one int8 output range is set by them and the channels that matter get few
    steps (what high-bias absorption repairs). The 1x1 conv has no zero
    padding, so the first pair qualifies; the second ends in a Mean (declined)."""
    rng = np.random.default_rng(seed)
    g = Graph("high_bias")
    x = g.add_input("x", DType.FLOAT32, (None, 8, 8, 3))
    w = rng.normal(0, 0.3, (3, 3, 3, 16)).astype(np.float32)
    b = np.where(np.arange(16) % 2 == 0, bias, 0.5).astype(np.float32)
    y = g.op("Conv2D", [x, g.add_const("a/kernel", w), g.add_const("a/bias", b)], ("a", "Conv2D"), padding="same")
    y = g.op("Relu", [y], ("relu_a", "ReLU"))
    w2 = rng.normal(0, 0.3, (1, 1, 16, 8)) * np.where(np.arange(16) % 2 == 0, 0.02, 1.0).reshape(1, 1, 16, 1)
    y = g.op("Conv2D", [y, g.add_const("b/kernel", w2.astype(np.float32)), g.add_const("b/bias", rng.normal(0, 0.1, 8).astype(np.float32))],
             ("b", "Conv2D"), padding="same")
    y = g.op("Relu", [y], ("relu_b", "ReLU"))
    y = g.op("Mean", [y], ("gap", "GlobalAveragePooling2D"), axes=(1, 2), keepdims=False)
    w3 = rng.normal(0, 0.3, (8, 4)).astype(np.float32)
    y = g.op("FullyConnected", [y, g.add_const("fc/kernel", w3), g.add_const("fc/bias", np.zeros(4, np.float32))],
             ("fc", "Dense"))
    g.outputs = [y]
    g.verify()
    return g
