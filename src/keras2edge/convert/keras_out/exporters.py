"""Keras class -> the inverse of its importer handler: a layer's Keras weight arrays (in the layer's
own ``weights`` order) from the graph constants ``<layer>/<name>`` the handler made, and the config
fields that follow from their shapes.

One exporter per layer family, registered in :data:`KERAS_EXPORTERS` (keyed like the importer's
``KERAS_HANDLERS``: the Keras 2/3 class name). What each one undoes (see ``convert/keras/layers``):

- Dense: kernel (K, N), bias (N,) as they are; ``units`` = N;
- Conv1D/Conv2D: kernel HWIO (a 1-D layer's kernel lost its leading height of 1); ``filters``;
- DepthwiseConv1D/2D: the IR's (1, KH, KW, Cin·M) back to Keras' (KH, KW, Cin, M) (1-D: (K, Cin, M));
- SeparableConv1D/2D: depthwise kernel as above, pointwise kernel (1[, 1], Cin·M, F), bias; ``filters``;
- Conv1DTranspose/Conv2DTranspose: kernel (KH, KW, F, Cin); ``filters``;
- BatchNormalization (one axis): gamma, beta (when scale/center), moving_mean, moving_variance;
- SimpleRNN/LSTM/GRU: kernel, recurrent kernel, bias; GRU ``reset_after`` stacks the input and
  recurrent biases into (2, 3u), GRU without it joins the recurrent kernel's z·r and h parts; ``units``;
- Embedding: embeddings (input_dim, output_dim), both config fields; PReLU: alpha;
  LayerNormalization: gamma, beta without the broadcast axes the importer gave them;
- MultiHeadAttention: the query/key/value EinsumDense kernels (D, H·d) back to (D, H, d), biases
  (H·d,) to (H, d), the 1/sqrt(key_dim) scaling the importer folded into the query kernel and bias
  divided out (float32 rounding: the nearest value that scales back to the constant; where the
  constant is unchanged the file's own value, see ``plan``), the output kernel (H·dv, Dout) to
  (H, dv, Dout); in the file's order of the four sub-layers (Keras 2 and 3 files differ); ``output_shape``
  follows Dout when it is set or Dout no longer equals the query's features;
- Bidirectional: the wrapped layer's exporter on the forward constants, then on the backward ones
  (the importer ran the wrapped handler twice: the backward names carry the ``_1`` suffix);
  TimeDistributed: the wrapped layer's exporter. Their config fields go into the wrapped layer's
  config (a field given as a path, ``("layer", "config", "units")``).

The writer checks every exporter on the unpruned graph first (it must give back the file's own
arrays exactly), so a layout the exporter does not undo (a Keras 1 ``th`` kernel, a Theano flip)
is never written wrong: such a layer is copied unchanged or refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import math

import numpy as np

from ...ir.registry import OpTable
from ..keras.legacy import translate_layer


class ExportRefusal(Exception):
    """An exporter cannot express this layer's constants as Keras weights (the reason says why)."""


@dataclass
class LayerExport:
    """One Keras layer to write back: its (Keras 2/3) class and config, and the graph constants its
    import made, by name without the ``<layer>/`` prefix."""

    name: str
    cls: str
    config: dict[str, Any]
    consts: dict[str, np.ndarray]
    read: set[str] = field(default_factory=set)          # constants the exporter used
    entries: list[tuple[str, ...]] = field(default_factory=list)  # the file's weight paths, in its order
    inexact: set[str] = field(default_factory=set)       # arrays recovered up to float32 rounding (see plan)
    updates: dict[str | tuple[str, ...], Any] = field(default_factory=dict)  # config field (or path) -> value
    arrays: list[tuple[str, np.ndarray | None]] = field(default_factory=list)  # the exporter's result

    def const(self, suffix: str) -> np.ndarray:
        """The constant ``<layer>/<suffix>`` (ExportRefusal when the import made no such constant)."""
        if suffix not in self.consts:
            raise ExportRefusal(f"no graph constant {self.name + '/' + suffix!r}")
        self.read.add(suffix)
        return self.consts[suffix]

    def optional(self, suffix: str) -> np.ndarray | None:
        """The constant, or None when the graph has none (a weight no op reads, e.g. the recurrent
        kernel of a one-step sequence: the writer keeps the file's array)."""
        return self.const(suffix) if suffix in self.consts else None

    def has(self, suffix: str) -> bool:
        return suffix in self.consts

    def get(self, key: str, default: Any = None) -> Any:
        return self.config.get(key, default)

    def set(self, key: str | tuple[str, ...], value: Any) -> None:
        """Record a config field that follows from the new shapes (written only if it changed)."""
        self.updates[key] = value


