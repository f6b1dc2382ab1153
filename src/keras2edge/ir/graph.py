"""The IR graph: inputs, outputs and nodes in topological order, rewired only through methods.

Invariants (checked by :meth:`Graph.verify`): nodes are in topological order; every value has
at most one producer, and its use list matches the node inputs exactly; every node's op is in
the vocabulary with the right arity and attributes; inferred output dtypes and shapes match the
stored ones; value names are unique; graph outputs are produced, inputs or constants.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import GraphError, ShapeInferenceError
from .dtypes import DType
from .node import Node, Origin
from .ops import OPS, REQUIRED, op_spec
from .shapes import infer_node, infer_shapes
from .value import Value


@dataclass
class LayerRecord:
    """What the importer saw of one Keras layer (for `inspect` and reports)."""

    name: str
    cls: str
    output_shapes: list[tuple[int | None, ...]]
    params: int
    inbound: list[str] = field(default_factory=list)


class Graph:
    """A dataflow graph of IR nodes over NHWC tensors."""

    def __init__(self, name: str = "model") -> None:
        self.name = name
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.nodes: list[Node] = []
        self.layers: list[LayerRecord] = []
        self.metadata: dict[str, str] = {}
        self._names: set[str] = set()
        self._node_names: set[str] = set()

    # ------------------------------------------------------------------ naming
    def unique_name(self, base: str, _taken: set[str] | None = None) -> str:
        """A fresh value name: ``base`` if unused, else ``base_1``, ``base_2``, ..."""
        taken = self._names if _taken is None else _taken
        base = base or "v"
        name, i = base, 0
        while name in taken:
            i += 1
            name = f"{base}_{i}"
        taken.add(name)
        return name

    # ------------------------------------------------------------------ building
    def add_input(self, name: str, dtype: DType, shape: Sequence[int | None]) -> Value:
        v = Value(self.unique_name(name), DType.from_any(dtype), tuple(shape))
        self.inputs.append(v)
        return v

    def add_const(self, name: str, data: np.ndarray | float | int, dtype: DType | None = None) -> Value:
        """A constant value (weights). float64 data is stored as float32."""
        arr = np.asarray(data)
        if dtype is not None:
            arr = arr.astype(dtype.np)
        elif arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        elif arr.dtype == np.int64 and dtype is None:
            arr = arr.astype(np.int32)
        return Value(self.unique_name(name), DType.from_any(arr.dtype), tuple(arr.shape), const=arr)

    def add_node(
        self,
        op: str,
        inputs: Sequence[Value | None],
        attrs: dict[str, Any] | None = None,
        origin: Origin | tuple[str, str] | None = None,
        name: str | None = None,
        after: Node | None = None,
        before: Node | None = None,
    ) -> Node:
        """Create a node, infer its outputs and insert it (at the end, or after/before a node).

        Raises GraphError if the inputs do not fit the op (arity, attributes), ShapeInferenceError
        (a GraphError) if their shapes do not.
        """
        if op not in OPS:
            raise GraphError(f"unknown IR op {op!r}; the vocabulary has: {', '.join(sorted(OPS))}")
        full = self._complete_attrs(op, attrs or {})
        org = Origin(*origin) if isinstance(origin, tuple) else origin
        base = name or (f"{org.layer}/{op}" if org else op)
        node_name = self.unique_name(base, self._node_names)
        node = Node(op, node_name, list(inputs), [], full, org)
        self._check_arity(node)
        try:
            outs = infer_node(node)
        except ShapeInferenceError as e:
            raise ShapeInferenceError(node, f"{e.reason}; inputs "
                                      f"{[None if v is None else v.shape for v in inputs]}") from e.__cause__
        for k, (dt, shp) in enumerate(outs):
            suffix = "" if len(outs) == 1 else f":{k}"
            node.outputs.append(Value(self.unique_name(node_name + suffix), dt, tuple(shp), producer=node))
        spec = op_spec(op)
        if spec.output_quant is not None:
            node.outputs[0].quant = spec.output_quant(full)
        for idx, v in enumerate(inputs):
            if v is not None:
                v.uses.append((node, idx))
        if after is not None:
            self.nodes.insert(self.nodes.index(after) + 1, node)
        elif before is not None:
            self.nodes.insert(self.nodes.index(before), node)
        else:
            self.nodes.append(node)
        return node

    def op(self, op: str, inputs: Sequence[Value | None], origin: Origin | tuple[str, str] | None = None,
           **attrs: Any) -> Value:
        """Shorthand: add a single-output node at the end and return its output value."""
        return self.add_node(op, inputs, attrs, origin).output

    @staticmethod
    def _complete_attrs(op: str, attrs: dict[str, Any]) -> dict[str, Any]:
        spec = op_spec(op)
        unknown = set(attrs) - set(spec.attrs)
        if unknown:
            raise GraphError(f"op {op}: unknown attributes {sorted(unknown)}; known: {sorted(spec.attrs)}")
        full = {}
        for k, default in spec.attrs.items():
            if k in attrs:
                full[k] = attrs[k]
            elif default is REQUIRED:
                raise GraphError(f"op {op}: attribute {k!r} is required")
            else:
                full[k] = default
        return full

    @staticmethod
    def _check_arity(node: Node) -> None:
        spec = op_spec(node.op)
        n = len(node.inputs)
        if spec.variadic:
            ok = n >= 1 and all(v is not None for v in node.inputs)
        else:
            ok = spec.min_inputs <= n <= len(spec.inputs) and all(
                node.inputs[i] is not None for i in range(spec.min_inputs))
        if not ok:
            raise GraphError(f"{node.where()}: expects inputs {spec.inputs}, got {n}")

    # ------------------------------------------------------------------ rewiring
    def set_input(self, node: Node, index: int, value: Value | None) -> None:
        old = node.inputs[index]
        if old is not None:
            old.uses.remove((node, index))
        node.inputs[index] = value
        if value is not None:
            value.uses.append((node, index))

    def replace_all_uses(self, old: Value, new: Value, except_node: Node | None = None) -> None:
        """Point every use of ``old`` (and graph outputs) at ``new``."""
        for node, idx in list(old.uses):
            if node is not except_node:
                self.set_input(node, idx, new)
        self.outputs = [new if o is old else o for o in self.outputs]

    def remove_node(self, node: Node) -> None:
        """Remove a node whose outputs are unused (and not graph outputs)."""
        for v in node.outputs:
            if v.uses or any(o is v for o in self.outputs):
                raise GraphError(f"cannot remove {node.where()}: output {v.name} is still used")
        for idx, v in enumerate(node.inputs):
            if v is not None:
                v.uses.remove((node, idx))
        self.nodes.remove(node)

    def replace_const(self, old: Value, data: np.ndarray, *, refresh: bool = True) -> Value:
        """Point every use of the constant ``old`` at a new constant holding ``data``; return it.

        The old constant's array is never modified (other graphs may share it). The new value
        keeps ``old``'s name (``old`` leaves the graph). With ``refresh`` the shapes downstream
        are re-inferred (:meth:`refresh_shapes`); if they do not fit, the replacement is undone
        and the :class:`~keras2edge.errors.ShapeInferenceError` names the node that rejects it.
        Pass ``refresh=False`` to replace several constants (say, a conv's weights and bias and
        the next conv's weights when pruning channels) and call :meth:`refresh_shapes` once.
        """
        if not old.is_const:
            raise GraphError(f"replace_const: value {old.name!r} is not a constant")
        arr = np.asarray(data)
        new = Value(old.name, DType.from_any(arr.dtype), tuple(arr.shape), const=arr, quant=old.quant)
        uses = list(old.uses)
        outputs = list(self.outputs)
        for node, idx in uses:
            self.set_input(node, idx, new)
        self.outputs = [new if o is old else o for o in self.outputs]
        if refresh:
            try:
                self.refresh_shapes()
            except ShapeInferenceError:
                for node, idx in uses:
                    self.set_input(node, idx, old)
                self.outputs = outputs
                raise
        return new

    def refresh_shapes(self, pins: dict[str, Sequence[int | None]] | None = None) -> None:
        """Re-infer every node output's dtype and shape (:func:`~keras2edge.ir.shapes.infer_shapes`)
        and store them; ``pins`` sets graph input shapes first. Nothing changes if a node rejects
        its inputs: the ShapeInferenceError names it."""
        types = infer_shapes(self, pins)
        for v in self.inputs:
            v.dtype, v.shape = types[id(v)]
        for node in self.nodes:
            for v in node.outputs:
                v.dtype, v.shape = types[id(v)]

    def rename_value(self, value: Value, name: str) -> None:
        self._names.discard(value.name)
        value.name = self.unique_name(name)

    def copy(self) -> Graph:
        """A structural copy: new values and nodes (attributes copied, names kept), the constants'
        arrays shared (passes never modify a constant's array), so a lowering can rewrite the
        copy while the caller's graph stays as it was."""
        g = Graph(self.name)
        new: dict[int, Value] = {}

        def cp(v: Value) -> Value:
            if id(v) not in new:
                new[id(v)] = Value(v.name, v.dtype, tuple(v.shape), const=v.const, quant=v.quant)
            return new[id(v)]

        g.inputs = [cp(v) for v in self.inputs]
        for node in self.nodes:
            n = Node(node.op, node.name, [None if v is None else cp(v) for v in node.inputs], [],
                     dict(node.attrs), node.origin)
            for v in node.outputs:
                out = cp(v)
                out.producer = n
                n.outputs.append(out)
            for idx, v in enumerate(n.inputs):
                if v is not None:
                    v.uses.append((n, idx))
            g.nodes.append(n)
        g.outputs = [cp(v) for v in self.outputs]
        g.layers = list(self.layers)
        g.metadata = dict(self.metadata)
        g._names = set(self._names)
        g._node_names = set(self._node_names)
        return g

    # ------------------------------------------------------------------ queries
    def consumers(self, value: Value) -> list[Node]:
        seen: list[Node] = []
        for n, _ in value.uses:
            if n not in seen:
                seen.append(n)
        return seen

    def is_output(self, value: Value) -> bool:
        return any(o is value for o in self.outputs)

    def constants(self) -> list[Value]:
        """Every constant value used by a node (each once)."""
        seen: dict[int, Value] = {}
        for n in self.nodes:
            for v in n.inputs:
                if v is not None and v.is_const:
                    seen.setdefault(id(v), v)
        return list(seen.values())

    def values(self) -> Iterable[Value]:
        yield from self.inputs
        yield from self.constants()
        for n in self.nodes:
            yield from n.outputs

    # ------------------------------------------------------------------ invariants
    def verify(self) -> None:
        """Check every invariant; raise GraphError naming the first broken one."""
        available: set[int] = {id(v) for v in self.inputs}
        uses: dict[int, list[tuple[Node, int]]] = {}
        names: dict[str, Value] = {}

        def check_name(v: Value) -> None:
            other = names.setdefault(v.name, v)
            if other is not v:
                raise GraphError(f"two values are named {v.name!r}")

        for v in self.inputs:
            check_name(v)
            if v.producer is not None:
                raise GraphError(f"graph input {v.name} has a producer")
        for node in self.nodes:
            if node.op not in OPS:
                raise GraphError(f"{node.where()}: unknown op {node.op!r}")
            self._check_arity(node)
            spec = op_spec(node.op)
            extra = set(node.attrs) - set(spec.attrs)
            missing = set(spec.attrs) - set(node.attrs)
            if extra or missing:
                raise GraphError(f"{node.where()}: attributes differ from the op (extra {extra}, missing {missing})")
            problems = spec.attr_problems(node.attrs) + spec.dtype_problems(node.inputs)
            if problems:
                raise GraphError(f"{node.where()}: {problems[0]}")
            for idx, v in enumerate(node.inputs):
                if v is None:
                    continue
                if v.is_const:
                    if v.producer is not None:
                        raise GraphError(f"constant {v.name} has a producer")
                    if tuple(v.const.shape) != v.shape:  # type: ignore[union-attr]
                        raise GraphError(f"constant {v.name} shape {v.shape} != data {v.const.shape}")  # type: ignore[union-attr]
                    if id(v) not in available:
                        check_name(v)
                        available.add(id(v))
                elif id(v) not in available:
                    raise GraphError(f"{node.where()}: input {v.name} is used before it is produced "
                                     f"(nodes out of topological order, or a dangling value)")
                uses.setdefault(id(v), []).append((node, idx))
            try:
                inferred = infer_node(node)
            except ShapeInferenceError as e:
                raise ShapeInferenceError(node, f"shape inference failed: {e.reason}") from e.__cause__
            if len(inferred) != len(node.outputs):
                raise GraphError(f"{node.where()}: has {len(node.outputs)} outputs, op gives {len(inferred)}")
            for v, (dt, shp) in zip(node.outputs, inferred):
                if v.producer is not node:
                    raise GraphError(f"{node.where()}: output {v.name} names another producer")
                if v.dtype != dt or tuple(v.shape) != tuple(shp):
                    raise GraphError(f"{node.where()}: output {v.name} is {v.dtype.value}{list(v.shape)} "
                                     f"but the op gives {dt.value}{list(shp)}")
                check_name(v)
                available.add(id(v))
            self._check_quant_mirror(node, spec)
        for v in self.values():
            if v.quant is not None:
                v.quant.verify(v.shape, v.dtype, f"value {v.name}")
            got = sorted(((id(n), i) for n, i in v.uses))
            want = sorted(((id(n), i) for n, i in uses.get(id(v), [])))
            if got != want:
                raise GraphError(f"value {v.name}: use list is stale ({len(got)} recorded, {len(want)} real)")
        for o in self.outputs:
            if id(o) not in available and not o.is_const:
                raise GraphError(f"graph output {o.name} is not produced by any node")

    @staticmethod
    def _check_quant_mirror(node: Node, spec: Any) -> None:
        """A Quantize's output / Dequantize's input carries exactly the node's quantization attribute."""
        for fn, v, which in ((spec.output_quant, node.outputs[0] if node.outputs else None, "output"),
                             (spec.input_quant, node.inputs[0] if node.inputs else None, "input")):
            if fn is not None and v is not None and v.quant != fn(node.attrs):
                raise GraphError(f"{node.where()}: its {which} {v.name} carries {v.quant!r}, not the quantization "
                                 f"of its attribute {fn(node.attrs)!r}")

    def __repr__(self) -> str:
        from .printer import format_graph

        return format_graph(self)
