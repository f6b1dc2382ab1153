"""Normalize a Keras model config (any era) into one functional form: ModelSpec / LayerSpec.

Maps:
- Sequential configs (Keras 1/2.0-2.2 bare list, 2.2.4+ dict with ``layers``, Keras 3 with an
  explicit InputLayer) to a chain of calls, adding an InputLayer from ``batch_input_shape`` /
  ``batch_shape`` / ``input_shape`` / ``input_dim`` / ``build_input_shape`` when there is none;
- Functional / Model configs with Keras 1 (3-element), Keras 2 (4-element with kwargs) and
  Keras 3 (``{"args", "kwargs"}`` with ``__keras_tensor__``) inbound nodes;
- nested models (a layer whose class is Sequential / Functional / Model) to a nested ModelSpec.
Nothing here looks at weights or builds graph nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...errors import ModelFormatError

MODEL_CLASSES = ("Sequential", "Functional", "Model")


@dataclass(frozen=True)
class TensorRef:
    """The ``tensor``-th output of the ``node``-th call of layer ``layer``."""

    layer: str
    node: int = 0
    tensor: int = 0


@dataclass
class LayerCall:
    """One call of a layer: tensor inputs in order, plus keyword arguments (may hold TensorRefs)."""

    inputs: list[TensorRef]
    kwargs: dict[str, Any] = field(default_factory=dict)
    args: list[Any] = field(default_factory=list)  # positional args, TensorRefs or constants
    keras3: bool = False  # written in the Keras 3 {"args", "kwargs"} form


@dataclass
class LayerSpec:
    name: str
    cls: str
    config: dict[str, Any]
    calls: list[LayerCall]
    module: str | None = None
    registered_name: str | None = None
    model: ModelSpec | None = None  # set for nested models

    @property
    def is_model(self) -> bool:
        return self.model is not None


@dataclass
class ModelSpec:
    name: str
    cls: str
    layers: list[LayerSpec]
    inputs: list[TensorRef]
    outputs: list[TensorRef]

    def layer(self, name: str) -> LayerSpec:
        for ly in self.layers:
            if ly.name == name:
                return ly
        raise ModelFormatError(f"model config of {self.name!r} refers to an unknown layer {name!r}")

    def walk(self) -> list[tuple[tuple[str, ...], LayerSpec]]:
        """Every layer with its path of enclosing model names, nested models included."""
        out: list[tuple[tuple[str, ...], LayerSpec]] = []
        for ly in self.layers:
            out.append(((), ly))
            if ly.model is not None:
                out += [((ly.name,) + p, sub) for p, sub in ly.model.walk()]
        return out


def _is_keras3_tensor(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("class_name") == "__keras_tensor__"


def _ref_from_history(obj: dict[str, Any], where: str) -> TensorRef:
    cfg = obj.get("config")
    hist = cfg.get("keras_history") if isinstance(cfg, dict) else None
    if not (isinstance(hist, list) and len(hist) == 3 and isinstance(hist[0], str)
            and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in hist[1:])):
        raise ModelFormatError(f"{where}: a Keras 3 tensor reference has keras_history {str(hist)[:120]}; expected "
                               "[layer_name, node_index, tensor_index]")
    return TensorRef(hist[0], hist[1], hist[2])


def is_legacy_ref(obj: Any) -> bool:
    """A Keras 1/2 tensor reference: [layer_name, node_index, tensor_index(, kwargs)]."""
    return (isinstance(obj, list) and 3 <= len(obj) <= 4 and isinstance(obj[0], str)
            and isinstance(obj[1], int) and isinstance(obj[2], int)
            and (len(obj) == 3 or isinstance(obj[3], dict)))


def convert_tensor_refs(obj: Any, where: str) -> Any:
    """Replace Keras 3 ``__keras_tensor__`` dicts inside kwargs/args by TensorRefs (recursively)."""
    if _is_keras3_tensor(obj):
        return _ref_from_history(obj, where)
    if isinstance(obj, list):
        return [convert_tensor_refs(o, where) for o in obj]
    if isinstance(obj, dict):
        return {k: convert_tensor_refs(v, where) for k, v in obj.items()}
    return obj


def _flatten_refs(obj: Any) -> list[TensorRef]:
    if isinstance(obj, TensorRef):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [r for o in obj for r in _flatten_refs(o)]
    return []


def _parse_call(node: Any, where: str) -> LayerCall:
    if isinstance(node, dict) and "args" in node:  # Keras 3
        args = convert_tensor_refs(node.get("args", []), where)
        kwargs = convert_tensor_refs(node.get("kwargs", {}) or {}, where)
        return LayerCall(_flatten_refs(args), kwargs, args, keras3=True)
    if isinstance(node, list):  # Keras 1/2: list of [name, node, tensor(, kwargs)]
        if is_legacy_ref(node) or (node and node[0] == "_CONSTANT_VALUE"):
            node = [node]  # tf.keras TFOpLambda called on one tensor: a bare entry, not a list of entries
        refs: list[TensorRef] = []
        kwargs: dict[str, Any] = {}
        call_args: list[Any] = []
        for entry in node:
            if isinstance(entry, list) and len(entry) in (3, 4) and entry[0] == "_CONSTANT_VALUE":
                call_args.append(entry[2])  # tf.keras: a constant first argument, e.g. 3.0 - x
            elif is_legacy_ref(entry):
                refs.append(TensorRef(entry[0], entry[1], entry[2]))
                call_args.append(refs[-1])
            else:
                raise ModelFormatError(f"{where}: unexpected inbound node entry {entry!r}")
            if len(entry) == 4 and entry[3]:
                kwargs.update(entry[3])
        return LayerCall(refs, kwargs, call_args)
    raise ModelFormatError(f"{where}: unexpected inbound node {node!r}")


def _parse_io(refs: Any, where: str) -> list[TensorRef]:
    if refs is None:
        return []
    if isinstance(refs, list) and refs and isinstance(refs[0], str):  # flat [name, node, tensor]
        refs = [refs]
    if not isinstance(refs, list):
        raise ModelFormatError(f"{where}: model inputs/outputs are {str(refs)[:120]}; expected a list of "
                               "[layer_name, node_index, tensor_index]")
    out = []
    for r in refs:
        if (isinstance(r, list) and len(r) >= 1 and isinstance(r[0], str)
                and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in r[1:3])):
            out.append(TensorRef(r[0], r[1] if len(r) > 1 else 0, r[2] if len(r) > 2 else 0))
        else:
            raise ModelFormatError(f"{where}: cannot read model input/output entry {r!r}")
    return out


def _layer_entries(raw: Any, where: str) -> list[dict[str, Any]]:
    """A model's ``layers``: a list of ``{"class_name", "config", ...}`` objects."""
    if not isinstance(raw, list):
        raise ModelFormatError(f"{where}: the model's layers are a {type(raw).__name__}; expected a list of layer "
                               "objects")
    for e in raw:
        if not isinstance(e, dict) or not isinstance(e.get("class_name"), str):
            raise ModelFormatError(f"{where}: a layer entry is {str(e)[:120]}; expected an object with a "
                                   "class_name string")
    return raw


