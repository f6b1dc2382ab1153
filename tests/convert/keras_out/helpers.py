"""Pruned graphs made by hand for the Keras writer's tests (no pruning method needed): magnitude-style
zeros and output-channel removal through ``Graph.replace_const``, and running a graph in
keras2edge.runtime as the ``.tflite`` bytes it emits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import keras2edge
from keras2edge.convert.tflite import tflite_bytes
from keras2edge.ir import Graph
from keras2edge.ir.passes import optimize
from keras2edge.prune import prune_passes
from keras2edge.runtime import Interpreter


def load_for_pruning(path: str, **kw: object) -> Graph:
    """``path`` as pruning sees it: imported without cleanup, then ``prune_passes``."""
    g = keras2edge.load(path, cleanup=False, **kw)  # type: ignore[arg-type]
    optimize(g, prune_passes())
    return g


def const(graph: Graph, name: str) -> np.ndarray:
    arr = {v.name: v for v in graph.constants()}[name].const
    assert arr is not None
    return arr


def zero_smallest(graph: Graph, names: Sequence[str], sparsity: float = 0.5) -> None:
    """Magnitude-style: the smallest ``sparsity`` of each named weight set to zero (same shapes)."""
    values = {v.name: v for v in graph.constants()}
    for n in names:
        w = values[n].const
        assert w is not None
        cut = np.quantile(np.abs(w), sparsity)
        graph.replace_const(values[n], np.where(np.abs(w) <= cut, 0, w).astype(w.dtype))


def remove_channels(graph: Graph, keep: Sequence[int], edits: Sequence[tuple[str, int]]) -> None:
    """Keep channels ``keep`` along ``axis`` of every named constant (a producer's output channels
    and every consumer's input channels), then re-infer shapes once."""
    take(graph, [(name, axis, keep) for name, axis in edits])


def run_runtime(graph: Graph, x: object) -> list[np.ndarray]:
    """``graph`` after the common cleanup, emitted as .tflite bytes and run in keras2edge.runtime;
    the outputs in order (``x``: an array or a dict by input name)."""
    g = graph.copy()
    optimize(g)
    out = Interpreter(tflite_bytes(g)).run(x)
    return [np.array(o) for o in out.values()] if isinstance(out, dict) else [np.array(out)]


def gate_columns(keep: Sequence[int], units: int, gates: int) -> np.ndarray:
    """Column indices of units ``keep`` in a recurrent weight whose columns are ``gates`` blocks of
    ``units`` (LSTM i, f, c, o; GRU z, r, h)."""
    return np.concatenate([g * units + np.asarray(keep) for g in range(gates)])


def take(graph: Graph, edits: Sequence[tuple[str, int, Sequence[int]]],
         gate_split: tuple[str, int] | None = None) -> None:
    """Several ``np.take(const, idx, axis)`` edits, then one shape refresh. ``gate_split`` = (layer,
    units): the recurrent layer's gate Splits (last axis) get ``units`` per gate (hand surgery: an
    unrolled cell splits its gates with sizes fixed at import)."""
    if gate_split is not None:
        layer, units = gate_split
        for node in graph.nodes:
            if node.op == "Split" and node.origin is not None and node.origin.layer == layer \
                    and node.attrs["axis"] == -1:
                node.attrs["sizes"] = (units,) * len(node.attrs["sizes"])
    for name, axis, idx in edits:
        values = {v.name: v for v in graph.constants()}
        w = values[name].const
        assert w is not None
        graph.replace_const(values[name], np.take(w, np.asarray(idx), axis=axis), refresh=False)
    graph.refresh_shapes()
    graph.verify()


BN = ("gamma", "beta", "moving_mean", "moving_variance")


def _bn(layer: str) -> list[tuple[str, int]]:
    return [(f"{layer}/{p}", 0) for p in BN]


def _every_other(n: int, step: int) -> list[int]:
    """Channels kept: all but every ``step``-th."""
    return [i for i in range(n) if i % step]


def channel_pruned(name: str, path: str) -> Graph:
    """A hand-made channel/unit removal on a trained digits fixture (``name``: digits_cnn, digits_mlp,
    digits_lstm, digits_gru), on the k2/k3 ``mlp``, ``cnn2d`` and ``merge`` (nested models) fixtures or
    on ``keras_out/nested`` (a nested model's input loses channels): producers lose output
    channels, every consumer (BatchNormalization, depthwise, the next conv or Dense) the same inputs."""
    g = load_for_pruning(path)
    if name == "digits_cnn":
        remove_channels(g, _every_other(16, 4), [("stem_conv/kernel", 3), *_bn("stem_bn"),
                                                 ("dw1/depthwise_kernel", 3), *_bn("dw1_bn"), ("pw1/kernel", 2)])
        remove_channels(g, _every_other(48, 4), [("ir_expand/kernel", 3), *_bn("ir_expand_bn"),
                                                 ("ir_dw/depthwise_kernel", 3), *_bn("ir_dw_bn"),
                                                 ("ir_project/kernel", 2)])
        remove_channels(g, _every_other(32, 2), [("pw2/kernel", 3), *_bn("pw2_bn"), ("probs/kernel", 0)])
    elif name == "digits_mlp":
        remove_channels(g, _every_other(64, 4), [("dense_1/kernel", 1), ("dense_1/bias", 0), ("dense_2/kernel", 0)])
        remove_channels(g, _every_other(32, 4), [("dense_2/kernel", 1), ("dense_2/bias", 0), ("probs/kernel", 0)])
    elif name in ("digits_lstm", "digits_gru"):
        layer, gates = ("lstm", 4) if name == "digits_lstm" else ("gru", 3)
        keep = _every_other(32, 4)
        cols = gate_columns(keep, 32, gates)
        edits: list[tuple[str, int, Sequence[int]]] = [
            (f"{layer}/kernel", 1, cols), (f"{layer}/recurrent_kernel", 0, keep), (f"{layer}/recurrent_kernel", 1, cols),
            (f"{layer}/bias", 0, cols), ("probs/kernel", 0, keep)]
        if layer == "gru":
            edits += [("gru/recurrent_bias", 0, cols)] + [(f"gru/recurrent_bias_{z}", 0, keep) for z in "zrh"]
        take(g, edits, (layer, len(keep)))
    elif name == "mlp":
        remove_channels(g, _every_other(32, 4), [("dense/kernel", 1), ("dense/bias", 0), *_bn("batch_normalization"),
                                                 ("dense_1/kernel", 0)])
    elif name == "cnn2d":
        remove_channels(g, _every_other(8, 4), [("conv2d/kernel", 3), ("conv2d/bias", 0),
                                                *_bn("batch_normalization"), ("conv2d_1/kernel", 2)])
    elif name == "merge":  # inside the nested Sequential 'inner_seq'
        remove_channels(g, _every_other(12, 4), [("dense/kernel", 1), ("dense/bias", 0), ("dense_1/kernel", 0)])
    elif name == "nested":  # across the nested Sequential's input, and inside it
        remove_channels(g, _every_other(16, 4), [("d1/kernel", 1), ("d1/bias", 0), ("inner_a/kernel", 0)])
        remove_channels(g, _every_other(12, 4), [("inner_a/kernel", 1), ("inner_a/bias", 0), ("inner_b/kernel", 0)])
    else:
        raise ValueError(name)
    return g


def keras1_cnn_file(path: str, *, dim_ordering: str = "th", backend: str = "theano") -> str:
    """A Keras 1.2.2 full-model HDF5 written as Keras 1's ``model.save`` lays it out: Sequential
    Convolution2D (2 -> 4 filters, 3x3, relu; a 'th' kernel is stored (out, in, rows, cols), a 'tf'
    one (rows, cols, in, out)), MaxPooling2D, Flatten, Dense (output_dim 3, softmax); random weights
    (seeded); ``backend`` recorded (Theano: the kernels are convolution kernels, flipped on import)."""
    import json

    import h5py

    th = dim_ordering == "th"
    shape = [None, 2, 8, 8] if th else [None, 8, 8, 2]
    common = {"trainable": True, "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
              "W_constraint": None, "b_constraint": None, "init": "glorot_uniform", "bias": True}
    cfg = {"class_name": "Sequential", "config": [
        {"class_name": "Convolution2D", "config": {
            "name": "convolution2d_1", "nb_filter": 4, "nb_row": 3, "nb_col": 3, "border_mode": "valid",
            "subsample": [1, 1], "dim_ordering": dim_ordering, "activation": "relu",
            "batch_input_shape": shape, "input_dtype": "float32", **common}},
        {"class_name": "MaxPooling2D", "config": {"name": "maxpooling2d_1", "trainable": True, "pool_size": [2, 2],
                                                  "strides": [2, 2], "border_mode": "valid",
                                                  "dim_ordering": dim_ordering}},
        {"class_name": "Flatten", "config": {"name": "flatten_1", "trainable": True}},
        {"class_name": "Dense", "config": {"name": "dense_1", "output_dim": 3, "activation": "softmax",
                                           "input_dim": 36, **common}}]}
    rng = np.random.default_rng(7)
    kernel = rng.normal(0, 0.5, (4, 2, 3, 3) if th else (3, 3, 2, 4)).astype(np.float32)
    arrays = {"convolution2d_1": [("convolution2d_1_W", kernel), ("convolution2d_1_b", rng.normal(0, .1, 4))],
              "dense_1": [("dense_1_W", rng.normal(0, 0.5, (36, 3))), ("dense_1_b", rng.normal(0, .1, 3))]}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(cfg).encode()
        f.attrs["keras_version"] = b"1.2.2"
        f.attrs["backend"] = backend.encode()
        mw = f.create_group("model_weights")
        names = [c["config"]["name"] for c in cfg["config"]]
        mw.attrs["layer_names"] = np.array([n.encode() for n in names])
        for n in names:
            g = mw.create_group(n)
            entries = arrays.get(n, [])
            suffix = ":0" if backend == "tensorflow" else ""
            for wn, a in entries:
                g.create_dataset(wn + suffix, data=np.asarray(a, np.float32))
            g.attrs["weight_names"] = np.array([(wn + suffix).encode() for wn, _ in entries], dtype="S")
    return path


#: Keras 1 sources: two third-party files, and generated ones ('th' kernels trained with Theano; 'tf').
KERAS1 = ["corpus:conv2d_tensorflow_1.h5", "corpus:embedding_conv1d_flatten_tensorflow_1.h5", "th", "tf"]


def keras1_source(case: str, folder: object) -> str:
    """A Keras 1 file of :data:`KERAS1` (generated ones are written into ``folder``)."""
    import os

    from ...corpus import corpus

    if case.startswith("corpus:"):
        return corpus("dl4j-test-resources/keras1/" + case.split(":", 1)[1])
    return keras1_cnn_file(os.path.join(str(folder), f"keras1_{case}.h5"), dim_ordering=case,
                           backend="theano" if case == "th" else "tensorflow")


def keras1_x(g: Graph) -> np.ndarray:
    """Two seeded samples for a Keras 1 graph's input (floats in [0, 1), or integer ids < 4)."""
    x = np.random.default_rng(0).uniform(0, 1, [2 if d is None else d for d in g.inputs[0].shape])
    return x.astype(np.float32) if g.inputs[0].dtype.is_float else (x * 4).astype(g.inputs[0].dtype.np)
