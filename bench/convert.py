"""Conversion benchmark: keras2edge vs tf2onnx, whole-process wall time and peak RSS.

Run by hand, from the repository root, in a virtualenv with the ``test`` and ``zoo`` extras
(TensorFlow, tf2onnx, onnxruntime, pytest) and keras2edge installed::

    python bench/convert.py                    # MobileNetV2, MobileNetV3Small, ResNet50, EfficientNetB0
    python bench/convert.py --all              # all 14 zoo models
    python bench/convert.py --models VGG16,Xception --runs 5
    python bench/convert.py --memory-only      # keras2edge's peak RSS only (bench/convert_memory.py)

For each model (built exactly as in ``tests/zoo/test_zoo.py``: Keras 3 applications, weights=None,
fixed seed, randomised BatchNormalization statistics, logits), saved once as Keras 3 legacy HDF5:

* (a) ``keras2edge convert model.h5 -o out.onnx``: the console script next to this Python;
* (b) tf2onnx on the same file, *including* its TensorFlow import: ``python -m tf2onnx.convert
  --keras model.h5 --output out.onnx --opset N``, or, if that fails, a small script that loads the
  file with ``keras.models.load_model`` and calls ``tf2onnx.convert.from_keras``; the method used is
  written in the results.

Each is run ``--runs`` times (default 3), each time in a fresh process, the two tools' runs
alternated so that both see the same machine load; the median wall time is reported, with the peak
RSS (``ru_maxrss`` of that process, from ``os.wait4``; the largest over the runs). Each output is
then run in onnxruntime (CPU, 1 thread) on a fixed random batch of 2 and compared with Keras' own
output. Then:

* the batch figure: all the models' ``.h5`` files in one ``keras2edge convert ... -o DIR/ --format
  onnx -j 2`` process (median of ``--runs``) against the sum of their separate tf2onnx runs;
* import time per module: ``python -X importtime`` of what ``keras2edge convert`` imports for each
  format, and of ``import onnx`` (which keras2edge's writer avoids), medians of ``--import-runs``.

Results go to ``bench/RESULTS.md`` (``--out`` to change), keeping the other benchmarks' sections.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import results  # noqa: E402  (bench/results.py: the shared RESULTS.md sections)

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Convert (keras2edge vs tf2onnx)"
DEFAULT_MODELS = ["MobileNetV2", "MobileNetV3Small", "ResNet50", "EfficientNetB0"]
TARGET_MODEL, TARGET_RATIO = "MobileNetV2", 10.0
TF2ONNX_OPSET = 18   # the newest opset tf2onnx 1.17 knows; keras2edge uses its own default (21)
VERSION_PACKAGES = ["keras2edge", "numpy", "onnx", "h5py", "click", "onnxruntime", "tensorflow", "keras",
                    "tf_keras", "tf2onnx", "protobuf"]

TF2ONNX_API_SCRIPT = r"""
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
import keras
import tf2onnx
model = keras.models.load_model(sys.argv[1], compile=False)
spec = [tf.TensorSpec((None, *x.shape[1:]), tf.float32, name=f"input_{i}") for i, x in enumerate(model.inputs)]
tf2onnx.convert.from_keras(model, input_signature=spec, opset=int(sys.argv[3]), output_path=sys.argv[2])
"""


@dataclass
class Run:
    ok: bool
    wall_s: float
    rss_kb: int
    error: str = ""
    fatal: bool = False   # killed (memory cap, signal, timeout): no point trying another method


@dataclass
class ToolResult:
    name: str
    method: str = ""
    runs: list[Run] = field(default_factory=list)
    error: str = ""
    onnx_nodes: int | None = None
    transposes: int | None = None
    abs_err: float | None = None
    rel_err: float | None = None
    check_error: str = ""
    note: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.ok for r in self.runs)

    @property
    def median_s(self) -> float | None:
        return statistics.median(r.wall_s for r in self.runs) if self.ok else None

    @property
    def rss_mb(self) -> float | None:
        return max(r.rss_kb for r in self.runs) / 1024 if self.ok else None


# A tiny launcher (python -S -I: no site, ~10 MB) that forks and execs the measured command and
# reports its wall time and peak RSS. The benchmark process itself has TensorFlow loaded (~1 GB);
# Linux carries a process's pre-exec peak RSS over exec (also with vfork / posix_spawn), so a
# command started directly from here would report at least our own RSS. Started from the launcher,
# it reports its own. A watcher thread kills the command if its RSS passes a cap: tf2onnx on VGG16
# grows past 22 GB and would otherwise get the kernel's OOM killer loose on a shared machine.
LAUNCHER = r"""
import os, signal, sys, threading, time
stats, cap_kb, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
capped = []
def watch():
    while True:
        time.sleep(0.05)
        try:
            with open(f"/proc/{pid}/status") as f:
                rss = next((int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:")), 0)
        except (OSError, ValueError):
            return
        if rss > cap_kb:
            capped.append(rss)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            return
threading.Thread(target=watch, daemon=True).start()
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(stats, "w") as f:
    f.write(f"{os.waitstatus_to_exitcode(status)} {wall:.6f} {usage.ru_maxrss} {1 if capped else 0}\n")
"""
RSS_CAP_GB = 12.0


def run_measured(cmd: list[str], log: Path, timeout: float = 900.0, cap_gb: float = RSS_CAP_GB) -> Run:
    """Run ``cmd`` in a fresh process; its wall time and its own peak RSS (see LAUNCHER)."""
    stats = log.with_suffix(".stats")
    stats.unlink(missing_ok=True)
    exe = cmd[0] if os.path.isabs(cmd[0]) else (shutil.which(cmd[0]) or cmd[0])
    with open(log, "wb") as out:
        try:
            subprocess.run([sys.executable, "-S", "-I", "-c", LAUNCHER, str(stats), str(int(cap_gb * 1024 * 1024)),
                            exe, *cmd[1:]],
                           stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout,
                           check=False)
        except subprocess.TimeoutExpired:
            return Run(False, timeout, 0, f"timed out after {timeout:.0f} s", fatal=True)
    try:
        rc_s, wall_s, rss_s, capped = stats.read_text().split()
    except (OSError, ValueError):
        return Run(False, 0.0, 0, f"launcher failed: {failure_text(log)}", fatal=True)
    rc, wall, rss = int(rc_s), float(wall_s), int(rss_s)
    if capped == "1":
        return Run(False, wall, rss, f"killed after {wall:.0f} s: its memory passed {cap_gb:g} GB "
                                     "(the benchmark's RSS cap, --max-rss-gb)", fatal=True)
    if rc < 0:
        return Run(False, wall, rss, f"killed by signal {-rc} after {wall:.0f} s (peak RSS {rss / 1024 / 1024:.1f} GB)",
                   fatal=True)
    return Run(rc == 0, wall, rss, "" if rc == 0 else f"exit code {rc}: {failure_text(log)}")


def failure_text(log: Path) -> str:
    """The most telling line of a failed run's output (an exception or ``Error:`` line)."""
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    pat = re.compile(r"^(Error:|[A-Za-z_.]*(Error|Exception)\b|ValueError|TypeError|KeyError|AttributeError)")
    hits = [ln for ln in lines if pat.match(ln)]
    text = hits[-1] if hits else (lines[-1] if lines else "(no output)")
    return text[:400]


def onnx_stats(path: Path) -> tuple[int, int]:
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    ops = [n.op_type for n in m.graph.node]
    return len(ops), ops.count("Transpose")


def compare(path: Path, x: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    got = np.asarray(sess.run(None, {sess.get_inputs()[0].name: x})[0], np.float64)
    want64 = np.asarray(want, np.float64)
    if got.shape != want64.shape:
        raise ValueError(f"output shape {got.shape} != Keras' {want64.shape}")
    abs_err = float(np.max(np.abs(got - want64)))
    return abs_err, abs_err / max(1.0, float(want64.max() - want64.min()))


def method_log(work: Path, out: Path, method: str, k: int) -> Path:
    return work / f"{out.stem}.{re.sub(r'[^A-Za-z0-9]+', '_', method)}.{k}.log"


def discover(tool: ToolResult, cmds: list[tuple[str, list[str]]], out: Path, work: Path,
             cap_gb: float = RSS_CAP_GB) -> list[str] | None:
    """First run: the first command that works becomes the tool's method (returned)."""
    attempts: list[Run] = []
    for method, cmd in cmds:
        if out.exists():
            out.unlink()
        first = run_measured(cmd, method_log(work, out, method, 0), cap_gb=cap_gb)
        attempts.append(first)
        if first.ok and out.exists():
            tool.method, tool.runs = method, [first]
            tool.note, tool.error = tool.error, ""   # what failed before the method that worked
            return cmd
        tool.error = (tool.error + " | " if tool.error else "") + f"{method}: {first.error or 'no output file'}"
        print(f"    {tool.name} via {method} failed: {first.error or 'no output file'}", flush=True)
        if first.fatal:
            break
    tool.runs = attempts
    return None


def repeat(tool: ToolResult, cmd: list[str] | None, out: Path, work: Path, k: int,
           cap_gb: float = RSS_CAP_GB) -> None:
    """Run ``k`` of a tool whose method works (runs of the tools are alternated by the caller)."""
    if cmd is None or not tool.ok:
        return
    r = run_measured(cmd, method_log(work, out, tool.method, k), cap_gb=cap_gb)
    tool.runs.append(r)
    if not r.ok:
        tool.error = r.error


def check_output(tool: ToolResult, out: Path, x: np.ndarray, want: np.ndarray) -> None:
    """Node counts of the tool's ONNX file and its match with Keras in onnxruntime."""
    if not tool.ok:
        return
    tool.onnx_nodes, tool.transposes = onnx_stats(out)
    try:
        tool.abs_err, tool.rel_err = compare(out, x, want)
    except Exception as e:  # noqa: BLE001 - recorded in the table
        tool.check_error = f"{type(e).__name__}: {e}"[:300]


# What `keras2edge convert m.h5 -o m.onnx|m.tflite` imports, and (for the record) `import onnx`,
# which keras2edge's ONNX writer no longer does: its import pulls onnx.helper -> ml_dtypes.
IMPORT_CMDS = {
    "keras2edge convert → .onnx": "import keras2edge.cli, keras2edge.convert.keras, keras2edge.convert.onnx",
    "keras2edge convert → .tflite": "import keras2edge.cli, keras2edge.convert.keras, keras2edge.convert.tflite",
    "import onnx (not done by keras2edge)": "import onnx",
}
IMPORT_TOP = {"keras2edge convert → .onnx": 14, "keras2edge convert → .tflite": 8,
              "import onnx (not done by keras2edge)": 8}


# Submodules shown in the import tables (of other packages only the top-level module is shown).
SHOW_SUBMODULES_OF = ("keras2edge", "onnx", "ml_dtypes")


@dataclass
class ImportTimes:
    """Per module (``-X importtime``): depth in the import tree and median self / cumulative µs."""

    total_us: float
    rows: list[tuple[str, int, float, float]]   # (module, depth, self µs, cumulative µs), by cumulative


def import_times(runs: int) -> dict[str, ImportTimes]:
    """``python -X importtime -c CODE`` for each of IMPORT_CMDS, ``runs`` times each (alternated); medians."""
    samples: dict[str, list[dict[str, tuple[int, int, int]]]] = {label: [] for label in IMPORT_CMDS}
    pat = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")
    for _ in range(runs):
        for label, code in IMPORT_CMDS.items():
            res = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                                 check=True)
            mods: dict[str, tuple[int, int, int]] = {}
            for ln in res.stderr.splitlines():
                m = pat.match(ln)
                if m:
                    mods[m.group(4)] = ((len(m.group(3)) - 1) // 2, int(m.group(1)), int(m.group(2)))
            samples[label].append(mods)
    out: dict[str, ImportTimes] = {}
    for label, runs_ in samples.items():
        names = set.intersection(*(set(r) for r in runs_))
        rows = [(n, runs_[0][n][0], statistics.median(r[n][1] for r in runs_), statistics.median(r[n][2] for r in runs_))
                for n in names]
        total = statistics.median(sum(c for d, _, c in r.values() if d == 0) for r in runs_)
        out[label] = ImportTimes(total, sorted(rows, key=lambda r: -r[3]))
    return out


def import_lines(imports: dict[str, ImportTimes], runs: int) -> list[str]:
    lines = ["### Import time per module", "",
             f"`python -X importtime -c CODE` in a fresh process, {runs} runs of each CODE alternated, medians "
             "(ms), the modules with the largest cumulative time (submodules of keras2edge, onnx and ml_dtypes; of "
             "other packages the top-level module). Cumulative = the module with everything it imports; the "
             "indentation is the depth in the import tree. keras2edge's ONNX writer encodes the protobuf itself and loads only onnx's C++ "
             "checker (`onnx.onnx_cpp2py_export`), so `import onnx` (last table) is not paid.", ""]
    for label, it in imports.items():
        lines += [f"**{label}** (`{IMPORT_CMDS[label]}`): {it.total_us / 1000:.0f} ms in all", "",
                  "| module | self ms | cumulative ms |", "|---|---:|---:|"]
        shown = [r for r in it.rows if "." not in r[0] or r[0].split(".")[0] in SHOW_SUBMODULES_OF]
        for name, depth, self_us, cum_us in shown[:IMPORT_TOP[label]]:
            lines.append(f"| {'&nbsp;' * 2 * depth}{name} | {self_us / 1000:.1f} | {cum_us / 1000:.1f} |")
        lines.append("")
    return lines


@dataclass
class BatchResult:
    label: str
    models: list[str]
    k2e: ToolResult
    tf2onnx_s: float | None = None   # sum of the models' separate tf2onnx medians


def bench_batch(label: str, k2e_exe: Path, files: dict[str, Path], work: Path, runs: int,
                cap_gb: float) -> BatchResult:
    """One ``keras2edge convert A.h5 B.h5 ... -o DIR/ --format onnx -j 2`` process, ``runs`` times."""
    tool = ToolResult("keras2edge batch", method="-j 2")
    outdir = work / f"batch-{len(files)}"
    cmd = [str(k2e_exe), "convert", *map(str, files.values()), "-o", f"{outdir}/", "--format", "onnx", "-j", "2"]
    for k in range(runs):
        shutil.rmtree(outdir, ignore_errors=True)
        r = run_measured(cmd, work / f"batch-{len(files)}.{k}.log", cap_gb=cap_gb)
        written = len(list(outdir.glob("*.onnx"))) if outdir.exists() else 0
        if r.ok and written != len(files):
            r = Run(False, r.wall_s, r.rss_kb, f"{written} of {len(files)} files written")
        tool.runs.append(r)
        if not r.ok:
            tool.error = r.error
            break
    shutil.rmtree(outdir, ignore_errors=True)
    return BatchResult(label, list(files), tool)


def batch_lines(batches: list[BatchResult], runs: int) -> list[str]:
    lines = ["### Batch (one `keras2edge convert` call, `-j 2`, vs separate tf2onnx runs)", "",
             "keras2edge: `keras2edge convert M1.h5 M2.h5 ... -o DIR/ --format onnx -j 2` (one process, one import, "
             f"2 worker processes), whole-process wall time, median of {runs} runs; peak RSS of its largest process. "
             "tf2onnx: the sum of the same models' separate tf2onnx runs (the medians in the table above, each "
             "a fresh process with TensorFlow's import).", "",
             "| models | n | keras2edge batch s | tf2onnx s (sum of separate runs) | ratio | keras2edge peak RSS MB | runs |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for b in batches:
        k = b.k2e
        ratio = f"{b.tf2onnx_s / k.median_s:.1f}x" if k.ok and b.tf2onnx_s else "-"
        runs_s = ", ".join(f"{x.wall_s:.2f}" for x in k.runs)
        lines.append(f"| {b.label} | {len(b.models)} | {cell_time(k)} | {fmt(b.tf2onnx_s, '.2f')} | {ratio} | "
                     f"{fmt(k.rss_mb, '.0f')} | {runs_s} |")
    return lines + [""]


def machine_info() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    cpu, mem = results.cpu_and_ram()
    vers = []
    for p in VERSION_PACKAGES:
        try:
            vers.append(f"{p} {version(p)}")
        except PackageNotFoundError:
            vers.append(f"{p} (not installed)")
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    return [
        f"- CPU: {cpu}; {os.cpu_count()} logical cores; RAM {mem}",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()} ({sys.executable})",
        f"- Packages: {', '.join(vers)}",
        f"- Load average at start (1/5/15 min): {load}",
    ]


def fmt(v, spec: str, missing: str = "-") -> str:
    return missing if v is None else format(v, spec)


def short(text: str, n: int = 160) -> str:
    text = text.replace("|", "\\|")
    return text if len(text) <= n else text[:n].rstrip() + " ... (see notes)"


def secs(t: ToolResult) -> str:
    return "FAILED" if t.median_s is None else f"{t.median_s:.2f} s"


def cell_time(t: ToolResult) -> str:
    if t.ok:
        return f"{t.median_s:.2f}"
    return "FAILED: " + short(t.error or "?")


def cell_match(t: ToolResult) -> str:
    if not t.ok:
        return "-"
    if t.check_error:
        return "check failed: " + short(t.check_error)
    ok = t.rel_err is not None and t.rel_err <= 1e-4
    return f"{'yes' if ok else 'NO'} (abs {t.abs_err:.1e}, rel {t.rel_err:.1e})"


def write_results(path: Path, rows: list[dict], info: list[str], args, started: str, elapsed: float,
                  imports: dict[str, ImportTimes], batches: list[BatchResult]) -> None:
    lines = [
        SECTION,
        "",
        f"Generated by `{' '.join(['python bench/convert.py', *sys.argv[1:]])}` on {started} (took {elapsed:.0f} s).",
        "",
        "### Machine",
        "",
        *info,
        f"- Load average at end (1/5/15 min): {' / '.join(f'{v:.2f}' for v in os.getloadavg())}",
        "",
        "### What is measured",
        "",
        "- Models: Keras 3 applications built as in `tests/zoo/test_zoo.py` (weights=None, fixed seed, "
        "random biases, BatchNormalization statistics calibrated then randomised, logits: "
        "classifier_activation=None), saved once as Keras 3 legacy HDF5 (`model.save('m.h5')`).",
        "- keras2edge: `keras2edge convert m.h5 -o out.onnx` (the console script; opset = keras2edge's default).",
        f"- tf2onnx: see the *tf2onnx method* column; `cli` = `python -m tf2onnx.convert --keras m.h5 --output "
        f"out.onnx --opset {TF2ONNX_OPSET}`, `api` = a script that imports TensorFlow, loads the file with "
        "`keras.models.load_model` and calls `tf2onnx.convert.from_keras`. TensorFlow's import is included.",
        f"- Time: whole-process wall time, median of {args.runs} run(s) ({max(args.runs, args.target_runs)} for "
        f"{TARGET_MODEL}), each in a fresh process, the two tools' runs "
        "alternated (keras2edge, tf2onnx, keras2edge, ...) so that both see the same machine load. Peak RSS: "
        "`ru_maxrss` of that process (os.wait4 in a tiny fork+exec launcher, so the benchmark's own memory is "
        "not counted), the largest over the runs. A conversion whose RSS passes "
        f"{args.max_rss_gb:g} GB is killed (--max-rss-gb) so the kernel's OOM killer is never involved.",
        "- Match: each ONNX file run in onnxruntime (CPUExecutionProvider, 1 thread) on a fixed random batch "
        "of 2, compared with Keras' `model(x, training=False)`: abs = max |onnx - keras|, rel = abs / "
        "max(1, range of Keras' output); 'yes' if rel <= 1e-4.",
        "- Nodes / Transposes: counted in each ONNX graph.",
        "",
        "### Results",
        "",
        "| model | params | keras2edge s | tf2onnx s | ratio (tf2onnx / keras2edge) | keras2edge peak RSS MB "
        "| keras2edge peak RSS / weight bytes | tf2onnx peak RSS MB | keras2edge nodes / Transposes | tf2onnx nodes / Transposes | keras2edge matches Keras "
        "| tf2onnx matches Keras | tf2onnx method |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        k, t = r["k2e"], r["tf2onnx"]
        ratio = f"{t.median_s / k.median_s:.1f}x" if k.ok and t.ok else "-"
        lines.append(
            f"| {r['model']} | {r['params'] / 1e6:.1f} M | {cell_time(k)} | {cell_time(t)} | {ratio} | "
            f"{fmt(k.rss_mb, '.0f')} | {fmt(rss_per_weight_byte(k, r['params']), '.2f')} | {fmt(t.rss_mb, '.0f')} | "
            f"{fmt(k.onnx_nodes, 'd')} / {fmt(k.transposes, 'd')} | {fmt(t.onnx_nodes, 'd')} / {fmt(t.transposes, 'd')} | "
            f"{cell_match(k)} | {cell_match(t)} | {t.method or '-'} |")
    notes = []
    for r in rows:
        for t in (r["k2e"], r["tf2onnx"]):
            if t.note:
                notes.append(f"- {r['model']}, {t.name}: before `{t.method}` worked: {t.note}")
            if not t.ok and len(t.error) > 160:
                notes.append(f"- {r['model']}, {t.name} failed: {t.error[:1500]}")
            if t.check_error:
                notes.append(f"- {r['model']}, {t.name}: its ONNX could not be checked: {t.check_error}")
    if notes:
        lines += ["", "Notes:", "", *notes]
    lines += ["", "All runs (wall seconds):", ""]
    for r in rows:
        for t in (r["k2e"], r["tf2onnx"]):
            runs = ", ".join(f"{x.wall_s:.2f}" + ("" if x.ok else " (failed)") for x in t.runs)
            lines.append(f"- {r['model']}, {t.name}: {runs or '-'}")
    lines += ["", *batch_lines(batches, args.batch_runs)] if batches else [""]
    lines += import_lines(imports, args.import_runs)
    target = next((r for r in rows if r["model"] == TARGET_MODEL), None)
    if target is not None:
        k, t = target["k2e"], target["tf2onnx"]
        lines += ["### Target", ""]
        if k.ok and t.ok:
            ratio = t.median_s / k.median_s
            verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
            lines.append(f"keras2edge must convert {TARGET_MODEL} >= {TARGET_RATIO:g}x faster than tf2onnx (whole "
                         f"process): {ratio:.1f}x — target {verdict}.")
        else:
            lines.append(f"{TARGET_MODEL}: no ratio (a conversion failed; see the table).")
    results.write_section(path, SECTION, "\n".join(lines) + "\n")


def rss_per_weight_byte(t: ToolResult, params: int) -> float | None:
    """Peak RSS over the weight bytes (float32 parameters); issue 6's target is < 2.5."""
    return None if t.rss_mb is None else t.rss_mb * 2**20 / (4 * params)


def import_zoo():
    """``tests/zoo/test_zoo.py`` (its model specs and builder: the benchmark uses the same models),
    imported as package ``k2e_zoo`` whether or not ``tests/`` is a package."""
    import importlib
    import importlib.util

    d = REPO / "tests" / "zoo"
    spec = importlib.util.spec_from_file_location("k2e_zoo", d / "__init__.py", submodule_search_locations=[str(d)])
    pkg = importlib.util.module_from_spec(spec)
    sys.modules["k2e_zoo"] = pkg
    spec.loader.exec_module(pkg)
    return importlib.import_module("k2e_zoo.test_zoo")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--all", action="store_true", help="all 14 zoo models")
    ap.add_argument("--models", default="", help="comma-separated zoo model names")
    ap.add_argument("--runs", type=int, default=3, help="runs per tool and model (best is reported)")
    ap.add_argument("--out", default=str(REPO / "bench" / "RESULTS.md"), help="results file (Markdown)")
    ap.add_argument("--max-rss-gb", type=float, default=RSS_CAP_GB,
                    help="kill a conversion whose memory passes this (default %(default)s GB)")
    ap.add_argument("--work", default="", help="keep models and outputs in this folder (default: a temp dir)")
    ap.add_argument("--target-runs", type=int, default=0,
                    help=f"runs for {TARGET_MODEL}, the target's model (default: --runs)")
    ap.add_argument("--batch-runs", type=int, default=3, help="runs of the batch figure (median)")
    ap.add_argument("--import-runs", type=int, default=7, help="runs of each -X importtime measurement (median)")
    ap.add_argument("--no-batch", action="store_true", help="skip the batch figure (one convert call, -j 2)")
    ap.add_argument("--memory-only", action="store_true",
                    help="only keras2edge's conversion peak memory (bench/convert_memory.py; default ResNet50, VGG16)")
    args = ap.parse_args()

    zoo = import_zoo()

    names = [s.name for s in zoo.SPECS] if args.all else (
        [m.strip() for m in args.models.split(",") if m.strip()] or DEFAULT_MODELS)
    unknown = [n for n in names if n not in zoo.SPEC_BY_NAME]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; known: {[s.name for s in zoo.SPECS]}")
    k2e_exe = Path(sys.executable).with_name("keras2edge")
    if not k2e_exe.exists():
        found = shutil.which("keras2edge")
        if not found:
            ap.error(f"the keras2edge console script is not installed next to {sys.executable}")
        k2e_exe = Path(found)
    if args.memory_only:
        import convert_memory

        return convert_memory.main(names if args.all or args.models else [], Path(args.out), args.work, k2e_exe,
                                   args.max_rss_gb)

    started = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    info = machine_info()
    t_start = time.perf_counter()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="k2e-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    print("== import times (-X importtime)", flush=True)
    imports = import_times(args.import_runs)
    for label, it in imports.items():
        print(f"   {label}: {it.total_us / 1000:.0f} ms", flush=True)
    batches: list[BatchResult] = []
    h5_files: dict[str, Path] = {}
    try:
        for name in names:
            print(f"== {name}: building with Keras", flush=True)
            built = zoo._build(zoo.SPEC_BY_NAME[name], work)
            h5 = built.files["h5"]
            x = built.x if not isinstance(built.x, list) else built.x[0]
            want = built.want[0]
            k2e = ToolResult("keras2edge")
            out_k = built.dir / f"{name}.k2e.onnx"
            k2e_cmd = discover(k2e, [("cli", [str(k2e_exe), "convert", str(h5), "-o", str(out_k)])], out_k,
                               built.dir, args.max_rss_gb)
            tfo = ToolResult("tf2onnx")
            out_t = built.dir / f"{name}.tf2onnx.onnx"
            script = built.dir / "tf2onnx_api.py"
            script.write_text(TF2ONNX_API_SCRIPT)
            tfo_cmd = discover(tfo, [
                ("cli", [sys.executable, "-m", "tf2onnx.convert", "--keras", str(h5), "--output", str(out_t),
                         "--opset", str(TF2ONNX_OPSET)]),
                ("api", [sys.executable, str(script), str(h5), str(out_t), str(TF2ONNX_OPSET)]),
                # Keras 3 cannot always reload its own legacy .h5 (MobileNetV3: op nodes with a constant
                # argument); then tf2onnx gets the .keras file of the same model instead.
                ("api on .keras (Keras could not reload the .h5)",
                 [sys.executable, str(script), str(built.files["keras"]), str(out_t), str(TF2ONNX_OPSET)]),
            ], out_t, built.dir, args.max_rss_gb)
            runs = max(args.runs, args.target_runs) if name == TARGET_MODEL else args.runs
            for k in range(1, runs):   # alternated, so that both tools see the same load
                repeat(k2e, k2e_cmd, out_k, built.dir, k, args.max_rss_gb)
                repeat(tfo, tfo_cmd, out_t, built.dir, k, args.max_rss_gb)
            check_output(k2e, out_k, x, want)
            check_output(tfo, out_t, x, want)
            print(f"   keras2edge: {secs(k2e)}, {fmt(k2e.rss_mb, '.0f')} MB, {cell_match(k2e)}", flush=True)
            print(f"   tf2onnx ({tfo.method or 'failed'}): {secs(tfo)}, {fmt(tfo.rss_mb, '.0f')} MB, "
                  f"{cell_match(tfo)}", flush=True)
            if k2e.ok and tfo.ok:
                print(f"   ratio {tfo.median_s / k2e.median_s:.1f}x", flush=True)
            for t in (k2e, tfo):   # no temp paths in the results
                for attr in ("error", "note", "check_error"):
                    setattr(t, attr, getattr(t, attr).replace(str(built.dir) + os.sep, ""))
            rows.append({"model": name, "params": built.n_params, "k2e": k2e, "tf2onnx": tfo})
            h5_files[name] = h5   # kept for the batch figure
            for p in built.dir.iterdir():
                if p != h5 and p.is_file() and not args.work:
                    p.unlink()
            write_results(Path(args.out), rows, info, args, started, time.perf_counter() - t_start, imports, batches)
        if not args.no_batch and len(rows) > 1:
            tf_ok = {r["model"]: r["tf2onnx"].median_s for r in rows if r["tf2onnx"].ok}
            sets = [(f"all {len(h5_files)} models" if len(tf_ok) == len(h5_files)
                     else f"the {len(tf_ok)} that tf2onnx converted", {n: h5_files[n] for n in tf_ok})]
            if len(tf_ok) < len(h5_files):
                sets.append((f"all {len(h5_files)}", h5_files))
            for label, files in sets:
                if len(files) < 2:
                    continue
                print(f"== batch: {label} ({len(files)} models, -j 2)", flush=True)
                b = bench_batch(label, k2e_exe, files, work, args.batch_runs, args.max_rss_gb)
                if all(n in tf_ok for n in files):
                    b.tf2onnx_s = sum(tf_ok[n] for n in files)
                print(f"   keras2edge batch: {secs(b.k2e)}" + (f" vs tf2onnx {b.tf2onnx_s:.2f} s" if b.tf2onnx_s else ""),
                      flush=True)
                batches.append(b)
            write_results(Path(args.out), rows, info, args, started, time.perf_counter() - t_start, imports, batches)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
