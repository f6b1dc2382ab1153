"""The two Keras containers keras2edge writes, each as Keras' own loaders read it.

- HDF5 full model (Keras 1/2 legacy and Keras 3 ``model.save("x.h5")``; read by Keras 2's and Keras
  3's ``load_model``): root attributes as the source has them (``keras_version``, ``backend``) plus
  ``model_config`` (the edited config as a JSON string), without ``training_config``; the
  ``model_weights`` group copied from the source (``layer_names``, each layer's ``weight_names``
  and datasets at the same paths), pruned arrays in place of the old ones; no ``optimizer_weights``.
- ``.keras`` zip (Keras 3 ``saving_lib``): members ``metadata.json`` (``keras_version``,
  ``date_saved``), ``config.json`` (the edited config, ``compile_config`` null) and
  ``model.weights.h5`` (the source's ``layers/<key>/vars/<i>`` tree copied, pruned arrays in place,
  without the ``optimizer`` group), all stored uncompressed, in that order, as Keras writes them.

From a source in the same container the weights file is copied (``write_h5_model``,
``write_keras_zip``); from the other container (Keras 3 only, ``crossformat``) it is laid out anew
from per-layer arrays (``write_h5_layers``, ``write_keras_zip_layers``).

Both are assembled in an anonymous temporary file and streamed into ``fileio.open_atomic``: a
failure leaves no partial output.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from typing import IO, Any

import h5py
import numpy as np

from ...errors import ModelFormatError
from ...fileio import open_atomic
from ..keras.h5guard import WeightReader
from ..keras.weights import Keras3Weights, LegacyH5Weights, WeightStore
from .crossformat import KERAS3_SUBOBJECT, LayerArrays
from .h5copy import copy_tree

#: output extension -> the source container (``KerasSource.container``) it is written from.
KERAS_OUTPUTS = {".h5": "HDF5", ".hdf5": "HDF5", ".keras": ".keras"}
#: Root attributes of an HDF5 full model that are not copied (rewritten or dropped).
_DROPPED_ROOT_ATTRS = ("model_config", "training_config")


def output_kind(path: str) -> str:
    """The output's extension, if keras2edge writes Keras models with it (else ModelFormatError)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in KERAS_OUTPUTS:
        raise ModelFormatError(f"cannot write {path!r} as a Keras model: unknown extension {ext or '(none)'!r}; "
                               f"supported: {', '.join(KERAS_OUTPUTS)}")
    return ext


def _check_written(replace: Mapping[str, np.ndarray], written: set[str], where: str) -> None:
    missing = sorted(set(replace) - written)
    if missing:
        raise ModelFormatError(f"{where}: pruned weights for {missing[:5]} were not found in the file's weights")


def _stream(tmp: IO[bytes], dest: str, inputs: Sequence[str | os.PathLike[str] | None]) -> None:
    tmp.seek(0)
    with open_atomic(dest, inputs=inputs) as fh:
        shutil.copyfileobj(tmp, fh, 1 << 20)


def write_h5_model(dest: str, config: dict[str, Any], store: WeightStore, replace: Mapping[str, np.ndarray],
                   reader: WeightReader, where: str, inputs: Sequence[str | os.PathLike[str] | None]) -> None:
    """An HDF5 full model (see the module docstring) from a legacy-HDF5 source's weight store."""
    if not isinstance(store, LegacyH5Weights):
        raise ModelFormatError(f"{where}: the weights are not an HDF5 full model's model_weights group")
    group = store.group
    root = group.file
    with tempfile.TemporaryFile() as tmp:
        with h5py.File(tmp, "w") as f:
            for key in root.attrs:
                if key not in _DROPPED_ROOT_ATTRS:
                    f.attrs[key] = root.attrs[key]
            f.attrs["model_config"] = json.dumps(config)
            written = copy_tree(group, f.create_group("model_weights"), replace, reader, where)
        _check_written(replace, written, where)
        _stream(tmp, dest, inputs)


