"""The IR depends on nothing else in the package (only itself, ``keras2edge.errors`` and NumPy)."""

from __future__ import annotations

import ast
from pathlib import Path

import keras2edge.ir

IR_DIR = Path(keras2edge.ir.__file__).parent
ALLOWED_EXTERNAL = {"numpy", "__future__"}


def imported_modules(path: Path) -> list[str]:
    """Absolute module names imported by one file (relative imports resolved)."""
    package = ["keras2edge", *path.parent.relative_to(IR_DIR.parent).parts]
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.append(".".join(base + ([node.module] if node.module else [])))
            else:
                names.append(node.module or "")
    return names


def test_ir_imports_only_ir_errors_numpy_and_stdlib() -> None:
    import sys

    bad = []
    for path in sorted(IR_DIR.rglob("*.py")):
        for mod in imported_modules(path):
            top = mod.split(".")[0]
            if mod.startswith("keras2edge."):
                ok = mod.startswith("keras2edge.ir") or mod == "keras2edge.errors"
            else:
                ok = top in ALLOWED_EXTERNAL or top in sys.stdlib_module_names
            if not ok:
                bad.append(f"{path.relative_to(IR_DIR)}: {mod}")
    assert not bad, bad
