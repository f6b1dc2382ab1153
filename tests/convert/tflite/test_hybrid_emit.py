"""convert/tflite/hybrid.py: weight-only quantized graphs written as the TFLite converter writes them.

The reference is what TensorFlow 2.21's converter wrote for a Keras model with these layer sizes
(``optimizations=[DEFAULT]``, and with ``supported_types=[tf.float16]``), read back with our reader
(the graph below has the same layers except the first Dense, 512→32 here):

* dynamic: CONV_2D 3×3×8→16 (1,152 weights), DEPTHWISE_CONV_2D 3×3×128 (1,152), CONV_2D 1×1×128→8
  (exactly 1,024) and FULLY_CONNECTED 8,256→32 and 32→32 (1,024) get int8 filters with one scale per
  output channel (CONV_2D OHWI axis 0, DEPTHWISE axis 3, FULLY_CONNECTED (N, K) axis 0), zero points
  0, float32 biases, no DEQUANTIZE; CONV_2D 1×1×16→4 (64) and 1×1×4→128 (512) and FULLY_CONNECTED
  33→4 stay float32. Versions CONV_2D 5, DEPTHWISE_CONV_2D 6, FULLY_CONNECTED 12 with
  ``asymmetric_quantize_inputs`` true (false on the float one). Scales are max|w|/127 (float32) and
  the integers round(w · (127 / max|w|)) computed in double: 0 of 269,760 differ from ours, while a
  float32 ``w / scale`` differs on one (pinned below).
* float16: every float constant (filters and biases of every size) is a float16 buffer read by a
  DEQUANTIZE (version 3) whose float32 output the operator reads, the filter in the operator's layout.

Each file also runs in LiteRT's reference kernels and in keras2edge.runtime (bit-exact on the hybrid
ops, tests/runtime/kernels/test_hybrid.py), and the sizes shrink by the measured ratios.
"""

from __future__ import annotations

import numpy as np
import pytest

import keras2edge
from keras2edge.convert.tflite import to_tflite, write_model
from keras2edge.ir import DType, Graph
from keras2edge.ir.evaluate import evaluate
from keras2edge.quantize.schemes import QuantizeOptions, scheme
from keras2edge.quantize.weights_only import quantize_weight
from keras2edge.runtime import Interpreter
from keras2edge.runtime.schema import op_name

from ...corpus import FIXTURES
from ...litert import litert
from ...tolerances import scaled_error
from ...tflm import op_names


def _graph() -> Graph:
    """The converter reference model's layers (random weights, seed 0)."""
    rng = np.random.default_rng(0)
    g = Graph("hybrid")

    def w(name: str, *shape: int) -> object:
        return g.add_const(name, rng.normal(size=shape).astype(np.float32) * 0.3)

    x = g.add_input("x", DType.FLOAT32, (None, 8, 8, 8))
    y = g.op("Conv2D", [x, w("conv_big/kernel", 3, 3, 8, 16), w("conv_big/bias", 16)], ("conv_big", "Conv2D"),
             padding="same", activation="relu")
    y = g.op("Conv2D", [y, w("conv_small/kernel", 1, 1, 16, 4), w("conv_small/bias", 4)], ("conv_small", "Conv2D"))
    y = g.op("Conv2D", [y, w("conv_128/kernel", 1, 1, 4, 128), w("conv_128/bias", 128)], ("conv_128", "Conv2D"))
    y = g.op("DepthwiseConv2D", [y, w("dw_big/kernel", 1, 3, 3, 128), w("dw_big/bias", 128)],
             ("dw_big", "DepthwiseConv2D"), padding="same")
    y = g.op("Conv2D", [y, w("c1024/kernel", 1, 1, 128, 8), w("c1024/bias", 8)], ("c1024", "Conv2D"))
    y = g.op("Reshape", [y], ("flatten", "Flatten"), shape=(-1, 512))
    y = g.op("FullyConnected", [y, w("fc_big/kernel", 512, 32), w("fc_big/bias", 32)], ("fc_big", "Dense"))
    y = g.op("FullyConnected", [y, w("fc_1024/kernel", 32, 32), w("fc_1024/bias", 32)], ("fc_1024", "Dense"))
    y = g.op("FullyConnected", [y, w("fc_small/kernel", 32, 4), w("fc_small/bias", 4)], ("fc_small", "Dense"))
    g.outputs = [y]
    g.verify()
    return g


