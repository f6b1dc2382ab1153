"""QDQ IR graphs built by hand, per the contract between the quantization schemes and the TFLite emitter
(quantize/schemes.py, convert/tflite/integer.py), for the integer-lowering tests:

    weight W  -> int8 constant (per-channel on the op's output axis, zp 0, or per-tensor) -> Dequantize
    bias      -> int32 (int64 for 16x8) constant, scale s_in * s_w[c], zp 0 -> Dequantize
    activation v -> Quantize(params) -> v_q -> Dequantize -> consumers
    graph input: float (-> Quantize -> Dequantize) or int8/uint8 with quant (-> Dequantize)
    graph output: a Dequantize's float output or a Quantize's integer value

The parameters are chosen the way a min/max calibration would: every activation's range is measured on
the builder's own feeds with the IR evaluator as the graph grows (asymmetric int8 or uint8, symmetric
int16), weights symmetric per channel (or per tensor). No keras2edge.quantize code is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keras2edge.ir import DType, Graph
from keras2edge.ir.evaluate import evaluate
from keras2edge.ir.quant import QuantParams
from keras2edge.ir.value import Value

RANGES = {DType.INT8: (-128, 127), DType.UINT8: (0, 255), DType.INT16: (-32768, 32767)}


def affine(lo: float, hi: float, qtype: DType) -> QuantParams:
    """Min/max parameters covering [lo, hi] and 0 (int16: symmetric, zero point 0)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-6:
        hi = lo + 1e-6
    qmin, qmax = RANGES[qtype]
    if qtype == DType.INT16:
        return QuantParams.per_tensor(max(-lo, hi) / qmax, 0, qtype)
    scale = (hi - lo) / (qmax - qmin)
    zp = int(np.clip(round(qmin - lo / scale), qmin, qmax))
    return QuantParams.per_tensor(scale, zp, qtype)


def quantize_array(x: np.ndarray, q: QuantParams, qtype: DType) -> np.ndarray:
    """Round-half-away quantization along ``q.axis`` (what a scheme writes into a constant)."""
    shape = [1] * x.ndim
    if q.axis is not None:
        shape[q.axis] = -1
    s = q.scale.astype(np.float64).reshape(shape)
    z = q.zero_point.reshape(shape)
    v = x.astype(np.float64) / s
    r = np.trunc(v) + np.sign(v) * (np.abs(v - np.trunc(v)) >= 0.5)
    info = np.iinfo(qtype.np)
    return np.clip(r + z, info.min, info.max).astype(qtype.np)


