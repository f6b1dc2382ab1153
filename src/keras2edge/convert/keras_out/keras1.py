"""A Keras 1 model written as a Keras 3 ``.keras`` archive: the form a user fine-tuning today loads.

Keras 1 files (``keras_version`` 1.x) hold kernels in layouts no current Keras reads: 'th'
dim-ordering conv kernels (out, in, rows, cols), Conv1D kernels (len, 1, in, out), LSTM/GRU weights
split per gate (i, c, f, o), Theano-flipped kernels; and their configs use Keras 1 names
(Convolution2D, nb_filter, border_mode, output_dim...). The importer rearranges the arrays
(``legacy.fix_weights``) and translates the config (``legacy.translate_layer``). Neither Keras 3 nor
tf_keras loads a Keras 1 model, so instead of undoing those rearrangements a Keras 1 source written
as ``.keras`` becomes a Keras 3 model (Keras 3 layouts and names; ``.h5`` keeps writing the Keras 1
file where its layouts need no rearranging, see ``plan``):

- config: a Sequential whose first layer is an InputLayer (the first Keras 1 layer's
  ``batch_input_shape`` and ``input_dtype``), then each layer as its translated Keras 2/3 class with
  the arguments of :data:`KEPT` (units/filters following the pruned shapes, from the exporter);
  Keras 1 initializers, regularizers and constraints are left out (a loaded model's outputs do not
  depend on them; a regularizer or constraint that was set is logged, to be set again for
  fine-tuning);
- weights: each layer's arrays in Keras 3's order and layout, given by the class's exporter from the
  graph's constants. The check first: the exporter on the source's unpruned import must give back
  the importer's rearrangement of the file's own arrays (``fix_weights``), exactly (or to float32
  rounding where the exporter divides out a folded scale), else the layer is refused;
- 'th' layers stay ``channels_first`` (the model's input layout is the user's): Keras 3 runs them on
  GPU, or on CPU with oneDNN (TensorFlow's default; with ``TF_ENABLE_ONEDNN_OPTS=0`` TensorFlow's CPU
  kernels refuse NCHW convolutions);
- container: ``formats.write_keras_zip_layers`` (``layers/<key>/vars/<i>``, recurrent cells under
  ``cell/vars``), metadata ``keras_version`` 3.

Refused, naming the layer: a Keras 1 functional (non-Sequential) model, nested models, classes
without an entry in :data:`KEPT`, and activations Keras 3 redefined (:data:`CHANGED_ACTIVATIONS`:
Keras 1's default LSTM/GRU ``inner_activation`` hard_sigmoid is 0.2x + 0.5, Keras 3's x/6 + 0.5).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import ModelFormatError
from ...ir import Graph
from ..keras.config import ModelSpec
from ..keras.layers.keras_ops import ops_key
from ..keras.legacy import fix_weights, translate_layer
from ..keras.sources import KerasSource
from ..keras.weights import keras3_keys
from .compare import layer_constants
from .crossformat import LayerArrays
from .exporters import KERAS_EXPORTERS, ExportRefusal, LayerExport
from .formats import write_keras_zip_layers
from .plan import keep_unchanged, matches

log = logging.getLogger(__name__)

_RNN = ("units", "activation", "recurrent_activation", "use_bias", "return_sequences", "go_backwards", "stateful",
        "unroll", "dropout", "recurrent_dropout")
_POOL1D = ("pool_size", "strides", "padding")
#: Keras 2/3 class -> the (translated) Keras 1 arguments carried into the Keras 3 config, besides
#: ``name`` and ``trainable``; the rest are Keras 1 only or initializers/regularizers/constraints.
KEPT: dict[str, tuple[str, ...]] = {
    "Dense": ("units", "activation", "use_bias"),
    "Conv1D": ("filters", "kernel_size", "strides", "padding", "dilation_rate", "activation", "use_bias"),
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
               "use_bias"),
    "Embedding": ("input_dim", "output_dim", "mask_zero"),
    "SimpleRNN": _RNN, "LSTM": _RNN, "GRU": _RNN + ("reset_after",),
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale"),
    "Dropout": ("rate",), "Activation": ("activation",), "Flatten": (),
    "MaxPooling1D": _POOL1D, "AveragePooling1D": _POOL1D,
    "MaxPooling2D": _POOL1D + ("data_format",), "AveragePooling2D": _POOL1D + ("data_format",),
}
#: Keras 1 arguments whose non-null values do not carry over (reported when set).
_DROPPED_SETTINGS = ("kernel_regularizer", "b_regularizer", "U_regularizer", "activity_regularizer",
                     "W_constraint", "b_constraint", "U_constraint", "gamma_regularizer", "beta_regularizer")
#: Activations whose meaning changed in Keras 3: no Keras 3 config computes the Keras 1 function.
CHANGED_ACTIVATIONS = {"hard_sigmoid": "clip(0.2x + 0.5) in Keras 1/2, relu6(x + 3)/6 in Keras 3"}


def is_keras1(src: KerasSource, model: ModelSpec) -> bool:
    """Whether the source is a Keras 1 model (its recorded version, else its configs' Keras 1 names)."""
    if src.keras_version:
        return src.keras_version.startswith("1.")
    return any(translate_layer(ly.cls, ly.config)[1].get("_keras1") for ly in model.layers)


def _refuse(where: str, name: str, cls: str, why: str) -> ModelFormatError:
    return ModelFormatError(f"cannot write the Keras 1 model {where} as a Keras 3 .keras file: Keras layer {name!r} "
                            f"({cls}): {why}")


def _layer_config(name: str, cls: str, cfg: dict[str, Any], updates: dict[Any, Any], where: str) -> dict[str, Any]:
    kept = KEPT.get(cls)
    if kept is None:
        raise _refuse(where, name, cls, f"the Keras 3 form is written for {', '.join(sorted(KEPT))}")
    dropped = [k for k in _DROPPED_SETTINGS if cfg.get(k) not in (None, {}, [])]
    if dropped:
        log.warning("%s: Keras layer %r (%s): its Keras 1 %s are not carried into the Keras 3 file; set them again "
                    "to fine-tune with them", where, name, cls, ", ".join(dropped))
    for key in ("activation", "recurrent_activation"):
        if key in kept and cfg.get(key) in CHANGED_ACTIVATIONS:
            raise _refuse(where, name, cls, f"its {key} {cfg[key]!r} ({CHANGED_ACTIVATIONS[cfg[key]]}) has no "
                                            "Keras 3 equivalent")
    out: dict[str, Any] = {"name": name, "trainable": bool(cfg.get("trainable", True))}
    for key in kept:
        if key in cfg:
            value = cfg[key]
            out[key] = list(value) if isinstance(value, tuple) else value
    for key, value in updates.items():
        if isinstance(key, str) and key in out:
            out[key] = value
    return {"module": "keras.layers", "class_name": cls, "config": out, "registered_name": None}


def _arrays(name: str, cls: str, cfg: dict[str, Any], src: KerasSource, key: str, new: dict[str, np.ndarray],
            old: dict[str, np.ndarray], theano: bool, where: str) -> tuple[list[tuple[str, np.ndarray]], dict[Any, Any]]:
    """The layer's arrays in Keras 3's layout and order, and its config updates (see the module docstring)."""
    assert src.weights is not None
    weights = src.weights.layer_weights((name,), (key,))
    if weights is None or not weights.entries:
        if new:
            raise _refuse(where, name, cls, "the graph has weights for it but the file holds none")
        return [], {}
    fn = KERAS_EXPORTERS.get(cls)
    if fn is None:
        raise _refuse(where, name, cls, f"keras2edge writes weights for {', '.join(KERAS_EXPORTERS)}")
    fixed = fix_weights(cls, cfg, weights, theano)  # the importer's Keras 2 layout of the file's arrays
    entries = [parts for parts, _ in fixed.entries]

    def export(consts: dict[str, np.ndarray]) -> LayerExport:
        x = LayerExport(name, cls, cfg, dict(consts), entries=entries)
        try:
            got = fn(x)
        except ExportRefusal as e:
            raise _refuse(where, name, cls, f"its weights cannot be written ({e})") from None
        if len(got) != len(fixed.entries):
            raise _refuse(where, name, cls, f"the file holds {len(fixed.entries)} weight arrays for it, keras2edge "
                                            f"would write {len(got)}")
        x.arrays = [(n, np.asarray(r, np.float32) if a is None else a) for (n, a), r in zip(got, fixed.arrays)]
        return x

    ref = export(old)
    if not matches(ref.arrays, fixed, ref.inexact):
        raise _refuse(where, name, cls, "exporting its unpruned weights does not give back the file's arrays as the "
                                        "importer arranged them")
    got = export(new)
    return keep_unchanged(list(got.arrays), ref.arrays, fixed, got.inexact), dict(got.updates)


def write_keras1(dest: str, src: KerasSource, model: ModelSpec, graph: Graph, reference: Graph, theano: bool,
                 where: str, inputs: Sequence[str | os.PathLike[str] | None]) -> None:
    """Write the pruned ``graph`` of the Keras 1 ``model`` (read from ``src``) to ``dest`` as a
    Keras 3 ``.keras`` archive (see the module docstring)."""
    if model.cls != "Sequential":
        raise ModelFormatError(f"cannot write the Keras 1 {model.cls} model {where} as a Keras 3 .keras file: "
                               "keras2edge writes Keras 1 Sequential models in Keras 3's form")
    first, *rest = model.layers
    if first.cls != "InputLayer" or not rest:
        raise ModelFormatError(f"cannot write the Keras 1 model {where} as a Keras 3 .keras file: it has no input layer")
    names = {ly.name for ly in rest}
    new_consts, old_consts = layer_constants(graph, names), layer_constants(reference, names)
    top = dict(rest[0].config)
    shape = top.get("batch_input_shape")
    if shape is None:
        raise _refuse(where, rest[0].name, rest[0].cls, "its config has no batch_input_shape")
    pins = {v.name: v.shape for v in graph.inputs}
    batch_shape = list(pins.get(first.name, shape))
    batch_shape[0] = None
    entries: list[dict[str, Any]] = [{
        "module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
        "config": {"batch_shape": batch_shape, "dtype": str(top.get("input_dtype") or "float32"), "sparse": False,
                   "name": first.name}}]
    layers: list[LayerArrays] = []
    classes = []
    for ly in rest:
        if ly.model is not None:
            raise _refuse(where, ly.name, ly.cls, "nested models are not written in Keras 3's form")
        cls, cfg = translate_layer(ly.cls, ly.config)
        classes.append(ops_key(ly.module, cls, cfg, ly.calls))
    for ly, cls, key in zip(rest, classes, keras3_keys(["InputLayer", *classes])[1:]):
        cfg = translate_layer(ly.cls, ly.config)[1]
        arrays, updates = _arrays(ly.name, cls, cfg, src, ly.name, new_consts.get(ly.name, {}),
                                  old_consts.get(ly.name, {}), theano, where)
        entries.append(_layer_config(ly.name, cls, cfg, updates, where))
        layers.append(LayerArrays(ly.name, cls, key, arrays))
    config = {"module": "keras", "class_name": "Sequential", "registered_name": None, "compile_config": None,
              "config": {"name": model.name, "trainable": True, "layers": entries}}
    write_keras_zip_layers(dest, config, layers, [], "3.0.0", inputs)
