"""Quantization benchmark: keras2edge's int8 quantizer against its two anchors, the TFLite converter and
LiteRT Quantizer — whole-process time, and what the int8 files are worth.

Run by hand from the repository root, in a Python that has TensorFlow 2.21 / Keras 3 (the ``zoo`` extra),
LiteRT Quantizer (the ``bench`` extra) and ``ai-edge-litert`` (the ``test`` extra)::

    pip install -e ".[test,zoo,bench]"
    python bench/quantize.py                                  # the 4 trained digits models + MobileNetV2
    python bench/quantize.py --models digits_cnn MobileNetV2 --runs 3
    python bench/quantize.py --models MobileNetV2 MobileNetV3Small   # any Keras application of the zoo
    python bench/quantize.py --k2e-src /path/to/other/checkout/src   # whose keras2edge to time

Models: the trained fixtures of ``tests/fixtures/trained/`` (``tests/fixtures/make_trained.py``: digits
MLP, small MobileNet-style CNN, LSTM, GRU; their ``.keras`` files) and MobileNetV2 built as in
``tests/runtime/make_quantized_models.py`` (weights=None, seed 1234, BatchNormalization statistics
randomised, logits), saved as ``.keras`` in ``--work`` (``--models`` takes any Keras application of
``make_converter_models.ZOO`` the same way). Calibration: ``--samples`` (100) samples, the same array
for every tool: the first 100 of the digits calibration split, or for a zoo model uniform random
inputs in its input range ([-1, 1] for MobileNetV2; seed 1).

Each tool quantizes to full int8 in its OWN fresh process; the time is the process's whole wall time
(Python start, imports, model load, calibration, writing the file), median of ``--runs``, the tools
alternated within each run so that they see the same machine load; each tool uses its default threads:

* ``tflite_converter``: a script that imports TensorFlow, loads the ``.keras`` model, fixes its batch at
  1 and runs ``tf.lite.TFLiteConverter.from_keras_model`` with ``Optimize.DEFAULT``, the calibration
  samples as representative dataset (one at a time), ``TFLITE_BUILTINS_INT8``, int8 input and output;
* ``litert_quantizer``: a script that imports ``litert_quantizer`` and runs ``Quantizer`` with recipe
  ``static_wi8_ai8`` (per-channel int8 weights, int8 activations, float I/O) on a FLOAT ``.tflite``
  (made beforehand, not timed: the TFLite converter's float file, or keras2edge's where the converter's
  cannot be quantized — the table says which), calibrated on the same samples;
* ``keras2edge``: ``keras2edge quantize MODEL.keras -o OUT.tflite --calibration calib.npy`` (the CLI,
  from ``--k2e-src``, its modules byte-compiled beforehand as an install would: bench/bytecode.py);
  "not available" when that keras2edge has no ``quantize`` command or cannot write an int8
  ``.tflite`` yet.

Quality, each int8 file run in LiteRT's reference kernels (``BUILTIN_REF``, which agree with TFLite
Micro on int8), inputs quantized and outputs dequantized with the file's own parameters:

* digits models: top-1 accuracy on the 360-sample test split, next to Keras' float accuracy;
* zoo models: relative L2 error of the outputs against Keras' float outputs, ||q - f|| / ||f||, over
  ``--eval`` (8) random inputs in the input range (seed 2), and top-1 agreement with Keras. How much
  Keras' own outputs depend on the input, ||f - mean f|| / ||f|| (mean over the inputs), is noted:
  random-weight outputs barely do, so these figures measure a shared output vector more than the
  input's effect, and top-1 agreement flips on its near-ties.

Results replace the "Quantization" section of ``bench/RESULTS.md`` (bench/results.py; other sections stay).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import io
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import bytecode  # bench/bytecode.py: keras2edge compiled once for the timed processes
import results  # bench/results.py: the shared RESULTS.md sections

REPO = Path(__file__).resolve().parents[1]
TRAINED = REPO / "tests" / "fixtures" / "trained"
DIGITS = ["digits_mlp", "digits_cnn", "digits_lstm", "digits_gru"]
ZOO = ["MobileNetV2"]
TOOLS = ["tflite_converter", "litert_quantizer", "keras2edge"]
SECTION = "## Quantization"
ZOO_SEED = 1234  # tests/runtime/make_converter_models.SEED: the zoo models of the other benchmarks
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3"}


# ------------------------------------------------------------------------------------------------
# Workers: each runs in a fresh process (python bench/quantize.py --worker KIND ARGS...)
# ------------------------------------------------------------------------------------------------

def _batch1(model):
    import keras

    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    inp = keras.Input(batch_shape=(1, *shape), name=model.inputs[0].name)
    return keras.Model(inp, model(inp), name=model.name)


def worker_tflite_converter(model_path: str, calib_path: str, out: str) -> None:
    import tensorflow as tf

    import keras

    calib = np.load(calib_path)

    def representative():
        for k in range(len(calib)):
            yield [calib[k:k + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(_batch1(keras.models.load_model(model_path)))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()):
        Path(out).write_bytes(conv.convert())


def worker_litert_quantizer(float_path: str, calib_path: str, out: str) -> None:
    from ai_edge_litert.interpreter import Interpreter
    from litert_quantizer import quantizer, recipe

    calib = np.load(calib_path)
    name = Interpreter(model_path=float_path).get_signature_list()["serving_default"]["inputs"][0]
    qt = quantizer.Quantizer(float_path)
    qt.load_quantization_recipe(recipe.static_wi8_ai8())
    with contextlib.redirect_stdout(io.StringIO()):
        calibration = qt.calibrate({"serving_default": [{name: calib[k:k + 1]} for k in range(len(calib))]})
        Path(out).write_bytes(bytes(qt.quantize(calibration, enable_progress_report=False).quantized_model))


def worker_float_tflite(model_path: str, out: str) -> None:
    import tensorflow as tf

    import keras

    conv = tf.lite.TFLiteConverter.from_keras_model(_batch1(keras.models.load_model(model_path)))
    with contextlib.redirect_stdout(io.StringIO()):
        Path(out).write_bytes(conv.convert())


def worker_make_zoo(name: str, work: str, samples: str, n_eval: str) -> None:
    """Build the zoo model as the other benchmarks do; save it, its calibration and eval inputs and
    Keras' float outputs on them."""
    sys.path.insert(0, str(REPO))  # a script run by path: tests/ is importable from the repository root
    from tests.runtime import make_converter_models as base

    if name not in base.ZOO:
        raise SystemExit(f"unknown model {name!r}: the digits models or one of {', '.join(base.ZOO)}")
    _, (lo, hi) = base.ZOO[name]
    model = base.zoo_model(name)
    w = Path(work)
    model.save(w / f"{name}.keras")
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    calib = np.random.default_rng(1).uniform(lo, hi, (int(samples), *shape)).astype(np.float32)
    x = np.random.default_rng(2).uniform(lo, hi, (int(n_eval), *shape)).astype(np.float32)
    np.save(w / f"{name}.calib.npy", calib)
    np.save(w / f"{name}.eval.npy", x)
    np.save(w / f"{name}.keras_out.npy", np.asarray(model(x, training=False), dtype=np.float32))


