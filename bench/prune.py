"""Pruning benchmark: accuracy vs sparsity for every registered pruning method, with and without
recovery, on the trained digits fixtures (``tests/fixtures/trained``).

Run by hand from the repository root (matplotlib for the plot: a bench-only dependency)::

    PYTHONPATH=src python bench/prune.py                      # all 4 models, every method
    PYTHONPATH=src python bench/prune.py --models digits_mlp --methods magnitude

Every point is ``keras2edge.prune`` on the ``.keras`` file, calibrated (recovery; the ``auto`` scan)
on the 200-sample calibration split, and the top-1 accuracy of the pruned model run as ``.tflite``
in keras2edge.runtime on the 360-sample test split (the report's ``eval``). Curves:

* ``magnitude`` with ``--schedule global`` and ``auto`` at the ``--sparsities``;
* ``nm`` at 2:4 (50%), 1:4 (75%) and 2:8 (75%); the CNN's stem conv (one input channel, so no
  group of 4) is excluded, and its depthwise kernels stay dense, so its achieved sparsity is lower;
* any other registered method (``channel`` once merged) at the ``--sparsities`` up to 0.5;

each once without recovery (plain magnitude / N:M selection) and once with it (reconstruction and
bias correction). The x axis is the sparsity achieved over the pruned layers' weights (the report's
total). Results replace the "Pruning" section of ``bench/RESULTS.md`` and ``bench/prune.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import results  # noqa: E402 - bench/results.py: the shared RESULTS.md sections

import keras2edge  # noqa: E402
from keras2edge.prune import METHODS  # noqa: E402

TRAINED = REPO / "tests" / "fixtures" / "trained"
MANIFEST = json.loads((TRAINED / "manifest.json").read_text())
NM_PATTERNS = ((2, 4), (1, 4), (2, 8))


def _split(name: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(TRAINED / "digits.npz") as d:
        shape = tuple(MANIFEST["models"][name]["input_shape"])
        return d[f"x_{part}"].reshape((-1, *shape)), d[f"y_{part}"]


def _curves(method: str, sparsities: list[float]) -> list[tuple[str, dict]]:
    """(curve label, keras2edge.prune keywords) of every point of ``method``."""
    if method == "magnitude":
        return [(f"magnitude {s}", {"method": "magnitude", "schedule": s, "sparsity": x})
                for s in ("global", "auto") for x in sparsities]
    if method == "nm":
        return [("nm", {"method": "nm", "n": n, "m": m}) for n, m in NM_PATTERNS]
    return [(method, {"method": method, "sparsity": x}) for x in sparsities if x <= 0.5]


def run(models: list[str], methods: list[str], sparsities: list[float]) -> list[dict]:
    rows = []
    for name in models:
        xc, _ = _split(name, "calib")
        xt, yt = _split(name, "test")
        path = TRAINED / f"{name}.keras"
        for method in methods:
            for label, kw in _curves(method, sparsities):
                if name == "digits_cnn" and method == "nm":
                    kw = dict(kw, exclude=("stem_conv",))
                for recover in (False, True):
                    calib = xc if recover or kw.get("schedule") == "auto" else None
                    t0 = time.perf_counter()
                    try:
                        r = keras2edge.prune(path, calibration=calib, recover=recover, eval=(xt, yt), **kw)
                    except keras2edge.Keras2EdgeError as e:
                        rows.append({"model": name, "curve": label, "recover": recover, "error": str(e), **kw})
                        print(name, label, recover, "error:", e, flush=True)
                        continue
                    ev, tot = r.report["eval"], r.report["totals"]
                    row = {"model": name, "curve": label, "recover": recover, "target": kw.get("sparsity"),
                           "nm": f"{kw['n']}:{kw['m']}" if method == "nm" else "",
                           "sparsity": tot["sparsity"], "params": tot["params"], "nonzero": tot["nonzero_params"],
                           "accuracy": ev["accuracy_after_pct"], "base": ev["accuracy_before_pct"],
                           "drop": ev["accuracy_drop_pts"], "seconds": round(time.perf_counter() - t0, 2)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """The Markdown table: one row per (model, curve, target), accuracy without and with recovery."""
    keyed: dict[tuple, dict] = {}
    for r in rows:
        if "error" in r:
            continue
        k = (r["model"], r["curve"], r["target"], r["nm"])
        keyed.setdefault(k, {})[r["recover"]] = r
    out = ["| model | method | target | sparsity reached | nonzero / params | accuracy (change), no recovery | "
           "accuracy (change), recovery | seconds (recovery) |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for (model, curve, target, nm), pair in keyed.items():
        a, b = pair.get(False), pair.get(True)
        ref = b or a
        tgt = nm or (f"{target:.2f}" if target is not None else "")
        cell = (lambda r: f"{r['accuracy']:.2f}% ({0.0 - r['drop'] + 0.0:+.2f})" if r else "-")
        out.append(f"| {model} | {curve} | {tgt} | {100 * ref['sparsity']:.1f}% | {ref['nonzero']} / {ref['params']} | "
                   f"{cell(a)} | {cell(b)} | {b['seconds'] if b else '-'} |")
    return "\n".join(out) + "\n"


def plot(rows: list[dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return False
    models = sorted({r["model"] for r in rows})
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 4), squeeze=False)
    for ax, model in zip(axes[0], models):
        sel = [r for r in rows if r["model"] == model and "error" not in r]
        for curve in sorted({r["curve"] for r in sel}):
            for recover, style in ((False, "--"), (True, "-")):
                pts = sorted((r["sparsity"], r["accuracy"], r["nm"]) for r in sel
                             if r["curve"] == curve and r["recover"] == recover)
                if not pts:
                    continue
                label = f"{curve}{' + recovery' if recover else ''}"
                if curve == "nm":      # patterns, not a curve: one marker each, named
                    color = "tab:brown" if recover else "tab:purple"
                    ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker="s" if recover else "x",
                               s=22, color=color, label=label)
                    for x, y, pat in pts:
                        ax.annotate(pat, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points", color=color)
                else:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o", ms=3, label=label)
        if sel:
            ax.axhline(sel[0]["base"], color="gray", lw=0.8)
        ax.set_title(model)
        ax.set_xlabel("sparsity of the pruned layers")
        ax.set_ylabel("top-1 accuracy on the test split (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=sorted(MANIFEST["models"]))
    ap.add_argument("--methods", nargs="+", default=sorted(METHODS))
    ap.add_argument("--sparsities", nargs="+", type=float, default=[0.3, 0.5, 0.7, 0.8, 0.9])
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    ap.add_argument("--png", type=Path, default=REPO / "bench" / "prune.png")
    ap.add_argument("--replot", type=Path, metavar="LOG",
                    help="Only redraw the PNG from the JSON rows a previous run printed (its stdout).")
    args = ap.parse_args()
    if args.replot:
        rows = [json.loads(ln) for ln in args.replot.read_text().splitlines() if ln.startswith("{")]
        plot(rows, args.png)
        return
    t0 = time.perf_counter()
    rows = run(args.models, args.methods, args.sparsities)
    plotted = plot(rows, args.png)
    cpu, ram = results.cpu_and_ram()
    errors = [f"- {r['model']} {r['curve']} (recover={r['recover']}): {r['error']}" for r in rows if "error" in r]
    text = ("## Pruning\n\n"
            f"`bench/prune.py` (keras2edge.prune on the trained digits fixtures; top-1 accuracy of the pruned "
            f"model run as .tflite in keras2edge.runtime on the 360 test samples; calibration: the 200-sample "
            f"split; methods: {', '.join(args.methods)}). Machine: {cpu}, {ram}; "
            f"{time.perf_counter() - t0:.0f} s in all. Change in points against the unpruned model "
            "(Keras' accuracy). Without recovery: plain magnitude / N:M selection; with recovery: "
            "reconstruction against the unpruned model's activations and bias correction."
            + (f" Plot: `bench/{args.png.name}` (dashed: no recovery)." if plotted else "") + "\n\n"
            + table(rows) + ("\nRefused:\n" + "\n".join(errors) + "\n" if errors else ""))
    results.write_section(args.results, "## Pruning", text)
    print(f"wrote {args.results}" + (f" and {args.png}" if plotted else ""))


if __name__ == "__main__":
    main()
