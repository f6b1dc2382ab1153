"""Conversion peak memory: keras2edge's peak RSS per zoo model, .h5 and .keras, to .onnx and .tflite.

Run by ``python bench/convert.py --memory-only [--models ResNet50,VGG16] [--work DIR]`` (same
virtualenv as the conversion benchmark: Keras builds the models). For each model (built as in
``tests/zoo/test_zoo.py``), ``keras2edge convert model.{h5,keras} -o out.{onnx,tflite}`` runs once
in a fresh process (the benchmark's fork+exec launcher: the process's own ``ru_maxrss``), and so
does the baseline: an interpreter that imports keras2edge's CLI, numpy, h5py, onnx and click and
does nothing. The weight bytes are the model's parameters as float32. The target (issue 6): peak
RSS below 2.5x the weight bytes. Writes the ``## Convert peak memory`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import datetime as _dt
import shutil
import sys
import tempfile
from pathlib import Path

import convert as bench  # bench/convert.py: the launcher, the zoo builder, machine info
import results

SECTION = "## Convert peak memory"
DEFAULT_MODELS = ["ResNet50", "VGG16"]
TARGET = 2.5
BASELINE_CODE = "import numpy, h5py, onnx, click, keras2edge.cli"


def measure(names: list[str], work: Path, k2e_exe: Path, cap_gb: float) -> tuple[float, list[dict]]:
    """The baseline peak RSS (MiB) and, per model, file format and output format, the peak RSS (MiB)."""
    zoo = bench.import_zoo()
    base = bench.run_measured([sys.executable, "-c", BASELINE_CODE], work / "baseline.log", cap_gb=cap_gb)
    if not base.ok:
        raise SystemExit(f"baseline failed: {base.error}")
    rows = []
    for name in names:
        print(f"== {name}: building with Keras", flush=True)
        built = zoo._build(zoo.SPEC_BY_NAME[name], work)
        for fmt in ("h5", "keras"):
            for ext in ("onnx", "tflite"):
                out = built.dir / f"{name}.{fmt}.{ext}"
                run = bench.run_measured([str(k2e_exe), "convert", str(built.files[fmt]), "-o", str(out)],
                                         built.dir / f"{fmt}.{ext}.log", cap_gb=cap_gb)
                rows.append({"model": name, "weights": built.n_params * 4, "fmt": fmt, "ext": ext, "run": run})
                print(f"   .{fmt} -> .{ext}: {run.rss_kb / 1024:.0f} MiB, {run.wall_s:.1f} s"
                      + ("" if run.ok else f" FAILED: {run.error}"), flush=True)
    return base.rss_kb / 1024, rows


def write_section(path: Path, baseline_mb: float, rows: list[dict], info: list[str], started: str) -> None:
    mib = 1 << 20
    lines = [
        SECTION, "",
        f"Written by `python bench/convert.py --memory-only` on {started}. Target (issue 6): peak RSS < "
        f"{TARGET:g}x the weight bytes.", "",
        *info, "",
        f"- Peak RSS: `ru_maxrss` of `keras2edge convert MODEL -o OUT` in a fresh process (one run each). "
        f"Baseline: a process that only runs `{BASELINE_CODE}`: {baseline_mb:.0f} MiB.",
        "- Weights: the model's parameters as float32 (what the file holds and the output needs).", "",
        "| model | weights MiB | input | output | peak RSS MiB | peak / weights | (peak - baseline) / weights "
        "| target met |",
        "|---|---:|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        run, w = r["run"], r["weights"] / mib
        if not run.ok:
            lines.append(f"| {r['model']} | {w:.0f} | .{r['fmt']} | .{r['ext']} | failed: {bench.short(run.error)} "
                         "| - | - | - |")
            continue
        peak = run.rss_kb / 1024
        lines.append(f"| {r['model']} | {w:.0f} | .{r['fmt']} | .{r['ext']} | {peak:.0f} | {peak / w:.2f} | "
                     f"{(peak - baseline_mb) / w:.2f} | {'yes' if peak < TARGET * w else 'NO'} |")
    results.write_section(path, SECTION, "\n".join(lines) + "\n")


def main(names: list[str], out: Path, work_dir: str, k2e_exe: Path, cap_gb: float) -> int:
    started = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    info = bench.machine_info()
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="k2e-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        baseline_mb, rows = measure(names or DEFAULT_MODELS, work, k2e_exe, cap_gb)
        write_section(out, baseline_mb, rows, info, started)
    finally:
        if not work_dir:
            shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {out}", flush=True)
    return 0
