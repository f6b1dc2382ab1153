"""Copy the weights part of a Keras HDF5 file (already opened and checked by the importer's readers)
into a new HDF5 file, each pruned weight written where the old one was.

Maps: every group and attribute under the copied group, as it was (``layer_names``,
``weight_names``, Keras 3's ``vars`` ``name`` attributes, ``top_level_model_weights``); every
dataset as it was, or the replacement array given for its path (cast to the dataset's dtype, the
one Keras stored); the groups listed in ``skip`` are left out (optimizer state: its slots have the
unpruned shapes and would not load). Datasets are read through the importer's ``WeightReader``
(numeric dtypes only, within the memory limits). Only arrays and attribute values are copied;
nothing is interpreted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from ..keras.h5guard import WeightReader


def copy_attrs(src: Any, dst: Any) -> None:
    """Every attribute of ``src`` onto ``dst`` (values as h5py reads them: strings stay strings)."""
    for key in src.attrs:
        dst.attrs[key] = src.attrs[key]


def copy_tree(src: h5py.Group, dst: h5py.Group, replace: Mapping[str, np.ndarray], reader: WeightReader,
              where: str, skip: frozenset[str] = frozenset()) -> set[str]:
    """Copy ``src``'s members into ``dst`` (recursively, attributes included); a dataset whose path
    (``obj.name``, absolute in the source file) is in ``replace`` gets that array instead. Returns
    the replaced paths that were written."""
    written: set[str] = set()
    copy_attrs(src, dst)
    for key in src:
        obj = src[key]
        if obj.name in skip:
            continue
        if isinstance(obj, h5py.Group):
            written |= copy_tree(obj, dst.create_group(key), replace, reader, where, skip)
            continue
        old = reader.read(obj, f"{where}: dataset {obj.name!r}")
        new = replace.get(obj.name)
        if new is None:
            data = old
        else:
            data = np.asarray(new).astype(old.dtype, copy=False)
            written.add(obj.name)
        ds = dst.create_dataset(key, data=data)
        copy_attrs(obj, ds)
    return written
