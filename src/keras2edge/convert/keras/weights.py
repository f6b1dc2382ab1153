"""Weight stores: find each Keras layer's arrays, in the layer's own ``weights`` order.

Two on-disk layouts:
- legacy HDF5 (Keras 1/2 and Keras 3 ``.h5``; full models under ``model_weights/`` or
  ``save_weights`` files at the root): layer group ``<layer>/`` with a ``weight_names``
  attribute (bytes, fixed-length or vlen strings, possibly split into ``weight_names0..N``)
  giving dataset paths in order. A nested model's group holds all its sub-layers' weights;
  they are told apart by the sub-layer name inside each weight path.
- Keras 3 (``model.weights.h5`` in a ``.keras`` archive, ``.weights.h5``): ``layers/<key>/vars/<i>``
  where ``<key>`` is the snake_case class name made unique within its container (or, from
  Keras 3.6, whichever group's ``vars`` has a ``name`` attribute equal to the layer name);
  sub-objects nest (``cell/``, ``forward_layer/``, ``query_dense/``...); ``vars/<i>`` sorted
  numerically.

Every dataset is read through a ``WeightReader`` (``h5guard``): a group where a weight belongs,
a non-numeric dtype, or more weight bytes than the limit allows is an error naming the path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ...errors import ModelFormatError
from .h5guard import WeightReader, as_group

Parts = tuple[str, ...]


def decode_str(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, (bytes, np.bytes_)) else str(v)


def read_str_list_attr(attrs: Any, key: str) -> list[str]:
    """A string-list attribute (bytes, vlen or fixed; split as key0, key1, ... when large)."""
    if key in attrs:
        raw = attrs[key]
        chunks = [raw]
    else:
        chunks, i = [], 0
        while f"{key}{i}" in attrs:
            chunks.append(attrs[f"{key}{i}"])
            i += 1
        if not chunks:
            return []
    out: list[str] = []
    for raw in chunks:
        arr = np.asarray(raw)
        if arr.dtype.kind == "f":  # Keras 3 writes an empty float64 array for no names
            continue
        out += [decode_str(x) for x in arr.reshape(-1)]
    return out


@dataclass
class LayerWeights:
    """The arrays of one layer, each with its path relative to the layer (``("kernel",)``,
    ``("forward_lstm_1", "kernel")``, ``("cell", "vars", "0")``)."""

    entries: list[tuple[Parts, np.ndarray]] = field(default_factory=list)
    source: str = ""
    #: The HDF5 dataset path of each entry, when read straight from a store (empty otherwise; the
    #: Keras writer, ``convert/keras_out``, writes each new array where the old one was).
    paths: list[str] = field(default_factory=list)

    @property
    def arrays(self) -> list[np.ndarray]:
        return [a for _, a in self.entries]

    @property
    def names(self) -> list[str]:
        """Short names: the last path part without ``:0`` (``kernel``, ``W_i``, ``0``)."""
        return [p[-1] for p, _ in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def select(self, pred: Callable[[Parts], bool]) -> LayerWeights:
        return LayerWeights([(p, a) for p, a in self.entries if pred(p)], self.source)

    def containing(self, *keywords: str) -> LayerWeights:
        """The entries with a path part that starts with or equals one of ``keywords``."""
        return self.select(lambda parts: any(
            part == k or part.startswith(k + "_") or part.startswith(k) for part in parts[:-1] for k in keywords))


class WeightStore(Protocol):
    description: str

    def layer_weights(self, names: Sequence[str], keys: Sequence[str]) -> LayerWeights | None:
        """Weights of the layer at ``names`` (model names from the top, then the layer name);
        ``keys`` are the Keras 3 container keys along the same path. None if the store has none."""


def _strip(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


class LegacyH5Weights:
    """Keras 1/2/3 legacy HDF5 weights (``model_weights`` group, or a ``save_weights`` root)."""

    def __init__(self, group: Any, description: str, reader: WeightReader) -> None:
        self.group = group
        self.description = description
        self.reader = reader
        self.layer_names = read_str_list_attr(group.attrs, "layer_names")

    def _entries(self, layer: str) -> list[tuple[str, Any]]:
        if layer not in self.group:
            return []
        g = as_group(self.group[layer], f"{self.description}: layer {layer!r}")
        out = []
        for wn in read_str_list_attr(g.attrs, "weight_names"):
            if wn in g:
                out.append((wn, g[wn]))
            elif wn.split("/")[-1] in g:
                out.append((wn, g[wn.split("/")[-1]]))
            else:
                raise ModelFormatError(f"{self.description}: layer {layer!r} lists weight {wn!r} but it is missing")
        return out

    def layer_weights(self, names: Sequence[str], keys: Sequence[str]) -> LayerWeights | None:
        top = names[0]
        if top not in self.group:
            return None
        raw = self._entries(top)
        leaf = names[-1]
        res = LayerWeights(source=f"{self.description}, group {top!r}")
        for wn, ds in raw:
            parts = tuple(_strip(p) for p in wn.split("/"))
            if len(names) > 1:
                # A nested model: keep the weights whose path names this sub-layer.
                if leaf not in parts[:-1]:
                    continue
                rel = parts[parts.index(leaf) + 1:]
            else:
                rel = parts[parts.index(leaf) + 1:] if leaf in parts[:-1] else parts[-1:]
                if not rel:
                    rel = parts[-1:]
            res.entries.append((rel, self.reader.read(ds, f"{self.description}: weight {ds.name!r}")))
            res.paths.append(ds.name)
        if len(names) > 1 and not res.entries:
            return None
        return res


_SUB_ORDER = ["cell", "forward_layer", "backward_layer", "layer", "query", "query_dense", "key",
              "key_dense", "value", "value_dense", "attention_output", "output_dense"]


def _vars_sorted(group: Any) -> list[tuple[str, Any]]:
    keys = list(group.keys())
    return sorted(((k, group[k]) for k in keys), key=lambda kv: (0, int(kv[0])) if kv[0].isdigit() else (1, kv[0]))


def _collect_keras3(group: Any, prefix: Parts, out: list[tuple[Parts, np.ndarray]], reader: WeightReader,
                    where: str, paths: list[str] | None = None) -> None:
    if "vars" in group:
        for k, ds in _vars_sorted(as_group(group["vars"], f"{where}: {group.name}/vars")):
            out.append((prefix + ("vars", k), reader.read(ds, f"{where}: weight {ds.name!r}")))
            if paths is not None:
                paths.append(ds.name)
    children = [k for k in group.keys() if k != "vars"]
    children.sort(key=lambda k: (_SUB_ORDER.index(k) if k in _SUB_ORDER else len(_SUB_ORDER), k))
    for k in children:
        if hasattr(group[k], "keys"):
            _collect_keras3(group[k], prefix + (k,), out, reader, where, paths)


class Keras3Weights:
    """Keras 3 ``model.weights.h5`` / ``.weights.h5`` layout."""

    def __init__(self, root: Any, description: str, reader: WeightReader) -> None:
        self.root = root
        self.description = description
        self.reader = reader
        self._by_name: dict[str, dict[str, str]] = {}  # container path -> {layer name: group key}

    def _names(self, layers: Any) -> dict[str, str]:
        """Layer name -> group key in one ``layers`` container (read once: Keras >= 3.6 writes the
        layer name on each ``vars`` group)."""
        index = self._by_name.get(layers.name)
        if index is None:
            index = {}
            for k in layers.keys():
                g = layers[k]
                if hasattr(g, "keys") and "vars" in g:
                    n = decode_str(g["vars"].attrs.get("name", ""))
                    if n:
                        index.setdefault(n, k)
            self._by_name[layers.name] = index
        return index

    def _child(self, container: Any, name: str, key: str) -> Any:
        if "layers" not in container:
            return None
        layers = as_group(container["layers"], f"{self.description}: {container.name}/layers")
        found = self._names(layers).get(name)
        if found is not None:
            return layers[found]
        return layers[key] if key in layers else None

    def layer_weights(self, names: Sequence[str], keys: Sequence[str]) -> LayerWeights | None:
        g = self.root
        for name, key in zip(names, keys):
            g = self._child(g, name, key)
            if g is None:
                return None
        out: list[tuple[Parts, np.ndarray]] = []
        paths: list[str] = []
        _collect_keras3(as_group(g, f"{self.description}: layer {names[-1]!r}"), (), out, self.reader,
                        self.description, paths)
        return LayerWeights(out, f"{self.description}, group {g.name!r}", paths)


def snake_case(name: str) -> str:
    """Keras' to_snake_case, which makes the ``layers/<key>`` names of Keras 3 weight files."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def keras3_keys(classes: Sequence[str]) -> list[str]:
    """Container keys for layers of these classes, in order (``dense``, ``dense_1``, ...)."""
    used: dict[str, int] = {}
    keys = []
    for cls in classes:
        base = snake_case(cls)
        if base in used:
            used[base] += 1
            keys.append(f"{base}_{used[base]}")
        else:
            used[base] = 0
            keys.append(base)
    return keys
