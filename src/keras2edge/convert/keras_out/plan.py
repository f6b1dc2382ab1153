"""Decide what changes in the source Keras file: for every layer with weights, the new arrays (by the
HDF5 dataset path they replace) and the config fields that follow from their shapes.

The rule, per Keras layer with weights in the source:

- its constants in the graph equal those of the reference (the source imported again the same
  way): the file's arrays are kept as they are, whatever the class or the era of the file;
  (an exporter that divides out a scale the importer folded in, MultiHeadAttention's query, marks
  those arrays ``inexact``: the check allows float32 rounding there, and every element whose
  constant is unchanged is written as the file's own value);
- they changed: the class's exporter (``exporters.py``) must first give back the file's own arrays
  from the reference's constants (else the layout is one it does not undo: refused), then gives the
  new arrays from the graph's constants; a changed constant the exporter does not read, or a class
  without an exporter, is refused. Every refusal names the Keras layer and its class.

Two file-level facts are undone here, as the importer applies them (``legacy.fix_weights``): a
Theano-backend file's conv kernels are flipped back (the flip is its own inverse; Keras 2+ configs
only), and a shared layer (called several times, so imported once per call: ``kernel``,
``kernel_1``...) must hold the same weights in every call.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import re

import numpy as np

from ...errors import ModelFormatError
from ..keras.config import ModelSpec
from ..keras.layers.keras_ops import ops_key
from ..keras.legacy import fix_weights, translate_layer
from ..keras.weights import LayerWeights, WeightStore, keras3_keys
from .exporters import KERAS_EXPORTERS, ExportRefusal, LayerExport

Consts = dict[str, dict[str, np.ndarray]]


@dataclass
class LayerChange:
    """A layer whose weights are rewritten: the new arrays and config fields."""

    name: str
    cls: str
    arrays: list[tuple[str, np.ndarray]]  # (dataset path in the source file, new array)
    updates: dict[str, Any]
    reshaped: bool  # some array changed shape: the config fields must follow


@dataclass
class Plan:
    """Every change to write, by dataset path, and the layers they belong to."""

    replace: dict[str, np.ndarray] = field(default_factory=dict)
    changes: list[LayerChange] = field(default_factory=list)


def walk_layers(model: ModelSpec, names: tuple[str, ...] = (),
                keys: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], tuple[str, ...], Any]]:
    """Every non-model layer with its store path (model names, then the layer) and Keras 3 keys,
    as the importer's builder walks them."""
    out = []
    layer_keys = dict(zip((ly.name for ly in model.layers), keras3_keys([ly.cls for ly in model.layers])))
    for ly in model.layers:
        k = keys + (layer_keys[ly.name],)
        if ly.model is not None:
            out += walk_layers(ly.model, names + (ly.name,), k)
        elif ly.cls != "InputLayer":
            out.append((names + (ly.name,), k, ly))
    return out


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> set[str]:
    """Names whose constants differ (or exist in one only)."""
    return {n for n in set(a) | set(b)
            if n not in a or n not in b or a[n].shape != b[n].shape or not np.array_equal(a[n], b[n])}


def _refuse(where: str, name: str, cls: str, why: str) -> ModelFormatError:
    return ModelFormatError(f"cannot write the graph back into {where}: Keras layer {name!r} ({cls}): {why}")


def _export(name: str, cls: str, cfg: dict[str, Any], consts: dict[str, np.ndarray], theano: bool,
            where: str, entries: Sequence[tuple[str, ...]] = ()) -> LayerExport:
    x = LayerExport(name, cls, cfg, dict(consts), entries=[tuple(p) for p in entries])
    fn = KERAS_EXPORTERS.get(cls)
    if fn is None:
        raise _refuse(where, name, cls, f"its weights changed, and keras2edge writes changed weights back only for "
                                        f"{', '.join(KERAS_EXPORTERS)}")
    try:
        x.arrays = fn(x)
    except ExportRefusal as e:
        raise _refuse(where, name, cls, f"its weights cannot be written back ({e})") from None
    if theano and not cfg.get("_keras1"):
        flipped = fix_weights(cls, cfg, LayerWeights([((n,), a) for n, a in x.arrays]), True)  # type: ignore[misc]
        x.arrays = [(n, a) for (n,), a in flipped.entries]
    return x


_COPY = re.compile(r"^(.+)_\d+$")


def _unwritten(x: LayerExport, changed: set[str]) -> list[str]:
    """Changed constants the export did not read, except further calls' copies of read ones."""
    out = []
    for n in sorted(set(x.consts) - x.read):
        m = _COPY.match(n)
        if m and m.group(1) in x.read:
            if not np.array_equal(x.consts[n], x.consts[m.group(1)]):
                out.append(n)  # another call of a shared layer holds other weights
        elif n in changed:
            out.append(n)
    return out


