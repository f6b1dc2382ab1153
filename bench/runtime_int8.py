"""Runtime benchmark (int8): keras2edge.runtime vs LiteRT vs LiteRT's reference kernels vs TFLite Micro.

Run by hand from the repository root, in a virtualenv with the ``test`` extra (LiteRT, tflite-micro) and
keras2edge importable; the models are made with TensorFlow (the ``zoo`` extra), in this Python if it has
TensorFlow, else in ``--tf-python`` (or ``$K2E_TF_PYTHON``)::

    python bench/runtime_int8.py                  # MobileNetV2, MobileNetV3Small/Large, EfficientNetB0, ResNet50
    python bench/runtime_int8.py --models MobileNetV2 --runs 10

For each model: ``tests/runtime/make_quantized_models.py --zoo NAME --modes int8`` builds the Keras
application (weights=None, fixed seed, BatchNormalization statistics randomised) and converts it with
the official ``tf.lite.TFLiteConverter`` in full-integer mode (int8 weights and activations, int8 input
and output, 8 random calibration samples). Models are cached in ``--work``.

Each engine runs in its OWN fresh process (bench/runtime.py's worker), batch 1, one thread everywhere:

* ``k2e``: ``keras2edge.runtime.Interpreter(path).run(x)``;
* ``litert``: LiteRT's default resolver (XNNPACK), the usual way to run a .tflite;
* ``litert-ref``: LiteRT with ``OpResolverType.BUILTIN_REF`` (reference kernels; fewer runs);
* ``tflm``: TFLite Micro's Python interpreter (reference kernels; the bit-exact oracle; fewer runs);
* ``ort``: onnxruntime (CPUExecutionProvider, one thread) on a QDQ ONNX file. The converter's int8
  ``.tflite`` has no ONNX form, so this is keras2edge's own int8 of the same Keras model
  (``keras2edge.quantize`` of the ``.h5`` that ``tests/runtime/make_converter_models.py --zoo`` saves,
  calibrated on the same 8 samples the converter was given: seed 1234, uniform in the input range;
  float input and output with QuantizeLinear/DequantizeLinear inside), fed the real value of the same
  int8 input. A different int8 model of the same network: its latency is comparable, its outputs are
  not compared bit for bit.

Measured as in bench/runtime.py (cold start, median latency, peak RSS). ``--repeat N`` runs every
engine N times (fresh processes each time) and keeps the best of each figure (lowest median latency,
cold start and peak RSS): on a shared machine the slowest runs measure the other processes.
Exactness: the number of output elements that differ from TFLite Micro's (0 = bit-exact) for the
same int8 input. Results replace the "Runtime (int8)" section of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import results  # bench/results.py: the shared RESULTS.md sections
import runtime as base  # bench/runtime.py: the worker, the machine facts

REPO = base.REPO
SECTION = base.INT8_SECTION
ENGINES = base.INT8_ENGINES
SLOW = {"litert-ref", "tflm"}


def ensure_models(names: list[str], work: Path, tfpy: str | None) -> None:
    missing = [n for n in names if not (work / f"{n}.int8.tflite").exists()]
    if missing:
        print(f"making {', '.join(missing)} (int8) with the TFLite converter ...", flush=True)
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        subprocess.run([base.tf_python(tfpy), "-m", base.INT8_MAKER, "--zoo", *missing, "--modes", "int8",
                        "--out", str(work)], check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)


def ensure_qdq(names: list[str], work: Path, tfpy: str | None) -> None:
    """``work/NAME.qdq.onnx``: keras2edge's int8 QDQ ONNX of the float zoo model (its ``.h5`` made by
    bench/runtime.py's maker when missing), calibrated on the converter's samples (module docstring)."""
    todo = [n for n in names if not (work / f"{n}.qdq.onnx").exists()]
    missing = [n for n in todo if not (work / f"{n}.h5").exists()]
    if missing:
        print(f"making {', '.join(missing)} (.h5) with Keras ...", flush=True)
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        subprocess.run([base.tf_python(tfpy), str(base.MAKER), "--zoo", *missing, "--out", str(work)], check=True,
                       env=env, stdout=subprocess.DEVNULL)
    if not todo:
        return
    import keras2edge

    for n in todo:
        info = json.loads((work / f"{n}.int8.json").read_text())
        lo, hi = info["input_range"]
        rng = np.random.default_rng(CALIBRATION_SEED)
        shape = tuple(info["input_shape"])
        calib = np.concatenate([rng.uniform(lo, hi, (1, *shape)).astype(np.float32)
                                for _ in range(CALIBRATION_SAMPLES)])
        print(f"quantizing {n}.h5 to QDQ ONNX with keras2edge ...", flush=True)
        keras2edge.save(keras2edge.quantize(keras2edge.load(work / f"{n}.h5"), calibration=calib),
                        work / f"{n}.qdq.onnx")


#: The TFLite converter's calibration (tests/runtime/make_quantized_models.py: CALIBRATION_SAMPLES samples
#: from default_rng(SEED) of make_converter_models), repeated for keras2edge's QDQ ONNX.
CALIBRATION_SEED = 1234
CALIBRATION_SAMPLES = 8


def _input(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A fixed random int8 input of the model's input shape (read from the file by keras2edge), and
    its real value (scale·(q − zero point)) for the float-input QDQ ONNX."""
    from keras2edge.runtime import Interpreter

    d = Interpreter(path.read_bytes()).get_input_details()[0]
    x = np.random.default_rng(0).integers(-128, 127, size=d["shape"], endpoint=True).astype(d["dtype"])
    scale, zp = d["quantization"]
    return x, (np.float32(scale) * (x.astype(np.float32) - np.float32(zp))).astype(np.float32)


