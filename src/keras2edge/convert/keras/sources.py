"""Open a Keras file (HDF5, .keras zip, JSON + weights) into a KerasSource: config + weight store.

Only h5py, zipfile and json are used. Zip members are validated before anything is read:
no duplicate names, no absolute paths or ``..``, bounded sizes (``archive.py``); ``.npz``/pickle
weight stores are refused and never loaded. Every HDF5 file is checked by ``h5guard`` right after
it is opened (nothing read from other files, sizes within ``Limits``); JSON is parsed within
bounds by ``jsontext``.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from ...errors import ModelFormatError, UnsafeContentError
from ...runtime.limits import Limits, resolve
from .archive import read_member, spool_member, validate_zip
from .h5guard import WeightReader, scan_raw_h5
from .h5probe import probe_h5
from .jsontext import MAX_CONFIG_BYTES, parse_json
from .sniff import FileKind, describe_bytes, sniff
from .weights import Keras3Weights, LegacyH5Weights, WeightStore, decode_str


@dataclass
class KerasSource:
    """What an importer needs from the files: the model config and the weights."""

    path: str
    config: dict[str, Any]
    weights: WeightStore | None
    keras_version: str = ""
    backend: str = ""
    container: str = ""


def _attr(attrs: Any, key: str) -> str:
    return decode_str(attrs[key]) if key in attrs else ""


@contextlib.contextmanager
def _open_h5(path_or_file: Any, where: str, limits: Limits) -> Iterator[h5py.File]:
    """The file, open, once ``check_h5_file`` has walked it in a child process (``h5probe``: a
    libhdf5 crash or hang on a corrupt file ends the child, not this process)."""
    scan_raw_h5(path_or_file, where)
    probe_h5(path_or_file, where, limits)  # a file libhdf5 cannot open fails here, in the child
    try:
        f = h5py.File(path_or_file, "r")
    except OSError as e:
        raise ModelFormatError(f"{where}: cannot read the HDF5 file (truncated or corrupt?): {e}") from None
    with f:
        yield f


def _classify_h5(f: h5py.File) -> str:
    if "model_config" in f.attrs:
        return "full"
    if "layer_names" in f.attrs:
        return "legacy-weights"
    if "layers" in f or ("vars" in f and "model_config" not in f.attrs):
        return "keras3-weights"
    if "predictions" in f or "activations" in f:
        return "reference-data"
    return "unknown"


def weight_store_for(f: h5py.File, where: str, reader: WeightReader) -> WeightStore:
    """The weight store of an open HDF5 file of any layout (full model or weights only)."""
    kind = _classify_h5(f)
    if kind == "full":
        if not isinstance(f.get("model_weights"), h5py.Group):
            raise ModelFormatError(f"{where}: full-model HDF5 without a model_weights group")
        return LegacyH5Weights(f["model_weights"], where, reader)
    if kind == "legacy-weights":
        return LegacyH5Weights(f, where, reader)
    if kind == "keras3-weights":
        return Keras3Weights(f, where, reader)
    raise ModelFormatError(f"{where}: HDF5 file holds no Keras weights (no model_weights, layer_names or layers/)")


@contextlib.contextmanager
def open_source(path: str, weights: str | None = None, limits: Limits | None = None) -> Iterator[KerasSource]:
    """Open ``path`` (and the separate ``weights`` file, for an architecture JSON) within ``limits``."""
    limits = resolve(limits)
    reader = WeightReader(limits)
    kind = sniff(path)
    with contextlib.ExitStack() as stack:
        if kind == FileKind.HDF5:
            src = _from_h5(path, stack, reader)
        elif kind == FileKind.ZIP:
            src = _from_zip(path, stack, reader)
        elif kind == FileKind.JSON:
            src = _from_json(path, limits)
        elif kind == FileKind.TFLITE:
            raise ModelFormatError(f"{path!r} is a TFLite flatbuffer, not a Keras model; expected .h5/.keras/.json")
        elif kind == FileKind.NPY:
            raise ModelFormatError(f"{path!r} is a NumPy .npy array, not a Keras model")
        else:
            raise ModelFormatError(
                f"{path!r} is not a Keras model: expected an HDF5 file (.h5), a .keras zip archive or an "
                f"architecture JSON, but its first bytes are {describe_bytes(path)}")
        if weights is not None:
            if src.weights is not None and kind != FileKind.JSON:
                raise ModelFormatError(f"{path!r} already holds its weights; --weights is for an architecture JSON")
            src.weights, weights_backend = _weights_file(weights, stack, reader)
            # Keras 2's load_weights converts by the backend the *weights* file records (a Theano
            # file's conv kernels are flipped), whatever the JSON says.
            src.backend = weights_backend or src.backend
        if src.weights is None:
            raise ModelFormatError(
                f"{path!r} is an architecture only (no weights): pass the weights file with --weights "
                "(a Keras save_weights .h5 or a Keras 3 .weights.h5)")
        yield src


def _from_h5(path: str, stack: contextlib.ExitStack, reader: WeightReader) -> KerasSource:
    f = stack.enter_context(_open_h5(path, repr(path), reader.limits))
    kind = _classify_h5(f)
    if kind == "legacy-weights" or kind == "keras3-weights":
        raise ModelFormatError(
            f"{path!r} is a weights-only file (no architecture): give the architecture (the model's "
            "to_json() output, or the full saved model) as MODEL and this file with --weights")
    if kind == "reference-data":
        raise ModelFormatError(f"{path!r} holds reference inputs/activations, not a Keras model")
    if kind != "full":
        raise ModelFormatError(f"{path!r} is an HDF5 file but not a Keras model (no model_config attribute)")
    config = parse_json(_model_config_text(f, repr(path)), repr(path), reader.limits)
    store = weight_store_for(f, repr(path), reader)
    version = _attr(f.attrs, "keras_version") or _attr(f["model_weights"].attrs, "keras_version")
    backend = _attr(f.attrs, "backend") or _attr(f["model_weights"].attrs, "backend")
    return KerasSource(path, config, store, version, backend, "HDF5")


def _model_config_text(f: h5py.File, where: str) -> str | bytes:
    raw = f.attrs["model_config"]
    if isinstance(raw, (str, bytes)):
        return raw
    if isinstance(raw, np.bytes_):
        return bytes(raw)
    raise ModelFormatError(f"{where}: the model_config attribute is a {type(raw).__name__} "
                           f"({getattr(raw, 'dtype', '')}); expected a JSON string")


def _weights_file(path: str, stack: contextlib.ExitStack, reader: WeightReader) -> tuple[WeightStore, str]:
    """The weights of a separate weights file, and the backend it records ("" if none)."""
    kind = sniff(path)
    if kind == FileKind.ZIP:
        return _from_zip(path, stack, reader).weights, ""  # type: ignore[return-value]
    if kind != FileKind.HDF5:
        raise ModelFormatError(f"weights file {path!r} is not HDF5 (first bytes {describe_bytes(path)}); "
                               "expected a Keras save_weights .h5 or .weights.h5 file")
    f = stack.enter_context(_open_h5(path, repr(path), reader.limits))
    return weight_store_for(f, repr(path), reader), _attr(f.attrs, "backend")


def _from_json(path: str, limits: Limits) -> KerasSource:
    with open(path, "rb") as fh:
        data = fh.read(MAX_CONFIG_BYTES + 1)
    config = parse_json(data, repr(path), limits)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ModelFormatError(f"{path!r} is JSON but not a Keras model config (no class_name)")
    return KerasSource(path, config, None, str(config.get("keras_version", "")), str(config.get("backend", "")),
                       "JSON")


def _member_json(z: zipfile.ZipFile, info: zipfile.ZipInfo, where: str, limits: Limits) -> Any:
    return parse_json(read_member(z, info, MAX_CONFIG_BYTES, where), where, limits)


def _from_zip(path: str, stack: contextlib.ExitStack, reader: WeightReader) -> KerasSource:
    limits = reader.limits
    try:
        try:
            z = stack.enter_context(zipfile.ZipFile(path))
        except NotImplementedError as e:  # e.g. a central directory asking for a newer zip version
            raise ModelFormatError(f"{path!r}: a zip archive keras2edge cannot read ({e}); a .keras archive is a "
                                   "plain zip (stored or deflated members)") from None
        members = validate_zip(z, path, limits)
        unsafe = [n for n in members if n.endswith((".npz", ".pkl", ".pickle", ".npy"))]
        if unsafe and "model.weights.h5" not in members:
            raise UnsafeContentError(
                f"{path!r} stores its weights as {', '.join(unsafe)} (NumPy/pickle), which keras2edge never "
                "loads because unpickling can run code; re-save the model with Keras 3 to get model.weights.h5")
        if "config.json" not in members:
            raise ModelFormatError(f"{path!r} is a zip archive but not a .keras model (no config.json); "
                                   f"members: {sorted(members)[:10]}")
        docs = {n: _member_json(z, members[n], f"{path!r} {n}", limits)
                for n in ("config.json", "metadata.json") if n in members}
        store: WeightStore | None = None
        if "model.weights.h5" in members:
            where = f"{path!r} model.weights.h5"
            spooled = stack.enter_context(spool_member(z, members["model.weights.h5"], limits, where))
            f = stack.enter_context(_open_h5(spooled, where, limits))
            store = weight_store_for(f, where, reader)
    except zipfile.BadZipFile as e:
        raise ModelFormatError(f"{path!r}: broken or truncated zip archive ({e})") from None
    config, meta = docs["config.json"], docs.get("metadata.json", {})
    if not isinstance(config, dict):
        raise ModelFormatError(f"{path!r}: config.json is not a Keras model config (a JSON object)")
    version = str(meta.get("keras_version", "") if isinstance(meta, dict) else "")
    return KerasSource(path, config, store, version, "", ".keras")
