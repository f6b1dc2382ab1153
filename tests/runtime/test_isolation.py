"""`import keras2edge.runtime` loads NumPy and the standard library only."""

from __future__ import annotations

import subprocess
import sys

from ..corpus import REPO


def test_runtime_import_loads_no_heavy_package() -> None:
    code = ("import sys; import keras2edge.runtime; "
            "print(' '.join(m for m in ('onnx', 'h5py', 'click', 'flatbuffers', 'tensorflow', 'onnxruntime') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO / "src")
    assert out.stdout.strip() == ""


def test_runtime_imports_nothing_from_the_package() -> None:
    import ast

    bad = []
    root = REPO / "src"
    for f in (root / "keras2edge" / "runtime").rglob("*.py"):
        pkg = list(f.relative_to(root).parent.parts)  # e.g. ['keras2edge', 'runtime', 'kernels']
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                target = ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else []))
                if not target.startswith("keras2edge.runtime"):
                    bad.append(f"{f.name}: from {'.' * node.level}{node.module or ''} (= {target})")
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("keras2edge") \
                    and not node.module.startswith("keras2edge.runtime"):
                bad.append(f"{f.name}: from {node.module}")
            elif isinstance(node, ast.Import):
                bad += [f"{f.name}: import {a.name}" for a in node.names
                        if a.name.split(".")[0] not in sys.stdlib_module_names and a.name.split(".")[0] != "numpy"]
    assert not bad, bad


def test_running_a_tflite_imports_only_the_runtime() -> None:
    """`from keras2edge.runtime import Interpreter` and a run load no other keras2edge module than the
    runtime and the error classes (the package's public API is imported lazily): the peak RSS of
    running a .tflite is the runtime's, not the converter's and quantizer's."""
    path = [REPO / "tests" / "fixtures" / "trained" / "anchors" / "digits_cnn.tflite_converter.int8.tflite"]
    code = ("import sys, numpy as np; from keras2edge.runtime import Interpreter; "
            f"it = Interpreter({str(path[0])!r}); d = it.get_input_details()[0]; "
            "it.run(np.zeros(d['shape'], d['dtype'])); "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('keras2edge.') "
            "and not m.startswith('keras2edge.runtime') and m != 'keras2edge.errors')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO / "src")
    assert out.stdout.strip() == ""