# (builtin, its filter tensor's name) -> (type, quantized_dimension or None for float32)
DYNAMIC_FILTERS = {
    "conv_big/kernel": ("CONV_2D", "INT8", 0, (16, 3, 3, 8)),
    "conv_small/kernel": ("CONV_2D", "FLOAT32", None, (4, 1, 1, 16)),
    "conv_128/kernel": ("CONV_2D", "FLOAT32", None, (128, 1, 1, 4)),
    "dw_big/kernel": ("DEPTHWISE_CONV_2D", "INT8", 3, (1, 3, 3, 128)),
    "c1024/kernel": ("CONV_2D", "INT8", 0, (8, 1, 1, 128)),
    "fc_big/kernel": ("FULLY_CONNECTED", "INT8", 0, (32, 512)),
    "fc_1024/kernel": ("FULLY_CONNECTED", "INT8", 0, (32, 32)),
    "fc_small/kernel": ("FULLY_CONNECTED", "FLOAT32", None, (4, 32)),
}


def _ops(model):
    sg = model.subgraphs[0]
    names = op_names(model)
    return [(name, op, sg) for name, op in zip(names, sg.operators)]


def _feed() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(2, 8, 8, 8)).astype(np.float32)


def test_dynamic_layout_as_the_converter_writes() -> None:
    g = _graph()
    q = scheme("dynamic")(g, QuantizeOptions(scheme="dynamic"))
    model = to_tflite(q)
    from keras2edge.convert.tflite.emitter import tensor_type

    types = {"INT8": tensor_type(DType.INT8), "FLOAT32": tensor_type(DType.FLOAT32)}
    seen = {}
    for name, op, sg in _ops(model):
        assert name != "DEQUANTIZE"
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        f, b = sg.tensors[op.inputs[1]], sg.tensors[op.inputs[2]]
        builtin, ttype, axis, shape = DYNAMIC_FILTERS[f.name]
        assert (name, f.type, f.shape) == (builtin, types[ttype], shape), f.name
        assert b.type == types["FLOAT32"]
        if axis is None:
            assert f.quantization is None or len(f.quantization.scale) == 0
        else:
            qz = f.quantization
            assert qz.quantized_dimension == axis and len(qz.scale) == shape[axis] and not np.any(qz.zero_point)
        if name == "FULLY_CONNECTED":
            assert op.options["asymmetric_quantize_inputs"] is (axis is not None)
        seen[f.name] = name
    assert sorted(seen) == sorted(DYNAMIC_FILTERS)
    versions = {op_name(c.builtin_code): c.version for c in model.operator_codes}
    assert versions == {"CONV_2D": 5, "DEPTHWISE_CONV_2D": 6, "RESHAPE": 1, "FULLY_CONNECTED": 12}

    pt = to_tflite(scheme("dynamic")(g, QuantizeOptions(scheme="dynamic", per_tensor=True)))
    versions = {op_name(c.builtin_code): c.version for c in pt.operator_codes}
    assert versions == {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 6, "RESHAPE": 1, "FULLY_CONNECTED": 9}  # DW: scale per channel


def test_weight_integers_round_in_double_as_the_converter() -> None:
    """A row of the converter's 8,256→32 kernel: 0.26637858 · (127 / 1.1467824) is 29.4999992 in
    double (the converter wrote 29) but exactly 29.5 in float32 (which would round to 30)."""
    w = np.array([[1.146782398223877, 0.26637858152389526]], np.float32)
    assert np.float32(w[0, 1]) * (np.float32(127) / w[0, 0]) == np.float32(29.5)
    q, params = quantize_weight(w, 0)
    assert q.tolist() == [[127, 29]]
    assert params.scale.tolist() == [np.float32(np.float32(w[0, 0]) / np.float32(127))]
    zero, params = quantize_weight(np.zeros((2, 3), np.float32), 0)   # all-zero channels: scale 1
    assert not zero.any() and params.scale.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("name", ["dynamic", "float16"])
