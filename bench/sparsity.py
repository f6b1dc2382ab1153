"""What sparse weights gain: ``.tflite`` file sizes with ``sparse=True`` and keras2edge.runtime's zero
skipping, for weights zeroed the way pruning leaves them.

Run from the repository root with keras2edge importable (no TensorFlow needed)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/sparsity.py [--runs 30] [--json out.json]

Models: the trained digits MLP and CNN (tests/fixtures/trained) and ``wide``, a random-weight IR graph
big enough to time (32x32x64 input, 3x3 conv 64->128, two 1x1 convs 128->256->256, mean, dense
256->1024->1000). Patterns (``tests/convert/tflite/helpers.zero_weights``): magnitude 50/75/90 %, 2:4
along the input channels, half the input channels zero (``rows``), half the output channels zero
(``outputs``). Sizes: the float32 file dense and with ``sparse=True`` (int8 files are never written
sparse). Times: median of ``--runs`` single-sample runs, one thread, this thread's CPU time, zero skipping on and off
(``runtime.kernels.zeroskip.ENABLED``), float32 and int8 (keras2edge's quantizer, calibrated on random
inputs for ``wide``). A last table times a 2:4 FULLY_CONNECTED done as a gather in NumPy against the
dense BLAS GEMM: why scattered zeros are not skipped; another times one FULLY_CONNECTED / CONV_2D with
1/16 .. 1/2 of its input channels zero, skipping forced on and off (where ``MIN_SKIPPED`` comes from).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: This thread's CPU time: steadier than wall time on a shared machine (BLAS runs in this thread with
#: OMP_NUM_THREADS=1 / OPENBLAS_NUM_THREADS=1).
CLOCK = time.thread_time
sys.path.insert(0, str(REPO))

PATTERNS = {"dense": (), "magnitude 50%": ("magnitude:0.5",), "magnitude 75%": ("magnitude:0.75",),
            "magnitude 90%": ("magnitude:0.9",), "2:4": ("nm:2:4",), "rows 50%": ("rows:0.5",),
            "outputs 50%": ("outputs:0.5",)}


def wide_graph():  # noqa: ANN201 - an IR Graph
    from keras2edge.ir import Graph
    from keras2edge.ir.dtypes import DType

    rng = np.random.default_rng(0)
    g = Graph()
    x = g.add_input("image", DType.FLOAT32, (None, 32, 32, 64))

    def w(*shape: int) -> object:
        return g.add_const("w", (rng.standard_normal(shape) / np.sqrt(np.prod(shape[:-1]))).astype(np.float32))

    def b(n: int) -> object:
        return g.add_const("b", (rng.standard_normal(n) * 0.1).astype(np.float32))

    y = g.add_node("Conv2D", [x, w(3, 3, 64, 128), b(128)], {"padding": "same", "activation": "relu"},
                   origin=("conv1", "Conv2D")).output
    y = g.add_node("Conv2D", [y, w(1, 1, 128, 256), b(256)], {"activation": "relu"}, origin=("conv2", "Conv2D")).output
    y = g.add_node("Conv2D", [y, w(1, 1, 256, 256), b(256)], {"activation": "relu"}, origin=("conv3", "Conv2D")).output
    y = g.add_node("Mean", [y], {"axes": (1, 2), "keepdims": False},
                   origin=("gap", "GlobalAveragePooling2D")).output
    y = g.add_node("FullyConnected", [y, w(256, 1024), b(1024)], {"activation": "relu"},
                   origin=("fc1", "Dense")).output
    y = g.add_node("FullyConnected", [y, w(1024, 1000), b(1000)], origin=("fc2", "Dense")).output
    g.outputs = [y]
    return g


def models() -> dict[str, tuple[object, np.ndarray]]:
    import keras2edge

    trained = REPO / "tests" / "fixtures" / "trained"
    manifest = json.loads((trained / "manifest.json").read_text())
    d = np.load(trained / "digits.npz")
    out = {}
    for name in ("digits_mlp", "digits_cnn"):
        e = manifest["models"][name]
        out[name] = (lambda e=e: keras2edge.load(trained / e["file"]),
                     d["x_calib"].reshape((-1, *e["input_shape"])).astype(np.float32))
    out["wide"] = (wide_graph, np.random.default_rng(1).random((16, 32, 32, 64), np.float32))
    return out


def timed(data: bytes, x: np.ndarray, runs: int, skip: bool) -> float:
    from keras2edge.runtime import Interpreter
    from keras2edge.runtime.kernels import zeroskip

    zeroskip.ENABLED = skip
    try:
        it = Interpreter(data, num_threads=1)
        sample = x
        it.run(sample)
        times = []
        for _ in range(runs):
            t0 = CLOCK()
            it.run(sample)
            times.append(CLOCK() - t0)
    finally:
        zeroskip.ENABLED = True
    return statistics.median(times) * 1e3


def measure(runs: int, only: tuple[str, ...] = ()) -> dict[str, list[dict[str, object]]]:
    import keras2edge
    from keras2edge.convert.tflite import tflite_bytes, to_tflite
    from keras2edge.convert.tflite.sparse import sparsify_model
    from tests.convert.tflite.helpers import zero_weights

    rows = []
    for name, (make, calib) in models().items():
        if only and name not in only:
            continue
        for label, hows in PATTERNS.items():
            g = make()
            for how in hows:
                zero_weights(g, how)
            dense = tflite_bytes(g)
            report = sparsify_model(to_tflite(g))
            sparse = tflite_bytes(g, sparse=True)
            q = tflite_bytes(keras2edge.quantize(g, calibration=calib[:64]))
            row = {"model": name, "pattern": label, "dense_bytes": len(dense), "sparse_bytes": len(sparse),
                   "saved": 1 - len(sparse) / len(dense),
                   "sparse_weights": f"{sum(w.sparse for w in report.weights)}/{len(report.weights)}",
                   "float_ms": timed(dense, calib[:1], runs, False), "float_skip_ms": timed(dense, calib[:1], runs, True),
                   "int8_ms": timed(q, calib[:1], runs, False), "int8_skip_ms": timed(q, calib[:1], runs, True)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {"models": rows, "threshold": threshold(runs), "nm_gather": nm_gather(runs)}


def threshold(runs: int) -> list[dict[str, object]]:
    """One float32 FULLY_CONNECTED / CONV_2D with a fraction of its input channels zero, skipping forced
    on (``MIN_SKIPPED`` 0) and off: where skipping starts to pay."""
    from keras2edge.runtime.kernels import zeroskip
    from tests.runtime.helpers import Out, X, op_model, to_bytes

    rng = np.random.default_rng(0)
    conv = {"padding": 0, "stride_h": 1, "stride_w": 1, "dilation_h_factor": 1, "dilation_w_factor": 1}
    cases = [("FULLY_CONNECTED", (1, 1024), (1024, 1024), 1, {}), ("FULLY_CONNECTED", (32, 1024), (1024, 1024), 1, {}),
             ("CONV_2D", (1, 16, 16, 128), (128, 3, 3, 128), 3, conv)]
    out = []
    saved = zeroskip.MIN_SKIPPED
    zeroskip.MIN_SKIPPED = 0.0
    try:
        for op, shape, wshape, axis, opts in cases:
            for frac in (1 / 16, 1 / 8, 1 / 4, 1 / 2):
                w = rng.standard_normal(wshape).astype(np.float32)
                idx: list[object] = [slice(None)] * len(wshape)
                idx[axis] = np.arange(int(wshape[axis] * frac))
                w[tuple(idx)] = 0
                data = to_bytes(op_model(op, [X(shape), w, np.zeros(wshape[0], np.float32)], [Out()], opts))
                x = rng.standard_normal(shape).astype(np.float32)
                row = {"op": op, "input": list(shape), "zero_input_channels": frac,
                       "plain_ms": timed(data, x, runs, False), "skip_ms": timed(data, x, runs, True)}
                out.append(row)
                print(json.dumps(row), flush=True)
    finally:
        zeroskip.MIN_SKIPPED = saved
    return out


def nm_gather(runs: int) -> list[dict[str, object]]:
    """A 2:4 FULLY_CONNECTED (batch 1 and 32, K = N = 1024) as NumPy can do it without dense BLAS:
    gather the kept inputs per output and reduce, against the dense GEMM on the zero-filled weights."""
    rng = np.random.default_rng(0)
    k = n = 1024
    w = rng.standard_normal((n, k)).astype(np.float32)
    groups = w.reshape(n, k // 4, 4)
    order = np.argsort(np.abs(groups), axis=-1)
    np.put_along_axis(groups, order[..., :2], 0.0, axis=-1)
    idx = np.nonzero(w)[1].reshape(n, k // 2)
    vals = w[np.arange(n)[:, None], idx]
    out = []
    for batch in (1, 32):
        x = rng.standard_normal((batch, k)).astype(np.float32)

        def dense() -> np.ndarray:
            return x @ w.T

        def gather() -> np.ndarray:
            return np.einsum("bnk,nk->bn", x[:, idx], vals)

        np.testing.assert_allclose(gather(), dense(), rtol=1e-3, atol=1e-3)
        t = {}
        for fn in (dense, gather):
            ts = []
            for _ in range(runs):
                t0 = CLOCK()
                fn()
                ts.append(CLOCK() - t0)
            t[fn.__name__] = statistics.median(ts) * 1e3
        out.append({"batch": batch, "dense_blas_ms": t["dense"], "nm_gather_ms": t["gather"]})
        print(json.dumps(out[-1]), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--model", action="append", default=[], help="only these models (digits_mlp, digits_cnn, wide)")
    args = ap.parse_args()
    res = measure(args.runs, tuple(args.model))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
