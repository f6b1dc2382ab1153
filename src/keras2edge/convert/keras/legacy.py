"""Keras 1 and Theano-era fixes, so that layer handlers only ever see Keras 2/3 configs and layouts.

Config (``translate_layer``): Keras 1 class names (Convolution2D, Merge, TimeDistributedDense...)
and parameter names (output_dim, nb_filter, border_mode, subsample, dim_ordering, p, init,
inner_activation, ...) become their Keras 2 equivalents; a translated config carries ``_keras1``.

Weights (``fix_weights``), following what Keras 2's own loader does:
- Keras 1 'th' conv kernels (out, in, rows, cols) -> (rows, cols, in, out); Keras 1 Conv1D
  kernels (len, 1, in, out) -> (len, in, out);
- Keras 1 split LSTM arrays (gate order i, c, f, o) fused into Keras 2 order i, f, c, o; GRU
  arrays z, r, h fused (reset_after=False); Bidirectional forward_/backward_ halves likewise;
- weights trained with Theano (``backend.py`` decides: recorded, inferred, or the ``backend``
  option): conv kernels flipped spatially (Theano convolves where TF correlates), as Keras'
  ``convert_kernel`` does for Conv1D/2D/2DTranspose.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .weights import LayerWeights

_K1_CLASSES = {
    "Convolution1D": "Conv1D", "Convolution2D": "Conv2D", "AtrousConvolution1D": "Conv1D",
    "AtrousConvolution2D": "Conv2D", "Deconvolution2D": "Conv2DTranspose",
    "SeparableConvolution2D": "SeparableConv2D", "TimeDistributedDense": "Dense",
}
_K1_PARAMS = {
    "output_dim": "units", "nb_filter": "filters", "border_mode": "padding", "subsample": "strides",
    "subsample_length": "strides", "filter_length": "kernel_size", "pool_length": "pool_size",
    "stride": "strides", "atrous_rate": "dilation_rate", "inner_activation": "recurrent_activation",
    "init": "kernel_initializer", "inner_init": "recurrent_initializer", "bias": "use_bias",
    "p": "rate", "dropout_W": "dropout", "dropout_U": "recurrent_dropout", "W_regularizer": "kernel_regularizer",
}
_K1_KEYS = {"output_dim", "nb_filter", "border_mode", "subsample", "dim_ordering", "inner_activation",
            "filter_length", "pool_length", "nb_row", "W_regularizer", "init", "consume_less"}
_MERGE_MODES = {"sum": "Add", "mul": "Multiply", "concat": "Concatenate", "ave": "Average", "max": "Maximum"}
CONV_KERNELS = ("Conv1D", "Conv2D", "Conv2DTranspose")


def is_keras1(cls: str, cfg: dict[str, Any]) -> bool:
    if cls in ("Bidirectional", "TimeDistributed") and isinstance(cfg.get("layer"), dict):
        inner = cfg["layer"]  # a wrapper is Keras 1 when the layer it wraps is
        if isinstance(inner.get("config"), dict) and is_keras1(str(inner.get("class_name")), inner["config"]):
            return True
    return (cls in _K1_CLASSES or cls == "Merge" or bool(_K1_KEYS & set(cfg))
            or (cls == "BatchNormalization" and "mode" in cfg))


def translate_layer(cls: str, cfg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Keras 1 class and parameter names -> Keras 2 (other configs are returned as they are)."""
    if not is_keras1(cls, cfg) or cfg.get("_keras1"):
        return cls, cfg
    out: dict[str, Any] = {"_keras1": True}
    # Keras 1 Dense(output_dim) in an Embedding-like layer keeps its name; Embedding uses output_dim too.
    for k, v in cfg.items():
        if cls == "Embedding" and k == "output_dim":
            out[k] = v
        else:
            out[_K1_PARAMS.get(k, k)] = v
    new_cls = _K1_CLASSES.get(cls, cls)
    if "nb_row" in cfg:
        out["kernel_size"] = (cfg["nb_row"], cfg["nb_col"])
    order = cfg.get("dim_ordering")
    if order is not None:
        out["data_format"] = "channels_first" if order == "th" else "channels_last"
    if cls == "Merge":
        mode = cfg.get("mode", "sum")
        new_cls = _MERGE_MODES.get(mode, f"Merge(mode={mode})")
        if mode == "concat":
            out["axis"] = cfg.get("concat_axis", -1)
    if cls in ("GRU",):
        out["reset_after"] = False
    if cls == "BatchNormalization" and cfg.get("mode", 0) not in (0, None):
        out["_unsupported_mode"] = cfg.get("mode")
    return new_cls, out