def _filled(x: LayerExport, weights: LayerWeights, where: str) -> list[tuple[str, np.ndarray]]:
    """The export's arrays, the file's own where the export gave None (a weight no op reads)."""
    raw = weights.arrays
    if len(x.arrays) != len(raw):
        raise _refuse(where, x.name, x.cls, f"the file holds {len(raw)} weight arrays for it, keras2edge would write "
                                            f"{len(x.arrays)} ({', '.join(n for n, _ in x.arrays)})")
    return [(n, np.asarray(r, dtype=np.float32) if a is None else a) for (n, a), r in zip(x.arrays, raw)]


def matches(arrays: Sequence[tuple[str, np.ndarray]], weights: LayerWeights,
            inexact: AbstractSet[str] = frozenset()) -> bool:
    """The export equals the file's arrays: exactly, or within float32 rounding (2 ulp) for the arrays
    the exporter recovers by dividing out a scale the importer folded in (``inexact``)."""
    def same(n: str, a: np.ndarray, r: np.ndarray) -> bool:
        if a.shape != r.shape:
            return False
        if n in inexact:
            return bool(np.all(np.abs(a - r) <= 2 * np.spacing(np.abs(r).astype(np.float32))))
        return bool(np.array_equal(a, r))

    return all(same(n, a, np.asarray(r, dtype=np.float32)) for (n, a), r in zip(arrays, weights.arrays))


def keep_unchanged(arrays: list[tuple[str, np.ndarray]], check: list[tuple[str, np.ndarray]],
                   weights: LayerWeights, inexact: AbstractSet[str]) -> list[tuple[str, np.ndarray]]:
    """For the ``inexact`` arrays: every element the graph left as the reference has it takes the file's
    own value (bit for bit), the others the export's (its nearest float32 preimage)."""
    out = []
    for (n, a), (_, c), r in zip(arrays, check, weights.arrays):
        raw = np.asarray(r, dtype=np.float32)
        if n in inexact and a.shape == c.shape == raw.shape:
            a = np.where(a.view(np.uint32) == c.view(np.uint32), raw, a)
        out.append((n, a))
    return out


def plan_changes(model: ModelSpec, store: WeightStore, graph_consts: Consts, ref_consts: Consts,
                 where: str, theano: bool = False) -> Plan:
    """The new arrays and config fields (see the module docstring); ``theano``: the importer read
    the file's conv kernels as Theano's (flipped)."""
    plan = Plan()
    for names, keys, ly in walk_layers(model):
        new, old = graph_consts.get(ly.name, {}), ref_consts.get(ly.name, {})
        changed = _same(new, old)
        if not changed:
            continue
        cls, cfg = translate_layer(ly.cls, ly.config)
        cls = ops_key(ly.module, cls, cfg, ly.calls)
        weights = store.layer_weights(names, keys)
        if weights is None or not weights.entries:
            raise _refuse(where, ly.name, cls, "its graph constants changed but the file holds no weights for it")
        if len(weights.paths) != len(weights.entries):
            raise _refuse(where, ly.name, cls, "the file's weights cannot be located for rewriting")
        if set(new) != set(old):
            raise _refuse(where, ly.name, cls, f"its constants are not those its import made (now {sorted(new)}, "
                                               f"the source gives {sorted(old)})")
        entries = [parts for parts, _ in weights.entries]
        ref = _export(ly.name, cls, cfg, old, theano, where, entries)
        check = _filled(ref, weights, where)
        if not matches(check, weights, ref.inexact):
            raise _refuse(where, ly.name, cls, "the file stores its weights in a layout keras2edge does not write "
                                               "back (e.g. Keras 1 'th' kernels, Theano-flipped or split gates; a "
                                               "Keras 1 model is written in Keras 3's form as .keras)")
        got = _export(ly.name, cls, cfg, new, theano, where, entries)
        unread = _unwritten(got, changed)
        if unread:
            raise _refuse(where, ly.name, cls, f"constants {[ly.name + '/' + n for n in unread]} changed but are "
                                               "not part of the layer's Keras weights (or differ between the calls "
                                               "of a shared layer)")
        arrays = keep_unchanged(_filled(got, weights, where), check, weights, got.inexact)
        reshaped = any(a.shape != np.shape(r) for (_, a), r in zip(arrays, weights.arrays))
        if reshaped and any(a is None for _, a in got.arrays):
            raise _refuse(where, ly.name, cls, "its shapes changed, but some of its Keras weights are not in the graph "
                                               "(no op reads them) and cannot be reshaped to match")
        pairs = [(p, a) for p, (_, a) in zip(weights.paths, arrays)]
        plan.changes.append(LayerChange(ly.name, cls, pairs, dict(got.updates), reshaped))
        plan.replace.update(pairs)
    return plan
