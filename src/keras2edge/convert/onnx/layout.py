"""The NCHW layout decision of the ONNX emitter.

The IR is NHWC (channels last); ONNX convolutions, pools and resizes are channels first. Rather
than wrapping every conv in a Transpose pair, the emitter converts the graph as a whole: every
non-constant value of rank >= 3 is held in ONNX in one of two layouts,

* ``NHWC`` — the IR's own axis order (also the only layout of values of rank <= 2), or
* ``CF`` (channels first) — the IR tensor transposed by ``cf_perm(rank) = [0, r-1, 1, ..., r-2]``,

and each value records the layout its producer chose (its *home* layout). Conversions are made on
demand, at most once per (value, layout), so a conv net gets Transposes only at its inputs and
outputs. The rules, applied greedily in topological order by the emitters:

* Layout-sensitive ops (the vocabulary's ``spatial`` ops: convolutions, pools, resizes) take and give CF.
* Elementwise ops (``ChannelFlow.ELEMENTWISE`` in the vocabulary) keep their inputs'
  layout: :func:`choose_layout` picks the layout that needs the fewest conversions of full-rank
  non-constant inputs (ties go to the first input's home layout), or CF outright when the output is
  bound for a conv through elementwise ops only (:func:`values_bound_for_cf`); constant and lower-rank
  operands are reshaped and permuted to match (a per-channel ``(C,)`` constant becomes ``(C, 1, 1)``).
* Axis-carrying ops remap their axes and keep the layout: Concatenation, Softmax/LogSoftmax,
  reductions with ``keepdims``, Pad, StridedSlice, Split, Tile, ExpandDims/Squeeze and Gather where
  the result is still NHWC or CF (:func:`removed_axes_result`); otherwise they fix the result up
  with one Transpose on the (smaller) output.
* Transpose composes its permutation with the input's layout (no node at all when they cancel).
* Ops that cannot be remapped (Reshape, BatchMatMul, FullyConnected with non-constant weights on
  rank >= 3, ...) take NHWC. A Reshape reads a CF input directly when the two layouts have the same
  memory order (only length-1 axes move), and a flatten feeding only FullyConnected nodes with
  constant weights flattens the CF tensor and permutes the weight rows instead (:func:`flatten_into_fc`).
* A conversion whose permutation only moves length-1 axes is emitted as a Reshape, not a Transpose.
* Graph inputs keep NHWC unless ``nchw_inputs``; graph outputs are delivered NHWC unless ``nchw_outputs``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ...ir.node import Node
from ...ir.ops import ChannelFlow, ops_where
from ...ir.value import Value

if TYPE_CHECKING:
    from .context import OnnxContext

NHWC = "nhwc"
CF = "cf"
# A rank-2 value that is the flatten of a CF tensor (order C, H, W): only FullyConnected reads it.
FLAT_CF = "flat_cf"

Shape = tuple["int | None", ...]


def cf_perm(rank: int) -> list[int]:
    """ONNX axis j of a CF tensor holds IR axis ``cf_perm(rank)[j]``."""
    if rank < 3:
        return list(range(rank))
    return [0, rank - 1] + list(range(1, rank - 1))


def inverse_perm(perm: Sequence[int]) -> list[int]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def layout_perm(layout: str, rank: int) -> list[int]:
    """The permutation from IR axes to ONNX axes for a value held in ``layout``."""
    return cf_perm(rank) if layout == CF and rank >= 3 else list(range(rank))


def onnx_axis(axis: int, rank: int, layout: str) -> int:
    """Where IR axis ``axis`` (may be negative) sits in the ONNX tensor."""
    a = axis + rank if axis < 0 else axis
    return inverse_perm(layout_perm(layout, rank))[a]


def permute(items: Sequence[object], layout: str) -> list:
    """Per-axis attribute list (IR order) in ONNX order for a value held in ``layout``."""
    return [items[p] for p in layout_perm(layout, len(items))]


def permute_shape(shape: Shape, layout: str) -> Shape:
    return tuple(permute(shape, layout))


def is_trivial_perm(shape: Shape, perm: Sequence[int]) -> bool:
    """True if transposing ``shape`` by ``perm`` keeps the memory order (only length-1 axes move)."""
    big = [a for a in perm if shape[a] != 1]
    return big == sorted(big)


def const_for_broadcast(arr: np.ndarray, out_rank: int, layout: str) -> np.ndarray:
    """A constant operand broadcast (NumPy rules, IR order) against a rank ``out_rank`` value in ``layout``.

    A per-channel ``(C,)`` vector against a CF rank-4 tensor becomes ``(C, 1, 1)``.
    """
    if layout != CF or out_rank < 3 or arr.ndim == 0:
        return arr
    full = arr.reshape((1,) * (out_rank - arr.ndim) + arr.shape)
    out = np.transpose(full, cf_perm(out_rank))
    lead = 0
    while lead < out.ndim and out.shape[lead] == 1:
        lead += 1
    return np.ascontiguousarray(out.reshape(out.shape[lead:]))


# Ops that take and give CF (window ops over H and W), and ops that keep whatever layout their inputs
# have (channels flow through elementwise): read from the op vocabulary.
CF_OPS = ops_where(spatial=True)
PASS_THROUGH_OPS = ops_where(channels=ChannelFlow.ELEMENTWISE)


def values_bound_for_cf(graph_nodes: Sequence[Node], outputs: Sequence[Value]) -> set[int]:
    """ids of the values whose every use leads, through elementwise ops only, to a CF op.

    Such a value is best held CF as soon as it exists: an elementwise chain on a graph input in
    front of the first conv (MobileNetV3's Rescaling) then converts the input itself, not the chain's end.
    """
    bound: set[int] = set()
    out_ids = {id(v) for v in outputs}
    for node in reversed(list(graph_nodes)):
        for v in node.inputs:
            if v is None or v.is_const or v.rank < 3 or id(v) in out_ids or not v.uses:
                continue
            if all(n.op in CF_OPS and i == 0 or (n.op in PASS_THROUGH_OPS and id(n.outputs[0]) in bound)
                   for n, i in v.uses):
                bound.add(id(v))
    return bound


def choose_layout(ctx: OnnxContext, inputs: Sequence[Value | None], out_rank: int,
                  output: Value | None = None) -> str:
    """Layout for an elementwise op: CF when its output is bound for a conv (see
    :func:`values_bound_for_cf`), else the one needing the fewest conversions of full-rank inputs."""
    if out_rank < 3:
        return NHWC
    cands = [v for v in inputs if v is not None and not v.is_const and v.rank == out_rank]
    if not cands:
        return NHWC
    if output is not None and id(output) in ctx.bound_for_cf:
        return CF
    cost = {lay: sum(1 for v in cands if not ctx.has(v, lay)) for lay in (NHWC, CF)}
    if cost[CF] != cost[NHWC]:
        return CF if cost[CF] < cost[NHWC] else NHWC
    first = ctx.layout(cands[0])
    return CF if first == CF else NHWC


def removed_axes_result(layout: str, rank: int, removed: set[int]) -> tuple[list[int], str, list[int] | None]:
    """Drop IR axes ``removed`` (normalized) from a value held in ``layout``.

    Returns the ONNX axes to remove, the output's layout, and a fix-up permutation (ONNX axes of
    the raw result -> NHWC) when the raw result is neither NHWC nor CF (then the layout is NHWC
    after applying it).
    """
    perm = layout_perm(layout, rank)
    inv = inverse_perm(perm)
    axes = sorted(inv[a] for a in removed)
    remaining = sorted(a for a in range(rank) if a not in removed)
    index = {a: i for i, a in enumerate(remaining)}
    q = [index[a] for a in perm if a not in removed]  # raw ONNX result = IR result transposed by q
    r = len(q)
    if q == list(range(r)):
        return axes, NHWC, None
    if r >= 3 and q == cf_perm(r):
        return axes, CF, None
    return axes, NHWC, inverse_perm(q)


def dropped_shape(shape: Shape, layout: str, removed: set[int]) -> list[int | None]:
    """ONNX shape of a value (IR shape ``shape``) held in ``layout`` after dropping IR axes ``removed``."""
    return [shape[p] for p in layout_perm(layout, len(shape)) if p not in removed]


def compose_transpose(in_layout: str, perm: Sequence[int], out_layout: str) -> list[int]:
    """ONNX perm taking the input (held in ``in_layout``) to the IR Transpose output held in ``out_layout``."""
    r = len(perm)
    inv_in = inverse_perm(layout_perm(in_layout, r))
    to_ir = [inv_in[p] for p in perm]  # ONNX-in axes giving the IR output axes
    return [to_ir[p] for p in layout_perm(out_layout, r)]


def flatten_into_fc(ctx: OnnxContext, node: Node) -> bool:
    """Is this Reshape a flatten of a CF tensor read only by FullyConnected nodes with constant weights?

    Then the emitter flattens the CF tensor as it is and permutes each FC's weight rows from
    (H, W, C) order to (C, H, W) order, instead of transposing the activation back to NHWC.
    """
    x, out = node.inputs[0], node.outputs[0]
    assert x is not None
    if x.rank < 3 or ctx.layout(x) != CF or out.rank != 2 or ctx.graph.is_output(out):
        return False
    xs = ctx.shape(x)
    inner = xs[1:]
    if any(d is None for d in inner) or is_trivial_perm(xs, cf_perm(x.rank)):
        return False
    if ctx.shape(out)[1] != math.prod(int(d) for d in inner if d is not None):
        return False
    if not out.uses:
        return False
    for user, idx in out.uses:
        w = user.inputs[1] if len(user.inputs) > 1 else None
        if user.op != "FullyConnected" or idx != 0 or w is None or not w.is_const:
            return False
    return True


def permute_fc_rows(w: np.ndarray, in_shape: Shape) -> np.ndarray:
    """FullyConnected weights (K, N) for a flatten in NHWC order -> rows in CF flatten order, as a
    (C, H, W, N) view of ``w`` whose C-order elements are the (K, N) result (no copy is made)."""
    inner = [int(d) for d in in_shape[1:] if d is not None]
    r = len(inner)
    sub = [r - 1] + list(range(r - 1))  # (H, W, C) -> (C, H, W)
    return w.reshape(inner + [w.shape[1]]).transpose(sub + [r])