WORKERS = {"tflite_converter": worker_tflite_converter, "litert_quantizer": worker_litert_quantizer,
           "float_tflite": worker_float_tflite, "make_zoo": worker_make_zoo}


# ------------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------------

def spawn(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str | None]:
    """Run ``cmd``: (wall seconds, None) or (seconds, the failure's last stderr line)."""
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **QUIET, **(env or {})})
    dt = time.perf_counter() - t
    if r.returncode == 0:
        return dt, None
    if r.returncode < 0:  # a crash: the last stderr lines are whatever was logged before it
        return dt, f"killed by signal {-r.returncode} ({signal.Signals(-r.returncode).name})"
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith(("W0000", "I0000", "WARNING"))]
    return dt, f"exit code {r.returncode}: {lines[-1][:300]}" if lines else f"exit code {r.returncode}"


def worker_cmd(kind: str, *args: object) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", kind, *map(str, args)]


def k2e_cmd(*args: object) -> list[str]:
    """The keras2edge console script's entry point, run by this Python on ``--k2e-src``'s package."""
    return [sys.executable, "-c", "import sys; from keras2edge.cli import main; sys.argv[0] = 'keras2edge'; main()",
            *map(str, args)]


def k2e_available(env: dict[str, str]) -> str | None:
    """None if this keras2edge has a ``quantize`` command, else why not."""
    r = subprocess.run(k2e_cmd("quantize", "--help"), capture_output=True, text=True, env={**os.environ, **env})
    if r.returncode:
        return "not available: this keras2edge has no `quantize` command"
    return None


