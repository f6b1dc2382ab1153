"""Edit a Keras model config (the JSON the source file holds, any era) in place for new weight shapes.

Maps:
- ``layer_entries(config)``: layer name -> its ``{"class_name", "config", ...}`` entry, nested
  models included (Sequential as a bare list or a dict, Functional/Model);
- ``set_fields(entry, updates, where)``: the fields an exporter derived from the new shapes
  (``units``, ``filters``...), written only where the value changes; a Keras 1 config's field of
  the same meaning (``output_dim``, ``nb_filter``) is found through the importer's translation; a
  field the config lacks altogether is refused with a clear error;
- ``update_shapes(entries, shapes)``: the shapes Keras records and checks when it builds a layer:
  each layer's ``build_config.input_shape``, the ``shape`` of every ``__keras_tensor__`` in
  ``inbound_nodes``, and a nested model's input shapes (its InputLayers' ``batch_shape``, a
  Sequential's ``build_input_shape``). A dimension changes where the layer that made the
  tensor changed it in the graph (old vs new IR output shapes), the rest (None batch) is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import ModelFormatError
from ..keras.config import MODEL_CLASSES, LayerSpec, TensorRef
from ..keras.legacy import translate_layer

Shape = tuple[int | None, ...]
Shapes = Mapping[str, list[Shape]]


def _entries_of(model_cfg: Any) -> list[dict[str, Any]]:
    if isinstance(model_cfg, list):
        return [e for e in model_cfg if isinstance(e, dict)]
    if isinstance(model_cfg, dict) and isinstance(model_cfg.get("layers"), list):
        return [e for e in model_cfg["layers"] if isinstance(e, dict)]
    return []


def layer_entries(top: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Layer name -> its entry in ``top`` (a ``{"class_name", "config"}`` model), nested models too."""
    out: dict[str, dict[str, Any]] = {}

    def walk(model: dict[str, Any]) -> None:
        for e in _entries_of(model.get("config")):
            cfg = e.get("config") if isinstance(e.get("config"), dict) else {}
            name = e.get("name") or cfg.get("name")
            if isinstance(name, str):
                out[name] = e
            if e.get("class_name") in MODEL_CLASSES:
                walk(e)

    walk(top)
    return out


def set_fields(entry: dict[str, Any], updates: Mapping[str | tuple[str, ...], Any], where: str) -> None:
    """Write ``updates`` into the entry's config where they change a value (see module docstring);
    a key may be a path into nested configs (a wrapped layer's ``("layer", "config", "units")``)."""
    top = entry.get("config")
    name = (top or {}).get("name") if isinstance(top, dict) else None
    for path, value in updates.items():
        keys = (path,) if isinstance(path, str) else tuple(path)
        cfg: Any = top
        for k in keys[:-1]:
            cfg = cfg.get(k) if isinstance(cfg, dict) else None
        key = keys[-1]
        if isinstance(cfg, dict) and key not in cfg:
            key = _keras1_name(str(entry.get("class_name")), cfg, key) if len(keys) == 1 else key
        if isinstance(cfg, dict) and key in cfg:
            if cfg[key] != value:
                cfg[key] = value
        else:
            raise ModelFormatError(
                f"{where}: Keras layer {name!r} ({entry.get('class_name')}) now needs {key}={value}, but its "
                f"config has no {key!r} field to hold it; keras2edge writes such a layer back only with "
                "its original shapes")


def _keras1_name(cls: str, cfg: dict[str, Any], key: str) -> str:
    """The Keras 1 field the importer reads as Keras 2's ``key`` (``nb_filter`` for ``filters``,
    ``output_dim`` for ``units``), found through the importer's own translation; ``key`` if none."""
    marker = object()
    for raw in cfg:
        if translate_layer(cls, {**cfg, raw: marker})[1].get(key) is marker:
            return raw
    return key


def _changed(keras_shape: Any, old: Shape, new: Shape) -> Any:
    """``keras_shape`` with the dimensions that differ between ``old`` and ``new`` taken from ``new``."""
    if not isinstance(keras_shape, list) or len(keras_shape) != len(old) or len(old) != len(new):
        return keras_shape
    return [n if o != n else k for k, o, n in zip(keras_shape, old, new)]


