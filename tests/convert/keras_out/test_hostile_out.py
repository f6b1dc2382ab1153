"""Hostile sources for the Keras writer (convert/keras_out): a written .keras/.h5 never carries code or
custom objects over from the source (a non-Keras ``module`` anywhere in the config, a serialized
``__lambda__``, a custom-registry ``registered_name``), and layer names from the source never become
paths (the .keras archive's members are fixed; in an .h5 laid out anew a name like ``/x`` or ``a/b``
would be an HDF5 path, NUL cannot be stored): each refused with exit 1, one line naming the file and the
Keras layer, and no output file."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import pytest
from click.testing import CliRunner

from keras2edge.cli import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
MLP3 = FIXTURES / "trained" / "digits_mlp.keras"
MLP2 = FIXTURES / "k2" / "mlp.h5"
Edit = Callable[[dict[str, Any]], None]


def _dense(c: dict[str, Any]) -> dict[str, Any]:
    return next(ly for ly in c["config"]["layers"] if ly["class_name"] == "Dense")


def _keras_with(tmp_path: Path, edit: Edit | None = None, text: Callable[[str], str] | None = None) -> Path:
    """The trained digits MLP (.keras) with its config.json edited."""
    out = tmp_path / "src.keras"
    with zipfile.ZipFile(MLP3) as z, zipfile.ZipFile(out, "w") as o:
        cfg = json.loads(z.read("config.json"))
        if edit is not None:
            edit(cfg)
        doc = json.dumps(cfg)
        for n in z.namelist():
            o.writestr(n, (text(doc) if text else doc) if n == "config.json" else z.read(n))
    return out


def _h5_with(tmp_path: Path, edit: Edit) -> Path:
    """The Keras 2 MLP fixture (.h5) with its model_config edited."""
    out = tmp_path / "src.h5"
    shutil.copy(MLP2, out)
    with h5py.File(out, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        edit(cfg)
        f.attrs["model_config"] = json.dumps(cfg)
    return out


def _refused(tmp_path: Path, src: Path, out_name: str, *words: str) -> None:
    before = set(os.listdir(tmp_path))
    res = CliRunner().invoke(main, ["prune", str(src), "-o", str(tmp_path / out_name), "--sparsity", "0.3"])
    text = res.output.strip()
    assert res.exit_code == 1, res.output
    assert len(text.splitlines()) == 1 and text.startswith("Error: ") and "internal error" not in text, text
    for w in [src.name, *words]:
        assert w in text, text
    assert set(os.listdir(tmp_path)) == before


def _set(path: tuple[str, ...], value: Any) -> Edit:
    def edit(c: dict[str, Any]) -> None:
        d = _dense(c)
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value
    return edit


CODE = {
    "layer_module": (_set(("module",), "evilpkg.layers"), "module 'evilpkg.layers'"),
    "regularizer": (_set(("config", "kernel_regularizer"), {"module": "evilpkg", "class_name": "Evil", "config": {},
                                                             "registered_name": "Evil"}), "kernel_regularizer"),
    "initializer_os": (_set(("config", "kernel_initializer"), {"module": "os", "class_name": "system", "config": {},
                                                                "registered_name": None}), "module 'os'"),
    "lambda_constraint": (_set(("config", "kernel_constraint"), {"class_name": "__lambda__", "config": {
        "code": "4wEAAAAAAAAA", "defaults": None, "closure": None}}), "'__lambda__'"),
    "registered": (_set(("registered_name",), "evil>Dense"), "custom object 'evil>Dense'"),
    "model_module": (lambda c: c.__setitem__("module", "evilpkg.models"), "(Functional)"),
}


@pytest.mark.parametrize("case", sorted(CODE))
@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_code_never_carried_over_keras3(tmp_path: Path, case: str, ext: str) -> None:
    edit, word = CODE[case]
    _refused(tmp_path, _keras_with(tmp_path, edit), "out" + ext, word, "dense_1" if case != "model_module" else "")


def test_code_never_carried_over_keras2_h5(tmp_path: Path) -> None:
    def edit(c: dict[str, Any]) -> None:
        layers = c["config"]["layers"] if isinstance(c["config"], dict) else c["config"]
        dense = next(ly for ly in layers if ly["class_name"] == "Dense")
        dense["config"]["kernel_initializer"] = {"class_name": "__lambda__", "config": {"code": "x"}}
    _refused(tmp_path, _h5_with(tmp_path, edit), "out.h5", "'__lambda__'", "(Dense)")


def test_clean_output_references_only_keras(tmp_path: Path) -> None:
    """The positive side: an ordinary prune writes a .keras whose config names only keras.* modules and
    whose archive holds exactly Keras' three members."""
    out = tmp_path / "p.keras"
    res = CliRunner().invoke(main, ["prune", str(MLP3), "-o", str(out), "--sparsity", "0.3"])
    assert res.exit_code == 0, res.output
    with zipfile.ZipFile(out) as z:
        assert z.namelist() == ["metadata.json", "config.json", "model.weights.h5"]
        modules: list[str] = []

        def walk(o: Any) -> None:
            if isinstance(o, dict):
                if isinstance(o.get("module"), str):
                    modules.append(o["module"])
                for v in o.values():
                    walk(v)
            elif isinstance(o, list):
                for v in o:
                    walk(v)
        walk(json.loads(z.read("config.json")))
    assert modules and all(m == "keras" or m.startswith("keras.") for m in modules), set(modules)