class QDQBuilder:
    """Grows a QDQ graph; ``feeds`` are the float (or integer) inputs the ranges are measured on.

    Args:
        name: graph name.
        act: activation type (INT8, or INT16 for 16x8).
        seed: random feeds and weights.
    """

    def __init__(self, name: str, act: DType = DType.INT8, seed: int = 0) -> None:
        self.g = Graph(name)
        self.act = act
        self.rng = np.random.default_rng(seed)
        self.feeds: dict[str, np.ndarray] = {}     # graph input name -> what the test feeds
        self._float_feeds: dict[str, np.ndarray] = {}
        self._n = 0

    # ------------------------------------------------------------------ helpers
    def _name(self, base: str) -> str:
        self._n += 1
        return f"{base}{self._n}"

    def _range(self, v: Value) -> tuple[float, float]:
        outs = self.g.outputs
        self.g.outputs = [v]
        try:
            y = evaluate(self.g, self.feeds)[v.name]
        finally:
            self.g.outputs = outs
        return float(np.min(y)), float(np.max(y))

    def _origin(self, layer: str, cls: str) -> tuple[str, str]:
        return (layer, cls)

    # ------------------------------------------------------------------ graph pieces
    def input(self, shape: Sequence[int | None], io: str = "float", lo: float = -1.0, hi: float = 1.0) -> Value:
        """A graph input (float, int8 or uint8) with data in [lo, hi]; returns the float value ops read."""
        concrete = tuple(1 if d is None else int(d) for d in shape)
        x = self.rng.uniform(lo, hi, concrete).astype(np.float32)
        name = self._name("input")
        if io == "float":
            v = self.g.add_input(name, DType.FLOAT32, shape)
            self.feeds[v.name] = x
            return self.quant(v)
        qtype = DType(io)
        q = affine(lo, hi, qtype)
        v = self.g.add_input(name, qtype, shape)
        v.quant = q
        self.feeds[v.name] = quantize_array(x, q, qtype)
        return self.g.add_node("Dequantize", [v], {"quant": q}).output

    def quant(self, v: Value, q: QuantParams | None = None) -> Value:
        """Quantize → Dequantize of float ``v`` with ``q`` (default: min/max of ``v`` on the feeds)."""
        if q is None:
            q = affine(*self._range(v), self.act)
        vq = self.g.add_node("Quantize", [v], {"quant": q}).output
        return self.g.add_node("Dequantize", [vq], {"quant": q}).output

    def weight(self, w: np.ndarray, axis: int | None) -> Value:
        """An int8 constant (per channel on ``axis``, or per tensor) → Dequantize."""
        w = np.asarray(w, np.float32)
        if axis is None:
            q = QuantParams.per_tensor(max(float(np.abs(w).max()), 1e-6) / 127, 0, DType.INT8)
        else:
            red = tuple(a for a in range(w.ndim) if a != axis)
            q = QuantParams.per_channel(np.maximum(np.abs(w).max(axis=red), 1e-6) / 127, axis, DType.INT8)
        c = self.g.add_const(self._name("w"), quantize_array(w, q, DType.INT8), DType.INT8)
        c.quant = q
        return self.g.add_node("Dequantize", [c], {"quant": q}).output

    def bias(self, b: np.ndarray, x: Value, w: Value) -> Value:
        """The int32 (16x8: int64) bias of an op reading dequantized ``x`` and weights ``w``."""
        sx = x.producer.attrs["quant"].scale.astype(np.float64)  # type: ignore[union-attr]
        qw: QuantParams = w.producer.attrs["quant"]  # type: ignore[union-attr]
        scale = np.broadcast_to(qw.scale.astype(np.float64) * sx[0], (len(b),)).astype(np.float32)
        btype = DType.INT64 if self.act == DType.INT16 else DType.INT32
        q = QuantParams.per_channel(scale, 0, btype)
        c = self.g.add_const(self._name("b"), quantize_array(np.asarray(b, np.float32), q, btype), btype)
        c.quant = q
        return self.g.add_node("Dequantize", [c], {"quant": q}).output

    def op(self, op: str, inputs: Sequence[Value | None], layer: str | None = None, q: QuantParams | None = None,
           **attrs: Any) -> Value:
        """The op (as from Keras layer ``layer``), its output quantized (Q → DQ)."""
        layer = layer or self._name(op.lower())
        y = self.g.add_node(op, list(inputs), attrs, origin=(layer, op)).outputs[0]
        return self.quant(y, q)

    def output(self, v: Value, io: str = "float") -> Value:
        """Make float ``v`` (a Dequantize's output) a graph output, or its integer value (int8/uint8)."""
        if io == "float":
            self.g.outputs.append(v)
            return v
        dq = v.producer
        assert dq is not None and dq.op == "Dequantize"
        vq = dq.inputs[0]
        assert vq is not None
        if io == vq.dtype.value:
            self.g.outputs.append(vq)
            return vq
        q: QuantParams = dq.attrs["quant"]
        zp = int(q.zero_point[0]) + (128 if io == "uint8" else -128)
        out = self.g.add_node("Quantize", [v], {"quant": QuantParams.per_tensor(float(q.scale[0]), zp,
                                                                                 DType(io))}).output
        self.g.outputs.append(out)
        return out

    def rand(self, *shape: int, scale: float = 0.5) -> np.ndarray:
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def done(self) -> tuple[Graph, dict[str, np.ndarray]]:
        self.g.verify()
        return self.g, self.feeds


def _one_op(name: str, act: DType, op: str, shapes: Sequence[tuple[int, ...]], io: str,
            weights: str | None = None, **attrs: Any) -> tuple[Graph, dict[str, np.ndarray]]:
    """``op`` on inputs of ``shapes`` with integer io ``io``: the emitted file has that one operator."""
    b = QDQBuilder(name, act=act, seed=len(name))
    ins: list[Value | None] = [b.input(s, io=io, lo=-2, hi=2) for s in shapes]
    if weights is not None:
        kh, kw, cin, cout = {"conv": (3, 3, shapes[0][-1], 4), "dw": (1, 3, 3, shapes[0][-1]),
                             "tconv": (3, 3, 4, shapes[0][-1])}.get(weights, (shapes[0][-1], 4, 0, 0))
        if weights == "fc":
            w = b.weight(b.rand(shapes[0][-1], 4), 1)
            ins += [w, b.bias(b.rand(4), ins[0], w)]  # type: ignore[arg-type]
        else:
            axis = 2 if weights == "tconv" else 3
            w = b.weight(b.rand(kh, kw, cin, cout), axis)
            n = cin if weights == "tconv" else cout
            ins += [w, b.bias(b.rand(n), ins[0], w)]  # type: ignore[arg-type]
    q = None
    if op in ("Logistic", "Tanh", "Softmax") and act == DType.INT16:
        q = QuantParams.per_tensor(1 / 32768, 0, act)
    elif op in ("Reshape", "Transpose", "Concatenation", "Pad", "MaxPool2D", "AveragePool2D"):
        q = ins[0].producer.attrs["quant"]  # type: ignore[union-attr]
    b.output(b.op(op, ins, q=q, **attrs), io=io)
    return b.done()