def _layer_name(entry: dict[str, Any]) -> str:
    cfg = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    return str(entry.get("name") or (cfg or {}).get("name") or "")


def parse_model(entry: dict[str, Any], where: str) -> ModelSpec:
    """Parse a top-level model config (``{"class_name", "config"}``) into a ModelSpec."""
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ModelFormatError(f"{where}: the model config has no class_name; expected a Keras model config "
                               f"(from model.to_json() or a saved model)")
    cls = entry["class_name"]
    cfg = entry.get("config")
    if cls == "Sequential":
        return _parse_sequential(cfg, where)
    if cls in ("Functional", "Model"):
        if not isinstance(cfg, dict) or "layers" not in cfg:
            raise ModelFormatError(f"{where}: {cls} config has no layers")
        return _parse_functional(cls, cfg, where)
    if not cfg:
        raise ModelFormatError(
            f"{where}: the model is a subclassed model ({cls}) whose architecture is not serialized "
            "(its config is empty); rebuild it as a Functional or Sequential model to convert it")
    raise ModelFormatError(f"{where}: the top-level object is a {cls!r}, not a Sequential or Functional model")


def _parse_layer(entry: dict[str, Any], where: str, calls: list[LayerCall]) -> LayerSpec:
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ModelFormatError(f"{where}: a layer entry has no class_name: {str(entry)[:120]}")
    cls = str(entry["class_name"])
    cfg = entry.get("config")
    if not isinstance(cfg, dict):
        cfg = {"__raw__": cfg}
    name = _layer_name(entry) or cls.lower()
    for key in ("module", "registered_name"):
        if not isinstance(entry.get(key), (str, type(None))):
            raise ModelFormatError(f"{where}: layer {name!r} ({cls}) has {key} {str(entry[key])[:80]}; expected a "
                                   "string or null")
    spec = LayerSpec(name, cls, cfg, calls, entry.get("module"), entry.get("registered_name"))
    if cls in MODEL_CLASSES:
        spec.model = parse_model(entry, f"{where}, nested model {name!r}")
        spec.model.name = name
    return spec