def _short(parts: tuple[str, ...]) -> str:
    return parts[-1]


def _gate_name(name: str) -> str:
    """'lstm_1_W_i' / 'forward_lstm_1_W_i' / 'W_i' -> 'W_i'."""
    for key in ("W_", "U_", "b_"):
        idx = name.rfind(key)
        if idx >= 0 and (idx == 0 or name[idx - 1] == "_"):
            return name[idx:]
    return name


def _fuse_gates(weights: LayerWeights, gates: tuple[str, ...]) -> list[np.ndarray] | None:
    by: dict[str, np.ndarray] = {_gate_name(_short(p)): a for p, a in weights.entries}
    need = [f"{k}_{g}" for k in ("W", "U", "b") for g in gates]
    if not all(n in by for n in need):
        return None
    return [np.concatenate([by[f"{k}_{g}"] for g in gates], axis=-1) for k in ("W", "U", "b")]


def _fix_recurrent(cls: str, weights: LayerWeights) -> LayerWeights:
    gates = {"LSTM": ("i", "f", "c", "o"), "GRU": ("z", "r", "h")}.get(cls)
    if gates is None or len(weights) <= 3:
        return weights
    fused = _fuse_gates(weights, gates)
    if fused is None:
        return weights
    return LayerWeights([((n,), a) for n, a in zip(("kernel", "recurrent_kernel", "bias"), fused)], weights.source)


def _fix_conv_kernel(cls: str, cfg: dict[str, Any], k: np.ndarray) -> np.ndarray:
    th = cfg.get("data_format") == "channels_first"
    if cls == "Conv1D" and k.ndim == 4:
        filters = cfg.get("filters")
        if k.shape[1] == 1:  # (len, 1, in, out)
            return k[:, 0]
        if k.shape[3] == 1 and k.shape[0] == filters:  # th: (out, in, len, 1)
            return np.transpose(k[..., 0], (2, 1, 0))
    if k.ndim == 4 and cfg.get("_keras1") and cls == "Conv2DTranspose":
        # Keras 1 Deconvolution2D kernels -> (rows, cols, out, in), the reordering Keras 2's converter applies.
        return np.transpose(k, (2, 3, 0, 1)) if th else np.transpose(k, (0, 1, 3, 2))
    if k.ndim == 4 and th and cfg.get("_keras1") and cls in ("Conv2D", "SeparableConv2D"):
        return np.transpose(k, (2, 3, 1, 0))
    return k


def fix_weights(cls: str, cfg: dict[str, Any], weights: LayerWeights, theano: bool) -> LayerWeights:
    """Bring a layer's arrays to the Keras 2 layout and order (see the module docstring)."""
    if not weights.entries:
        return weights
    entries = list(weights.entries)
    if cfg.get("_keras1"):
        if cls in ("LSTM", "GRU"):
            return _fix_recurrent(cls, weights)
        if cls == "Bidirectional":
            inner = str((cfg.get("layer") or {}).get("class_name", ""))
            fwd = _fix_recurrent(inner, weights.select(lambda p: any(s.startswith("forward") for s in p)))
            bwd = _fix_recurrent(inner, weights.select(lambda p: any(s.startswith("backward") for s in p)))
            return LayerWeights([(("forward",) + p, a) for p, a in fwd.entries]
                                + [(("backward",) + p, a) for p, a in bwd.entries], weights.source)
        if cls in ("Conv1D", "Conv2D", "SeparableConv2D", "Conv2DTranspose"):
            entries[0] = (entries[0][0], _fix_conv_kernel(cls, cfg, np.asarray(entries[0][1])))
            if cls == "SeparableConv2D" and len(entries) > 1:
                entries[1] = (entries[1][0], _fix_conv_kernel(cls, cfg, np.asarray(entries[1][1])))
    if theano and cls in CONV_KERNELS:
        k = np.asarray(entries[0][1])
        flip = tuple(range(k.ndim - 2))
        entries[0] = (entries[0][0], np.ascontiguousarray(np.flip(k, axis=flip)))
    return LayerWeights(entries, weights.source)