def prepare(name: str, work: Path, samples: int, n_eval: int, k2e_env: dict[str, str]) -> dict:
    """Files every tool starts from (not timed): model, calibration array, LiteRT Quantizer's float input."""
    if name in DIGITS:
        meta = json.loads((TRAINED / "manifest.json").read_text())["models"][name]
        shape = meta["input_shape"]
        with np.load(TRAINED / "digits.npz") as z:
            calib = z["x_calib"][:samples].reshape((-1, *shape))
            x_test, y_test = z["x_test"].reshape((-1, *shape)), z["y_test"]
        np.save(work / f"{name}.calib.npy", calib)
        info = {"model": str(TRAINED / meta["file"]), "params": meta["params"], "x": x_test, "y": y_test,
                "keras_accuracy": meta["keras_test_accuracy"]}
    else:
        if not (work / f"{name}.keras").exists():
            _, err = spawn(worker_cmd("make_zoo", name, work, samples, n_eval))
            if err:
                raise SystemExit(f"{name}: could not build the model: {err}")
        info = {"model": str(work / f"{name}.keras"), "x": np.load(work / f"{name}.eval.npy"),
                "keras_out": np.load(work / f"{name}.keras_out.npy")}
    info["calib"] = str(work / f"{name}.calib.npy")
    # LiteRT Quantizer's input: the TFLite converter's float file if LiteRT Quantizer can quantize it,
    # else keras2edge's float file (the converter's LSTM/GRU files use WHILE loops it cannot calibrate).
    tf_float, k2e_float = work / f"{name}.tf_float.tflite", work / f"{name}.k2e_float.tflite"
    _, err = spawn(worker_cmd("float_tflite", info["model"], tf_float))
    probe = work / f"{name}.probe.tflite"
    if not err:
        _, err = spawn(worker_cmd("litert_quantizer", tf_float, info["calib"], probe))
    if not err:
        info["float"], info["float_from"] = str(tf_float), "TFLite converter"
    else:
        _, err2 = spawn(k2e_cmd("convert", info["model"], "-o", k2e_float), k2e_env)
        info["float"], info["float_from"] = (str(k2e_float), "keras2edge") if not err2 else (None, None)
        info["float_note"] = f"LiteRT Quantizer on the TFLite converter's float file: {err}"
    return info


def _qp(d: dict) -> tuple[float, int]:
    q = d.get("quantization_parameters") or {}
    if len(q.get("scales", [])):
        return float(q["scales"][0]), int(q["zero_points"][0])
    s, z = d["quantization"]
    return float(s), int(z)


