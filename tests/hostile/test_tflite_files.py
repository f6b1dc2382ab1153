"""Hostile ``.tflite`` files (issue 6, runtime side): bounded memory, no uninitialized outputs, no
quadratic step. Files are built at test time (``tflite_cases``); the memory cases run in a child
process with an address-space limit and assert its peak RSS (never time)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from keras2edge.runtime import Interpreter, RuntimeModelError
from keras2edge.runtime.errors import LimitExceededError
from keras2edge.runtime.kernels import KERNELS, OpContext, TensorSpec
from keras2edge.runtime.limits import Limits

from . import tflite_cases as cases
from .harness import assert_clean_api_failure, assert_clean_cli_failure, assert_no_leftovers, run_api, run_cli

#: Where the bugs took gigabytes, a refused file must stay under this (interpreter + numpy ~ 50-150 MB).
RSS_BOUND = 300 << 20


def _npy(folder: Path, shape: tuple[int, ...]) -> Path:
    p = folder / "x.npy"
    np.save(p, np.ones(shape, np.float32))
    return p


# ---------------------------------------------------------------------------------------------
# Bounded memory: declared and computed sizes are checked before anything is allocated

HUGE = [
    ("huge_input_conv", cases.huge_input_conv, r"tensor 0 'x' of shape \[1, 1000000000, 1000000000, 1\] float32"),
    ("huge_rows_conv", cases.huge_rows_conv, r"tensor 0 'x' of shape \[1, 1000000000, 4, 1\] float32"),
    ("broadcast_declared", lambda: cases.folded_broadcast((100000, 100000)),
     r"tensor 3 'big' of shape \[100000, 100000\] float32"),
    # the file declares [1]: only the shape computed at prepare (before folding) shows the size
    ("broadcast_computed", lambda: cases.folded_broadcast((100000, 100000), declared=(1,)),
     r"op #0 BROADCAST_TO: output 'big' of shape \[100000, 100000\] float32"),
    # 3.4 GB each, under the 4 GiB limit alone, but the folded constant and the output exceed it together
    ("broadcast_total", cases.folded_broadcast, r"planned arena with the graph inputs, outputs and folded constants"),
]


@pytest.mark.parametrize("name, make, pattern", HUGE, ids=[h[0] for h in HUGE])
def test_huge_tensors_are_refused_by_inspect_and_run(tmp_path: Path, name: str, make, pattern: str) -> None:
    model = cases.write(tmp_path, f"{name}.tflite", make())
    x = _npy(tmp_path, (1,))
    for args in (["inspect", str(model)], ["run", str(model), "--input", str(x), "-o", str(tmp_path / "y.npz")]):
        out = run_cli(args)
        assert_clean_cli_failure(out, f"{model.name}': .*{pattern}.* more than the memory limit of 4.0 GiB",
                                 rss_bound=RSS_BOUND)
    assert_no_leftovers(tmp_path, {model.name, x.name})


@pytest.mark.parametrize("name, make, pattern", HUGE[:2], ids=[h[0] for h in HUGE[:2]])
def test_huge_tensors_are_refused_by_the_interpreter(tmp_path: Path, name: str, make, pattern: str) -> None:
    model = cases.write(tmp_path, f"{name}.tflite", make())
    out = run_api(f"k2e.runtime.Interpreter({str(model)!r})")
    assert_clean_api_failure(out, "LimitExceededError", pattern, rss_bound=RSS_BOUND)


def test_max_memory_option_and_limits_argument(tmp_path: Path) -> None:
    model = cases.write(tmp_path, "chain.tflite", cases.relu_chain(3))
    x = _npy(tmp_path, (1, 4))
    out = run_cli(["run", str(model), "--input", str(x), "--max-memory", "100"])
    assert_clean_cli_failure(out, r"chain.tflite': the file declares .* more than the memory limit of 100 B")
    out = run_cli(["inspect", str(model), "--max-memory", "1M"])
    assert out.returncode == 0 and "RELU x3" in out.stdout, out.text
    with pytest.raises(LimitExceededError, match=r"tensor 0 'x' of shape \[1, 4\] float32 declares 16 B"):
        Interpreter(model.read_bytes(), limits=Limits(max_memory=15))
    assert Interpreter(model.read_bytes(), limits=Limits(max_memory=1 << 20)).run(np.ones((1, 4), np.float32)).shape \
        == (1, 4)


def test_zero_sized_tensors_cannot_declare_huge_dims() -> None:
    # [1, 2*10^9, 0]: 0 bytes, yet a kernel would loop over 2*10^9 rows; the dims count as if 0 were 1
    with pytest.raises(LimitExceededError, match=r"tensor 0 'x' of shape \[1, 2000000000, 0\]"):
        Interpreter(cases.empty_huge_dims())


def test_conv_prepare_keeps_no_per_row_python_objects() -> None:
    # A 10^9-row image under a limit that lets it through: prepare must record its chunking in O(1)
    # (it built a list of 10^9 tuples) and allocate nothing itself (scratch is planned, not made) that
    # the checked tensor sizes do not bound: the im2col buffer stays within its budget and the padded
    # copy of the input within the input's own size (plus the padding).
    rows = 10**9
    x = TensorSpec(0, "x", (1, rows, 4, 1), np.dtype(np.float32))
    w = TensorSpec(1, "w", (1, 3, 3, 1), np.dtype(np.float32), np.ones((1, 3, 3, 1), np.float32))
    y = TensorSpec(2, "y", (1, rows, 4, 1), np.dtype(np.float32))
    ctx = OpContext(0, "CONV_2D", 1, {"padding": 0, "stride_w": 1, "stride_h": 1}, [x, w, None], [y],
                    limits=Limits(max_memory=1 << 40))
    tracemalloc.start()
    try:
        KERNELS[("CONV_2D", "float32")](ctx)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert y.shape == (1, rows, 4, 1)
    assert peak < 1 << 20, f"prepare allocated {peak} bytes of Python objects"
    sizes = sorted(int(np.prod(s)) * d.itemsize for s, d in ctx.scratch_specs)
    assert len(sizes) == 2 and sizes[0] <= 16 << 20 and sizes[1] <= 2 * rows * 4 * 4


# ---------------------------------------------------------------------------------------------
# Every output is written by an op, a constant or an input


def test_model_without_ops_is_refused(tmp_path: Path) -> None:
    model = cases.write(tmp_path, "no_ops.tflite", cases.no_ops())
    x = _npy(tmp_path, (1, 4))
    out = run_cli(["run", str(model), "--input", str(x), "-o", str(tmp_path / "y.npz")])
    assert_clean_cli_failure(out, r"no_ops.tflite': graph output 1 \('y'\) is written by no op .* uninitialized")
    assert_no_leftovers(tmp_path, {model.name, x.name})
    out = run_api(f"k2e.runtime.Interpreter({str(model)!r})")
    assert_clean_api_failure(out, "RuntimeModelError", r"graph output 1 \('y'\) is written by no op")


@pytest.mark.parametrize("make, pattern", [
    (cases.written_twice, r"op #1 RELU6 writes tensor 1 \('y'\), which op #0 RELU already writes"),
    (cases.read_before_written, r"op #0 RELU reads tensor 1 \('h'\) before op #1 RELU6 writes it"),
    (cases.variable_input, r"op #0 ADD reads tensor 1 \('state'\), a variable \(state\) tensor"),
    (cases.writes_input, r"op #0 RELU writes tensor 0 \('x'\), a graph input"),
    (cases.writes_constant, r"op #0 RELU writes tensor 1 \('c'\), which holds constant data"),
    (cases.reads_nothing, r"op #0 ADD reads tensor 1 \('ghost'\), which no op writes"),
    (cases.unsupported_output_type, r"graph output tensor 1 \('y'\) has type BFLOAT16; supported: FLOAT32"),
    (cases.empty_mean, r"op #0 MEAN .* cannot take the mean of an empty tensor"),
], ids=["written_twice", "read_before_written", "variable", "writes_input", "writes_constant", "reads_unwritten",
        "bfloat16_output", "empty_mean"])
def test_unsound_dataflow_and_types_are_refused_at_load(make, pattern: str) -> None:
    with pytest.raises(RuntimeModelError, match=pattern):
        Interpreter(make())


def test_output_that_is_an_input_is_an_identity() -> None:
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    it = Interpreter(cases.output_is_input())
    for _ in range(3):
        y = it.run(x)
        assert np.array_equal(y, x) and y is not x


# ---------------------------------------------------------------------------------------------
# No quadratic step: a 20,001-op chain


def test_long_chain_inspects_and_runs(tmp_path: Path) -> None:
    # Took ~45 s (the arena planner compared every buffer with every placed one); kept as a regression
    # case under the harness's generous timeout. The linear work itself is asserted by counting in
    # tests/runtime/test_planner.py::test_long_chain_plans_in_linear_work.
    model = cases.write(tmp_path, "chain.tflite", cases.relu_chain(20001))
    x = _npy(tmp_path, (1, 4))
    out = run_cli(["inspect", str(model)], timeout=300)
    assert out.returncode == 0, out.text[-2000:]
    assert "RELU x20001" in out.stdout and "Tensors: 20002" in out.stdout
    out = run_cli(["run", str(model), "--input", str(x)], timeout=300)
    assert out.returncode == 0 and "t20000: float32 (1, 4) min 1 max 1" in out.stdout, out.text[-2000:]


# ---------------------------------------------------------------------------------------------
# Window sizes from options: work bounded by the tensors, not by the option


@pytest.mark.parametrize("kind, reduce", [("MAX_POOL_2D", np.max), ("AVERAGE_POOL_2D", np.mean)])
def test_pooling_window_larger_than_the_input(kind: str, reduce) -> None:
    # A 10^9 x 10^9 SAME window over a 3x3 image: every output pixel sees the whole image. Prepare
    # used to visit all 10^18 (row, column) tap pairs.
    x = np.arange(18, dtype=np.float32).reshape(1, 3, 3, 2)
    tracemalloc.start()
    try:
        y = Interpreter(cases.huge_window_pool(kind)).run(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    want = np.broadcast_to(reduce(x, axis=(1, 2), keepdims=True), x.shape)
    np.testing.assert_allclose(y, want, rtol=1e-6)
    assert peak < 8 << 20  # the interpreter and its plan; nothing per tap of the window


def test_tap_ranges_keep_exactly_the_taps_that_read_input() -> None:
    from keras2edge.runtime.kernels.conv import _tap_ranges

    rng = np.random.default_rng(3)
    for _ in range(500):
        n_in, k, s, d = (int(v) for v in (rng.integers(1, 12), rng.integers(1, 9), rng.integers(1, 4),
                                          rng.integers(1, 4)))
        n_out = int(rng.integers(1, 12))
        pad = int(rng.integers(0, 10))
        want = []
        for i in range(k):  # brute force: which outputs of tap i read an input position
            outs = [o for o in range(n_out) if 0 <= i * d - pad + o * s < n_in]
            if outs:
                want.append((i, outs[0], outs[-1] + 1, i * d - pad + outs[0] * s))
        assert _tap_ranges(n_in, n_out, k, s, d, pad) == want, (n_in, n_out, k, s, d, pad)