def _zip(dest: str, config: dict[str, Any], keras_version: str, weights: IO[bytes],
         inputs: Sequence[str | os.PathLike[str] | None]) -> None:
    """The ``.keras`` archive: metadata.json, config.json, then the weights file, all stored."""
    now = datetime.datetime.now()
    meta = {"keras_version": keras_version or "3.0.0", "date_saved": now.strftime("%Y-%m-%d@%H:%M:%S")}
    size = weights.seek(0, os.SEEK_END)
    weights.seek(0)
    with tempfile.TemporaryFile() as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
            stamp = (1980, 1, 1, 0, 0, 0)
            z.writestr(zipfile.ZipInfo("metadata.json", stamp), json.dumps(meta))
            z.writestr(zipfile.ZipInfo("config.json", stamp), json.dumps(config))
            info = zipfile.ZipInfo("model.weights.h5", now.timetuple()[:6])
            info.file_size = size
            with z.open(info, "w", force_zip64=size > (1 << 31)) as member:
                shutil.copyfileobj(weights, member, 1 << 20)
        _stream(tmp, dest, inputs)


def write_keras_zip(dest: str, config: dict[str, Any], store: WeightStore, replace: Mapping[str, np.ndarray],
                    keras_version: str, reader: WeightReader, where: str,
                    inputs: Sequence[str | os.PathLike[str] | None]) -> None:
    """A ``.keras`` archive (see the module docstring) from a ``.keras`` source's weight store."""
    if not isinstance(store, Keras3Weights):
        raise ModelFormatError(f"{where}: the weights are not a Keras 3 model.weights.h5")
    if "compile_config" in config:
        config["compile_config"] = None
    with tempfile.TemporaryFile() as weights:
        with h5py.File(weights, "w") as f:
            written = copy_tree(store.root, f, replace, reader, where, skip=frozenset({"/optimizer"}))
        _check_written(replace, written, where)
        _zip(dest, config, keras_version, weights, inputs)


def _str_list(names: Sequence[str]) -> np.ndarray:
    return np.array(list(names), dtype=h5py.string_dtype()) if names else np.zeros((0,), np.float64)


def write_h5_layers(dest: str, model_config: dict[str, Any], layers: Sequence[LayerArrays], keras_version: str,
                    backend: str, inputs: Sequence[str | os.PathLike[str] | None]) -> None:
    """A Keras 3 HDF5 full model from per-layer arrays (``crossformat``: a ``.keras`` source)."""
    with tempfile.TemporaryFile() as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["backend"] = backend or "tensorflow"
            f.attrs["keras_version"] = keras_version
            f.attrs["model_config"] = json.dumps(model_config)
            mw = f.create_group("model_weights")
            mw.attrs["backend"] = backend or "tensorflow"
            mw.attrs["keras_version"] = keras_version
            mw.attrs["layer_names"] = _str_list([ly.name for ly in layers])
            for ly in layers:
                g = mw.create_group(ly.name)
                names = [f"{ly.name}/{n}" for n, _ in ly.arrays]
                g.attrs["weight_names"] = _str_list(names)
                for n, (_, a) in zip(names, ly.arrays):
                    g.create_dataset(n, data=a)
            mw.create_group("top_level_model_weights").attrs["weight_names"] = _str_list([])
        _stream(tmp, dest, inputs)


def write_keras_zip_layers(dest: str, config: dict[str, Any], layers: Sequence[LayerArrays],
                           input_keys: Sequence[tuple[str, str]], keras_version: str,
                           inputs: Sequence[str | os.PathLike[str] | None]) -> None:
    """A ``.keras`` archive from per-layer arrays (``crossformat``: a Keras 3 HDF5 source);
    ``input_keys``: (key, name) of the InputLayers that get an empty ``vars`` group (Functional)."""
    with tempfile.TemporaryFile() as weights:
        with h5py.File(weights, "w") as f:
            root = f.create_group("layers")
            for key, name in input_keys:
                root.create_group(f"{key}/vars").attrs["name"] = name
            for ly in layers:
                group = root.create_group(ly.key)
                group.create_group("vars").attrs["name"] = ly.name
                holder = group
                for part in KERAS3_SUBOBJECT.get(ly.cls, ()):
                    holder = holder.create_group(part)
                    holder.create_group("vars").attrs["name"] = f"{ly.name}_{part}"
                for i, (_, a) in enumerate(ly.arrays):
                    holder["vars"].create_dataset(str(i), data=a)
            f.create_group("vars").attrs["name"] = str((config.get("config") or {}).get("name", "model"))
        _zip(dest, config, keras_version, weights, inputs)
