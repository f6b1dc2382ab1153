"""Models the TFLite Micro checks are measured on: one-op int8 (and float) models of the common
builtins, small multi-op conv stacks, and the corpus's TFLite Micro files. Each entry is
``name -> (bytes, feeds)``; every model has concrete output shapes (TFLite Micro never infers them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from keras2edge.convert.tflite.writer import write_model

from ..corpus import CORPUS
from ..runtime.helpers import GraphBuilder
from ..runtime.int8_bench import T, one_op_model

R = np.random.default_rng(11)
I8 = np.int8


def q(shape: tuple[int, ...], scale: float = 0.05, zp: int = -3) -> T:
    return T(shape, I8, scale, zp)


def weights(shape: tuple[int, ...], axis: int, scales: int | None = None) -> T:
    c = shape[axis] if scales is None else scales
    return T(shape, I8, list(np.linspace(0.01, 0.03, c)), [0] * c, axis=axis,
             data=R.integers(-127, 128, shape).astype(I8))


def bias(n: int) -> T:
    return T((n,), np.int32, list(np.full(n, 1e-4)), [0] * n, data=R.integers(-500, 500, n).astype(np.int32))


def conv(h: int, w: int, cin: int, cout: int, k: int = 3, stride: int = 1) -> bytes:
    out = (h + stride - 1) // stride, (w + stride - 1) // stride
    return one_op_model("CONV_2D", [q((1, h, w, cin)), weights((cout, k, k, cin), 0), bias(cout)],
                        [q((1, *out, cout), 0.1, 2)],
                        {"padding": 0, "stride_h": stride, "stride_w": stride, "fused_activation_function": 1,
                         "dilation_h_factor": 1, "dilation_w_factor": 1}, version=3)


def depthwise(h: int, w: int, c: int, k: int = 3) -> bytes:
    return one_op_model("DEPTHWISE_CONV_2D", [q((1, h, w, c)), weights((1, k, k, c), 3), bias(c)],
                        [q((1, h, w, c), 0.1, 2)],
                        {"padding": 0, "stride_h": 1, "stride_w": 1, "depth_multiplier": 1,
                         "fused_activation_function": 3, "dilation_h_factor": 1, "dilation_w_factor": 1},
                        version=3)


def dense(n: int, k: int, per_channel: bool = False) -> bytes:
    w = weights((n, k), 0) if per_channel else T((n, k), I8, 0.02, 0, data=R.integers(-127, 128, (n, k)).astype(I8))
    b = bias(n) if per_channel else T((n,), np.int32, 1e-4, 0, data=R.integers(-500, 500, n).astype(np.int32))
    return one_op_model("FULLY_CONNECTED", [q((1, k)), w, b], [q((1, n), 0.1, 1)],
                        {"fused_activation_function": 0}, version=4)


def pool(op: str, h: int, c: int) -> bytes:
    return one_op_model(op, [q((1, h, h, c))], [q((1, h // 2, h // 2, c))],
                        {"padding": 1, "stride_h": 2, "stride_w": 2, "filter_height": 2, "filter_width": 2,
                         "fused_activation_function": 0}, version=2)


def binary(op: str, shape: tuple[int, ...], options: dict | None = None) -> bytes:
    return one_op_model(op, [q(shape), q(shape, 0.07, 5)], [q(shape, 0.1, -1)],
                        {"fused_activation_function": 0} if options is None else options, version=2)


def unary(op: str, shape: tuple[int, ...], options: dict | None = None, out: T | None = None) -> bytes:
    return one_op_model(op, [q(shape)], [out or q(shape, 0.1, -1)], options, version=2)


def one_op_int8() -> dict[str, Callable[[], bytes]]:
    """Builders of one-op int8 models of the common builtins."""
    return {
        "conv_8x8x3_to_8": lambda: conv(8, 8, 3, 8),
        "conv_16x16x8_to_24_s2": lambda: conv(16, 16, 8, 24, stride=2),
        "depthwise_12x12x16": lambda: depthwise(12, 12, 16),
        "depthwise_6x6x40": lambda: depthwise(6, 6, 40),
        "dense_10x32": lambda: dense(10, 32),
        "dense_per_channel_12x20": lambda: dense(12, 20, per_channel=True),
        "avgpool_8x4": lambda: pool("AVERAGE_POOL_2D", 8, 4),
        "maxpool_10x6": lambda: pool("MAX_POOL_2D", 10, 6),
        "add_4x5x6": lambda: binary("ADD", (1, 4, 5, 6)),
        "sub_30": lambda: binary("SUB", (1, 30)),
        "mul_3x7": lambda: binary("MUL", (3, 7)),
        "softmax_2x10": lambda: unary("SOFTMAX", (2, 10), {"beta": 1.0}, T((2, 10), I8, 1 / 256, -128)),
        "logistic_40": lambda: unary("LOGISTIC", (1, 40), None, T((1, 40), I8, 1 / 256, -128)),
        "tanh_40": lambda: unary("TANH", (1, 40), None, T((1, 40), I8, 1 / 128, 0)),
        "relu_5x5": lambda: unary("RELU", (5, 5)),
        "relu6_5x5": lambda: unary("RELU6", (5, 5)),
        "hard_swish_33": lambda: unary("HARD_SWISH", (1, 33)),
        "leaky_relu_17": lambda: unary("LEAKY_RELU", (1, 17), {"alpha": 0.2}),
        "reshape_4x6": lambda: one_op_model("RESHAPE", [q((4, 6)), T((2,), np.int32, data=np.array([6, 4], np.int32))],
                                            [q((6, 4))], {"new_shape": [6, 4]}),
        "concat_2": lambda: one_op_model("CONCATENATION", [q((2, 3)), q((2, 5))], [q((2, 8))],
                                         {"axis": 1, "fused_activation_function": 0}),
        "pad_5x5": lambda: one_op_model("PAD", [q((1, 5, 5, 2)), T((4, 2), np.int32,
                                                                 data=np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))],
                                        [q((1, 7, 7, 2))]),
        "mean_6x6x4": lambda: one_op_model("MEAN", [q((1, 6, 6, 4)), T((2,), np.int32, data=np.array([1, 2], np.int32))],
                                           [q((1, 4), 0.05, -3)], {"keep_dims": False}),
        "quantize_f32_to_i8": lambda: one_op_model("QUANTIZE", [T((3, 4), np.float32)], [q((3, 4))]),
        "requantize_i8": lambda: one_op_model("QUANTIZE", [q((3, 4))], [q((3, 4), 0.1, 7)]),
        "dequantize_i8": lambda: one_op_model("DEQUANTIZE", [q((3, 4))], [T((3, 4), np.float32)]),
    }


def conv_stack(depth: int, c: int, h: int) -> bytes:
    """A float-free int8 stack: CONV_2D -> DEPTHWISE_CONV_2D -> ... -> AVERAGE_POOL_2D -> FULLY_CONNECTED ->
    SOFTMAX, with per-channel weights (a small MobileNet-like model)."""
    from keras2edge.runtime.model import Quantization

    g = GraphBuilder()
    qt: dict[int, tuple[list[float], list[int], int]] = {}

    def act(index: int, scale: float = 0.05, zp: int = -3) -> int:
        qt[index] = ([scale], [zp], 0)
        return index

    def const(a: np.ndarray, scales: list[float] | None = None, axis: int = 0) -> int:
        index = g.const(a)
        if scales is not None:
            qt[index] = (scales, [0] * len(scales), axis)
        return index

    x = act(g.input("image", (1, h, h, 3), I8))
    cin = 3
    for d in range(depth):
        cout = c * (d + 1)
        w = const(R.integers(-127, 128, (cout, 3, 3, cin)).astype(I8), list(np.linspace(0.01, 0.02, cout)))
        b = const(R.integers(-300, 300, cout).astype(np.int32), [1e-4] * cout)
        stride = 2 if d % 2 == 0 else 1
        h = (h + stride - 1) // stride
        x = act(g.op("CONV_2D", [x, w, b], {"padding": 0, "stride_h": stride, "stride_w": stride,
                                            "fused_activation_function": 3, "dilation_h_factor": 1,
                                            "dilation_w_factor": 1}, dtype=I8, version=3, shapes=[(1, h, h, cout)],
                       name=f"conv2d_{d}"))
        w = const(R.integers(-127, 128, (1, 3, 3, cout)).astype(I8), list(np.linspace(0.01, 0.02, cout)), axis=3)
        b = const(R.integers(-300, 300, cout).astype(np.int32), [1e-4] * cout)
        x = act(g.op("DEPTHWISE_CONV_2D", [x, w, b], {"padding": 0, "stride_h": 1, "stride_w": 1, "depth_multiplier": 1,
                                                      "fused_activation_function": 3, "dilation_h_factor": 1,
                                                      "dilation_w_factor": 1}, dtype=I8, version=3,
                       shapes=[(1, h, h, cout)], name=f"depthwise_conv2d_{d}"))
        cin = cout
    x = act(g.op("AVERAGE_POOL_2D", [x], {"padding": 1, "stride_h": h, "stride_w": h, "filter_height": h,
                                          "filter_width": h, "fused_activation_function": 0}, dtype=I8, version=2,
                 shapes=[(1, 1, 1, cin)], name="global_average_pooling2d"))
    x = act(g.op("RESHAPE", [x, np.array([1, cin], np.int32)], {"new_shape": [1, cin]}, dtype=I8,
                 shapes=[(1, cin)], name="flatten"))
    w = const(R.integers(-127, 128, (10, cin)).astype(I8), [0.02])
    b = const(R.integers(-300, 300, 10).astype(np.int32), [1e-4])
    x = act(g.op("FULLY_CONNECTED", [x, w, b], {"fused_activation_function": 0}, dtype=I8, version=4,
                 shapes=[(1, 10)], name="dense"))
    x = act(g.op("SOFTMAX", [x], {"beta": 1.0}, dtype=I8, version=2, shapes=[(1, 10)], name="softmax"),
            1 / 256, -128)
    g.output(x)
    m = g.model()
    for index, (s, z, axis) in qt.items():
        m.subgraphs[0].tensors[index].quantization = Quantization(np.asarray(s, np.float32), np.asarray(z, np.int64), axis)
    return write_model(m)


def multi_op() -> dict[str, Callable[[], bytes]]:
    return {
        "conv_stack_1x8_16": lambda: conv_stack(1, 8, 16),
        "conv_stack_2x8_24": lambda: conv_stack(2, 8, 24),
        "conv_stack_3x16_32": lambda: conv_stack(3, 16, 32),
    }


def corpus() -> dict[str, Callable[[], bytes]]:
    names = ("hello_world_int8", "hello_world_float", "person_detect")
    return {n: (lambda n=n: (CORPUS / "tflite-micro" / f"{n}.tflite").read_bytes()) for n in names}
