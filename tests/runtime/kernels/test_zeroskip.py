"""runtime/kernels/zeroskip.py: FULLY_CONNECTED and CONV_2D skip weights proven zero, and give the plain
kernels' outputs: int8 bit for bit (and TFLite Micro's), float32 within the kernels' own tolerance of
the plain path and of LiteRT.

Every skip path is taken on the trained digits fixtures: zero input channels only (``rows``), zero
output channels only (``outputs``: their values come from the plain kernel at prepare time), both, and
unstructured sparsity (``magnitude``), where nothing is skipped.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import keras2edge
from keras2edge.convert.tflite import tflite_bytes
from keras2edge.runtime import Interpreter
from keras2edge.runtime.kernels import zeroskip

from ...convert.tflite.helpers import zero_weights
from ...corpus import FIXTURES
from ...litert import litert
from ...tflm import tflm
from ...tolerances import rel_err
from ..helpers import Out, X, op_model, to_bytes

TRAINED = FIXTURES / "trained"
MANIFEST = json.loads((TRAINED / "manifest.json").read_text())
PATTERNS = {"rows": ("rows:0.5",), "outputs": ("outputs:0.5",), "both": ("rows:0.5", "outputs:0.5"),
            "magnitude": ("magnitude:0.5",)}


def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    d = np.load(TRAINED / "digits.npz")
    shape = MANIFEST["models"][name]["input_shape"]
    return (d["x_calib"].reshape((-1, *shape)).astype(np.float32),
            d["x_test"].reshape((-1, *shape)).astype(np.float32))


def _bytes(name: str, pattern: str, int8: bool) -> bytes:
    g = keras2edge.load(TRAINED / MANIFEST["models"][name]["file"])
    for how in PATTERNS[pattern]:
        zero_weights(g, how)
    if int8:
        g = keras2edge.quantize(g, calibration=_data(name)[0])
    return tflite_bytes(g)


def _run(data: bytes, x: np.ndarray, skip: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[np.ndarray, list]:
    """Outputs and the (op, kept inputs, kept outputs) of every skipping op."""
    taken: list[tuple[str, int, int]] = []
    real = zeroskip._prepare_skipping

    def spy(ctx, fn, keep_in, keep_out):  # noqa: ANN001, ANN202
        taken.append((ctx.op, keep_in.size, keep_out.size))
        return real(ctx, fn, keep_in, keep_out)

    with monkeypatch.context() as m:
        m.setattr(zeroskip, "ENABLED", skip)
        m.setattr(zeroskip, "_prepare_skipping", spy)
        return Interpreter(data).run(x), taken


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn"])
def test_int8_skipping_is_bit_exact(name: str, pattern: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _bytes(name, pattern, int8=True)
    x = _data(name)[1]
    got, taken = _run(data, x, True, monkeypatch)
    plain, none = _run(data, x, False, monkeypatch)
    assert not none
    np.testing.assert_array_equal(got, plain)
    if pattern == "magnitude":
        assert not taken  # unstructured zeros leave no whole channel to skip
        return
    ops = {op for op, _, _ in taken}
    assert ops == ({"FULLY_CONNECTED"} if name == "digits_mlp" else {"CONV_2D", "FULLY_CONNECTED"})
    if pattern in ("outputs", "both"):
        assert any(kept < 64 and op == "FULLY_CONNECTED" for op, _, kept in taken)
    # TFLite Micro, sample by sample (its model has batch 1), on the same bytes
    for i in range(0, x.shape[0], 45):
        np.testing.assert_array_equal(tflm(data, [x[i:i + 1]], 1)[0], got[i:i + 1])


@pytest.mark.parametrize("pattern", ["rows", "outputs", "both"])
@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn"])
def test_float_skipping_matches_the_plain_kernels_and_litert(name: str, pattern: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    data = _bytes(name, pattern, int8=False)
    x = _data(name)[1]
    got, taken = _run(data, x, True, monkeypatch)
    plain, _ = _run(data, x, False, monkeypatch)
    assert taken
    assert rel_err(got, plain, same_dtype=True) <= 2e-6
    assert rel_err(got, litert(data, [x])[0], same_dtype=True) <= 2e-6
    assert (got.argmax(-1) == plain.argmax(-1)).all()


def _conv_case(rng: np.random.Generator) -> tuple[list, dict]:
    w = rng.standard_normal((8, 3, 3, 6)).astype(np.float32)
    w[:, :, :, [1, 4]] = 0   # input channels
    w[[0, 5, 6]] = 0         # output channels
    b = rng.standard_normal(8).astype(np.float32)
    opts = {"padding": 0, "stride_h": 2, "stride_w": 2, "dilation_h_factor": 1, "dilation_w_factor": 1,
            "fused_activation_function": 1}
    return [X((2, 9, 8, 6)), w, b], opts


def test_float_one_op_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    """CONV_2D stride 2 SAME with a fused RELU, FULLY_CONNECTED with keep_num_dims on a rank-3 input."""
    rng = np.random.default_rng(3)
    inputs, opts = _conv_case(rng)
    fc_w = rng.standard_normal((7, 12)).astype(np.float32)
    fc_w[:, 3:9] = 0
    fc_w[2] = 0
    cases = [("CONV_2D", inputs, opts, (2, 9, 8, 6)),
             ("FULLY_CONNECTED", [X((2, 5, 12)), fc_w, rng.standard_normal(7).astype(np.float32)],
              {"fused_activation_function": 3, "keep_num_dims": True}, (2, 5, 12))]
    for op, ins, options, shape in cases:
        data = to_bytes(op_model(op, ins, [Out()], options))
        x = rng.standard_normal(shape).astype(np.float32) * 3
        got, taken = _run(data, x, True, monkeypatch)
        plain, _ = _run(data, x, False, monkeypatch)
        assert [t[0] for t in taken] == [op]
        assert got.shape == plain.shape
        assert rel_err(got, plain, same_dtype=True) <= 2e-6
        assert rel_err(got, litert(data, [x])[0], same_dtype=True) <= 2e-6


def test_below_the_threshold_nothing_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    w = rng.standard_normal((8, 16)).astype(np.float32)
    w[:, 0] = 0  # 1 of 16 input columns: 6 % of the multiply-adds, under MIN_SKIPPED
    data = to_bytes(op_model("FULLY_CONNECTED", [X((4, 16)), w, np.zeros(8, np.float32)], [Out()], {}))
    _, taken = _run(data, rng.standard_normal((4, 16)).astype(np.float32), True, monkeypatch)
    assert not taken and zeroskip.MIN_SKIPPED > 1 / 16


def _zero_channels(model: bytes, seed: int) -> bytes | None:
    """``model`` (one FULLY_CONNECTED / CONV_2D) with about half its input channels and a third of its
    output channels zeroed in the weight; None if it has too few channels to skip anything."""
    from keras2edge.convert.tflite import write_model
    from keras2edge.runtime.reader import load_model

    m = load_model(model)
    sg = m.subgraphs[0]
    wi = sg.operators[0].inputs[1]
    w = np.array(m.tensor_data(0, wi))
    cin = w.shape[-1]
    if cin < 2 or w.shape[0] < 2:
        return None
    rng = np.random.default_rng(seed)
    w[..., rng.permutation(cin)[: cin // 2]] = 0
    w[rng.permutation(w.shape[0])[: w.shape[0] // 3]] = 0
    m.buffers[sg.tensors[wi].buffer] = w.view(np.uint8).ravel()
    return write_model(m)


@pytest.mark.parametrize("int16", [False, True], ids=["int8", "16x8"])
@pytest.mark.parametrize("op", ["FULLY_CONNECTED", "CONV_2D"])
def test_integer_one_op_cases_match_tflite_micro(op: str, int16: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The quantized kernels' random cases (shapes, strides, paddings, per-tensor / per-channel weights,
    biases or none, fused activations) with zero channels: skipping == plain == TFLite Micro."""
    from ..int8_bench import run_tflm
    from .quantized.test_conv import conv_case
    from .quantized.test_dense import _fc_case, _fc_model

    skipped = 0
    for seed in range(24):
        if op == "FULLY_CONNECTED":
            c = _fc_case(4000 + seed, np.int16 if int16 else np.int8)
            model, x = _fc_model(c), c["x"]
        else:
            (model, feeds), _ = conv_case(4000 + seed, int16=int16)
            x = feeds[0]
        data = _zero_channels(model, seed)
        if data is None:
            continue
        got, taken = _run(data, x, True, monkeypatch)
        plain, _ = _run(data, x, False, monkeypatch)
        np.testing.assert_array_equal(got, plain)
        np.testing.assert_array_equal(got, run_tflm(data, [x])[0])
        skipped += bool(taken)
    assert skipped >= 8
