"""Quantization progress (quantize/progress.py, cli_progress.py): the API reports every batch of
calibration and of each algorithm's runs to the caller's function; ``keras2edge quantize`` draws it on
stderr with --progress (or on a terminal), never under --quiet or --json, and stdout is unchanged."""

from __future__ import annotations

import io
import json

import numpy as np
from click.testing import CliRunner

import keras2edge
from keras2edge.cli import main
from keras2edge.cli_progress import ProgressLine

from .algorithm_graphs import inputs, mobilenet_like
from .test_algorithms_cli import MODEL, _calibration


def _ticks(**options: object) -> list[tuple[str, int, int | None]]:
    seen: list[tuple[str, int, int | None]] = []
    g = mobilenet_like("Relu")
    keras2edge.quantize(g, progress=lambda t, d, n: seen.append((t, d, n)), batch_size=16, **options)
    return seen


def test_api_reports_every_batch() -> None:
    seen = _ticks(calibration=inputs(mobilenet_like("Relu"), 40), cle=True, bias_correction=True)
    cal = [(d, n) for t, d, n in seen if t == "calibration"]
    assert cal == [(16, 40), (32, 40), (40, 40)]
    assert [(d, n) for t, d, n in seen if t == "high-bias absorption"] == [(16, 32), (32, 32)]
    runs = sorted({t for t, _, _ in seen if t.startswith("bias correction")})
    # run 1, the float reference, is calibration's own run (Calibration.patch_means); then the
    # uncorrected model on the 8 held-out samples, two corrections and the guard's check
    assert runs == [f"bias correction, run {k}" for k in range(2, 6)]
    assert all(n == 8 and 0 < d <= 8 for t, d, n in seen if t in runs)
    order = [t for k, (t, _, _) in enumerate(seen) if k == 0 or seen[k - 1][0] != t]
    assert order == ["high-bias absorption", "calibration", *runs]


def test_generator_has_no_total() -> None:
    x = inputs(mobilenet_like("Relu"), 24)
    seen = _ticks(calibration=(x[i:i + 8] for i in range(0, 24, 8)), bias_correction=False)
    assert seen == [("calibration", 16, None), ("calibration", 24, None)]  # rebatched to --batch-size 16


def test_nobody_asked() -> None:
    """Without a progress function nothing is reported (and nothing leaks to a later call)."""
    g = mobilenet_like("Relu")
    keras2edge.quantize(g, calibration=inputs(g, 8), bias_correction=False)
    assert _ticks(calibration=inputs(g, 8), bias_correction=False) == [("calibration", 8, 8)]


def test_line_on_a_terminal_and_in_a_log() -> None:
    tty = io.StringIO()
    line = ProgressLine(tty, terminal=True)
    for d in (8, 16):
        line("calibration", d, 16)
    line("bias correction, run 1", 8, None)
    line.close()
    assert tty.getvalue() == ("\rCalibration: 8/16 samples [############            ]"
                              "\rCalibration: 16/16 samples [########################]\n"
                              "\rBias correction, run 1: 8 samples\n")
    log = io.StringIO()
    line = ProgressLine(log, terminal=False)
    for d in range(1, 101):
        line("calibration", d, 100)
    line.close()
    rows = log.getvalue().splitlines()
    assert len(rows) == 11 and rows[-1].startswith("Calibration: 100/100 samples")  # each tenth, once


def test_cli_progress_flags(tmp_path) -> None:
    cal = _calibration(tmp_path)
    out = tmp_path / "q.tflite"
    base = ["quantize", str(MODEL), "-o", str(out), "--calibration", cal]
    plain = CliRunner().invoke(main, base)  # CliRunner's stderr is not a terminal: no progress
    assert plain.exit_code == 0 and plain.stderr == "", plain.stderr
    shown = CliRunner().invoke(main, [*base, "--progress"])
    assert shown.exit_code == 0, shown.output
    assert "Calibration: 32/32 samples [" in shown.stderr and "Bias correction, run 3: 8/8 samples" in shown.stderr
    assert shown.stdout.splitlines()[0].startswith(f"Wrote {out} (int8,")
    quiet = CliRunner().invoke(main, [*base, "--progress", "--quiet"])
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == "" and out.exists()
    as_json = CliRunner().invoke(main, [*base, "--progress", "--json"])
    assert as_json.exit_code == 0 and as_json.stderr == ""
    assert json.loads(as_json.stdout)["output"] == str(out)
    assert np.load(cal).shape[0] == 32
