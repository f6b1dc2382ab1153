"""The TFLite converter's full-int8 files of five Keras applications, made on demand for the zoo-marked
tests (TensorFlow needed: the ``zoo`` extra, or ``K2E_TF_PYTHON``; not committed: too big).

``K2E_RUNTIME_ZOO_DIR`` keeps them between runs; otherwise one temporary folder per test session
(the ``int8_zoo_dir`` fixture of tests/conftest.py), shared by the runtime and check tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: The zoo models whose full-int8 files the int8 runtime and ``check --target tflm`` must handle (issue 10).
ZOO_INT8 = ["MobileNetV2", "MobileNetV3Small", "MobileNetV3Large", "EfficientNetB0", "ResNet50"]


def zoo_int8_file(name: str, folder: Path) -> Path:
    """``folder/NAME.int8.tflite``, made by tests/runtime/make_quantized_models.py if missing."""
    path = folder / f"{name}.int8.tflite"
    if not path.exists():
        tfpy = os.environ.get("K2E_TF_PYTHON", sys.executable)
        r = subprocess.run([tfpy, "-m", "tests.runtime.make_quantized_models", "--zoo", name, "--modes", "int8",
                            "--out", str(folder)], capture_output=True, text=True, check=False, cwd=REPO)
        if r.returncode or not path.exists():
            pytest.fail(f"making {name} (int8) with the TFLite converter failed (needs TensorFlow: the zoo extra, "
                        f"or K2E_TF_PYTHON): {r.stderr.strip().splitlines()[-1:]}", pytrace=False)
    return path
