"""Structure rules: dependency direction between layers of the package, registry coverage, README table."""

from __future__ import annotations

import ast
from pathlib import Path

from keras2edge.convert.keras.support import BEGIN, END, readme_block

from .conftest import REPO

PKG = REPO / "src" / "keras2edge"

# package folder -> package folders it must not import
FORBIDDEN = {
    "ir": ("convert", "quantize", "prune", "runtime", "cli", "api"),
    "convert/keras": ("convert.onnx", "convert.tflite", "cli", "api"),
    "convert/onnx": ("convert.keras", "convert.tflite", "cli", "api"),
    "convert/tflite": ("convert.keras", "convert.onnx", "cli", "api"),
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    mods = []
    rel_pkg = ".".join(path.relative_to(PKG).parent.parts)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = rel_pkg.split(".") if rel_pkg else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                mods.append(".".join([*base, node.module] if node.module else base))
            elif node.module and node.module.startswith("keras2edge"):
                mods.append(node.module[len("keras2edge."):])
        elif isinstance(node, ast.Import):
            mods += [a.name[len("keras2edge."):] for a in node.names if a.name.startswith("keras2edge.")]
    return mods


def test_dependency_direction() -> None:
    bad = []
    for folder, banned in FORBIDDEN.items():
        for f in (PKG / folder).rglob("*.py"):
            for m in _imports(f):
                if any(m == b or m.startswith(b + ".") for b in banned):
                    bad.append(f"{f.relative_to(PKG)} imports {m}")
    assert not bad, "\n".join(bad)


def test_third_party_imports_of_importer() -> None:
    """convert/keras reads files with h5py, zipfile and json only (no TensorFlow, no pickle/marshal)."""
    import sys

    never = {"pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib", "tensorflow", "keras", "tf_keras",
             "importlib", "runpy", "code", "codeop", "subprocess"}
    allowed = (set(sys.stdlib_module_names) - never) | {"h5py", "numpy"}
    # The one exception: h5probe runs its own module (`python -m keras2edge.convert.keras.h5probe`,
    # argv built from sys.executable and __name__ only) when it cannot fork.
    exceptions = {"h5probe.py": {"subprocess"}}
    for f in (PKG / "convert" / "keras").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module.split(".")[0]]
            for n in names:
                ok = n in allowed or n == "keras2edge" or n in exceptions.get(f.name, set())
                assert ok, f"{f.relative_to(PKG)} imports {n}"


def test_readme_supported_layers_table_in_sync() -> None:
    text = (REPO / "README.md").read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == readme_block(), (
        "README supported-layers table is stale: regenerate it with "
        "`python -m keras2edge.convert.keras.support --write README.md`")


def test_every_handler_has_a_docstring() -> None:
    from keras2edge.convert.keras.context import KERAS_HANDLERS

    missing = [c for c in KERAS_HANDLERS if not (KERAS_HANDLERS.get(c).__doc__ or "").strip()]
    assert not missing, missing