class ShapeMap:
    """Old and new IR shapes of each Keras layer's outputs, looking through layers that left no
    node in the graph (Dropout, identities: their output is their input) and nested models."""

    def __init__(self, specs: Mapping[str, LayerSpec], old: Shapes, new: Shapes,
                 inputs: Mapping[str, Shape]) -> None:
        self.specs, self.old, self.new, self.inputs = specs, old, new, inputs
        # A nested model's InputLayer holds what the outer call passes in.
        self.alias: dict[str, TensorRef] = {}
        for spec in specs.values():
            if spec.model is not None and spec.calls:
                for outer, inner in zip(spec.calls[0].inputs, spec.model.inputs):
                    self.alias[inner.layer] = outer

    def pair(self, ref: TensorRef, depth: int = 0) -> tuple[Shape, Shape] | None:
        """(old, new) shapes of tensor ``ref``, or None when unknown."""
        if depth > 1000:
            return None
        name = ref.layer
        if name in self.old and name in self.new and len(self.old[name]) == len(self.new[name]):
            t = ref.tensor if ref.tensor < len(self.old[name]) else 0
            return self.old[name][t], self.new[name][t]
        if name in self.alias:
            return self.pair(self.alias[name], depth + 1)
        if name in self.inputs:
            return self.inputs[name], self.inputs[name]
        spec = self.specs.get(name)
        if spec is None:
            return None
        if spec.model is not None and ref.tensor < len(spec.model.outputs):
            return self.pair(spec.model.outputs[ref.tensor], depth + 1)
        if spec.calls and spec.calls[min(ref.node, len(spec.calls) - 1)].inputs:
            return self.pair(spec.calls[min(ref.node, len(spec.calls) - 1)].inputs[0], depth + 1)
        return None


def _fix_tensors(obj: Any, shapes: ShapeMap) -> None:
    if isinstance(obj, list):
        for o in obj:
            _fix_tensors(o, shapes)
    elif isinstance(obj, dict):
        cfg = obj.get("config")
        if obj.get("class_name") == "__keras_tensor__" and isinstance(cfg, dict):
            hist = cfg.get("keras_history")
            if isinstance(hist, list) and len(hist) == 3 and isinstance(hist[0], str):
                pair = shapes.pair(TensorRef(hist[0], int(hist[1]), int(hist[2])))
                if pair is not None:
                    cfg["shape"] = _changed(cfg.get("shape"), *pair)
            return
        for v in obj.values():
            _fix_tensors(v, shapes)


_INPUT_SHAPE_KEYS = ("batch_shape", "batch_input_shape")


def _fix_model_inputs(name: str, entry: dict[str, Any], shapes: ShapeMap) -> None:
    """A nested model's input shapes follow what its caller now passes: its InputLayers'
    ``batch_shape``, a Sequential's ``build_input_shape`` (or its first layer's input shape)."""
    cfg = entry.get("config")
    if not isinstance(cfg, dict):
        return
    if name in shapes.alias:
        pair = shapes.pair(shapes.alias[name])
        for key in _INPUT_SHAPE_KEYS:
            if pair is not None and key in cfg:
                cfg[key] = _changed(cfg[key], *pair)
    spec = shapes.specs.get(name)
    if spec is None or spec.model is None or not spec.calls or not spec.calls[0].inputs:
        return
    pair = shapes.pair(spec.calls[0].inputs[0])
    if pair is None:
        return
    if "build_input_shape" in cfg:
        cfg["build_input_shape"] = _changed(cfg["build_input_shape"], *pair)
    first = _entries_of(cfg)[:1]
    if first and first[0].get("class_name") != "InputLayer" and isinstance(first[0].get("config"), dict):
        for key in _INPUT_SHAPE_KEYS:
            if key in first[0]["config"]:
                first[0]["config"][key] = _changed(first[0]["config"][key], *pair)


def update_shapes(entries: Mapping[str, dict[str, Any]], shapes: ShapeMap) -> None:
    """Rewrite ``build_config.input_shape`` and ``__keras_tensor__`` shapes (see module docstring)."""
    for name, entry in entries.items():
        _fix_tensors(entry.get("inbound_nodes"), shapes)
        _fix_model_inputs(name, entry, shapes)
        build = entry.get("build_config")
        spec = shapes.specs.get(name)
        if not isinstance(build, dict) or "input_shape" not in build or spec is None or not spec.calls:
            continue
        refs = spec.calls[0].inputs
        shape = build["input_shape"]
        if len(refs) == 1:
            pair = shapes.pair(refs[0])
            if pair is not None:
                build["input_shape"] = _changed(shape, *pair)
        elif isinstance(shape, list) and len(shape) == len(refs):
            fixed = []
            for s, r in zip(shape, refs):
                pair = shapes.pair(r)
                fixed.append(s if pair is None else _changed(s, *pair))
            build["input_shape"] = fixed
