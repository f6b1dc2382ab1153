"""Build hostile and broken Keras files at test time from the small committed fixtures.

Each builder copies a real fixture into a test folder and changes one thing with h5py, zipfile
or json, so a test names exactly the defect it plants:

- ``tamper_h5(src, dst, path, plant)``: replace the object at ``path`` (a dataset or group) of an
  HDF5 file by whatever ``plant(group, name, old)`` creates (external storage, links, ...);
- ``h5_in_keras(src, dst, edit)``: the same inside a ``.keras`` archive's ``model.weights.h5``;
- ``keras_archive(dst, members, declare=...)``: a zip from raw members, optionally lying in its
  headers about a member's uncompressed size;
- ``set_model_config(path, config)``: rewrite a full ``.h5`` file's ``model_config`` attribute.

``SECRET`` is the marker planted in files the model must never read.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tests.corpus import FIXTURES

SECRET = b"K2E-SECRET-MARKER-never-read-me!"  # 32 bytes

#: The fixtures the builders start from (a tf.keras 2 full model, its JSON + weights, a Keras 3 archive).
FULL_H5 = FIXTURES / "k2" / "mlp.h5"
ARCH_JSON = FIXTURES / "k2" / "mlp.json"
WEIGHTS_H5 = FIXTURES / "k2" / "mlp_weights.h5"
KERAS3 = FIXTURES / "k3" / "mlp.keras"
#: The Dense kernel (16, 32) float32 in each layout.
KERNEL_FULL = "model_weights/dense/dense/kernel:0"
KERNEL_WEIGHTS = "dense/dense/kernel:0"
KERNEL_KERAS3 = "layers/dense/vars/0"

Plant = Callable[[h5py.Group, str, Any], None]


def secret_file(folder: Path, nbytes: int) -> Path:
    """A file of ``nbytes`` made of the marker repeated (what a model would leak if it read it)."""
    p = folder / "secret.bin"
    p.write_bytes((SECRET * (nbytes // len(SECRET) + 1))[:nbytes])
    return p


def secret_h5(folder: Path, shape: tuple[int, ...]) -> Path:
    """An HDF5 file holding dataset ``/x`` of ``shape`` float32 whose bytes are the marker."""
    p = folder / "secret.h5"
    raw = (SECRET * (4 * int(np.prod(shape)) // len(SECRET) + 1))[:4 * int(np.prod(shape))]
    with h5py.File(p, "w") as f:
        f.create_dataset("x", data=np.frombuffer(raw, np.float32).reshape(shape))
    return p


def replace_object(f: h5py.File, path: str, plant: Plant) -> None:
    parent, _, name = path.rpartition("/")
    group = f[parent] if parent else f
    old = group[name]
    info = (old.shape, old.dtype) if isinstance(old, h5py.Dataset) else None
    del group[name]
    plant(group, name, info)


def tamper_h5(src: Path, dst: Path, path: str, plant: Plant) -> Path:
    """A copy of ``src`` at ``dst`` whose object ``path`` is replaced by ``plant``."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        replace_object(f, path, plant)
    return dst


def h5_in_keras(src: Path, dst: Path, edit: Callable[[h5py.File], None]) -> Path:
    """A copy of the ``.keras`` archive ``src`` whose ``model.weights.h5`` was changed by ``edit``."""
    with zipfile.ZipFile(src) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    buf = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buf, "r+") as f:
        edit(f)
    members["model.weights.h5"] = buf.getvalue()
    return keras_archive(dst, members)


def keras_archive(dst: Path, members: dict[str, bytes], *, declare: dict[str, int] | None = None,
                  compress: int = zipfile.ZIP_DEFLATED) -> Path:
    """A zip of ``members``; ``declare`` makes the headers claim another uncompressed size."""
    with zipfile.ZipFile(dst, "w", compress) as z:
        for name, data in members.items():
            z.writestr(name, data)
    for name, size in (declare or {}).items():
        _declare_size(dst, name, size)
    return dst


def _declare_size(path: Path, member: str, size: int) -> None:
    """Patch the uncompressed size of ``member`` in its local header and its central directory entry."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        offset = z.getinfo(member).header_offset
    struct.pack_into("<I", data, offset + 22, size)  # local header: uncompressed size
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46:pos + 46 + name_len]).decode() == member:
            struct.pack_into("<I", data, pos + 24, size)  # central directory: uncompressed size
        pos = data.find(b"PK\x01\x02", pos + 4)
    path.write_bytes(bytes(data))


def keras_members(src: Path = KERAS3) -> dict[str, bytes]:
    """The members of a real ``.keras`` archive, by name."""
    with zipfile.ZipFile(src) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def model_config(path: Path = FULL_H5) -> dict[str, Any]:
    with h5py.File(path) as f:
        return json.loads(f.attrs["model_config"])


def set_model_config(path: Path, config: Any) -> Path:
    """Rewrite ``model_config`` of the full model at ``path`` (a JSON string unless given raw)."""
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = config if not isinstance(config, (dict, list)) else json.dumps(config)
    return path


def full_h5_copy(folder: Path, name: str = "model.h5") -> Path:
    dst = folder / name
    shutil.copyfile(FULL_H5, dst)
    return dst


def set_weight(path: Path, dataset: str, values: np.ndarray) -> Path:
    """Replace one dataset of ``path`` by ``values`` (any dtype)."""
    def plant(group: h5py.Group, name: str, info: Any) -> None:
        group.create_dataset(name, data=values)
    with h5py.File(path, "r+") as f:
        replace_object(f, dataset, plant)
    return path
