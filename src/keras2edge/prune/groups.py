"""Channel groups for structured pruning: which output channels of which layers must be removed
together, and every constant axis and attribute that follows them.

Read from the op specs only (``OpSpec.weights`` = :class:`~keras2edge.ir.ops.WeightAxes`,
``OpSpec.channels`` = :class:`~keras2edge.ir.ops.ChannelFlow`), never from a list of op names:

* a node with weights whose input channels are summed (``WeightAxes.in_axis`` set: Conv2D, Dense,
  TransposeConv) is a *producer*: its output channels are new channel ids; it is also a *consumer*
  of its input's ids (its kernel is sliced along ``in_axis`` when they go);
* a weight op without an input-channel axis (DepthwiseConv2D) *follows* its input: output channel
  k = c·M + m carries input channel c's id (M = depth multiplier); kernel and bias are sliced;
* ``ELEMENTWISE``/``WINDOW`` flow: the output carries the inputs' ids; several non-constant inputs
  with the channel axis (a residual Add/Sub/Mul, squeeze-excite's Mul back onto the feature map)
  tie their ids together (one group); constants with the channel axis (BatchNorm statistics,
  PReLU alpha, per-channel Add/Mul constants) are sliced;
* ``CONCAT`` on the channel axis: the inputs' ids side by side (off the channel axis: tied);
* ``AXIS``/``BREAKS`` flow (Mean, Pad, Reshape/Flatten, ...): the op's own ``evaluate`` is probed
  with one-hot channel tensors; when every output position of the last axis comes from exactly one
  input channel (a pure data movement: GlobalAveragePooling, spatial Pad, Flatten -> H·W positions
  per channel, a Reshape to (1, 1, C)), the ids follow, and a ``shape`` attribute is rewritten;
  anything else *breaks*: the ids that reach it are locked;
* graph inputs and graph outputs lock the ids they carry.

A *group* is a set of producers whose channels are tied; its *units* are the tied channels (one
union-find root each). A group with a locked unit is left alone; ``ChannelGroup.reason`` says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ShapeInferenceError
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.ops import ChannelFlow, norm_axis, op_spec
from ..ir.shapes import infer_node
from ..ir.value import Value

#: Elements evaluated at once when probing an op with one-hot channel tensors.
PROBE_ELEMENTS = 1 << 22


class _UnionFind:
    """Union-find over channel ids, with the reasons a root is locked."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.locks: dict[int, list[str]] = {}

    def block(self, n: int, lock: str | None = None) -> np.ndarray:
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        ids = np.arange(start, start + n, dtype=np.int64)
        if lock is not None:
            self.lock(ids, lock)
        return ids

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        self.parent[rb] = ra
        moved = self.locks.pop(rb, None)
        if moved:
            self.locks.setdefault(ra, []).extend(moved)

    def lock(self, ids: np.ndarray, reason: str) -> None:
        for i in {self.find(int(i)) for i in ids}:
            reasons = self.locks.setdefault(i, [])
            if reason not in reasons:
                reasons.append(reason)

    def roots(self, ids: np.ndarray) -> np.ndarray:
        return np.fromiter((self.find(int(i)) for i in ids), np.int64, len(ids))


@dataclass
class AxisUse:
    """Axis ``axis`` of the constant input ``index`` of node ``node`` carries channel ids ``ids``
    (one per position): sliced when they are removed."""

    node: str
    index: int
    axis: int
    ids: np.ndarray


@dataclass
class ChannelGroup:
    """Producers whose output channels are removed together; ``units`` = the tied channels (roots)."""

    producers: list[Node]
    units: np.ndarray
    reason: str | None = None

    @property
    def layers(self) -> list[str]:
        """The producers' Keras layer names (the node name when a node has no origin)."""
        return [n.origin.layer if n.origin else n.name for n in self.producers]

    @property
    def prunable(self) -> bool:
        return self.reason is None


