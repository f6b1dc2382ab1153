"""Structure rules: dependency direction between layers of the package (and inside the op vocabulary),
every op in its family's module everywhere, registry coverage, README table, and the test tree
mirroring the package (folders, ``__init__.py``, package imports)."""

from __future__ import annotations

import ast
from pathlib import Path

from keras2edge.convert.keras.support import BEGIN, END, readme_block

from .corpus import REPO

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


# Inside ir/: the op vocabulary (ir/ops/) is the bottom layer: it knows values, nodes and dtypes, never
# the graph, passes, cost model or evaluator built on it; its core knows no family module.
INSIDE_IR = {
    "ir/ops": ("ir.graph", "ir.passes", "ir.cost", "ir.evaluate", "ir.printer", "ir.registry"),
    "ir/ops/core.py": tuple(f"ir.ops.{f}" for f in ("elementwise", "activation", "conv", "dense", "pool", "reduce",
                                                     "shape", "resize", "normalization", "quant")),
}


def test_dependency_direction_inside_ir() -> None:
    bad = []
    for where, banned in INSIDE_IR.items():
        files = [PKG / where] if where.endswith(".py") else list((PKG / where).rglob("*.py"))
        assert files and all(f.exists() for f in files), where
        for f in files:
            bad += [f"{f.relative_to(PKG)} imports {m}" for m in _imports(f)
                    if any(m == b or m.startswith(b + ".") for b in banned)]
    assert not bad, "\n".join(bad)


def _string_literals(path: Path) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


def test_every_op_is_in_its_family_module_everywhere() -> None:
    """An op is named in ir/ops/<family>.py (and in no other family module) and emitted by
    convert/onnx/ops_<family>.py and convert/tflite/ops_<family>.py: one guess finds it anywhere."""
    from keras2edge.convert.onnx import ONNX_EMITTERS
    from keras2edge.convert.tflite import TFLITE_EMITTERS
    from keras2edge.ir.ops import OPS, Family

    named = {f: _string_literals(PKG / "ir" / "ops" / f"{f.value}.py") for f in Family
             if (PKG / "ir" / "ops" / f"{f.value}.py").exists()}
    bad = []
    for op, spec in OPS.items():
        homes = sorted(f.value for f, names in named.items() if op in names)
        if homes != [spec.family.value]:
            bad.append(f"{op} (family {spec.family.value}) is named in ir/ops/{homes}")
        for backend, table in (("onnx", ONNX_EMITTERS), ("tflite", TFLITE_EMITTERS)):
            fn = table.get(op)
            want = f"keras2edge.convert.{backend}.ops_{spec.family.value}"
            if fn is not None and fn.__module__ != want:
                bad.append(f"{op}: {backend} emitter in {fn.__module__}, not {want}")
    assert not bad, "\n".join(bad)
    emitter_modules = {p.stem for b in ("onnx", "tflite") for p in (PKG / "convert" / b).glob("ops_*.py")}
    assert emitter_modules == {f"ops_{f.value}" for f in named}, "an emitter module that is not a family"


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


# The test tree mirrors src/keras2edge: tests/<pkg>/ tests src/keras2edge/<pkg> (a package, or a module
# such as runtime/schema.py whose tests fill a folder). Only these cross-cutting suites sit elsewhere.
TESTS = REPO / "tests"
CROSS_CUTTING = {"hostile", "zoo", "mutations"}
DATA = {"fixtures"}  # committed test data and the scripts that make it, not test code


def _test_folders() -> list[Path]:
    return sorted(d for d in TESTS.rglob("*") if d.is_dir() and d.name != "__pycache__"
                  and d.relative_to(TESTS).parts[0] not in DATA)


def test_test_tree_mirrors_src() -> None:
    bad = []
    for d in _test_folders():
        rel = d.relative_to(TESTS)
        if rel.parts[0] in CROSS_CUTTING:
            continue
        if not ((PKG / rel).is_dir() or (PKG / rel).with_suffix(".py").is_file()):
            bad.append(f"tests/{rel.as_posix()} has no src/keras2edge/{rel.as_posix()} package or module")
    assert not bad, "\n".join(bad) + f"\n(cross-cutting suites may sit at the top: {sorted(CROSS_CUTTING)})"


def test_every_test_folder_is_a_package() -> None:
    missing = [f"tests/{d.relative_to(TESTS).as_posix()}" for d in [TESTS, *_test_folders()]
               if not (d / "__init__.py").is_file()]
    assert not missing, f"test folders without __init__.py: {missing}"


def test_tests_import_their_helpers_through_the_package() -> None:
    """No ``sys.path`` edits and no bare ``from helpers import ...``: helpers are imported relative to
    their package or as ``tests.<...>``. The one script that edits sys.path is run by path
    (``python tests/mutations/run_mutations.py``) before ``tests`` can be imported."""
    local = {p.stem for p in TESTS.rglob("*.py")} - {"__init__"}  # folder names (onnx, keras...) are real packages too
    scripts = {TESTS / "mutations" / "run_mutations.py"}
    bad = []
    for f in TESTS.rglob("*.py"):
        if f.relative_to(TESTS).parts[0] in DATA:
            continue
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            tops = []
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                tops = [node.module.split(".")[0]]
            bad += [f"{f.relative_to(REPO)}: bare import of tests module {t!r}" for t in tops if t in local]
            if (f not in scripts and isinstance(node, ast.Attribute) and node.attr == "path"
                    and isinstance(node.value, ast.Name) and node.value.id == "sys"):
                bad.append(f"{f.relative_to(REPO)}: edits sys.path")
    assert not bad, "\n".join(bad)
