"""Why dynamic-range (hybrid) models differed from LiteRT's reference kernels while every hybrid kernel
was bit-exact (issue 10 item 1), and the fix: the float ops around them.

Measured on the dynamic zoo files of tests/quantize/test_zoo_schemes.py (one input, ours against
LiteRT ``BUILTIN_REF``): relative L2 of the logits 0.0080 (MobileNetV3Large) and 0.0106 (EfficientNetB0).
Run op by op with each of our op outputs compared with LiteRT's and then replaced by it (the runtime's
observer writes LiteRT's tensor into the arena), every hybrid op was bit-exact (MobileNetV3Large: 47
CONV_2D, 12 DEPTHWISE_CONV_2D), and the only ops that differed were float ones in their last bits:
MobileNetV3Large's two float CONV_2D and two float DEPTHWISE_CONV_2D (the layers kept float for their
small weights), EfficientNetB0's ten float CONV_2D, one DEPTHWISE_CONV_2D and its 65 LOGISTIC
(relative 1e-8 to 3e-7 each).

A last-bit difference does not stay small: the next hybrid op quantizes its input per image or row
with ``scale = max|x| / 127``, so one ulp can move an element across a rounding half: one whole step.
The tests pin the facts and the fix:

* LiteRT's reference float CONV_2D is the sequential float32 sum over (ky, kx, ci), each product
  rounded to float32 (no fused multiply-add), plus the bias at the end; our fast kernel sums in
  another order (within 1e-6), and keeps doing so in models without hybrid ops;
* one ulp before a hybrid CONV_2D is a whole step after it, in LiteRT's kernel as in ours;
* in a model with hybrid ops (``OpContext.hybrid_model``), float LOGISTIC, CONV_2D and
  DEPTHWISE_CONV_2D (depth up to float_exact.MAX_DEPTH) run LiteRT's reference arithmetic, bit for
  bit: both dynamic zoo files now equal LiteRT's output exactly (relative L2 0.0, every op equal).
"""

from __future__ import annotations

import numpy as np

from keras2edge.runtime import Interpreter
from keras2edge.runtime.kernels.base import conv_out_size

from ...tolerances import rel_err
from ..int8_bench import T, one_op_model, run_litert_ref

H = W = 24
CIN, COUT = 3, 16


def _float_conv(rng: np.random.Generator) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
    """A float 3x3 VALID CONV_2D one-op file, its filter (OHWI), bias and one input."""
    wt = rng.normal(0, 0.3, (COUT, 3, 3, CIN)).astype(np.float32)
    b = rng.normal(0, 0.1, COUT).astype(np.float32)
    out = (1, H - 2, W - 2, COUT)
    m = one_op_model("CONV_2D", [T((1, H, W, CIN), np.float32), T(wt.shape, np.float32, data=wt),
                                 T((COUT,), np.float32, data=b)], [T(out, np.float32)],
                     {"padding": 1, "stride_h": 1, "stride_w": 1, "dilation_h_factor": 1, "dilation_w_factor": 1,
                      "fused_activation_function": 0})
    x = rng.uniform(0, 255, (1, H, W, CIN)).astype(np.float32)
    return m, wt, b, x


def _sequential_conv(x: np.ndarray, wt: np.ndarray, b: np.ndarray) -> np.ndarray:
    """reference_ops::Conv (float): total = 0; total += float32(x * w) over (ky, kx, ci); total + bias."""
    oh, ow = x.shape[1] - 2, x.shape[2] - 2
    acc = np.zeros((1, oh, ow, wt.shape[0]), np.float32)
    for i in range(3):
        for j in range(3):
            for c in range(wt.shape[3]):
                acc = acc + x[:, i:i + oh, j:j + ow, c:c + 1] * wt[:, i, j, c]  # float32 product, float32 sum
    return acc + b