#: A named weight array, in the layer's Keras order (None: the file's own array is kept).
Named = list[tuple[str, "np.ndarray | None"]]
Exporter = Callable[[LayerExport], Named]
KERAS_EXPORTERS: OpTable[Exporter] = OpTable("Keras writer")


def _one_d(x: LayerExport) -> bool:
    return "1D" in x.cls


def _unlift(x: LayerExport, kernel: np.ndarray) -> np.ndarray:
    """A 1-D layer's kernel without the leading height of 1 the importer added."""
    if not _one_d(x):
        return kernel
    if kernel.shape[0] != 1:
        raise ExportRefusal(f"a 1-D kernel of shape {kernel.shape} has no leading height of 1")
    return kernel[0]


def _bias(x: LayerExport) -> Named:
    return [("bias", x.const("bias"))] if bool(x.get("use_bias", True)) else []


def _depthwise(x: LayerExport, name: str) -> np.ndarray:
    """IR (1, KH, KW, Cin·M) -> Keras (KH, KW, Cin, M) (1-D: (K, Cin, M))."""
    k = x.const(name)
    mult = int(x.get("depth_multiplier", 1) or 1)
    if k.ndim != 4 or k.shape[0] != 1 or k.shape[3] % mult:
        raise ExportRefusal(f"depthwise kernel of shape {k.shape} with depth_multiplier {mult}")
    out = k[0].reshape(k.shape[1], k.shape[2], k.shape[3] // mult, mult)
    return _unlift(x, out)


@KERAS_EXPORTERS.register("Dense")
def export_dense(x: LayerExport) -> Named:
    """Dense: kernel (K, N), bias; units = N."""
    kernel = x.const("kernel")
    x.set("units", int(kernel.shape[1]))
    return [("kernel", kernel), *_bias(x)]


@KERAS_EXPORTERS.register("Conv1D", "Conv2D")
def export_conv(x: LayerExport) -> Named:
    """Conv1D/Conv2D: kernel (KH, KW, Cin/groups, F), bias; filters = F."""
    kernel = _unlift(x, x.const("kernel"))
    x.set("filters", int(kernel.shape[-1]))
    return [("kernel", kernel), *_bias(x)]


@KERAS_EXPORTERS.register("DepthwiseConv1D", "DepthwiseConv2D")
def export_depthwise(x: LayerExport) -> Named:
    """DepthwiseConv1D/2D: depthwise kernel back to (KH, KW, Cin, M), bias."""
    return [("depthwise_kernel", _depthwise(x, "depthwise_kernel")), *_bias(x)]


@KERAS_EXPORTERS.register("SeparableConv1D", "SeparableConv2D")
def export_separable(x: LayerExport) -> Named:
    """SeparableConv1D/2D: depthwise kernel, pointwise kernel, bias; filters."""
    pw = _unlift(x, x.const("pointwise_kernel"))
    x.set("filters", int(pw.shape[-1]))
    return [("depthwise_kernel", _depthwise(x, "depthwise_kernel")), ("pointwise_kernel", pw), *_bias(x)]


@KERAS_EXPORTERS.register("Conv1DTranspose", "Conv2DTranspose")
def export_conv_transpose(x: LayerExport) -> Named:
    """Conv1DTranspose/Conv2DTranspose: kernel (KH, KW, F, Cin), bias; filters = F."""
    kernel = _unlift(x, x.const("kernel"))
    x.set("filters", int(kernel.shape[-2]))
    return [("kernel", kernel), *_bias(x)]


@KERAS_EXPORTERS.register("BatchNormalization")
def export_batch_normalization(x: LayerExport) -> Named:
    """BatchNormalization over one axis: gamma, beta, moving_mean, moving_variance."""
    out: Named = []
    if bool(x.get("scale", True)):
        out.append(("gamma", x.const("gamma")))
    if bool(x.get("center", True)):
        out.append(("beta", x.const("beta")))
    return out + [("moving_mean", x.const("moving_mean")), ("moving_variance", x.const("moving_variance"))]


def _recurrent_kernel(x: LayerExport) -> np.ndarray | None:
    if x.has("recurrent_kernel_zr") or x.has("recurrent_kernel_h"):
        zr, h = x.const("recurrent_kernel_zr"), x.const("recurrent_kernel_h")
        if zr.shape[0] != h.shape[0]:
            raise ExportRefusal(f"recurrent kernel parts of shapes {zr.shape} and {h.shape}")
        return np.concatenate([zr, h], axis=1)
    return x.optional("recurrent_kernel")  # None for a one-step sequence (the first step skips it)


_GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


def _recurrent_bias(x: LayerExport, units: int) -> np.ndarray:
    """GRU reset_after: the recurrent bias, which the per-gate parts must repeat exactly."""
    rb = x.const("recurrent_bias")
    for k, g in enumerate("zrh"):
        name = f"recurrent_bias_{g}"
        if x.has(name) and not np.array_equal(x.const(name), rb[k * units:(k + 1) * units]):
            raise ExportRefusal(f"constant {x.name + '/' + name!r} disagrees with {x.name + '/recurrent_bias'!r}")
    return rb


@KERAS_EXPORTERS.register("SimpleRNN", "LSTM", "GRU")
def export_recurrent(x: LayerExport) -> Named:
    """SimpleRNN/LSTM/GRU: kernel (F, g·u), recurrent kernel (u, g·u), bias; units = u."""
    kernel, rec = x.const("kernel"), _recurrent_kernel(x)
    units = int(rec.shape[0]) if rec is not None else int(kernel.shape[1]) // _GATES[x.cls]
    x.set("units", units)
    out: Named = [("kernel", kernel), ("recurrent_kernel", rec)]
    if bool(x.get("use_bias", True)):
        bias = x.const("bias")
        if x.cls == "GRU" and x.has("recurrent_bias"):
            bias = np.stack([bias, _recurrent_bias(x, units)])
        out.append(("bias", bias))
    return out


@KERAS_EXPORTERS.register("Embedding")
def export_embedding(x: LayerExport) -> Named:
    """Embedding: the (input_dim, output_dim) table; both config fields."""
    table = x.const("embeddings")
    x.set("input_dim", int(table.shape[0]))
    x.set("output_dim", int(table.shape[1]))
    return [("embeddings", table)]


@KERAS_EXPORTERS.register("LayerNormalization")
def export_layer_normalization(x: LayerExport) -> Named:
    """LayerNormalization: gamma, beta (when scale/center), back to the normalized axes' shape."""
    out: Named = []
    for flag, name in (("scale", "gamma"), ("center", "beta")):
        if bool(x.get(flag, True)):
            w = x.const(name)
            out.append((name, w.reshape(tuple(d for d in w.shape if d != 1)) if w.ndim > 1 else w))
    return out


@KERAS_EXPORTERS.register("PReLU")
def export_prelu(x: LayerExport) -> Named:
    """PReLU: alpha (the input shape without the batch, 1 on shared axes)."""
    return [("alpha", x.const("alpha"))]


def _wrapped(x: LayerExport, consts: dict[str, np.ndarray]) -> tuple[LayerExport, Exporter]:
    """The layer inside a wrapper, as its own export (Keras 1 names translated as the importer does)."""
    inner = x.get("layer")
    if not isinstance(inner, dict) or not isinstance(inner.get("config"), dict):
        raise ExportRefusal("the wrapper's config has no layer")
    cls, cfg = translate_layer(str(inner.get("class_name")), dict(inner["config"]))
    fn = KERAS_EXPORTERS.get(cls)
    if fn is None or cls in ("Bidirectional", "TimeDistributed"):
        raise ExportRefusal(f"the wrapped {cls} layer cannot be written back")
    return LayerExport(x.name, cls, cfg, consts), fn


def _run_wrapped(x: LayerExport, consts: dict[str, np.ndarray], names: dict[str, str],
                 paths: tuple[tuple[str, ...], ...]) -> Named:
    """Export the wrapped layer on ``consts`` (its names -> ours in ``names``); its config fields go
    to each of ``paths`` inside the wrapper's config."""
    inner, fn = _wrapped(x, consts)
    out = fn(inner)
    x.read |= {names[n] for n in inner.read}
    for key, value in inner.updates.items():
        for path in paths:
            if isinstance(x.get(path[0]), dict):
                x.set(path + ((key,) if isinstance(key, str) else key), value)
    return out


@KERAS_EXPORTERS.register("Bidirectional")
def export_bidirectional(x: LayerExport) -> Named:
    """Bidirectional: forward weights, then backward weights (the ``_1`` constants)."""
    fwd = {n: a for n, a in x.consts.items() if not n.endswith("_1")}
    bwd = {n[:-2]: a for n, a in x.consts.items() if n.endswith("_1")}
    paths = (("layer", "config"), ("backward_layer", "config"))
    out = _run_wrapped(x, fwd, {n: n for n in fwd}, paths)
    return out + _run_wrapped(x, bwd, {n: n + "_1" for n in bwd}, paths)


@KERAS_EXPORTERS.register("TimeDistributed")
def export_time_distributed(x: LayerExport) -> Named:
    """TimeDistributed: the wrapped layer's weights."""
    return _run_wrapped(x, dict(x.consts), {n: n for n in x.consts}, (("layer", "config"),))


def _unscale(k: np.ndarray, factor: np.float32) -> np.ndarray:
    """The float32 array ``y`` with ``y * factor == k`` (the importer's float32 product), element by
    element the nearest such value to ``k / factor``; an element with no exact preimage keeps the nearest."""
    y = (k.astype(np.float64) / np.float64(factor)).astype(np.float32)
    for step in (np.inf, -np.inf):
        off = (y * factor) != k
        if not off.any():
            break
        alt = np.nextafter(y, np.float32(step))
        y = np.where(off & ((alt * factor) == k), alt, y)
    return y


def _attention_order(x: LayerExport, use_bias: bool) -> list[tuple[str, str]]:
    """(role, kind) of each of the file's weight arrays, as the importer reads their paths; Keras'
    order (query, key, value, output; kernel then bias) when the paths do not say."""
    from ..keras.layers.attention import ROLES, _kind, _role  # the importer's own reading of the names

    order = [(r, k) for r in ROLES for k in (("kernel", "bias") if use_bias else ("kernel",))]
    found = []
    for parts in x.entries:
        role = next((r for r in (_role(p) for p in parts[:-1]) if r), None)
        kind = _kind(tuple(parts))
        found.append((role, kind))
    return found if len(found) == len(order) and sorted(found) == sorted(order) else order  # type: ignore[arg-type]


@KERAS_EXPORTERS.register("MultiHeadAttention")
def export_multi_head_attention(x: LayerExport) -> Named:
    """MultiHeadAttention: query/key/value kernels (D, H, d) and biases (H, d) (the query's scaling
    divided out), output kernel (H, dv, Dout) and bias; ``output_shape`` follows Dout."""
    heads, dk = int(x.get("num_heads")), int(x.get("key_dim"))
    dv = int(x.get("value_dim") or dk)
    use_bias = bool(x.get("use_bias", True))
    factor = np.float32(1.0 / math.sqrt(float(dk)))  # what the importer multiplied the query by
    arrays: dict[tuple[str, str], np.ndarray] = {}
    for role, d in (("query", dk), ("key", dk), ("value", dv)):
        k = x.const(f"{role}_kernel")
        if k.ndim != 2 or k.shape[1] != heads * d:
            raise ExportRefusal(f"{role} kernel of shape {k.shape} is not (features, num_heads {heads} x {d})")
        kernel = k.reshape(k.shape[0], heads, d)
        arrays[(role, "kernel")] = _unscale(kernel, factor) if role == "query" else kernel
        if use_bias:
            b = x.const(f"{role}_bias")
            if b.shape != (heads * d,):
                raise ExportRefusal(f"{role} bias of shape {b.shape} is not ({heads * d},)")
            arrays[(role, "bias")] = _unscale(b.reshape(heads, d), factor) if role == "query" else b.reshape(heads, d)
    x.inexact |= {"query_kernel", "query_bias"}
    ko = x.const("output_kernel")
    if ko.ndim != 2 or ko.shape[0] != heads * dv:
        raise ExportRefusal(f"output kernel of shape {ko.shape} is not (num_heads {heads} x {dv}, features)")
    dout = int(ko.shape[1])
    arrays[("output", "kernel")] = ko.reshape(heads, dv, dout)
    if use_bias:
        arrays[("output", "bias")] = x.const("output_bias")
    shape = x.get("output_shape")
    if shape is not None or dout != arrays[("query", "kernel")].shape[0]:
        x.set("output_shape", [dout] if isinstance(shape, (list, tuple)) else dout)
    return [(f"{role}_{kind}", arrays[(role, kind)]) for role, kind in _attention_order(x, use_bias)]