def gemm_floor(model: Path, repeat: int) -> float | None:
    """The model's CONV_2D / FULLY_CONNECTED float32 GEMMs alone (``bench/profile_runtime.py
    --gemm-floor`` in a fresh one-thread process; best of ``repeat``), in seconds."""
    env = {**os.environ, **base.ONE_THREAD, "PYTHONPATH": str(REPO / "src")}
    best = None
    for _ in range(max(1, repeat)):
        p = subprocess.run([sys.executable, str(Path(__file__).with_name("profile_runtime.py")), str(model),
                            "--runs", "10", "--top", "0", "--gemm-floor"], env=env, capture_output=True, text=True)
        for line in p.stdout.splitlines():
            if "GEMM floor" in line:
                v = float(line.rsplit(":", 1)[1].split()[0]) / 1e3
                best = v if best is None else min(best, v)
    return best


def _best(results_: list[dict]) -> dict:
    """The best of repeated runs of one engine: each figure's minimum, and every median kept."""
    ok = [r for r in results_ if "error" not in r]
    if not ok:
        return results_[-1]
    best = dict(min(ok, key=lambda r: r["median_s"]))
    for k in ("cold_s", "peak_rss"):
        best[k] = min(r[k] for r in ok)
    best["all_median_s"] = [r["median_s"] for r in ok]
    return best