def _first_input_shape(cfg: dict[str, Any]) -> list[Any] | None:
    for key in ("batch_input_shape", "batch_shape"):
        if cfg.get(key) is not None:
            return list(cfg[key])
    if cfg.get("input_shape") is not None:
        return [None] + list(cfg["input_shape"])
    if cfg.get("input_dim") is not None and cfg.get("input_length") is not None:  # Keras 1 Embedding
        return [None, cfg["input_length"]]
    if cfg.get("input_dim") is not None and "output_dim" in cfg and "input_length" not in cfg:
        return [None, cfg["input_dim"]]  # Keras 1 Dense(input_dim=...)
    return None


def _parse_sequential(cfg: Any, where: str) -> ModelSpec:
    if isinstance(cfg, list):
        entries, name, build_shape = cfg, "sequential", None
    elif isinstance(cfg, dict):
        entries = cfg.get("layers", [])
        name = cfg.get("name", "sequential")
        build_shape = cfg.get("build_input_shape")
    else:
        raise ModelFormatError(f"{where}: Sequential config is neither a list nor a dict")
    entries = _layer_entries(entries, where)
    if not entries:
        raise ModelFormatError(f"{where}: Sequential model has no layers")
    layers: list[LayerSpec] = []
    first = entries[0]
    if first.get("class_name") != "InputLayer":
        fcfg = first.get("config") or {}
        shape = _first_input_shape(fcfg) if isinstance(fcfg, dict) else None
        if shape is None and build_shape is not None:
            shape = list(build_shape)
        if shape is None:
            raise ModelFormatError(
                f"{where}: the Sequential model's first layer has no input shape "
                "(batch_input_shape/batch_shape); pass --input-shape or save a built model")
        dtype = (fcfg.get("input_dtype") or fcfg.get("dtype") or "float32") if isinstance(fcfg, dict) else "float32"
        in_name = f"{_layer_name(first) or 'sequential'}_input"
        layers.append(LayerSpec(in_name, "InputLayer", {"batch_input_shape": shape, "dtype": dtype,
                                                        "name": in_name}, []))
    prev: TensorRef | None = None
    for i, e in enumerate(entries):
        if i == 0 and e.get("class_name") == "InputLayer":
            spec = _parse_layer(e, where, [])
        else:
            src = prev or TensorRef(layers[0].name)
            spec = _parse_layer(e, where, [LayerCall([src], {}, [src])])
        layers.append(spec)
        prev = TensorRef(spec.name)
    return ModelSpec(name, "Sequential", layers, [TensorRef(layers[0].name)], [TensorRef(layers[-1].name)])


def _parse_functional(cls: str, cfg: dict[str, Any], where: str) -> ModelSpec:
    layers = []
    for e in _layer_entries(cfg["layers"], where):
        name = _layer_name(e)
        nodes = e.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise ModelFormatError(f"{where}: layer {name!r} has inbound_nodes {str(nodes)[:80]}; expected a list")
        calls = [_parse_call(n, f"{where}, layer {name!r}") for n in nodes]
        layers.append(_parse_layer(e, where, calls))
    model = ModelSpec(str(cfg.get("name", "model")), cls, layers,
                      _parse_io(cfg.get("input_layers"), where), _parse_io(cfg.get("output_layers"), where))
    keras3 = any(isinstance(n, dict) for e in cfg["layers"] for n in (e.get("inbound_nodes") or []))
    _reindex_nested_calls(model, keras3)
    return model


def _reindex_nested_calls(model: ModelSpec, keras3: bool) -> None:
    """Make references to nested models index their calls from 0.

    A model built on an Input starts with a node linking its input to its output, which Keras
    leaves out of the config but still counts: Keras 1/2 number a nested model's calls from 1
    everywhere; Keras 3 does so for a nested Functional in ``input_layers``/``output_layers``
    only (inbound ``keras_history`` entries keep the raw index). An index past the last call
    is taken as shifted whatever the version.
    """
    nested = {ly.name: ly for ly in model.layers if ly.model is not None}
    if not nested:
        return

    def fix(obj: Any, io: bool) -> Any:
        if isinstance(obj, list):
            return [fix(o, io) for o in obj]
        if not isinstance(obj, TensorRef) or obj.layer not in nested or obj.node == 0:
            return obj
        ly = nested[obj.layer]
        shifted = (not keras3) or (io and ly.cls in ("Functional", "Model")) or obj.node >= len(ly.calls)
        return TensorRef(obj.layer, obj.node - 1, obj.tensor) if shifted else obj

    for ly in model.layers:
        for call in ly.calls:
            call.inputs = fix(call.inputs, False)
            call.args = fix(call.args, False)
    model.outputs = fix(model.outputs, True)
