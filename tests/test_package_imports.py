"""The package's public names are imported lazily (``keras2edge.__getattr__``) and stay what they are:
``keras2edge.quantize`` and ``keras2edge.prune`` are the API functions even after the subpackages of
those names are imported."""

from __future__ import annotations

import subprocess
import sys

from .corpus import REPO


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=REPO / "src").stdout.strip()


def test_import_keras2edge_loads_no_converter_or_quantizer() -> None:
    out = _run("import sys, keras2edge; print(' '.join(sorted(m for m in sys.modules if m.startswith("
               "('keras2edge.ir', 'keras2edge.convert', 'keras2edge.quantize', 'keras2edge.api', 'numpy')))))")
    assert out == ""


def test_public_names_resolve_and_quantize_stays_the_function() -> None:
    code = ("import keras2edge.quantize.schemes, keras2edge, types\n"
            "from keras2edge import load, quantize, save, Graph, optimize, convert_many, Limits\n"
            "from keras2edge.quantize import QuantizeOptions\n"
            "import keras2edge.api as api, keras2edge.ir as ir\n"
            "import keras2edge.prune\n"
            "assert keras2edge.quantize is quantize is api.quantize, keras2edge.quantize\n"
            "assert keras2edge.prune is api.prune, keras2edge.prune\n"
            "assert isinstance(quantize, types.FunctionType) and load is api.load and Graph is ir.Graph\n"
            "assert sorted(keras2edge.__all__) == sorted(n for n in keras2edge.__all__ if hasattr(keras2edge, n))\n"
            "print('ok')")
    assert _run(code) == "ok"


def test_unknown_name_is_an_attribute_error() -> None:
    assert _run("import keras2edge\ntry:\n    keras2edge.nope\nexcept AttributeError as e:\n    print(e)") == \
        "module 'keras2edge' has no attribute 'nope'"