def section(rows: list[dict], args, started: str, elapsed: float, machine: list[str]) -> str:
    def get(r, e, k):
        return r["engines"].get(e, {}).get(k)

    def ratio(a, b):
        return f"{a / b:.2f}" if a is not None and b else "-"

    fmt = base.fmt
    L = [SECTION, "",
         f"Generated by `python bench/runtime_int8.py{' --models ' + args.models if args.models else ''} "
         f"--runs {args.runs}{f' --repeat {args.repeat}' if args.repeat > 1 else ''}` on {started} "
         f"(took {elapsed:.0f} s).", "", "### Machine", "", *machine, "",
         "### What is measured", "",
         "- Models: Keras 3 applications (weights=None, fixed seed, randomised BatchNormalization statistics, "
         "logits), converted to full-integer int8 `.tflite` by the official TFLiteConverter "
         "(`tests/runtime/make_quantized_models.py --zoo NAME --modes int8`). Batch 1, one thread everywhere.",
         "- Engines: **k2e** = `keras2edge.runtime.Interpreter` (NumPy); **LiteRT** = ai-edge-litert default "
         "resolver (XNNPACK); **LiteRT-ref** = `OpResolverType.BUILTIN_REF`; **TFLM** = the tflite-micro "
         f"package's interpreter (LiteRT-ref and TFLM: {args.ref_runs} timed runs); **ORT** = onnxruntime "
         "(CPUExecutionProvider) on keras2edge's own QDQ ONNX of the same Keras model (`keras2edge.quantize` of "
         "the float model, calibrated on the converter's 8 samples; the converter's int8 .tflite has no ONNX "
         "form): a different int8 model of the same network, fed the real value of the same input.",
         f"- Latency: median of {args.runs} runs after {args.warmup} warm-up runs, in ms. Cold start and peak "
         "RSS as in the float section. `x slower` columns are k2e / other; `x faster` are other / k2e."
         + (f" Every engine ran {args.repeat} times (fresh processes, models alternated); each figure is the "
            "best of those runs (the machine is shared: the slower runs measure other processes), all medians "
            "in the notes." if args.repeat > 1 else ""),
         "- Exactness: output elements that differ from TFLite Micro's on the same random int8 input "
         "(0 = bit-exact).", "",
         "### Latency (ms, batch 1, 1 thread)", "",
         "| model | k2e | LiteRT | LiteRT-ref | TFLM | ORT (QDQ) | k2e / LiteRT | LiteRT-ref / k2e | TFLM / k2e "
         "| k2e / ORT | k2e arena MB | k2e ≠ TFLM | LiteRT ≠ TFLM | LiteRT-ref ≠ TFLM |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        k, lt, lr, tm, o = (get(r, e, "median_s") for e in ("k2e", "litert", "litert-ref", "tflm", "ort"))
        L.append(f"| {r['model']} | {fmt(k, '.1f', 1e3)} | {fmt(lt, '.1f', 1e3)} | {fmt(lr, '.1f', 1e3)} | "
                 f"{fmt(tm, '.1f', 1e3)} | {fmt(o, '.1f', 1e3)} | {ratio(k, lt)} | {ratio(lr, k)} | {ratio(tm, k)} | "
                 f"{ratio(k, o)} | {fmt(get(r, 'k2e', 'arena_bytes'), '.1f', 1e-6)} | "
                 f"{fmt(get(r, 'k2e', 'diff'), '.0f')} | {fmt(get(r, 'litert', 'diff'), '.0f')} | "
                 f"{fmt(get(r, 'litert-ref', 'diff'), '.0f')} |")
    L += ["", "### Cold start (s) and peak RSS (MB)", "",
          "| model | k2e cold | LiteRT cold | TFLM cold | ORT cold | k2e / LiteRT | k2e RSS | LiteRT RSS | "
          "LiteRT-ref RSS | TFLM RSS | ORT RSS | k2e / LiteRT RSS |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        kc, lc, tc, oc = (get(r, e, "cold_s") for e in ("k2e", "litert", "tflm", "ort"))
        km, lm, lrm, tmm, om = (get(r, e, "peak_rss") for e in ("k2e", "litert", "litert-ref", "tflm", "ort"))
        L.append(f"| {r['model']} | {fmt(kc, '.2f')} | {fmt(lc, '.2f')} | {fmt(tc, '.2f')} | {fmt(oc, '.2f')} | "
                 f"{ratio(kc, lc)} | {fmt(km, '.0f', 2**-20)} | {fmt(lm, '.0f', 2**-20)} | "
                 f"{fmt(lrm, '.0f', 2**-20)} | {fmt(tmm, '.0f', 2**-20)} | {fmt(om, '.0f', 2**-20)} | "
                 f"{ratio(km, lm)} |")
    if args.repeat > 1:
        L += ["", "Medians of every run (ms):", ""]
        L += [f"- {r['model']}: " + "; ".join(
            f"{e} {', '.join(f'{v * 1e3:.1f}' for v in r['engines'][e].get('all_median_s', []))}"
            for e in r["engines"] if r["engines"][e].get("all_median_s")) for r in rows]
    mb = next((r for r in rows if r["model"] == "MobileNetV2"), None)
    if mb is not None:
        k, lt, tm = (get(mb, e, "median_s") for e in ("k2e", "litert", "tflm"))
        km, lm = get(mb, "k2e", "peak_rss"), get(mb, "litert", "peak_rss")
        floor = mb.get("gemm_floor_s")

        def met(ok):
            return "-" if ok is None else ("met" if ok else "not met")
        L += ["", "### Targets (issue 10, MobileNetV2 int8)", "",
              "| target | measured | |", "|---|---:|---|",
              f"| k2e ≤ 3x LiteRT's latency | {ratio(k, lt)}x | {met(None if not (k and lt) else k <= 3 * lt)} |",
              f"| k2e ≥ 10x faster than TFLite Micro | {ratio(tm, k)}x | {met(None if not (k and tm) else tm >= 10 * k)} |",
              f"| k2e peak RSS ≤ LiteRT's | {fmt(km, '.0f', 2**-20)} vs {fmt(lm, '.0f', 2**-20)} MB | "
              f"{met(None if not (km and lm) else km <= lm)} |"]
        if floor:
            L += ["", f"The float32 BLAS GEMMs of MobileNetV2's CONV_2D and FULLY_CONNECTED layers alone, timed in one "
                  f"process of their own (`bench/profile_runtime.py --gemm-floor`, one thread), take "
                  f"{floor * 1e3:.1f} ms = {ratio(floor, lt)}x LiteRT's whole inference: the floor of a NumPy runtime "
                  "that computes int8 convolutions exactly through float BLAS, before depthwise convolutions, "
                  "requantization and the other ops."]
    errs = [f"- {r['model']}, {e}: {v['error']}" for r in rows for e, v in r["engines"].items() if "error" in v]
    if errs:
        L += ["", "Failures:", "", *errs]
    return "\n".join(L) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="", help="comma-separated zoo model names")
    ap.add_argument("--runs", type=int, default=20, help="timed runs per engine (median reported)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--ref-runs", type=int, default=2, help="timed runs for the reference kernels (LiteRT-ref, TFLM)")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--repeat", type=int, default=1,
                    help="run every engine this many times (fresh processes) and keep the best of each figure")
    ap.add_argument("--work", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "k2e-runtime-bench"),
                    help="folder where models are made and cached")
    ap.add_argument("--tf-python", default=None, help="a Python with TensorFlow, to make the models")
    ap.add_argument("--out", default=str(REPO / "bench" / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    ap.add_argument("--render", default=None,
                    help="write the section from a saved WORK/runtime-int8-bench.json instead of measuring")
    args = ap.parse_args()
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        for k, v in saved.get("args", {}).items():
            setattr(args, k, v)
        text = section(saved["rows"], args, saved["started"], saved["elapsed"], saved["machine"])
        results.write_section(Path(args.out), SECTION, text)
        print(f"wrote the '{SECTION[3:]}' section of {args.out} from {args.render}")
        return 0
    names = [m.strip() for m in args.models.split(",") if m.strip()] or base.INT8_MODELS
    engines = [e for e in args.engines.split(",") if e]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    started = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load_start = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    t_start = time.perf_counter()
    ensure_models(names, work, args.tf_python)
    sys.path.insert(0, str(REPO / "src"))
    if "ort" in engines:
        ensure_qdq(names, work, args.tf_python)
    runs_of: dict[tuple[str, str], list[dict]] = {}
    for rep in range(args.repeat):
        for n in names:
            model = work / f"{n}.int8.tflite"
            xp, xfp = work / f"{n}.int8.x.npy", work / f"{n}.int8.xf.npy"
            x, xf = _input(model)
            np.save(xp, x)
            np.save(xfp, xf)
            for e in engines:
                runs = args.ref_runs if e in SLOW else args.runs
                warm = min(1, args.warmup) if e in SLOW else args.warmup
                if e == "ort":
                    r = base.run_worker(e, work / f"{n}.qdq.onnx", xfp, work / f"{n}.int8.{e}.out.npy", runs, warm)
                else:
                    r = base.run_worker(e, model, xp, work / f"{n}.int8.{e}.out.npy", runs, warm)
                runs_of.setdefault((n, e), []).append(r)
                msg = r.get("error") or (f"{r['median_s'] * 1e3:.1f} ms, cold {r['cold_s']:.2f} s, "
                                         f"RSS {r['peak_rss'] / 2**20:.0f} MB")
                print(f"[{rep + 1}/{args.repeat}] {n:17s} {e:10s} {msg}", flush=True)
    rows = []
    for n in names:
        row = {"model": n, "engines": {e: _best(runs_of[(n, e)]) for e in engines}}
        if n == "MobileNetV2":
            row["gemm_floor_s"] = gemm_floor(work / f"{n}.int8.tflite", args.repeat)
        ref = work / f"{n}.int8.tflm.out.npy"
        if ref.exists() and "error" not in row["engines"].get("tflm", {"error": 1}):
            want = np.load(ref)
            for e in engines:
                p = work / f"{n}.int8.{e}.out.npy"
                if e not in ("tflm", "ort") and "error" not in row["engines"][e] and p.exists():
                    row["engines"][e]["diff"] = int(np.count_nonzero(np.load(p).reshape(want.shape) != want))
        rows.append(row)
    elapsed = time.perf_counter() - t_start
    machine = base.machine_info()[:-1] + [
        "- Models made by TensorFlow " + base._version("tensorflow").replace("not installed", "(in --tf-python)")
        + f" (tf.lite.TFLiteConverter, full int8); tflite-micro {base._version('tflite-micro')}",
        f"- Load average at start (1/5/15 min): {load_start}",
        f"- Load average at end (1/5/15 min): {' / '.join(f'{v:.2f}' for v in os.getloadavg())}"]
    (work / "runtime-int8-bench.json").write_text(json.dumps(
        {"rows": rows, "started": started, "elapsed": elapsed, "machine": machine,
         "args": {k: getattr(args, k) for k in ("models", "runs", "warmup", "ref_runs", "repeat")}}, indent=1))
    text = section(rows, args, started, elapsed, machine)
    if args.no_write:
        print(text)
    else:
        results.write_section(Path(args.out), SECTION, text)
        print(f"wrote the '{SECTION[3:]}' section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