def _hybrid_conv(rng: np.random.Generator, shape: tuple[int, ...]) -> bytes:
    """A per-tensor hybrid 1x1 CONV_2D (symmetric per-image input quantization)."""
    cout = 8
    wt = rng.integers(-127, 128, (cout, 1, 1, shape[3])).astype(np.int8)
    return one_op_model("CONV_2D", [T(shape, np.float32), T(wt.shape, np.int8, scale=[0.01], data=wt),
                                    T((cout,), np.float32, data=np.zeros(cout, np.float32))],
                        [T(shape[:3] + (cout,), np.float32)],
                        {"padding": 1, "stride_h": 1, "stride_w": 1, "dilation_h_factor": 1,
                         "dilation_w_factor": 1, "fused_activation_function": 0})


def test_litert_reference_float_conv_is_the_sequential_sum_and_ours_differs_in_the_last_bit() -> None:
    m, wt, b, x = _float_conv(np.random.default_rng(0))
    want = run_litert_ref(m, [x])[0]
    np.testing.assert_array_equal(want, _sequential_conv(x, wt, b))
    ours = Interpreter(m).run(x)
    assert rel_err(ours, want, same_dtype=True) <= 1e-6
    # the documented gap (the cause of the dynamic zoo models' difference): some elements differ
    assert np.count_nonzero(ours != want) > 0


def test_one_ulp_before_a_hybrid_op_becomes_a_whole_step_after_it() -> None:
    """max|x| = 127 gives the input scale 1: 2.5 rounds (half away) to 3, the float32 just below it to 2."""
    rng = np.random.default_rng(1)
    shape = (1, 4, 4, 3)
    x = rng.uniform(-100, 100, shape).astype(np.float32)
    x[0, 0, 0, 0], x[0, 1, 1, 1] = 127, 2.5
    y = x.copy()
    y[0, 1, 1, 1] = np.nextafter(np.float32(2.5), np.float32(0))
    h = _hybrid_conv(rng, shape)
    # ours equals LiteRT bit for bit on either input (the hybrid kernel is exact) ...
    got = [Interpreter(h).run(v) for v in (x, y)]
    want = [run_litert_ref(h, [v])[0] for v in (x, y)]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    # ... and one ulp at the input is one whole input step (times the weight and its scale) after it
    d = np.abs(want[0].astype(np.float64) - want[1])
    assert np.count_nonzero(d) > 0 and np.all(d[0, 1, 1] > 0) and not d[0, 0, 0].any()
    assert float(d.max()) >= 0.01 * 1  # one step of the input (scale 1) times a weight of at least 1 * 0.01


def _fc_logistic(rng: np.random.Generator, rows: int, k: int, units: int) -> bytes:
    """hybrid FULLY_CONNECTED -> float LOGISTIC (EfficientNetB0's squeeze-excite gate after a hybrid op)."""
    from keras2edge.convert.tflite.writer import write_model
    from keras2edge.runtime.model import Quantization

    from ..helpers import GraphBuilder

    g = GraphBuilder()
    x = g.input("x", (rows, k), np.float32)
    w = g.const(rng.integers(-127, 128, (units, k)).astype(np.int8), "w")
    g.tensors[w].quantization = Quantization(np.float32([0.05]), np.zeros(1, np.int64), 0)
    fc = g.op("FULLY_CONNECTED", [x, w, None], {"fused_activation_function": 0}, shapes=[(rows, units)])
    g.output(g.op("LOGISTIC", [fc], shapes=[(rows, units)]))
    return write_model(g.model())


def test_logistic_in_a_hybrid_model_equals_litert_reference_bit_for_bit() -> None:
    """EfficientNetB0's dynamic file: its 65 float LOGISTIC were its only ops to differ from LiteRT's
    reference (the tanh form, last bits); in a model with hybrid ops LOGISTIC now runs LiteRT's
    arithmetic (cut-offs, C's expf, float32 1/(1+e)). Inputs span both cut-offs."""
    rng = np.random.default_rng(3)
    m = _fc_logistic(rng, 64, 40, 300)
    x = rng.normal(0, 0.3, (64, 40)).astype(np.float32)
    got, want = Interpreter(m).run(x), run_litert_ref(m, [x])[0]
    assert float(want.min()) < 1e-4 and float(want.max()) == 1.0  # both cut-offs reached
    np.testing.assert_array_equal(got, want)