def run_ref(path: Path, x: np.ndarray) -> np.ndarray:
    """Real-valued outputs of the file on each sample of ``x`` (batch 1), LiteRT reference kernels."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path), num_threads=1, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for k in range(len(x)):
        xi = x[k:k + 1]
        if np.dtype(i["dtype"]).kind != "f":
            s, z = _qp(i)
            lim = np.iinfo(i["dtype"])
            xi = np.clip(np.round(xi / s) + z, lim.min, lim.max)
        it.set_tensor(i["index"], xi.astype(i["dtype"]))
        it.invoke()
        y = it.get_tensor(o["index"]).astype(np.float32)
        if np.dtype(o["dtype"]).kind != "f":
            s, z = _qp(o)
            y = (y - z) * s
        outs.append(y)
    return np.concatenate(outs)


def quality(info: dict, path: Path) -> dict:
    try:
        y = run_ref(path, info["x"])
    except Exception as e:  # noqa: BLE001 - a file the oracle refuses is a result
        return {"error": f"LiteRT: {type(e).__name__}: {str(e).splitlines()[0][:200]}"}
    if "y" in info:
        return {"accuracy": float(np.mean(y.argmax(-1) == info["y"]))}
    f = info["keras_out"]
    return {"rel_l2": float(np.linalg.norm(y - f) / np.linalg.norm(f)),
            "top1_agreement": float(np.mean(y.argmax(-1) == f.argmax(-1)))}


def bench(name: str, work: Path, runs: int, samples: int, n_eval: int, k2e_env: dict[str, str],
          k2e_missing: str | None) -> dict:
    info = prepare(name, work, samples, n_eval, k2e_env)
    res: dict = {"name": name, "float_from": info.get("float_from"), "notes": [], "times": {t: [] for t in TOOLS},
                 "errors": {}, "quality": {}, "bytes": {}}
    if info.get("float_note"):
        res["notes"].append(info["float_note"])
    if "keras_out" in info:
        f = info["keras_out"]
        spread = float(np.linalg.norm(f - f.mean(0)) / np.linalg.norm(f))
        res["notes"].append(f"Keras' outputs on the {len(f)} inputs: ||f - mean f|| / ||f|| = {spread:.1e}, "
                            f"top-1 classes {sorted(set(f.argmax(-1).tolist()))}")
    res["keras_accuracy"] = info.get("keras_accuracy")
    outs = {t: work / f"{name}.{t}.int8.tflite" for t in TOOLS}
    for _ in range(runs):
        for tool in TOOLS:
            if tool in res["errors"]:
                continue
            outs[tool].unlink(missing_ok=True)
            if tool == "tflite_converter":
                dt, err = spawn(worker_cmd(tool, info["model"], info["calib"], outs[tool]))
            elif tool == "litert_quantizer":
                if info["float"] is None:
                    res["errors"][tool] = "no float .tflite to start from"
                    continue
                dt, err = spawn(worker_cmd(tool, info["float"], info["calib"], outs[tool]))
            else:
                if k2e_missing:
                    res["errors"][tool] = k2e_missing
                    continue
                dt, err = spawn(k2e_cmd("quantize", info["model"], "-o", outs[tool], "--calibration", info["calib"]),
                                k2e_env)
                if err:
                    err = f"not available: {err}"
            if err:
                res["errors"][tool] = err
            else:
                res["times"][tool].append(dt)
    for tool in TOOLS:
        if tool not in res["errors"] and outs[tool].exists():
            res["bytes"][tool] = outs[tool].stat().st_size
            res["quality"][tool] = quality(info, outs[tool])
    print(json.dumps({k: v for k, v in res.items() if k != "name"}, default=str), flush=True)
    return res


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------

def _med(ts: list[float]) -> float | None:
    return float(np.median(ts)) if ts else None


def _fmt_q(q: dict | None, keras_acc: float | None) -> str:
    if not q:
        return "-"
    if "error" in q:
        return q["error"]
    if "accuracy" in q:
        change = (q["accuracy"] - keras_acc) * 100 if keras_acc is not None else None
        return f"{q['accuracy'] * 100:.2f}%" + (f" ({change:+.2f} pt)" if change is not None else "")
    return f"{q['rel_l2']:.4f} (top-1 agreement {q['top1_agreement'] * 100:.0f}%)"


def report(rows: list[dict], args: argparse.Namespace, started: float, load0: tuple, k2e_src: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    cpu, ram = results.cpu_and_ram()
    pkgs = []
    for p in ("numpy", "tensorflow", "keras", "litert-quantizer", "ai-edge-litert", "scikit-learn"):
        try:
            pkgs.append(f"{p} {version(p)}")
        except PackageNotFoundError:
            pkgs.append(f"{p} not installed")
    now = _dt.datetime.now(_dt.timezone.utc)
    argv = " ".join(sys.argv[1:])
    out = [f"{SECTION}\n\n",
           f"Generated by `python bench/quantize.py{(' ' + argv) if argv else ''}` on {now:%Y-%m-%d %H:%M} UTC "
           f"(took {time.time() - started:.0f} s).\n\n",
           "### Machine\n\n",
           f"- CPU: {cpu}; {os.cpu_count()} logical cores; RAM {ram}\n",
           f"- OS: {platform.platform()}\n",
           f"- Python {platform.python_version()} ({sys.executable})\n",
           f"- Packages: {', '.join(pkgs)}; keras2edge from {k2e_src}\n",
           f"- Load average at start (1/5/15 min): {' / '.join(f'{v:.2f}' for v in load0)}\n",
           f"- Load average at end (1/5/15 min): {' / '.join(f'{v:.2f}' for v in os.getloadavg())}\n\n",
           "### What is measured\n\n",
           f"- Full int8 with {args.samples} calibration samples, the same array for every tool (the first "
           f"{args.samples} of the digits calibration split; zoo models: uniform in the input range, seed 1). See the "
           "docstring of bench/quantize.py for each tool's exact call.\n",
           "- Time: whole-process wall time of one quantization (Python start, imports — TensorFlow's for the "
           f"TFLite converter —, load, calibration, write), median of {args.runs} run(s), tools alternated.\n",
           "- LiteRT Quantizer starts from a float .tflite made beforehand (not timed); *float input* says whose.\n",
           "- Quality: each int8 file in LiteRT's reference kernels. Digits: top-1 accuracy on the 360-sample test "
           "split (in brackets: the change from Keras' float accuracy, percentage points). Zoo models (random weights): relative L2 "
           f"error of the outputs against Keras' float outputs over {args.eval} random inputs, and top-1 agreement with "
           "Keras; the notes say how much Keras' own outputs depend on the input (random-weight outputs barely do).\n\n",
           "### Results\n\n",
           "| model | Keras float | TFLite converter s | LiteRT Quantizer s | keras2edge s | ratio converter / keras2edge "
           "| ratio LiteRT Quantizer / keras2edge | TFLite converter int8 | LiteRT Quantizer int8 | keras2edge int8 "
           "| float input of LiteRT Quantizer |\n",
           "|---|---:|---:|---:|---:|---:|---:|---|---|---|---|\n"]
    notes, all_runs = [], []
    for r in rows:
        t = {tool: _med(r["times"][tool]) for tool in TOOLS}
        cell = {tool: (f"{t[tool]:.2f}" if t[tool] is not None else
                       ("not available" if tool == "keras2edge" else "FAILED")) for tool in TOOLS}
        k = t["keras2edge"]
        ratio = {tool: f"{t[tool] / k:.1f}x" if k and t[tool] else "-" for tool in TOOLS}
        qual = {tool: (_fmt_q(r["quality"].get(tool), r["keras_accuracy"]) if tool not in r["errors"]
                       else ("not available" if tool == "keras2edge" else "FAILED (see notes)")) for tool in TOOLS}
        keras = f"{r['keras_accuracy'] * 100:.2f}%" if r["keras_accuracy"] is not None else "(logits)"
        out.append(f"| {r['name']} | {keras} | {cell['tflite_converter']} | {cell['litert_quantizer']} | {cell['keras2edge']} "
                   f"| {ratio['tflite_converter']} | {ratio['litert_quantizer']} | {qual['tflite_converter']} "
                   f"| {qual['litert_quantizer']} | {qual['keras2edge']} | {r['float_from'] or '-'} |\n")
        notes += [f"- {r['name']}, {tool}: {err}\n" for tool, err in r["errors"].items()]
        notes += [f"- {r['name']}: {n}\n" for n in r["notes"]]
        all_runs += [f"- {r['name']}, {tool}: {', '.join(f'{x:.2f}' for x in r['times'][tool])}\n"
                     for tool in TOOLS if r["times"][tool]]
    if notes:
        out += ["\nNotes:\n\n", *notes]
    out += ["\nAll runs (wall seconds):\n\n", *all_runs]
    return "".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=DIGITS + ZOO,
                    help="digits models and/or Keras applications of tests/runtime/make_converter_models.ZOO")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--samples", type=int, default=100, help="calibration samples")
    ap.add_argument("--eval", type=int, default=8, help="zoo models: random inputs for the output error")
    ap.add_argument("--work", type=Path, default=Path("/tmp/k2e-bench-quantize"))
    ap.add_argument("--k2e-src", type=Path, default=REPO / "src", help="the keras2edge package's parent folder")
    ap.add_argument("--no-write", action="store_true", help="print the section instead of writing RESULTS.md")
    a = ap.parse_args(argv)
    started, load0 = time.time(), os.getloadavg()
    a.work.mkdir(parents=True, exist_ok=True)
    k2e_env = dict(bytecode.env(a.k2e_src.resolve()))
    missing = k2e_available(k2e_env)
    rows = [bench(m, a.work, a.runs, a.samples, a.eval, k2e_env, missing) for m in a.models]
    text = report(rows, a, started, load0, str(a.k2e_src))
    if a.no_write:
        print(text)
    else:
        results.write_section(REPO / "bench" / "RESULTS.md", SECTION, text)
        print(f"wrote the {SECTION[3:]!r} section of bench/RESULTS.md")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        WORKERS[sys.argv[2]](*sys.argv[3:])
    else:
        main()
