"""``onnx.checker`` on serialized model bytes, without importing the ``onnx`` Python package.

The checker and shape inference are onnx's C++ extension ``onnx.onnx_cpp2py_export`` (the Python
``onnx.checker.check_model`` only serializes the proto and calls it). ``import onnx`` would also
run ``onnx/__init__.py``, which imports ``onnx.helper`` → ``ml_dtypes`` (0.7-1 s with ml_dtypes
0.7.0; see :mod:`.proto`). So the extension is loaded from the installed onnx package's folder under
its own module name, which ``import onnx`` later reuses (it looks in ``sys.modules`` first); if the
package is already imported, or the file cannot be found, the ordinary import is used. (One
difference remains: a later ``import onnx`` does not bind the attribute ``onnx.onnx_cpp2py_export``;
onnx itself only reaches it through imports, which find it in ``sys.modules``.)
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType

EXTENSION = "onnx.onnx_cpp2py_export"

#: Initializers larger than this are checked as declared graph inputs of their type and shape, not
#: as data (``encode_model(declare_above=...)``): the full check and its shape inference read the
#: *values* of small constants only (shapes, axes, pads, sizes), so the weights need not be copied
#: into the bytes the checker parses.
CHECK_INLINE_BYTES = 4096


def onnx_cpp() -> ModuleType:
    """onnx's C++ extension module (``checker``, ``shape_inference``), loaded once."""
    mod = sys.modules.get(EXTENSION)
    if mod is not None:
        return mod
    if "onnx" not in sys.modules:
        spec = importlib.util.find_spec("onnx")   # finds the package without running its __init__
        for folder in (spec.submodule_search_locations or []) if spec is not None else []:
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = os.path.join(folder, "onnx_cpp2py_export" + suffix)
                if os.path.isfile(path):
                    loader = importlib.machinery.ExtensionFileLoader(EXTENSION, path)
                    ext_spec = importlib.util.spec_from_file_location(EXTENSION, path, loader=loader)
                    if ext_spec is None:
                        break
                    mod = importlib.util.module_from_spec(ext_spec)
                    sys.modules[EXTENSION] = mod
                    loader.exec_module(mod)
                    return mod
    return importlib.import_module(EXTENSION)


def check_model_bytes(data: bytes, *, full_check: bool = True) -> None:
    """``onnx.checker.check_model(data, full_check)``: raises ``onnx.checker.ValidationError`` (or
    ``onnx.shape_inference.InferenceError`` from the full check's shape inference)."""
    onnx_cpp().checker.check_model(data, full_check, False, False)


def checker_errors() -> tuple[type[Exception], ...]:
    """The exception classes :func:`check_model_bytes` raises on an invalid model."""
    c = onnx_cpp()
    return (c.checker.ValidationError, c.shape_inference.InferenceError)