def test_runs_and_shrinks(name: str) -> None:
    g = _graph()
    x = _feed()
    q = scheme(name)(g, QuantizeOptions(scheme=name))
    data = write_model(to_tflite(q))
    plain = write_model(to_tflite(g))
    want = evaluate(g, {"x": x})[g.outputs[0].name]
    ours = Interpreter(data).run(x)
    ref = litert(data, [x], reference=True)[0]
    default = litert(data, [x], reference=False)[0]
    # keras2edge.runtime and LiteRT's reference kernels: the hybrid ops bit-exact, the float ops
    # within float32 summation order (measured 7.6e-8 dynamic, 3.0e-7 float16).
    assert scaled_error(ours, ref) <= 1e-6
    # Against the float model (IR evaluator): dynamic 1.73e-2 (LiteRT default kernels 1.29e-2),
    # float16 3.35e-4; margin ~2.5x.
    bound = {"dynamic": 4e-2, "float16": 1e-3}[name]
    for got in (ours, ref, default):
        assert scaled_error(got, want) <= bound
    # Sizes: 90,496 bytes float; 21,440 weights, 20,736 of them in tensors of at least 1,024, stored
    # int8 (31,136 bytes: 2.91x smaller) or float16 (49,648 bytes: 1.82x); the rest is the file's
    # structure and the float biases.
    ratio = len(plain) / len(data)
    assert {"dynamic": 2.85 <= ratio <= 2.95, "float16": 1.80 <= ratio <= 1.85}[name], ratio


def test_per_tensor_depthwise_repeats_its_scale() -> None:
    """LiteRT's hybrid DEPTHWISE_CONV_2D reads one scale per channel: a per-tensor weight is written
    with its scale repeated, and runs bit-exact in LiteRT and keras2edge.runtime."""
    rng = np.random.default_rng(0)
    g = Graph("dw")
    x = g.add_input("x", DType.FLOAT32, (None, 8, 8, 128))
    k = g.add_const("k", rng.normal(size=(1, 3, 3, 128)).astype(np.float32))
    b = g.add_const("b", rng.normal(size=128).astype(np.float32))
    g.outputs = [g.op("DepthwiseConv2D", [x, k, b], ("dw", "DepthwiseConv2D"), padding="same")]
    model = to_tflite(scheme("dynamic")(g, QuantizeOptions(scheme="dynamic", per_tensor=True)))
    (name, op, sg), = _ops(model)
    qz = sg.tensors[op.inputs[1]].quantization
    assert name == "DEPTHWISE_CONV_2D" and qz.quantized_dimension == 3 and len(set(qz.scale.tolist())) == 1
    assert len(qz.scale) == 128
    data = write_model(model)
    xs = rng.normal(size=(2, 8, 8, 128)).astype(np.float32)
    assert np.array_equal(Interpreter(data).run(xs), litert(data, [xs])[0])


def test_float16_layout_as_the_converter_writes() -> None:
    g = _graph()
    model = to_tflite(scheme("float16")(g, QuantizeOptions(scheme="float16", min_weight_elements=0)))
    from keras2edge.convert.tflite.emitter import tensor_type

    f16, f32 = tensor_type(DType.FLOAT16), tensor_type(DType.FLOAT32)
    made: dict[int, int] = {}
    for name, op, sg in _ops(model):
        if name == "DEQUANTIZE":
            src, out = sg.tensors[op.inputs[0]], sg.tensors[op.outputs[0]]
            assert src.type == f16 and src.buffer and out.type == f32 and src.shape == out.shape
            made[op.outputs[0]] = op.inputs[0]
            continue
        for i in op.inputs:
            if i >= 0 and sg.tensors[i].type == f32 and name != "RESHAPE":
                assert i in made or not sg.tensors[i].buffer, f"{name} reads a float32 constant"
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            f = sg.tensors[made[op.inputs[1]]]
            assert f.shape == DYNAMIC_FILTERS[f.name][3]   # stored in the operator's layout
    assert len(made) == 16   # 8 filters and 8 biases, each DEQUANTIZE'd once
    assert {op_name(c.builtin_code): c.version for c in model.operator_codes}["DEQUANTIZE"] == 3


def test_transpose_conv_reads_dequantized_weights() -> None:
    """No hybrid TRANSPOSE_CONV kernel in keras2edge.runtime: its filter is written as the float32 values
    the IR's Dequantize gives (the file stays correct; the converter would write it hybrid)."""
    g = keras2edge.load(FIXTURES / "k3" / "cnn2d.keras")
    q = scheme("dynamic")(g, QuantizeOptions(scheme="dynamic", min_weight_elements=0))
    model = to_tflite(q)
    from keras2edge.convert.tflite.emitter import tensor_type

    filters = {name: sg.tensors[op.inputs[1]].type for name, op, sg in _ops(model)
               if name in ("TRANSPOSE_CONV", "CONV_2D")}
    assert filters == {"TRANSPOSE_CONV": tensor_type(DType.FLOAT32), "CONV_2D": tensor_type(DType.INT8)}
    tconv = {n.name: n for n in q.nodes if n.op == "TransposeConv2D"}
    assert tconv and all(n.inputs[1].producer.op == "Dequantize" for n in tconv.values())  # type: ignore[union-attr]
