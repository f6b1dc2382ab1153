"""Open a Keras file (HDF5, .keras zip, JSON + weights) into a KerasSource: config + weight store.

Only h5py, zipfile and json are used. Zip members are validated before anything is read:
no duplicate names, no absolute paths or ``..``, bounded sizes; ``.npz``/pickle weight stores
are refused and never loaded.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import h5py

from ...errors import ModelFormatError, UnsafeContentError
from .sniff import FileKind, describe_bytes, sniff
from .weights import Keras3Weights, LegacyH5Weights, WeightStore, decode_str
from .zipmember import open_member

MAX_MEMBER_BYTES = 4 << 30
MAX_CONFIG_BYTES = 256 << 20


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


def _json(text: str | bytes, where: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelFormatError(f"{where}: not valid JSON ({e})") from None


def _open_h5(path_or_file: Any, where: str) -> h5py.File:
    try:
        return h5py.File(path_or_file, "r")
    except OSError as e:
        raise ModelFormatError(f"{where}: cannot read the HDF5 file (truncated or corrupt?): {e}") from None


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


def weight_store_for(f: h5py.File, where: str) -> WeightStore:
    """The weight store of an open HDF5 file of any layout (full model or weights only)."""
    kind = _classify_h5(f)
    if kind == "full":
        if "model_weights" not in f:
            raise ModelFormatError(f"{where}: full-model HDF5 without a model_weights group")
        return LegacyH5Weights(f["model_weights"], where)
    if kind == "legacy-weights":
        return LegacyH5Weights(f, where)
    if kind == "keras3-weights":
        return Keras3Weights(f, where)
    raise ModelFormatError(f"{where}: HDF5 file holds no Keras weights (no model_weights, layer_names or layers/)")


@contextlib.contextmanager
def open_source(path: str, weights: str | None = None) -> Iterator[KerasSource]:
    """Open ``path`` (and the separate ``weights`` file, for an architecture JSON)."""
    kind = sniff(path)
    with contextlib.ExitStack() as stack:
        if kind == FileKind.HDF5:
            src = _from_h5(path, stack)
        elif kind == FileKind.ZIP:
            src = _from_zip(path, stack)
        elif kind == FileKind.JSON:
            src = _from_json(path)
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
            src.weights, weights_backend = _weights_file(weights, stack)
            # Keras 2's load_weights converts by the backend the *weights* file records (a Theano
            # file's conv kernels are flipped), whatever the JSON says.
            src.backend = weights_backend or src.backend
        if src.weights is None:
            raise ModelFormatError(
                f"{path!r} is an architecture only (no weights): pass the weights file with --weights "
                "(a Keras save_weights .h5 or a Keras 3 .weights.h5)")
        yield src


def _from_h5(path: str, stack: contextlib.ExitStack) -> KerasSource:
    f = stack.enter_context(_open_h5(path, repr(path)))
    kind = _classify_h5(f)
    if kind == "legacy-weights" or kind == "keras3-weights":
        raise ModelFormatError(
            f"{path!r} is a weights-only file (no architecture): give the architecture (the model's "
            "to_json() output, or the full saved model) as MODEL and this file with --weights")
    if kind == "reference-data":
        raise ModelFormatError(f"{path!r} holds reference inputs/activations, not a Keras model")
    if kind != "full":
        raise ModelFormatError(f"{path!r} is an HDF5 file but not a Keras model (no model_config attribute)")
    config = _json(f.attrs["model_config"], repr(path))
    version = _attr(f.attrs, "keras_version") or _attr(f.get("model_weights", f).attrs, "keras_version")
    backend = _attr(f.attrs, "backend") or _attr(f.get("model_weights", f).attrs, "backend")
    return KerasSource(path, config, weight_store_for(f, repr(path)), version, backend, "HDF5")


def _weights_file(path: str, stack: contextlib.ExitStack) -> tuple[WeightStore, str]:
    """The weights of a separate weights file, and the backend it records ("" if none)."""
    kind = sniff(path)
    if kind == FileKind.ZIP:
        return _from_zip(path, stack).weights, ""  # type: ignore[return-value]
    if kind != FileKind.HDF5:
        raise ModelFormatError(f"weights file {path!r} is not HDF5 (first bytes {describe_bytes(path)}); "
                               "expected a Keras save_weights .h5 or .weights.h5 file")
    f = stack.enter_context(_open_h5(path, repr(path)))
    return weight_store_for(f, repr(path)), _attr(f.attrs, "backend")


def _from_json(path: str) -> KerasSource:
    with open(path, "rb") as fh:
        data = fh.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ModelFormatError(f"{path!r}: JSON larger than {MAX_CONFIG_BYTES} bytes")
    config = _json(data, repr(path))
    if not isinstance(config, dict) or "class_name" not in config:
        raise ModelFormatError(f"{path!r} is JSON but not a Keras model config (no class_name)")
    return KerasSource(path, config, None, str(config.get("keras_version", "")), str(config.get("backend", "")),
                       "JSON")


def _validate_zip(z: zipfile.ZipFile, path: str) -> dict[str, zipfile.ZipInfo]:
    members: dict[str, zipfile.ZipInfo] = {}
    for info in z.infolist():
        name = info.filename
        if name in members:
            raise UnsafeContentError(f"{path!r}: the archive has two members named {name!r}; refusing it "
                                     "(a duplicate member can hide malicious content)")
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
            raise UnsafeContentError(f"{path!r}: archive member {name!r} escapes the archive; refusing it")
        if info.file_size > MAX_MEMBER_BYTES:
            raise ModelFormatError(f"{path!r}: archive member {name!r} is {info.file_size} bytes (limit "
                                   f"{MAX_MEMBER_BYTES})")
        members[name] = info
    return members


def _from_zip(path: str, stack: contextlib.ExitStack) -> KerasSource:
    try:
        z = stack.enter_context(zipfile.ZipFile(path))
        members = _validate_zip(z, path)
        unsafe = [n for n in members if n.endswith((".npz", ".pkl", ".pickle", ".npy"))]
        if unsafe and "model.weights.h5" not in members:
            raise UnsafeContentError(
                f"{path!r} stores its weights as {', '.join(unsafe)} (NumPy/pickle), which keras2edge never "
                "loads because unpickling can run code; re-save the model with Keras 3 to get model.weights.h5")
        if "config.json" not in members:
            raise ModelFormatError(f"{path!r} is a zip archive but not a .keras model (no config.json); "
                                   f"members: {sorted(members)[:10]}")
        for n in ("config.json", "metadata.json"):
            if n in members and members[n].file_size > MAX_CONFIG_BYTES:
                raise ModelFormatError(f"{path!r}: {n} is larger than {MAX_CONFIG_BYTES} bytes")
        config = _json(z.read("config.json"), f"{path!r} config.json")
        meta = _json(z.read("metadata.json"), f"{path!r} metadata.json") if "metadata.json" in members else {}
        store: WeightStore | None = None
        if "model.weights.h5" in members:
            member = stack.enter_context(open_member(z, path, "model.weights.h5"))
            f = stack.enter_context(_open_h5(member, f"{path!r} model.weights.h5"))
            store = weight_store_for(f, f"{path!r} model.weights.h5")
    except zipfile.BadZipFile as e:
        raise ModelFormatError(f"{path!r}: broken or truncated zip archive ({e})") from None
    if not isinstance(config, dict):
        raise ModelFormatError(f"{path!r}: config.json is not a Keras model config")
    version = str((meta or {}).get("keras_version", ""))
    return KerasSource(path, config, store, version, "", ".keras")
