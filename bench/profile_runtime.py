"""Per-op profile of keras2edge.runtime: where one inference's time goes, by op type (and the slowest ops).

Run by hand from the repository root with keras2edge importable::

    python bench/profile_runtime.py /work/zoo_int8/MobileNetV2.int8.tflite --runs 20 --top 15

Times come from the interpreter's observer hook (called right after each op): the time of op k is the
time since the previous op finished (the first op's since ``run`` started, which includes the input copy).
``--cpu`` measures thread CPU time instead (steadier when other processes share the cores).
Reports the median over the runs of each op's time, summed per op type, and the end-to-end median.
The observer makes every op run: an op whose output only a fused kernel takes (LOGISTIC of a swish,
``prepare.Step.unread``) is skipped in an unobserved run, so its time here is not part of one.

``--gemm-floor`` also times, alone, the float32 BLAS GEMM every CONV_2D and FULLY_CONNECTED of the model
needs (M = output pixels, K = filter size, N = output channels; int8 values held exactly in float32,
as the runtime computes them): what any NumPy int8 runtime built on float BLAS pays before
depthwise convolutions, requantization and everything else.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

#: The clock: wall time by default; ``--cpu`` switches to this thread's CPU time (steadier on a shared machine).
CLOCK = time.perf_counter


def profile(path: Path, runs: int) -> tuple[list[tuple[str, str, float]], float]:
    from keras2edge.runtime import Interpreter

    it = Interpreter(path.read_bytes(), num_threads=1)
    d = it.get_input_details()[0]
    x = np.random.default_rng(0).integers(-128, 127, size=d["shape"], endpoint=True).astype(d["dtype"])
    if np.dtype(d["dtype"]).kind == "f":
        x = np.random.default_rng(0).standard_normal(d["shape"]).astype(d["dtype"])
    times: list[list[float]] = []
    names: list[tuple[str, str]] = []
    total: list[float] = []
    for r in range(runs + 2):
        stamps: list[float] = []
        ops: list[tuple[str, str]] = []

        def obs(index, op, outputs, stamps=stamps, ops=ops):
            stamps.append(CLOCK())
            ops.append((f"{op.name} {op.dtype}", op.outputs[0] if op.outputs else str(index)))

        t0 = CLOCK()
        it.run(x, observer=obs)
        t1 = CLOCK()
        if r >= 2:  # two warm-up runs
            times.append(list(np.diff([t0, *stamps])))
            total.append(t1 - t0)
            names = ops
    med = np.median(np.array(times), axis=0)
    return [(n[0], n[1], float(t)) for n, t in zip(names, med)], float(np.median(total))


def gemm_floor(path: Path, runs: int) -> float:
    """Median time of the model's CONV_2D / FULLY_CONNECTED GEMMs alone (float32 BLAS), in seconds."""
    from keras2edge.runtime import Interpreter

    it = Interpreter(path.read_bytes(), num_threads=1)
    d = it.get_input_details()[0]
    x = np.zeros(d["shape"], d["dtype"])
    shapes: dict[int, tuple[int, ...]] = {}
    it.run(x, observer=lambda i, op, outs: shapes.__setitem__(i, outs[0].shape))
    tensors = it._sg.tensors  # the filter shapes (bench only: not a public API)
    rng = np.random.default_rng(0)
    mats = []
    for op in it.ops:
        if op.name not in ("CONV_2D", "FULLY_CONNECTED") or op.index not in shapes:
            continue
        w = tensors[op.input_indices[1]].shape
        out = shapes[op.index]
        m, n = int(np.prod(out[:-1])), int(out[-1])
        k = int(np.prod(w[1:]))  # OHWI / [N, K] filters: a grouped conv's GEMMs have M·K·N products in all too
        a = rng.integers(-128, 128, (m, k)).astype(np.float32)
        b = rng.integers(-128, 128, (k, n)).astype(np.float32)
        mats.append((a, b, np.empty((m, n), np.float32)))
    times = []
    for _ in range(runs + 2):
        t0 = CLOCK()
        for a, b, c in mats:
            np.matmul(a, b, out=c)
        times.append(CLOCK() - t0)
    return float(np.median(times[2:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--cpu", action="store_true", help="thread CPU time instead of wall time")
    ap.add_argument("--gemm-floor", action="store_true", help="also time the model's float32 GEMMs alone")
    args = ap.parse_args()
    if args.cpu:
        global CLOCK
        CLOCK = time.thread_time
    rows, total = profile(args.model, args.runs)
    per: dict[str, list[float]] = defaultdict(list)
    for op, _, t in rows:
        per[op].append(t)
    print(f"{args.model.name}: median run {total * 1e3:.2f} ms, sum of op medians "
          f"{sum(t for *_, t in rows) * 1e3:.2f} ms, {len(rows)} ops")
    for op, ts in sorted(per.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {op:24s} {len(ts):4d} ops {sum(ts) * 1e3:8.2f} ms")
    if args.gemm_floor:
        print(f"  GEMM floor (CONV_2D / FULLY_CONNECTED float32 GEMMs alone): {gemm_floor(args.model, args.runs) * 1e3:.2f} ms")
    print(f"slowest {args.top}:")
    for op, name, t in sorted(rows, key=lambda r: -r[2])[:args.top]:
        print(f"  {t * 1e3:7.3f} ms  {op:20s} {name}")


if __name__ == "__main__":
    main()