@dataclass
class ChannelAnalysis:
    """Every channel group of a graph and everything that follows their channels."""

    groups: list[ChannelGroup]
    uses: list[AxisUse]
    shape_attrs: list[tuple[str, np.ndarray]]        # (node, ids of its output's last axis): a 'shape' to rewrite
    value_ids: dict[str, np.ndarray]                 # value name -> channel id per last-axis position
    producer_ids: dict[str, np.ndarray] = field(default_factory=dict)  # producer node -> its output ids
    _uf: _UnionFind = field(default_factory=_UnionFind, repr=False)

    def roots(self, ids: np.ndarray) -> np.ndarray:
        """The unit (union-find root) of each channel id."""
        return self._uf.roots(ids)

    def keep_mask(self, ids: np.ndarray, removed: set[int]) -> np.ndarray:
        """True where the position's unit is not removed."""
        return np.array([r not in removed for r in self.roots(ids)], dtype=bool)


def _where(node: Node) -> str:
    return f"{node.origin.layer} ({node.origin.cls})" if node.origin else node.name


def _bias_index(node: Node) -> int | None:
    spec = op_spec(node.op)
    for i, name in enumerate(spec.inputs):
        if name.rstrip("?") == "b" and i < len(node.inputs) and node.inputs[i] is not None:
            return i
    return None


