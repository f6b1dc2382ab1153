"""The ONNX emit context: value naming, initializers, layout tracking and conversion insertion.

Emitters see IR values and ask the context for ONNX tensor names: ``ctx.get(v, CF)`` returns the
name of ``v`` held channels-first, inserting (once, cached) a Transpose — or a Reshape when only
length-1 axes move — if ``v`` lives in the other layout. Outputs are declared with
``ctx.set_output(v, layout)``, which names the ONNX tensor after the IR value (the Keras layer
name) unless the value is a graph output held in a layout other than the one delivered to the user.
Constants become initializers named after the IR value, deduplicated by identity of the Value
(and by content for the small helper constants emitters make).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ...errors import OptionError, ShapeInferenceError, UnsupportedOpError
from ...ir.dtypes import DType
from ...ir.graph import Graph
from ...ir.node import Node
from ...ir.registry import OpTable
from ...ir.shapes import infer_shapes
from ...ir.value import Value
from .proto import ELEM_TYPE, OnnxNode, OnnxTensor, OnnxValueInfo
from .layout import (CF, FLAT_CF, NHWC, cf_perm, const_for_broadcast, inverse_perm, is_trivial_perm, layout_perm,
                     values_bound_for_cf)

EmitFn = Callable[["OnnxContext", Node], None]

ONNX_OWNER = "ONNX emitter"  # who fails, in every error the ONNX emitter raises
ONNX_EMITTERS: OpTable[EmitFn] = OpTable(ONNX_OWNER)

ONNX_DTYPE: dict[DType, int] = {dt: ELEM_TYPE[np.dtype(dt.np)] for dt in DType}   # TensorProto.DataType

INT64_MAX = int(np.iinfo(np.int64).max)
INT64_MIN = int(np.iinfo(np.int64).min)

Shape = tuple["int | None", ...]


class OnnxValue(NamedTuple):
    """Where an IR value is held in the emitted ONNX graph."""

    name: str     # the ONNX value (tensor) name
    layout: str   # "nhwc" (the IR's axis order), "cf" (permuted by ``cf_perm``) or "flat_cf"

    @property
    def channels_first(self) -> bool:
        """Whether the ONNX tensor is the IR value with its channels moved to axis 1."""
        return self.layout == CF


def dim_names(shape: Shape) -> list[int | str]:
    """ONNX dims: known sizes, ``batch`` for an unknown axis 0, ``d<k>`` for another unknown axis k."""
    return [d if d is not None else ("batch" if k == 0 else f"d{k}") for k, d in enumerate(shape)]


class OnnxContext:
    """State of one IR → ONNX emission.

    Args:
        graph: the IR graph being emitted.
        opset: the default-domain opset the emitters target.
        nchw_inputs: expose graph inputs of rank >= 3 channels first.
        nchw_outputs: deliver graph outputs of rank >= 3 channels first.
        input_shapes: input name -> shape (IR order) pinning dynamic dims; validated by the caller.
    """

    def __init__(self, graph: Graph, opset: int, *, nchw_inputs: bool = False, nchw_outputs: bool = False,
                 input_shapes: Mapping[str, Sequence[int]] | None = None) -> None:
        self.graph = graph
        self.opset = opset
        self.nchw_inputs = nchw_inputs
        self.nchw_outputs = nchw_outputs
        self.nodes: list[OnnxNode] = []
        self.initializers: list[OnnxTensor] = []   # arrays (views of IR constants) until written
        self.inputs: list[OnnxValueInfo] = []
        self.outputs: list[OnnxValueInfo] = []
        self._names: set[str] = set()        # tensor names emitted so far
        self._reserved: set[str] = set()     # IR value names, kept for their own values
        self._fresh_from: dict[str, int] = {}  # base -> the last suffix fresh() gave it
        # ids of float values held under a short fresh name: each is read only by a QuantizeLinear,
        # and the DequantizeLinear after it takes the IR name (filled by emit_onnx; see ops_quant)
        self.short_values: set[int] = set()
        # ids of the nodes written on the integers of their QuantizeLinear inputs (ops_quant.integer_moves)
        self.integer_moves: set[int] = set()
        self._dequantized: dict[str, OnnxNode] = {}   # output -> per-tensor DequantizeLinear (see transpose)
        self._node_names: set[str] = set()
        self._reserved_nodes = {n.name for n in graph.nodes}
        self._tensors: dict[tuple[int, str], str] = {}   # (id(value), layout) -> ONNX name
        self._home: dict[int, str] = {}                   # id(value) -> layout its producer chose
        self._consts: dict[tuple[Any, ...], str] = {}     # constant cache (identity or content)
        self._shapes: dict[int, Shape] = {}
        self.flat_sources: dict[int, tuple[Value, list[int]]] = {}  # FLAT_CF value -> (cf input, target)
        self._deferred: dict[int, Callable[[], str]] = {}  # id(value) -> emits it on first use (see defer)
        self.current: Node | None = None
        self._took_ir_name = False
        self._current_outputs: set[str] = set()
        self._output_ids = {id(v) for v in graph.outputs}
        self._input_ids = {id(v) for v in graph.inputs}
        self.bound_for_cf = values_bound_for_cf(graph.nodes, graph.outputs)
        for v in graph.values():
            self._reserved.add(v.name)
        self._infer_shapes(dict(input_shapes or {}))

    # ------------------------------------------------------------------ shapes
    def _infer_shapes(self, pins: dict[str, Sequence[int]]) -> None:
        """Shapes of every value, re-inferred through the graph when inputs are pinned."""
        if not pins:
            return
        try:
            types = infer_shapes(self.graph, pins)
        except ShapeInferenceError as e:
            raise OptionError(f"input_shapes {dict(pins)} do not fit {e}") from e
        self._shapes = {k: shape for k, (_, shape) in types.items()}

    def shape(self, v: Value) -> Shape:
        """The IR-order shape of ``v`` (with pinned input dims propagated)."""
        return self._shapes.get(id(v), v.shape)

    # ------------------------------------------------------------------ naming
    def fresh(self, base: str) -> str:
        """A tensor name not used by any IR value or emitted tensor (``base``, else ``base_<i>``)."""
        i = self._fresh_from.get(base, 0)  # names are never released: the next try starts past the last
        name = f"{base}_{i}" if i else base
        while name in self._names or name in self._reserved:
            i += 1
            name = f"{base}_{i}"
        self._fresh_from[base] = i
        self._names.add(name)
        return name

    def take(self, name: str) -> str:
        """``name`` itself if no emitted tensor has it yet (an IR name handed over on purpose: see
        ``short_values``), else a fresh name from it."""
        if name in self._names:
            return self.fresh(name)
        self._names.add(name)
        return name

    def claim(self, v: Value) -> str:
        """The IR name of ``v`` as an ONNX tensor name (each IR name is claimed at most once)."""
        if v.name in self._names:
            return self.fresh(v.name)
        self._names.add(v.name)
        return v.name

    def tmp(self, suffix: str) -> str:
        """A fresh intermediate tensor name under the current IR node."""
        base = self.current.name if self.current is not None else "k2e"
        return self.fresh(f"{base}/{suffix}")

    def _node_name(self, base: str, claim: bool = False) -> str:
        """A unique node name; IR node names are kept for their own IR node (``claim``)."""
        name, i = base, 0
        while name in self._node_names or (not claim and name in self._reserved_nodes):
            i += 1
            name = f"{base}_{i}"
        self._node_names.add(name)
        return name

    # ------------------------------------------------------------------ nodes
    def add(self, op_type: str, inputs: Sequence[str], outputs: int | Sequence[str] = 1, *,
            name: str | None = None, doc: str | None = None, **attrs: Any) -> list[str]:
        """Append an ONNX node; returns its output names (fresh ones when a count is given).

        The node writing an output of the current IR node is named after it; helper nodes get
        ``<ir name>/<op_type>``; ``name=""`` leaves the node unnamed (ONNX node names are optional).
        ``doc_string`` is the Keras origin ``layer (Class)`` of the current IR node.
        """
        if isinstance(outputs, int):
            outs = [self.tmp(op_type) for _ in range(outputs)]
        else:
            outs = list(outputs)
        claim = False
        if name is None:
            cur = self.current
            if cur is not None and not self._took_ir_name and any(o in self._current_outputs for o in outs):
                name = cur.name
                self._took_ir_name = claim = True
            else:
                name = f"{cur.name}/{op_type}" if cur is not None else op_type
        if doc is None and self.current is not None and self.current.origin is not None:
            doc = str(self.current.origin)
        node = OnnxNode(op_type, list(inputs), outs, name=name and self._node_name(name, claim), doc_string=doc or "",
                        attrs={k: v for k, v in attrs.items() if v is not None})
        self.nodes.append(node)
        if op_type == "DequantizeLinear" and "axis" not in node.attrs:
            self._dequantized[outs[0]] = node
        return outs

    def add1(self, op_type: str, inputs: Sequence[str], output: str | None = None, **attrs: Any) -> str:
        """Append a single-output node; returns its output name."""
        return self.add(op_type, inputs, 1 if output is None else [output], **attrs)[0]

    def begin(self, node: Node) -> None:
        self.current = node
        self._took_ir_name = False
        self._current_outputs: set[str] = set()

    def end(self, node: Node) -> None:
        for v in node.outputs:
            if id(v) not in self._home:
                raise UnsupportedOpError(ONNX_OWNER, f"the emitter did not produce {v.name}", op=node.op,
                                         node=node.where())
        self.current = None

    # ------------------------------------------------------------------ constants
    def initializer(self, arr: np.ndarray, name: str, shape: Sequence[int] | None = None) -> str:
        """Add an initializer under a fresh name derived from ``name`` (``shape``: see const_value)."""
        arr = np.asarray(arr)
        out = self.fresh(name)
        self.initializers.append(OnnxTensor(out, arr, None if shape is None else tuple(shape)))
        return out

    def const(self, arr: np.ndarray | float | int | Sequence[int], dtype: np.dtype | str | None = None,
              name: str = "const") -> str:
        """A helper constant (shape vectors, scalars), deduplicated by content."""
        a = np.asarray(arr, dtype=dtype)
        key = ("content", a.dtype.str, a.shape, a.tobytes())
        if key not in self._consts:
            self._consts[key] = self.initializer(a, name)
        return self._consts[key]

    def memo(self, key: tuple[Any, ...], make: Callable[[], str]) -> str:
        """The tensor ``make()`` wrote the first time ``key`` was asked for (writing it then)."""
        if key not in self._consts:
            self._consts[key] = make()
        return self._consts[key]

    def i64(self, values: Sequence[int] | int, name: str = "const") -> str:
        return self.const(np.asarray(values, dtype=np.int64), name=name)

    def scalar(self, value: float | int | bool, like: Value | DType) -> str:
        """A rank-0 constant with the element type of ``like``."""
        dt = like.dtype if isinstance(like, Value) else like
        return self.const(np.asarray(value, dtype=dt.np), name="scalar")

    def const_value(self, v: Value, key: str = "", fn: Callable[[np.ndarray], np.ndarray] | None = None,
                    suffix: str | None = None, shape: Sequence[int] | None = None) -> str:
        """The initializer for IR constant ``v`` (transformed by ``fn``, cached under ``key``,
        named ``<value name>_<suffix or key>``). ``shape``: the initializer's shape when ``fn``
        returns a view of another shape holding the elements in C order (a reshape would copy)."""
        assert v.const is not None
        k = ("value", id(v), key)
        if k not in self._consts:
            arr = np.asarray(v.const if fn is None else fn(v.const), dtype=v.const.dtype)
            if not key and id(v) not in self._output_ids:
                name = self.claim(v)
                self.initializers.append(OnnxTensor(name, arr, None if shape is None else tuple(shape)))
                self._consts[k] = name
            else:
                self._consts[k] = self.initializer(arr, f"{v.name}_{suffix or key or 'const'}", shape)
        return self._consts[k]

    # ------------------------------------------------------------------ layouts
    def layout(self, v: Value) -> str:
        """The home layout of ``v`` (NHWC for constants and values of rank <= 2)."""
        if v.is_const:
            return NHWC
        return self._home.get(id(v), NHWC)

    def has(self, v: Value, layout: str) -> bool:
        """Is ``v`` available in ``layout`` without a new conversion?"""
        if v.is_const or v.rank < 3:
            return True
        return (id(v), layout) in self._tensors

    def delivery_layout(self, v: Value) -> str:
        """The layout a graph output is delivered in."""
        return CF if (self.nchw_outputs and v.rank >= 3) else NHWC

    def set_output(self, v: Value, layout: str = NHWC, name: str | None = None) -> str:
        """Declare that the current node produces ``v`` held in ``layout``; returns its ONNX name:
        the IR name, or unless ``v`` is a graph output, a short fresh one (``v`` in ``short_values``)
        or ``name`` (:meth:`take`)."""
        if v.rank < 3 and layout != FLAT_CF:
            layout = NHWC
        if id(v) in self._home:
            raise UnsupportedOpError(ONNX_OWNER, f"value {v.name} produced twice")
        if id(v) in self._output_ids and layout != self.delivery_layout(v):
            name = self.fresh(f"{v.name}_{layout}")
        elif id(v) in self.short_values and id(v) not in self._output_ids:
            name = self.fresh("t")
        elif name is not None and id(v) not in self._output_ids:
            name = self.take(name)
        else:
            name = self.claim(v)
        self._home[id(v)] = layout
        self._tensors[(id(v), layout)] = name
        self._current_outputs.add(name)
        return name

    def defer(self, v: Value, layout: str, emit: Callable[[], str]) -> None:
        """The current node produces ``v`` (held in ``layout``) only if something asks for it: ``emit``
        writes it then and returns its name (a Dequantize of a weight that every reader writes in
        its own layout is never emitted as it is)."""
        self._home[id(v)] = layout
        self._deferred[id(v)] = emit

    def alias(self, v: Value, layout: str, src: str) -> None:
        """``v`` held in ``layout`` is the existing tensor ``src`` (no node, unless a graph output needs its name)."""
        if v.rank < 3 and layout != FLAT_CF:
            layout = NHWC
        if id(v) in self._output_ids and layout == self.delivery_layout(v):
            self.add1("Identity", [src], self.set_output(v, layout))
            return
        self._home[id(v)] = layout
        self._tensors[(id(v), layout)] = src

    def value_names(self) -> dict[str, OnnxValue]:
        """IR value name -> the ONNX value its producer wrote (home layout), for the graph inputs
        and the node outputs emitted so far."""
        held = [*self.graph.inputs, *(v for node in self.graph.nodes for v in node.outputs)]
        return {v.name: OnnxValue(self._tensors[(id(v), home)], home) for v in held
                if (home := self._home.get(id(v))) is not None and (id(v), home) in self._tensors}

    def declare_input(self, v: Value) -> None:
        """Declare graph input ``v`` (channels first when ``nchw_inputs`` and rank >= 3)."""
        layout = CF if (self.nchw_inputs and v.rank >= 3) else NHWC
        self._home[id(v)] = layout
        self._tensors[(id(v), layout)] = self.claim(v)
        dims = dim_names(self.shape(v))
        self.inputs.append(OnnxValueInfo(
            v.name, ONNX_DTYPE[v.dtype], [dims[p] for p in layout_perm(layout, v.rank)]))

    def get(self, v: Value, layout: str | None = None) -> str:
        """ONNX name of ``v`` held in ``layout`` (its home layout if None), converting once if needed."""
        if v.is_const:
            if layout == CF and v.rank >= 3:
                return self.const_value(v, "nchw", lambda a: np.transpose(a, cf_perm(a.ndim)))
            return self.const_value(v)
        home = self.layout(v)
        if layout is None or v.rank < 3 and home != FLAT_CF:
            layout = home
        key = (id(v), layout)
        if key in self._tensors:
            return self._tensors[key]
        if (id(v), home) not in self._tensors and id(v) in self._deferred:
            self._tensors[(id(v), home)] = self._deferred.pop(id(v))()
            if key in self._tensors:
                return self._tensors[key]
        if (id(v), home) not in self._tensors:
            raise UnsupportedOpError(ONNX_OWNER, f"value {v.name} is used before it is produced")
        src = self._tensors[(id(v), home)]
        if home == FLAT_CF:
            x, target = self.flat_sources[id(v)]
            out = self.add1("Reshape", [self.get_memory_order(x), self.i64(target, "shape")],
                            self.fresh(f"{v.name}_nhwc"), name=f"{v.name}/flatten_nhwc")
        else:
            perm = cf_perm(v.rank) if layout == CF else inverse_perm(cf_perm(v.rank))
            held = [self.shape(v)[p] for p in layout_perm(home, v.rank)]
            tag = "nchw" if layout == CF else "nhwc"
            deliver = (id(v) in self._output_ids and id(v) not in self._input_ids
                       and layout == self.delivery_layout(v) and v.name not in self._names)
            out = self.transpose(src, perm, held, self.claim(v) if deliver else self.fresh(f"{v.name}_{tag}"),
                                 name=f"{v.name}/to_{tag}", doc=f"layout: {v.name} to {tag.upper()}")
        self._tensors[key] = out
        return out

    def get_memory_order(self, v: Value) -> str:
        """A tensor with the IR row-major element order of ``v`` (for Reshape): NHWC, or CF when equivalent."""
        home = self.layout(v)
        if home == CF and (id(v), NHWC) not in self._tensors and is_trivial_perm(self.shape(v), cf_perm(v.rank)):
            return self.get(v, CF)
        return self.get(v, NHWC)

    def transpose(self, src: str, perm: Sequence[int], shape: Sequence[int | None], out: str | None = None, *,
                  name: str | None = None, doc: str | None = None) -> str:
        """Permute ``src`` (ONNX shape ``shape``) by ``perm``: a Reshape when only length-1 axes move."""
        perm = list(perm)
        out = out or self.tmp("Transpose")
        if perm == list(range(len(perm))):
            return self.add1("Identity", [src], out, name=name, doc=doc)
        if is_trivial_perm(tuple(shape), perm):
            target = self._reshape_target(shape, perm)
            if target is not None:
                return self.add1("Reshape", [src, self.i64(target, "shape")], out, name=name, doc=doc)
        dq = self._dequantized.get(src) if self.opset >= 21 else None
        if dq is not None:
            # onnxruntime (1.31/1.32) moves a DequantizeLinear past a Transpose at opset >= 21 by making a
            # QuantizeLinear whose zero point type it gets wrong, and the model fails to load: transpose
            # the integers, then dequantize them with the same scale and zero point.
            moved = self.transpose(dq.inputs[0], perm, shape, self.fresh(f"{dq.inputs[0]}_t"), name=name, doc=doc)
            return self.add1("DequantizeLinear", [moved, *dq.inputs[1:]], out, name="", doc="")
        return self.add1("Transpose", [src], out, name=name, doc=doc, perm=perm)

    @staticmethod
    def _reshape_target(shape: Sequence[int | None], perm: Sequence[int]) -> list[int] | None:
        target: list[int] = []
        moved_unknown = 0
        for j, p in enumerate(perm):
            d = shape[p]
            if d is not None:
                target.append(int(d))
            elif p == j:
                target.append(0)  # copy the input dim at the same index (allowzero=0)
            else:
                moved_unknown += 1
                target.append(-1)
        return target if moved_unknown <= 1 and 0 not in [shape[p] for p in perm] else None

    def operand(self, v: Value, out_rank: int, layout: str) -> str:
        """``v`` as a broadcast operand of a rank ``out_rank`` elementwise op computed in ``layout``."""
        if layout != CF or out_rank < 3:
            return self.get(v, NHWC)
        if v.is_const:
            if v.rank == 0:
                return self.const_value(v)
            return self.const_value(v, f"bcast{out_rank}_nchw", lambda a: const_for_broadcast(a, out_rank, CF))
        if v.rank == out_rank:
            return self.get(v, CF)
        if all(d == 1 for d in self.shape(v)):  # one element (a dequantized scalar): broadcasts in any layout
            return self.get(v, NHWC)
        key = (id(v), f"bcast{out_rank}_cf")
        if key not in self._tensors:
            src = self.get(v, NHWC)
            k = out_rank - v.rank
            up = self.add1("Unsqueeze", [src, self.i64(list(range(k)), "axes")], self.fresh(f"{v.name}_rank{out_rank}"))
            shape = (1,) * k + tuple(self.shape(v))
            self._tensors[key] = self.transpose(up, cf_perm(out_rank), shape, self.fresh(f"{v.name}_bcast_nchw"))
        return self._tensors[key]

    def unsupported(self, node: Node, why: str) -> UnsupportedOpError:
        return UnsupportedOpError(ONNX_OWNER, why, op=node.op, node=node.where())

    # ------------------------------------------------------------------ outputs
    def finish_outputs(self) -> None:
        """Declare graph outputs, delivered in their delivery layout under their IR names."""
        seen: set[str] = set()
        for v in self.graph.outputs:
            layout = self.delivery_layout(v)
            if v.is_const:
                name = self.add1("Identity", [self.get(v)], self.fresh(f"{v.name}_out") if v.name in seen
                                 else self.claim(v), name=f"{v.name}/output")
            else:
                have = self.get(v, layout)
                if have == v.name and v.name not in seen:
                    name = have
                else:
                    name = self.claim(v) if v.name not in self._names else self.fresh(f"{v.name}_out")
                    self.add1("Identity", [have], name, name=f"{v.name}/output")
            seen.add(name)
            dims = dim_names(self.shape(v))
            self.outputs.append(OnnxValueInfo(
                name, ONNX_DTYPE[v.dtype], [dims[p] for p in layout_perm(layout, v.rank)]))
