"""Build an IR Graph from a normalized ModelSpec and a weight store.

Walks every layer call in dependency order (shared layers are called several times; nested
models are inlined), hands each call to the handler registered for its class, and records a
LayerRecord per layer. Unsupported classes are found before building and refusals during
building; all of them are reported together in one UnsupportedLayerError.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...errors import ModelFormatError, UnsupportedLayerError
from ...ir import DType, Graph, LayerRecord, Value
from ...ir.value import MAX_DIM
from .config import LayerCall, LayerSpec, ModelSpec, TensorRef, is_legacy_ref
from .context import KERAS_HANDLERS, ImportOptions, LayerContext, LayerRefusal
from .layers.keras_ops import OPS_PREFIX, ops_key
from .legacy import fix_weights, translate_layer
from .weights import LayerWeights, WeightStore, keras3_keys

# Classes refused by name: their content is code or TF graph fragments that are never run.
REFUSED: dict[str, str] = {
    "Lambda": "holds Python bytecode, which keras2edge never unmarshals or runs; rewrite it as built-in layers "
              "or register a handler for it",
    "__lambda__": "holds Python bytecode (Keras 3 lambda), which keras2edge never decodes or runs",
    "TensorFlowOpLayer": "embeds a raw TensorFlow NodeDef, which keras2edge does not execute",
}
WRAPPERS = ("Bidirectional", "TimeDistributed")
#: What a handler raises when a crafted config breaks an assumption Keras guarantees (a missing key,
#: a list where a number belongs, an input of the wrong rank): reported naming the layer.
CONFIG_FAULTS = (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError, OverflowError)
_POISON = object()


def _dims(raw: Any, what: str) -> list[int | None]:
    """Validated dims: each None (unknown) or an integer in 1..MAX_DIM; ``what`` names the source."""
    if not isinstance(raw, (list, tuple)):
        raise ModelFormatError(f"{what} is {raw!r}; expected a list of dimensions")
    for d in raw:
        if d is not None and (isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= MAX_DIM):
            raise ModelFormatError(f"{what} is {list(raw)!r}: dimension {d!r} is not a positive integer up to "
                                   f"{MAX_DIM} (or null for an unknown size)")
    return list(raw)


def _dims_text(shape: Sequence[int | None]) -> str:
    """``(?, 0, 5)``: a shape as the messages show it (? for an unknown dimension)."""
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _input_shape(name: str, cfg: Mapping[str, Any], where: str) -> list[int | None]:
    for key in ("batch_input_shape", "batch_shape"):
        if cfg.get(key) is not None:
            return _dims(cfg[key], f"{where}: {key} of Keras layer {name!r} (InputLayer)")
    if cfg.get("input_shape") is not None:
        return [None] + _dims(cfg["input_shape"], f"{where}: input_shape of Keras layer {name!r} (InputLayer)")
    raise ModelFormatError(f"{where}: Keras layer {name!r} (InputLayer) has no shape")


def find_unsupported(model: ModelSpec) -> dict[str, list[tuple[str, str]]]:
    """Every layer class with no handler (or refused by name), with its layer names."""
    problems: dict[str, list[tuple[str, str]]] = {}

    def visit(name: str, cls: str, cfg: dict[str, Any], module: str | None, calls: list[LayerCall]) -> None:
        cls, cfg = translate_layer(cls, cfg)
        cls = ops_key(module, cls, cfg, calls)
        if cls in REFUSED:
            problems.setdefault(cls, []).append((name, REFUSED[cls]))
        elif cls not in KERAS_HANDLERS:
            if cls.startswith(OPS_PREFIX):
                reason = f"Keras 3 operation from {module}"
            elif module and not module.startswith(("keras", "tf_keras")):
                reason = f"custom layer from {module}"
            else:
                reason = ""
            problems.setdefault(cls, []).append((name, reason))
        elif cls in WRAPPERS and isinstance(cfg.get("layer"), dict):
            inner = cfg["layer"]
            icfg = inner.get("config") if isinstance(inner.get("config"), dict) else {}
            visit(f"{name}/{icfg.get('name', '')}", str(inner.get("class_name")), icfg, inner.get("module"), [])

    for _, ly in model.walk():
        if not ly.is_model:
            visit(ly.name, ly.cls, ly.config, ly.module, ly.calls)
    return problems


class GraphBuilder:
    """Turns a ModelSpec into IR nodes, one layer call at a time."""

    def __init__(self, store: WeightStore, options: ImportOptions,
                 input_shapes: Mapping[str, Sequence[int | None]] | None = None) -> None:
        self.store = store
        self.options = options
        self.input_shapes = dict(input_shapes or {})
        self.graph = Graph()
        self.refusals: dict[str, list[tuple[str, str]]] = {}
        self._recorded: set[str] = set()

    # ---------------------------------------------------------------- entry point
    def build(self, model: ModelSpec) -> Graph:
        problems = find_unsupported(model)
        self.graph.name = model.name
        outs = self.build_model(model, (), (), None)
        self._check_int_attrs()
        for cls, entries in self.refusals.items():
            problems.setdefault(cls, []).extend(entries)
        if problems:
            raise UnsupportedLayerError(self.options.path, problems, sorted(set(KERAS_HANDLERS) - set(REFUSED)))
        unknown = set(self.input_shapes) - {v.name for v in self.graph.inputs} - {"*"}
        if "*" in self.input_shapes and len(self.graph.inputs) != 1:
            raise ModelFormatError(f"--input-shape without a NAME: needs a single-input model; the inputs are "
                                   f"{[v.name for v in self.graph.inputs]}")
        if unknown:
            raise ModelFormatError(f"--input-shape names {sorted(unknown)}, but the model's inputs are "
                                   f"{[v.name for v in self.graph.inputs]}")
        self.graph.outputs = []
        for ref, v in zip(model.outputs, outs):
            assert isinstance(v, Value)
            if v.producer is None or self.graph.is_output(v):
                # A graph input (or a value already returned) passed straight out: give the output its
                # own value so it can carry the Keras output layer's name.
                v = self.graph.add_node("Identity", [v], origin=(ref.layer, model.layer(ref.layer).cls)).output
            self.graph.rename_value(v, ref.layer)
            self.graph.outputs.append(v)
        self.graph.metadata.update({"keras_version": self.options.keras_version, "source": self.options.path})
        return self.graph

    # ---------------------------------------------------------------- model walk
    def build_model(self, model: ModelSpec, names: tuple[str, ...], keys: tuple[str, ...],
                    inputs: Sequence[Value] | None) -> list[Any]:
        tensors: dict[TensorRef, Any] = {}
        layer_keys = dict(zip((ly.name for ly in model.layers), keras3_keys([ly.cls for ly in model.layers])))
        input_layers = [model.layer(r.layer) for r in model.inputs]
        if inputs is not None and len(inputs) != len(input_layers):
            raise ModelFormatError(f"nested model {model.name!r} expects {len(input_layers)} inputs, got {len(inputs)}")
        for i, ly in enumerate(input_layers):
            tensors[TensorRef(ly.name)] = inputs[i] if inputs is not None else self._graph_input(ly)
        pending = [(ly, k) for ly in model.layers for k in range(len(ly.calls)) if ly.cls != "InputLayer"]
        while pending:
            progressed = False
            for item in list(pending):
                ly, k = item
                call = ly.calls[k]
                if (any(r not in tensors for r in call.inputs) or not self._kwarg_refs_ready(call.kwargs, tensors)
                        or not self._kwarg_refs_ready(call.args, tensors)):
                    continue
                pending.remove(item)
                progressed = True
                args = [tensors[r] for r in call.inputs]
                if any(a is _POISON for a in args):
                    outs: list[Any] = [_POISON] * 8
                else:
                    outs = self._call(ly, k, args, self._resolve(call.kwargs, tensors),
                                      self._resolve(call.args, tensors), names, keys + (layer_keys[ly.name],))
                for t, v in enumerate(outs):
                    tensors[TensorRef(ly.name, k, t)] = v
            if not progressed:
                missing = sorted({r.layer for ly, k in pending for r in ly.calls[k].inputs if r not in tensors})
                raise ModelFormatError(f"{self.options.path!r}: model {model.name!r} has layer calls whose inputs "
                                       f"are never produced (from layers {missing[:10]})")
        result = []
        for r in model.outputs:
            if r not in tensors:
                raise ModelFormatError(f"{self.options.path!r}: model output {r.layer!r} is never produced")
            result.append(tensors[r])
        return result

    def _check_int_attrs(self) -> None:
        """Integer attributes (strides, sizes, axes from the config) must fit in int32, as every target
        format stores them; a crafted config can hold 2**63."""
        for node in self.graph.nodes:
            for key, value in node.attrs.items():
                ints = value if isinstance(value, (list, tuple)) else [value]
                bad = [v for v in ints if isinstance(v, (int, np.integer)) and not -2**31 <= v < 2**31]
                if bad:
                    who = f"{node.origin.layer!r} ({node.origin.cls})" if node.origin else repr(node.name)
                    raise ModelFormatError(f"{self.options.path!r}: Keras layer {who}: {key}={bad[0]} from "
                                           "its config does not fit in 32 bits; no ONNX or TFLite model can hold it")

    def _graph_input(self, ly: LayerSpec) -> Value:
        where = repr(self.options.path)
        shape = _input_shape(ly.name, ly.config, where)
        pinned = self.input_shapes.get(ly.name, self.input_shapes.get("*"))
        if pinned is not None:
            want = _dims(pinned, f"--input-shape {ly.name}")
            if len(want) != len(shape) or any(s is not None and w != s for s, w in zip(shape, want)):
                raise ModelFormatError(f"--input-shape {ly.name}:{want} does not fit the model's input shape "
                                       f"{['?' if s is None else s for s in shape]}")
            shape = want
        dtype = DType.from_any(ly.config.get("dtype") or "float32")
        self.options.limits.check(math.prod(d or 1 for d in shape) * dtype.np.itemsize,
                                  f"{where}: input {ly.name!r} of shape {shape}")
        if dtype == DType.INT64:
            dtype = DType.INT32
        return self.graph.add_input(ly.name, dtype, shape)

    @staticmethod
    def _kwarg_refs_ready(obj: Any, tensors: Mapping[TensorRef, Any]) -> bool:
        if isinstance(obj, TensorRef):
            return obj in tensors
        if is_legacy_ref(obj):
            return TensorRef(obj[0], obj[1], obj[2]) in tensors
        if isinstance(obj, list):
            return all(GraphBuilder._kwarg_refs_ready(o, tensors) for o in obj)
        if isinstance(obj, dict):
            return all(GraphBuilder._kwarg_refs_ready(o, tensors) for o in obj.values())
        return True

    def _resolve(self, obj: Any, tensors: Mapping[TensorRef, Any]) -> Any:
        if isinstance(obj, TensorRef):
            return tensors[obj]
        if is_legacy_ref(obj) and TensorRef(obj[0], obj[1], obj[2]) in tensors:
            return tensors[TensorRef(obj[0], obj[1], obj[2])]
        if isinstance(obj, list):
            return [self._resolve(o, tensors) for o in obj]
        if isinstance(obj, dict):
            return {k: self._resolve(v, tensors) for k, v in obj.items()}
        return obj

    # ---------------------------------------------------------------- one call
    def _call(self, ly: LayerSpec, k: int, args: list[Value], kwargs: dict[str, Any], call_args: list[Any],
              names: tuple[str, ...], keys: tuple[str, ...]) -> list[Any]:
        if ly.model is not None:
            outs = self.build_model(ly.model, names + (ly.name,), keys, args)
            self._record(ly, ly.cls, outs, args, 0)
            return outs
        cls, cfg = translate_layer(ly.cls, ly.config)
        cls = ops_key(ly.module, cls, cfg, ly.calls)
        handler = KERAS_HANDLERS.get(cls)
        if handler is None or cls in REFUSED:
            return [_POISON] * 8  # reported by find_unsupported
        weights = self.store.layer_weights(names + (ly.name,), keys) or LayerWeights(source="(no weights)")
        weights = fix_weights(cls, cfg, weights, self.options.theano)
        ctx = LayerContext(self.graph, ly.name, cls, cfg, weights, self.options, kwargs, call_args, k,
                           nested=self._nested_call)
        try:
            res = handler(ctx, list(args))
        except LayerRefusal as e:
            self.refusals.setdefault(cls, []).append((ly.name, str(e)))
            return [_POISON] * 8
        except CONFIG_FAULTS as e:
            raise ModelFormatError(
                f"{self.options.path!r}: Keras layer {ly.name!r} ({cls}) cannot be imported: its config, weights or "
                f"input shapes are not what Keras writes for a {cls} ({type(e).__name__}: {e})") from e
        outs = [res] if isinstance(res, Value) else list(res)
        for v in outs:
            if isinstance(v, Value) and any(d is not None and d < 1 for d in v.shape):
                raise ModelFormatError(
                    f"{self.options.path!r}: Keras layer {ly.name!r} ({cls}) would output shape {_dims_text(v.shape)}:"
                    f" its config (kernel, strides, padding, target shape) does not fit its input shape"
                    f"{'s' if len(args) > 1 else ''} {', '.join(_dims_text(a.shape) for a in args)}")
        self._record(ly, cls, outs, args, sum(int(np.prod(a.shape)) for a in weights.arrays))
        return outs

    def _nested_call(self, outer: str, layer_entry: dict[str, Any], weights: LayerWeights,
                     inputs: list[Value]) -> list[Value]:
        """Run a wrapped layer (inside Bidirectional/TimeDistributed) with the given weights."""
        cls, cfg = translate_layer(str(layer_entry.get("class_name")), dict(layer_entry.get("config") or {}))
        handler = KERAS_HANDLERS.lookup(cls, f"wrapped layer of {outer}")
        weights = fix_weights(cls, cfg, weights, self.options.theano)
        ctx = LayerContext(self.graph, outer, cls, cfg, weights, self.options, {}, [], 0, nested=self._nested_call)
        res = handler(ctx, inputs)
        return [res] if isinstance(res, Value) else list(res)

    def _record(self, ly: LayerSpec, cls: str, outs: list[Any], args: list[Value], params: int) -> None:
        if ly.name in self._recorded:
            return
        self._recorded.add(ly.name)
        shapes = [tuple(v.shape) for v in outs if isinstance(v, Value)]
        inbound = [v.name for v in args]
        self.graph.layers.append(LayerRecord(ly.name, cls, shapes, params, inbound))