class _Walker:
    """One topological walk that gives every value its channel ids."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.uf = _UnionFind()
        self.ids: dict[int, np.ndarray] = {}
        self.uses: list[AxisUse] = []
        self.shape_attrs: list[tuple[str, np.ndarray]] = []
        self.producers: list[tuple[Node, np.ndarray]] = []

    # ---------------------------------------------------------------- helpers
    def of(self, v: Value | None) -> np.ndarray | None:
        return None if v is None else self.ids.get(id(v))

    def const_use(self, node: Node, index: int, axis: int, ids: np.ndarray) -> None:
        self.uses.append(AxisUse(node.name, index, axis, ids))

    def opaque(self, node: Node, why: str) -> None:
        """Lock every id reaching ``node`` and give its outputs locked ids."""
        reason = f"{_where(node)}: {node.op} {why}"
        for v in node.inputs:
            ids = self.of(v)
            if ids is not None:
                self.uf.lock(ids, reason)
        for out in node.outputs:
            c = out.shape[-1] if out.rank else 1
            self.ids[id(out)] = self.uf.block(int(c or 1), reason)

    # ---------------------------------------------------------------- the walk
    def run(self) -> None:
        for v in self.graph.inputs:
            c = v.shape[-1] if v.rank else 1
            self.ids[id(v)] = self.uf.block(int(c or 1), f"graph input {v.name}")
        for node in self.graph.nodes:
            self.visit(node)
        for o in self.graph.outputs:
            ids = self.of(o)
            if ids is not None:
                self.uf.lock(ids, f"graph output {o.name}")

    def visit(self, node: Node) -> None:
        spec = op_spec(node.op)
        if len(node.outputs) != 1:
            return self.opaque(node, "has several outputs")
        out = node.outputs[0]
        if out.rank == 0 or out.shape[-1] is None:
            return self.opaque(node, "has no static channel axis")
        if spec.weights is not None and spec.channels is ChannelFlow.WEIGHTS:
            return self.weights(node)
        if spec.channels in (ChannelFlow.ELEMENTWISE, ChannelFlow.WINDOW):
            return self.elementwise(node)
        if spec.channels is ChannelFlow.CONCAT:
            return self.concat(node)
        return self.probed(node)

    def weights(self, node: Node) -> None:
        axes = op_spec(node.op).weights
        assert axes is not None
        x, w = node.inputs[0], node.inputs[axes.input]
        xids = self.of(x)
        others = [v for i, v in enumerate(node.inputs) if v is not None and i != 0 and not v.is_const]
        if w is None or not w.is_const or others or xids is None:
            return self.opaque(node, "has weights that are not constants")
        bias = _bias_index(node)
        cout = int(w.shape[axes.out_axis])
        if axes.in_axis is None:  # each output channel reads one input channel: k // M
            if cout % len(xids):
                return self.opaque(node, f"has {cout} output channels for {len(xids)} input channels")
            out_ids = np.repeat(xids, cout // len(xids))
        else:
            if int(w.shape[axes.in_axis]) != len(xids):
                return self.opaque(node, f"is grouped (kernel input channels {w.shape[axes.in_axis]}, "
                                         f"input channels {len(xids)})")
            self.const_use(node, axes.input, axes.in_axis, xids)
            out_ids = self.uf.block(cout)
            self.producers.append((node, out_ids))
        self.const_use(node, axes.input, axes.out_axis, out_ids)
        if bias is not None:
            b = node.inputs[bias]
            if b is None or not b.is_const:
                return self.opaque(node, "has a bias that is not a constant")
            self.const_use(node, bias, b.rank - 1, out_ids)
        self.ids[id(node.outputs[0])] = out_ids

    def elementwise(self, node: Node) -> None:
        out = node.outputs[0]
        c = int(out.shape[-1])
        out_ids: np.ndarray | None = None
        consts: list[int] = []
        for i, v in enumerate(node.inputs):
            if v is None or v.rank == 0:
                continue
            if v.is_const:
                if v.shape[-1] == c and c > 1:
                    consts.append(i)
                elif v.shape[-1] != 1 and v.shape[-1] != c:
                    return self.opaque(node, f"has a constant of shape {v.shape} against {c} channels")
                continue
            ids = self.of(v)
            if ids is None:
                continue
            if len(ids) == 1 and c > 1:  # broadcast along the channels: carries none of them
                continue
            if len(ids) != c:
                return self.opaque(node, f"mixes {len(ids)} and {c} channels")
            if out_ids is None:
                out_ids = ids
            else:
                for a, b in zip(out_ids, ids):
                    self.uf.union(int(a), int(b))
        if out_ids is None:
            out_ids = self.uf.block(c, f"{_where(node)}: channels made from constants")
        for i in consts:
            v = node.inputs[i]
            assert v is not None
            self.const_use(node, i, v.rank - 1, out_ids)
        self.ids[id(out)] = out_ids

    def concat(self, node: Node) -> None:
        out = node.outputs[0]
        try:
            axis = norm_axis(int(node.attrs.get("axis", -1)), out.rank)
        except ValueError:
            return self.opaque(node, "has an axis out of range")
        if axis != out.rank - 1:
            return self.elementwise(node)
        parts = []
        for v in node.inputs:
            ids = self.of(v)
            if v is None:
                continue
            if v.is_const or ids is None:
                ids = self.uf.block(int(v.shape[-1] or 1), f"{_where(node)}: concatenates a constant")
            parts.append(ids)
        self.ids[id(out)] = np.concatenate(parts)

    def probed(self, node: Node) -> None:
        dyn = [(i, v) for i, v in enumerate(node.inputs) if v is not None and not v.is_const]
        if len(dyn) != 1 or self.of(dyn[0][1]) is None:
            return self.opaque(node, "has no single channel-carrying input")
        index, x = dyn[0]
        xids = self.of(x)
        assert xids is not None
        src = probe_channels(node, index)
        if src is None:
            return self.opaque(node, "moves channel data in a way pruning cannot follow")
        if not _reinfers(node, index, src):
            return self.opaque(node, "cannot take fewer channels (its attributes fix the size)")
        out_ids = xids[src]
        if "shape" in node.attrs and int(list(node.attrs["shape"])[-1]) != -1:
            self.shape_attrs.append((node.name, out_ids))
        self.ids[id(node.outputs[0])] = out_ids


def probe_channels(node: Node, index: int) -> np.ndarray | None:
    """For a single-data-input op: the input channel each position of the output's last axis comes
    from, found by running the op's ``evaluate`` on one-hot channel tensors (a batch of them); None
    when the op is not such a pure data movement (a position mixes channels, scales them, or a
    channel vanishes)."""
    x = node.inputs[index]
    assert x is not None
    dims = x.shape[1:]
    if x.rank < 1 or any(d is None for d in dims) or not dims:
        return None
    sample = tuple(int(d) for d in dims)  # type: ignore[arg-type]
    c = sample[-1]
    per = max(1, int(np.prod(sample)))
    chunk = max(1, min(c, PROBE_ELEMENTS // per))
    spec = op_spec(node.op)
    src: np.ndarray | None = None
    for start in range(0, c, chunk):
        k = min(chunk, c - start)
        probe = np.zeros((k, per // c, c), np.float32)
        probe[np.arange(k), :, start + np.arange(k)] = 1.0
        args: list[Any] = [probe.reshape((k,) + sample) if j == index else (None if v is None else v.const)
                           for j, v in enumerate(node.inputs)]
        try:
            out = np.asarray(spec.evaluate(args, dict(node.attrs))[0])
        except Exception:  # noqa: BLE001 - any failure means the op cannot be followed
            return None
        if out.ndim < 1 or out.shape[0] != k:
            return None
        o = out.reshape(k, -1, out.shape[-1]) if out.ndim > 1 else out.reshape(k, 1, 1)
        if not np.all((o == 0) | (o == 1)):
            return None
        lit = o.any(axis=1)
        if src is None:
            src = np.full(o.shape[-1], -1, np.int64)
        rows, pos = np.nonzero(lit)
        if np.any(src[pos] != -1) or len(np.unique(pos)) != len(pos):
            return None
        src[pos] = start + rows
    if src is None or np.any(src < 0) or len(np.unique(src)) != c:
        return None
    return src


def _reinfers(node: Node, index: int, src: np.ndarray) -> bool:
    """Whether the node still infers its shape with input channel 0 removed (its ``shape``
    attribute rewritten to the kept positions)."""
    x = node.inputs[index]
    assert x is not None
    c = int(x.shape[-1])  # type: ignore[arg-type]
    if c < 2:
        return True
    want = int(np.sum(src != 0))
    attrs = dict(node.attrs)
    if "shape" in attrs and int(list(attrs["shape"])[-1]) != -1:
        attrs["shape"] = tuple(list(attrs["shape"])[:-1]) + (want,)
    ins: list[Value | None] = list(node.inputs)
    ins[index] = Value(x.name, x.dtype, tuple(x.shape[:-1]) + (c - 1,))
    try:
        (_, shape), = infer_node(node, ins, attrs)
    except ShapeInferenceError:
        return False
    return bool(shape) and shape[-1] == want


def find_groups(graph: Graph) -> ChannelAnalysis:
    """Every channel group of ``graph`` (a float graph before BatchNorm folding) and everything that
    follows their channels. The graph is not modified."""
    walker = _Walker(graph)
    walker.run()
    uf = walker.uf
    # Producers tied through any shared unit form one group.
    owner: dict[int, int] = {}
    parent = list(range(len(walker.producers)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for k, (_node, ids) in enumerate(walker.producers):
        for r in uf.roots(ids):
            r = int(r)
            if r in owner:
                parent[find(k)] = find(owner[r])
            else:
                owner[r] = k
    members: dict[int, list[int]] = {}
    for k in range(len(walker.producers)):
        members.setdefault(find(k), []).append(k)
    groups = []
    for ks in members.values():
        nodes = [walker.producers[k][0] for k in ks]
        units = np.unique(np.concatenate([uf.roots(walker.producers[k][1]) for k in ks]))
        reasons: list[str] = []
        for r in units:
            for why in uf.locks.get(int(r), ()):
                if why not in reasons:
                    reasons.append(why)
        groups.append(ChannelGroup(nodes, units, "; ".join(reasons[:3]) if reasons else None))
    value_ids = {v.name: ids for v in graph.values() if (ids := walker.ids.get(id(v))) is not None}
    return ChannelAnalysis(groups, walker.uses, walker.shape_attrs, value_ids,
                           {n.name: ids for n, ids in walker.producers}, uf)


def group_of(analysis: ChannelAnalysis, layer: str) -> ChannelGroup:
    """The group whose producers include Keras layer ``layer`` (KeyError if none)."""
    for g in analysis.groups:
        if layer in g.layers:
            return g
    raise KeyError(layer)


__all__: Sequence[str] = ["AxisUse", "ChannelAnalysis", "ChannelGroup", "find_groups", "group_of", "probe_channels"]
