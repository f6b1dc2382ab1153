"""``keras2edge check --target tflm`` on the TFLite converter's full-int8 files of the zoo (made on demand,
tests/runtime/zoo_int8.py; TensorFlow needed, so zoo-marked): every operator supported, and the arena
we report lets the tflite-micro interpreter allocate and run the model and is within 10 % of the
smallest arena that does (bisected on allocation, each trial in a forked child; then one full
invoke at our figure and one at the minimum)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keras2edge import check_tflm

from ..runtime.zoo_int8 import ZOO_INT8, zoo_int8_file
from .probe import OK, min_arena, trial

pytest.importorskip("tflite_micro")

FIGURES: dict[str, tuple[int, int]] = {}  # model -> (ours, bisected minimum), printed at the end


@pytest.mark.zoo
@pytest.mark.parametrize("name", ZOO_INT8)
def test_zoo_int8_arena_within_10_percent(name: str, int8_zoo_dir: Path) -> None:
    path = zoo_int8_file(name, int8_zoo_dir)
    report = check_tflm(path)
    assert report.runs and not report.findings, [f.op for f in report.findings]
    assert report.inputs[0].dtype == report.outputs[0].dtype == "int8"
    data = path.read_bytes()
    ours = report.arena.arena_bytes
    x = np.random.default_rng(0).integers(-128, 128, report.inputs[0].shape).astype(np.int8)
    low = min_arena(data, [x], start=ours, invoke=False)
    FIGURES[name] = (ours, low)
    assert trial(data, ours, [x], timeout=120.0) == OK, f"{name}: TFLite Micro fails to run with our {ours} bytes"
    assert trial(data, low, [x], timeout=120.0) == OK, f"{name}: the bisected {low} bytes allocate but do not run"
    assert low <= ours <= 1.10 * low, f"{name}: ours {ours}, minimum {low}"


def teardown_module() -> None:
    if FIGURES:
        rows = [f"  {n:18} ours {o:12,}  minimum {m:12,}  {o / m:6.3f}" for n, (o, m) in FIGURES.items()]
        print("\nTFLite Micro arena on the zoo's int8 files, ours vs bisected minimum:\n" + "\n".join(rows))