NAMES = {"dots": "../../etc/x", "absolute": "/abs", "slash": "a/b", "nul": "a\u0000b", "dot": "."}


@pytest.mark.parametrize("case", sorted(NAMES))
def test_layer_names_never_paths(tmp_path: Path, case: str) -> None:
    name = NAMES[case]
    src = _keras_with(tmp_path, text=lambda doc: doc.replace('"dense_1"', json.dumps(name)))
    # .h5 laid out anew from a Keras 3 .keras: the name would be an HDF5 group path -> refused
    _refused(tmp_path, src, "out.h5", "(Dense)", "HDF5")
    # .keras: the archive's members are fixed, whatever the names; the source's own weights file is copied
    out = tmp_path / "out.keras"
    res = CliRunner().invoke(main, ["prune", str(src), "-o", str(out), "--sparsity", "0.3"])
    assert res.exit_code == 0, res.output
    with zipfile.ZipFile(out) as z:
        assert z.namelist() == ["metadata.json", "config.json", "model.weights.h5"]
        names = [ly["name"] for ly in json.loads(z.read("config.json"))["config"]["layers"]]
    assert name in names
    assert sorted(os.listdir(tmp_path)) == ["out.keras", "src.keras"]


def test_keras1_source_written_as_keras3_carries_no_code(tmp_path: Path) -> None:
    """A Keras 1 .h5 (written in Keras 3's form as .keras) whose config names a module outside Keras in a
    setting the importer never reads: refused before writing, nothing written."""
    from .helpers import keras1_source

    (tmp_path / "gen").mkdir()
    src = tmp_path / "k1.h5"
    shutil.copy(keras1_source("tf", tmp_path / "gen"), src)
    shutil.rmtree(tmp_path / "gen")
    with h5py.File(src, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        layers = cfg["config"]["layers"] if isinstance(cfg["config"], dict) else cfg["config"]
        target = next(ly for ly in layers if "W_constraint" in ly["config"] or ly["class_name"] in ("Dense",
                                                                                                  "Convolution2D"))
        target["config"]["W_constraint"] = {"module": "evilpkg", "class_name": "Evil", "config": {}}
        f.attrs["model_config"] = json.dumps(cfg)
    _refused(tmp_path, src, "out.keras", "module 'evilpkg'", "W_constraint")
