"""Runtime benchmark (float32): keras2edge.runtime vs LiteRT vs onnxruntime on the Keras zoo.

Run by hand from the repository root, in a virtualenv with the ``test`` extra (LiteRT, onnxruntime)
and keras2edge importable; the zoo models are made with TensorFlow (the ``zoo`` extra), in this
Python if it has TensorFlow, else in ``--tf-python`` (or ``$K2E_TF_PYTHON``)::

    python bench/runtime.py                       # MobileNetV2, MobileNetV3Small, ResNet50, EfficientNetB0
    python bench/runtime.py --all                 # all 14 zoo models
    python bench/runtime.py --models VGG16 --runs 10 --tf-python /path/to/tf-venv/bin/python

For each model: ``tests/runtime/make_converter_models.py --zoo`` builds the Keras application
(weights=None, fixed seed, BatchNormalization statistics randomised) and converts it with the
official ``tf.lite.TFLiteConverter`` (float32), and saves it as Keras 3 legacy HDF5; keras2edge makes
the ONNX file from that ``.h5`` (``keras2edge.convert_model``). Models are cached in ``--work``.

Then each engine runs in its OWN fresh process (so nothing is shared or pre-warmed), batch 1, one
thread everywhere (``OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=MKL_NUM_THREADS=1``; LiteRT
``num_threads=1``; onnxruntime ``intra_op_num_threads=inter_op_num_threads=1``):

* ``k2e``: ``keras2edge.runtime.Interpreter(path).run(x)``;
* ``litert``: LiteRT's default resolver (XNNPACK), the usual way to run a .tflite;
* ``litert-ref``: LiteRT with ``OpResolverType.BUILTIN_REF`` (reference kernels; slow; fewer runs);
* ``ort``: onnxruntime (CPUExecutionProvider) on keras2edge's ONNX of the same Keras model.

Measured in each process: cold start = wall time from just before the process is spawned to the
first result (Python start, imports, model load and preparation, first inference); latency =
median of ``--runs`` inferences after ``--warmup`` ones; peak RSS = the process's ``VmHWM`` at the
end (``ru_maxrss`` where /proc is missing: on Linux it survives exec, so it would report the parent's
peak). Outputs are compared with Keras' own output for that input (max abs error / max(1, output
range)). Results replace the "Runtime (float)" section of ``bench/RESULTS.md`` (other sections stay).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import bytecode  # bench/bytecode.py: keras2edge compiled once for the timed processes
import results  # bench/results.py: the shared RESULTS.md sections

REPO = Path(__file__).resolve().parents[1]
MAKER = REPO / "tests" / "runtime" / "make_converter_models.py"
DEFAULT_MODELS = ["MobileNetV2", "MobileNetV3Small", "ResNet50", "EfficientNetB0"]
ALL_MODELS = ["MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large", "ResNet50", "ResNet50V2",
              "EfficientNetB0", "EfficientNetV2B0", "DenseNet121", "VGG16", "InceptionV3", "Xception",
              "NASNetMobile", "ConvNeXtTiny"]
ENGINES = ["k2e", "litert", "litert-ref", "ort"]
SECTION = "## Runtime (float)"
# bench/runtime_int8.py: the TFLite converter's full-integer files (tests/runtime/make_quantized_models.py
# --zoo); the oracle is TFLite Micro, bit for bit. onnxruntime runs keras2edge's own QDQ ONNX of the float
# model (the converter's int8 .tflite has no ONNX form), calibrated on the same samples.
INT8_MAKER = "tests.runtime.make_quantized_models"
INT8_MODELS = ["MobileNetV2", "MobileNetV3Small", "MobileNetV3Large", "EfficientNetB0", "ResNet50"]
INT8_ENGINES = ["k2e", "litert", "litert-ref", "tflm", "ort"]
INT8_SECTION = "## Runtime (int8)"
TFLM_ARENA = 64 << 20  # bytes; more than any zoo model's activations need
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


# ------------------------------------------------------------------------------------------------
# Worker: one engine, one model, in a fresh process
# ------------------------------------------------------------------------------------------------

def worker(engine: str, model: str, x_path: str, out_path: str, runs: int, warmup: int) -> None:
    x = np.load(x_path)
    t_import = time.time()
    if engine == "k2e":
        from keras2edge.runtime import Interpreter

        it = Interpreter(model)
        t_load = time.time()

        def infer():
            return it.run(x)
        extra = {"arena_bytes": it.arena_bytes, "ops": len(it.ops)}
    elif engine in ("litert", "litert-ref"):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        kind = OpResolverType.BUILTIN_REF if engine == "litert-ref" else OpResolverType.AUTO
        it = Interpreter(model_path=model, num_threads=1, experimental_op_resolver_type=kind)
        it.allocate_tensors()
        i_idx = it.get_input_details()[0]["index"]
        o_idx = it.get_output_details()[0]["index"]
        t_load = time.time()

        def infer():
            it.set_tensor(i_idx, x)
            it.invoke()
            return it.get_tensor(o_idx)
        extra = {}
    elif engine == "tflm":
        from tflite_micro.python.tflite_micro import runtime as tflm_runtime

        it = tflm_runtime.Interpreter.from_bytes(Path(model).read_bytes(), arena_size=TFLM_ARENA)
        t_load = time.time()

        def infer():
            it.set_input(x, 0)
            it.invoke()
            return np.array(it.get_output(0))
        extra = {}
    elif engine == "ort":
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        t_load = time.time()

        def infer():
            return sess.run(None, {name: x})[0]
        extra = {}
    else:
        raise SystemExit(f"unknown engine {engine}")
    y = infer()
    t_first = time.time()
    for _ in range(warmup):
        infer()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        y = infer()
        times.append(time.perf_counter() - t)
    np.save(out_path, np.asarray(y))
    print("RESULT " + json.dumps({"t_import": t_import, "t_load": t_load, "t_first": t_first,
                                  "median_s": float(np.median(times)), "min_s": float(np.min(times)),
                                  "runs": runs, "peak_rss": peak_rss(), **extra}), flush=True)


def peak_rss() -> int:
    """Peak resident set size of this process, in bytes.

    ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` survives ``exec`` on Linux, so a child spawned by a
    big parent reports the parent's peak; ``VmHWM`` in /proc/self/status belongs to this process's
    own address space. Use it where it exists, ru_maxrss elsewhere.
    """
    try:
        m = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())
        if m:
            return int(m.group(1)) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_worker(engine: str, model: Path, x_path: Path, out_path: Path, runs: int, warmup: int) -> dict:
    env = {**os.environ, **ONE_THREAD, **dict(bytecode.env(REPO / "src"))}  # compiled once, as installed
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", engine, str(model), str(x_path),
           str(out_path), str(runs), str(warmup)]
    t0 = time.time()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode or not lines:
        err = (p.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {p.returncode}: {err[:300]}"}
    r = json.loads(lines[-1][7:])
    r["cold_s"] = r["t_first"] - t0
    r["load_s"] = r["t_load"] - t0
    return r


# ------------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------------

def tf_python(arg: str | None) -> str:
    if arg:
        return arg
    if os.environ.get("K2E_TF_PYTHON"):
        return os.environ["K2E_TF_PYTHON"]
    if importlib.util.find_spec("tensorflow") is not None:
        return sys.executable
    raise SystemExit("TensorFlow is needed to make the zoo .tflite files: install the zoo extra, or pass "
                     "--tf-python (or set K2E_TF_PYTHON) to a Python that has it")


def ensure_models(names: list[str], work: Path, tfpy: str | None) -> None:
    missing = [n for n in names if not all((work / f"{n}{ext}").exists()
                                           for ext in (".tflite", ".h5", ".json", ".io.npz"))]
    if missing:
        print(f"making {', '.join(missing)} with the TFLite converter ...", flush=True)
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        subprocess.run([tf_python(tfpy), str(MAKER), "--zoo", *missing, "--out", str(work)], check=True, env=env,
                       stdout=subprocess.DEVNULL)
    for n in names:
        onnx = work / f"{n}.onnx"
        if not onnx.exists():
            sys.path.insert(0, str(REPO / "src"))
            import keras2edge

            print(f"converting {n}.h5 to ONNX with keras2edge ...", flush=True)
            keras2edge.convert_model(work / f"{n}.h5", onnx)


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------

def _version(pkg: str) -> str:
    try:
        from importlib.metadata import version

        return version(pkg)
    except Exception:  # noqa: BLE001
        return "not installed"


def machine_info() -> list[str]:
    cpu, ram = results.cpu_and_ram()
    blas = "?"
    try:
        cfg = np.show_config(mode="dicts")
        b = cfg.get("Build Dependencies", {}).get("blas", {})
        blas = f"{b.get('name', '?')} {b.get('version', '')}".strip()
    except Exception:  # noqa: BLE001
        pass
    return [f"- CPU: {cpu}; {os.cpu_count()} logical cores; RAM {ram}",
            f"- OS: {platform.platform()}; Python {platform.python_version()}",
            f"- numpy {np.__version__} (BLAS: {blas}); ai-edge-litert {_version('ai-edge-litert')}; "
            f"onnxruntime {_version('onnxruntime')}; keras2edge {_version('keras2edge')}",
            "- Models made by TensorFlow " + _version("tensorflow").replace("not installed", "(in --tf-python)")
            + " (tf.lite.TFLiteConverter, float32)"]


def fmt(v, spec: str, scale: float = 1.0) -> str:
    return "-" if v is None else format(v * scale, spec)


def section(rows: list[dict], args, started: str, elapsed: float, machine: list[str]) -> str:
    L = [SECTION, "",
         f"Generated by `python bench/runtime.py{' --all' if args.all else ''}"
         f"{' --models ' + args.models if args.models else ''} --runs {args.runs}` on {started} "
         f"(took {elapsed:.0f} s).", "", "### Machine", "", *machine, "",
         "### What is measured", "",
         "- Models: Keras 3 applications (weights=None, fixed seed, randomised BatchNormalization statistics, "
         "logits), converted to float32 `.tflite` by the official TFLiteConverter "
         "(`tests/runtime/make_converter_models.py --zoo`); ONNX made by `keras2edge.convert_model` from the same "
         "model saved as `.h5`. Batch 1, one thread everywhere (BLAS threads pinned to 1).",
         "- Engines: **k2e** = `keras2edge.runtime.Interpreter` (NumPy); **LiteRT** = ai-edge-litert default "
         "resolver (XNNPACK); **LiteRT-ref** = `OpResolverType.BUILTIN_REF` (reference kernels, "
         f"{args.ref_runs} runs); **ORT** = onnxruntime CPUExecutionProvider.",
         f"- Latency: median of {args.runs} runs after {args.warmup} warm-up runs, in ms. Cold start: wall time "
         "from spawning a fresh Python process to its first result (imports, load, prepare, first inference). "
         "Peak RSS: that process's own peak (`VmHWM`; `ru_maxrss` would include the parent's, as it survives "
         "exec on Linux). Ratios are k2e / other (below 1 = k2e faster or smaller).",
         "- Error vs Keras: max |output - Keras' output| / max(1, range of Keras' output) on the same input "
         "(Keras' output recorded when the model was made).", "",
         "### Latency (ms, batch 1, 1 thread)", "",
         "| model | k2e | LiteRT | LiteRT-ref | ORT | k2e / LiteRT | k2e / LiteRT-ref | k2e / ORT | k2e arena MB "
         "| err k2e | err LiteRT | err ORT |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def get(r, e, k):
        v = r["engines"].get(e, {})
        return v.get(k)

    def ratio(a, b):
        return f"{a / b:.2f}" if a is not None and b else "-"

    for r in rows:
        k, lt, lr, o = (get(r, e, "median_s") for e in ENGINES)
        L.append(f"| {r['model']} | {fmt(k, '.1f', 1e3)} | {fmt(lt, '.1f', 1e3)} | {fmt(lr, '.1f', 1e3)} | "
                 f"{fmt(o, '.1f', 1e3)} | {ratio(k, lt)} | {ratio(k, lr)} | {ratio(k, o)} | "
                 f"{fmt(get(r, 'k2e', 'arena_bytes'), '.1f', 1e-6)} | {fmt(get(r, 'k2e', 'err'), '.1e')} | "
                 f"{fmt(get(r, 'litert', 'err'), '.1e')} | {fmt(get(r, 'ort', 'err'), '.1e')} |")
    L += ["", "### Cold start (s) and peak RSS (MB)", "",
          "| model | k2e cold | LiteRT cold | ORT cold | k2e / LiteRT | k2e / ORT | k2e RSS | LiteRT RSS | "
          "LiteRT-ref RSS | ORT RSS | k2e / LiteRT RSS | k2e / ORT RSS |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        kc, lc, oc = (get(r, e, "cold_s") for e in ("k2e", "litert", "ort"))
        km, lm, lrm, om = (get(r, e, "peak_rss") for e in ENGINES)
        L.append(f"| {r['model']} | {fmt(kc, '.2f')} | {fmt(lc, '.2f')} | {fmt(oc, '.2f')} | {ratio(kc, lc)} | "
                 f"{ratio(kc, oc)} | {fmt(km, '.0f', 2**-20)} | {fmt(lm, '.0f', 2**-20)} | {fmt(lrm, '.0f', 2**-20)} | "
                 f"{fmt(om, '.0f', 2**-20)} | {ratio(km, lm)} | {ratio(km, om)} |")
    errs = [f"- {r['model']}, {e}: {v['error']}" for r in rows for e, v in r["engines"].items() if "error" in v]
    if errs:
        L += ["", "Failures:", "", *errs]
    return "\n".join(L) + "\n"


def write_section(path: Path, text: str) -> None:
    """Replace this benchmark's section of ``path`` (or append it), leaving every other section alone."""
    results.write_section(path, SECTION, text)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        engine, model, xp, op, runs, warmup = sys.argv[2:8]
        worker(engine, model, xp, op, int(runs), int(warmup))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--all", action="store_true", help="all 14 zoo models")
    ap.add_argument("--models", default="", help="comma-separated zoo model names")
    ap.add_argument("--runs", type=int, default=20, help="timed runs per engine (median reported)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--ref-runs", type=int, default=2, help="timed runs for LiteRT's slow reference kernels")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--work", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "k2e-runtime-bench"),
                    help="folder where models are made and cached")
    ap.add_argument("--tf-python", default=None, help="a Python with TensorFlow, to make the models")
    ap.add_argument("--out", default=str(REPO / "bench" / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    ap.add_argument("--rewrite", action="store_true",
                    help="only write the section again from the last run's results (--work/runtime-bench.json)")
    args = ap.parse_args()
    saved = Path(args.work) / "runtime-bench.json"
    if args.rewrite:
        if not saved.exists():
            ap.error(f"no saved results in {saved}; run the benchmark first")
        d = json.loads(saved.read_text())
        for k in ("all", "models", "runs", "warmup", "ref_runs"):
            setattr(args, k, d["args"][k])
        text = section(d["rows"], args, d["started"], d["elapsed"], d["machine"])
        write_section(Path(args.out), text)
        print(f"wrote the '{SECTION[3:]}' section of {args.out} from {saved}")
        return 0
    names = ALL_MODELS if args.all else ([m.strip() for m in args.models.split(",") if m.strip()] or DEFAULT_MODELS)
    bad = [n for n in names if n not in ALL_MODELS]
    if bad:
        ap.error(f"unknown model(s) {bad}; known: {ALL_MODELS}")
    engines = [e for e in args.engines.split(",") if e]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    started = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    t_start = time.perf_counter()
    ensure_models(names, work, args.tf_python)
    rows = []
    for n in names:
        io = np.load(work / f"{n}.io.npz")
        x, keras_y = io["x"], io["y"].astype(np.float64)
        xp = work / f"{n}.x.npy"
        np.save(xp, x)
        row = {"model": n, "engines": {}}
        for e in engines:
            model = work / (f"{n}.onnx" if e == "ort" else f"{n}.tflite")
            runs = args.ref_runs if e == "litert-ref" else args.runs
            warm = min(1, args.warmup) if e == "litert-ref" else args.warmup
            r = run_worker(e, model, xp, work / f"{n}.{e}.out.npy", runs, warm)
            row["engines"][e] = r
            msg = r.get("error") or (f"{r['median_s'] * 1e3:.1f} ms, cold {r['cold_s']:.2f} s, "
                                     f"RSS {r['peak_rss'] / 2**20:.0f} MB")
            print(f"{n:17s} {e:10s} {msg}", flush=True)
        scale = max(1.0, float(keras_y.max() - keras_y.min()))
        for e in engines:
            p = work / f"{n}.{e}.out.npy"
            if "error" not in row["engines"][e] and p.exists():
                got = np.load(p).astype(np.float64)
                row["engines"][e]["err"] = float(np.abs(got.reshape(keras_y.shape) - keras_y).max()) / scale
        rows.append(row)
    elapsed = time.perf_counter() - t_start
    machine = machine_info() + [f"- Load average at end (1/5/15 min): "
                                f"{' / '.join(f'{v:.2f}' for v in os.getloadavg())}"]
    saved.write_text(json.dumps({"rows": rows, "started": started, "elapsed": elapsed, "machine": machine,
                                 "args": {k: getattr(args, k) for k in ("all", "models", "runs", "warmup",
                                                                         "ref_runs")}}, indent=1))
    text = section(rows, args, started, elapsed, machine)
    if args.no_write:
        print(text)
    else:
        write_section(Path(args.out), text)
        print(f"wrote the '{SECTION[3:]}' section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