def integer_probes() -> list[tuple[str, str, str, Graph, dict[str, np.ndarray]]]:
    """One-operator files of the integer lowering that TFLite Micro's table (keras2edge.check.support)
    relies on beyond its own probes: (builtin, input dtype, name, QDQ graph, feeds)."""
    i16, i8 = DType.INT16, DType.INT8
    x4 = (1, 4, 4, 2)
    specs: list[tuple[str, str, DType, str, list[tuple[int, ...]], str | None, dict[str, Any]]] = [
        ("TRANSPOSE_CONV", "int8", i8, "TransposeConv2D", [x4], "tconv",
         {"strides": (2, 2), "output_size": (8, 8), "pad_before": (0, 0)}),
        ("TRANSPOSE_CONV", "int16", i16, "TransposeConv2D", [x4], "tconv",
         {"strides": (2, 2), "output_size": (8, 8), "pad_before": (0, 0)}),
        ("CONV_2D", "int16", i16, "Conv2D", [x4], "conv", {"padding": "same"}),
        ("DEPTHWISE_CONV_2D", "int16", i16, "DepthwiseConv2D", [x4], "dw", {"padding": "same"}),
        ("FULLY_CONNECTED", "int16", i16, "FullyConnected", [(1, 6)], "fc", {}),
        ("ADD", "int16", i16, "Add", [x4, x4], None, {}),
        ("SUB", "int16", i16, "Sub", [x4, x4], None, {}),
        ("MUL", "int16", i16, "Mul", [x4, x4], None, {}),
        ("LOGISTIC", "int16", i16, "Logistic", [(1, 10)], None, {}),
        ("TANH", "int16", i16, "Tanh", [(1, 10)], None, {}),
        ("SOFTMAX", "int16", i16, "Softmax", [(1, 10)], None, {}),
        ("MEAN", "int16", i16, "Mean", [x4], None, {"axes": (1, 2), "keepdims": True}),
        ("RESHAPE", "int16", i16, "Reshape", [x4], None, {"shape": (1, 32)}),
        ("TRANSPOSE", "int16", i16, "Transpose", [x4], None, {"perm": (0, 3, 1, 2)}),
        ("CONCATENATION", "int16", i16, "Concatenation", [x4, x4], None, {"axis": -1}),
        ("PAD", "int16", i16, "Pad", [x4], None, {"pads": ((0, 0), (1, 1), (1, 1), (0, 0))}),
        ("MAX_POOL_2D", "int16", i16, "MaxPool2D", [x4], None, {"pool_size": (2, 2), "strides": (2, 2)}),
        ("AVERAGE_POOL_2D", "int16", i16, "AveragePool2D", [x4], None, {"pool_size": (2, 2), "strides": (2, 2)}),
        ("LEAKY_RELU", "int16", i16, "LeakyRelu", [x4], None, {"alpha": 0.2}),
    ]
    probes = []
    for builtin, dtype, act, op, shapes, weights, attrs in specs:
        name = f"{builtin.lower()}_{dtype}"
        g, feeds = _one_op(name, act, op, shapes, act.value, weights, **attrs)
        probes.append((builtin, dtype, name, g, feeds))
    # the boundaries: uint8 -> int8 and int16 -> int16 requantize, int16 -> float
    for builtin, dtype, io, out_q in [("QUANTIZE", "uint8", "uint8", QuantParams.per_tensor(0.02, 3, DType.INT8)),
                                      ("QUANTIZE", "int16", "int16", QuantParams.per_tensor(1e-4, 0, DType.INT16)),
                                      ("DEQUANTIZE", "int16", "int16", None)]:
        b = QDQBuilder(f"{builtin.lower()}_{dtype}", act=DType(dtype) if dtype == "int16" else DType.INT8, seed=3)
        x = b.input((1, 8), io=io)
        if out_q is None:
            b.output(x)
        else:
            b.output(b.quant(x, out_q), io=out_q.qtype.value)  # type: ignore[union-attr]
        probes.append((builtin, dtype, b.g.name, *b.done()))
    return probes
