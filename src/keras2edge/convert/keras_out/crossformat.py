"""A Keras 3 model written in the other container than its source's: a ``.keras`` source as a Keras 3
HDF5 full model, a Keras 3 ``.h5`` source as a ``.keras`` archive.

The weights are re-laid out per top-level layer (``layer_arrays``): the source's arrays in the
layer's own order, pruned ones in place (by dataset path), each named by the class's exporter (the
Keras variable names: ``kernel``, ``bias``, ``gamma``...; ``weight_<i>`` when no exporter names them).
Layouts written, as Keras 3's savers write them:

- HDF5 (``legacy_h5_format``): root ``backend``, ``keras_version``, ``model_config`` (the model's
  ``{"class_name", "config"}``); ``model_weights`` with ``layer_names`` (``model.layers``: a
  Sequential's without its InputLayer) and, per layer, ``weight_names`` = ``<layer>/<name>`` and the
  datasets at those paths; ``top_level_model_weights`` with no weights;
- ``.keras`` (``saving_lib``): ``layers/<key>/vars/<i>`` (``<key>``: the snake-case class name made
  unique in ``model.layers`` order, ``vars`` carrying the layer ``name``; a recurrent layer's
  variables under ``cell/vars``), an empty ``vars`` for the model; the config as Keras 3 serializes
  it (``module`` and ``registered_name`` at the top and on each layer entry).

Refused, naming the layer: nested models, and layers whose variables sit in sub-objects other than
a recurrent cell (wrappers, attention): their layout differs between the two containers.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ModelFormatError
from ..keras.config import ModelSpec
from ..keras.layers.keras_ops import ops_key
from ..keras.legacy import translate_layer
from ..keras.weights import WeightStore, keras3_keys
from .exporters import KERAS_EXPORTERS, ExportRefusal, LayerExport

#: Keras class -> the sub-object holding its variables in a ``.keras`` weights file.
KERAS3_SUBOBJECT = {"SimpleRNN": ("cell",), "LSTM": ("cell",), "GRU": ("cell",)}
#: Keras 3 ``module`` of the model classes, for config.json.
_MODEL_MODULES = {"Sequential": ("keras", None), "Functional": ("keras.src.models.functional", "Functional")}


@dataclass
class LayerArrays:
    """One top-level layer's weights, in the layer's order, as they are written."""

    name: str
    cls: str
    key: str  # the Keras 3 container key
    arrays: list[tuple[str, np.ndarray]]


def _refuse(where: str, name: str, cls: str, why: str) -> ModelFormatError:
    return ModelFormatError(f"cannot write the graph from {where} in the other Keras container: Keras layer "
                            f"{name!r} ({cls}): {why}; write it in the source's own container instead")


def _names(name: str, cls: str, cfg: dict[str, Any], consts: dict[str, np.ndarray], count: int) -> list[str]:
    fn = KERAS_EXPORTERS.get(cls)
    if fn is not None:
        try:
            names = [n for n, _ in fn(LayerExport(name, cls, cfg, dict(consts)))]
        except ExportRefusal:
            names = []
        if len(names) == count:
            return names
    return [f"weight_{i}" for i in range(count)]


def layer_arrays(model: ModelSpec, store: WeightStore, replace: dict[str, np.ndarray],
                 consts: dict[str, dict[str, np.ndarray]], where: str) -> list[LayerArrays]:
    """Every top-level layer but the InputLayers, in config order, with its arrays (see module docstring)."""
    out = []
    keys = keras3_keys([ly.cls for ly in model.layers])
    for ly, key in zip(model.layers, keys):
        if ly.cls == "InputLayer":
            continue
        if ly.model is not None:
            raise _refuse(where, ly.name, ly.cls, "nested models are written in their source's container only")
        cls, cfg = translate_layer(ly.cls, ly.config)
        cls = ops_key(ly.module, cls, cfg, ly.calls)
        weights = store.layer_weights((ly.name,), (key,))
        entries = weights.entries if weights is not None else []
        paths = weights.paths if weights is not None else []
        if len(paths) != len(entries):
            raise _refuse(where, ly.name, cls, "its weights cannot be located")
        sub = KERAS3_SUBOBJECT.get(cls, ())
        for parts, _ in entries:
            if len(parts) > 1 and tuple(parts[:-2]) != sub:
                raise _refuse(where, ly.name, cls, f"its variables sit in sub-object {'/'.join(parts[:-2])!r}")
        if (entries and cls not in KERAS_EXPORTERS) or cls in ("Bidirectional", "TimeDistributed"):
            raise _refuse(where, ly.name, cls, "its variable layout is not known to match in both containers")
        names = _names(ly.name, cls, cfg, consts.get(ly.name, {}), len(entries))
        arrays = [(n, np.asarray(replace.get(p, a))) for n, p, (_, a) in zip(names, paths, entries)]
        out.append(LayerArrays(ly.name, cls, key, arrays))
    return out


def h5_model_config(config: dict[str, Any]) -> dict[str, Any]:
    """A ``.keras`` config.json as a legacy HDF5 ``model_config``: the model's class name and config."""
    return {"class_name": config.get("class_name"), "config": config.get("config")}


def keras3_config(config: dict[str, Any], where: str) -> dict[str, Any]:
    """A Keras 3 HDF5 ``model_config`` as a ``.keras`` config.json (module / registered_name added)."""
    cls = str(config.get("class_name"))
    if cls not in _MODEL_MODULES:
        raise ModelFormatError(f"cannot write {where}'s {cls} model as a .keras archive (Sequential or Functional only)")
    out = copy.deepcopy(config)
    module, registered = _MODEL_MODULES[cls]
    out.update({"module": module, "registered_name": registered, "compile_config": None})
    inner = out.get("config")
    for entry in (inner.get("layers", []) if isinstance(inner, dict) else []):
        if isinstance(entry, dict):
            entry.setdefault("module", "keras.layers")
            entry.setdefault("registered_name", None)
    return out