def test_logistic_alone_keeps_the_fast_form_within_float_tolerance() -> None:
    from keras2edge.runtime.float_lut import exp_f32, expf_array

    x = np.random.default_rng(4).normal(0, 6, (1, 20000)).astype(np.float32)
    m = one_op_model("LOGISTIC", [T(x.shape, np.float32)], [T(x.shape, np.float32)])
    assert rel_err(Interpreter(m).run(x), run_litert_ref(m, [x])[0], same_dtype=True) <= 1e-6
    # the fast whole-array expf is C's expf on every element (near-ties and subnormals included)
    y = np.concatenate([x.ravel(), np.linspace(-104, 89, 4001, dtype=np.float32)])
    np.testing.assert_array_equal(expf_array(y), exp_f32(y))


def _float_then_hybrid(rng: np.random.Generator, depthwise: bool, stride: int, dilation: int, padding: int,
                       mult: int, act: int) -> tuple[bytes, np.ndarray]:
    """float CONV_2D or DEPTHWISE_CONV_2D -> hybrid 1x1 CONV_2D (a dynamic file's kept-float small layer)."""
    from keras2edge.convert.tflite.writer import write_model
    from keras2edge.runtime.model import Quantization

    from ..helpers import GraphBuilder

    n, h, w, cin = 2, 13, 11, 4
    cout = cin * mult if depthwise else 6
    wf = rng.normal(0, 0.3, (1, 3, 3, cout) if depthwise else (cout, 3, 3, cin)).astype(np.float32)
    b = rng.normal(0, 0.1, cout).astype(np.float32)
    opts = {"padding": padding, "stride_h": stride, "stride_w": stride, "dilation_h_factor": dilation,
            "dilation_w_factor": dilation, "fused_activation_function": act}
    if depthwise:
        opts["depth_multiplier"] = mult
    oh = conv_out_size(padding, h, 3, stride, dilation)
    ow = conv_out_size(padding, w, 3, stride, dilation)
    g = GraphBuilder()
    x = g.input("x", (n, h, w, cin), np.float32)
    y = g.op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [x, g.const(wf, "wf"), g.const(b, "b")], opts,
             shapes=[(n, oh, ow, cout)])
    wq = g.const(rng.integers(-127, 128, (5, 1, 1, cout)).astype(np.int8), "wq")
    g.tensors[wq].quantization = Quantization(np.float32([0.02]), np.zeros(1, np.int64), 0)
    z = g.op("CONV_2D", [y, wq, g.const(np.zeros(5, np.float32), "bq")], {"padding": 1, "stride_h": 1, "stride_w": 1, "dilation_h_factor": 1,
                                         "dilation_w_factor": 1, "fused_activation_function": 0},
             shapes=[(n, oh, ow, 5)])
    g.output(z)
    return write_model(g.model()), rng.uniform(0, 255, (n, h, w, cin)).astype(np.float32)


def test_float_convolutions_in_a_hybrid_model_equal_litert_reference_bit_for_bit() -> None:
    """MobileNetV3Large's dynamic file: its only ops to differ were two float CONV_2D and two float
    DEPTHWISE_CONV_2D (0.8 % at the logits); in a model with hybrid ops they now sum in LiteRT's
    reference order (runtime/kernels/float_exact.py). The hybrid op after them shows any last bit."""
    from keras2edge.runtime.codes import ACT_NONE, ACT_RELU, ACT_RELU6

    rng = np.random.default_rng(5)
    cases = [(dw, s, d, p, m, a) for dw in (False, True) for s, d in ((1, 1), (2, 1), (1, 2)) for p in (0, 1)
             for m, a in ((1, ACT_NONE), (2, ACT_RELU), (1, ACT_RELU6))]
    for case in cases:
        if not case[0] and case[4] > 1:
            continue
        m, x = _float_then_hybrid(rng, *case)
        np.testing.assert_array_equal(Interpreter(m).run(x), run_litert_ref(m, [x])[0], err_msg=str(case))
