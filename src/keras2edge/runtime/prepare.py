"""Planning: a :class:`~.loader.LoadedGraph` and one set of input shapes -> a bound :class:`Plan`.

Every kernel's prepare step runs in op order, validating the node and computing output shapes and
precomputed data. Ops whose inputs are all known at prepare time (constants, tensor shapes) are
evaluated here and become constants of the plan when their results are small (``FOLD_MAX_BYTES``);
this folds the converter's SHAPE / STRIDED_SLICE / PACK plumbing for dynamic batch. A kernel whose
output re-views input 0 (RESHAPE, SQUEEZE...) is bound as a view and not run. Every shape is held to
the memory limits as it is computed. Then the lifetimes of the remaining intermediate tensors and of
the kernels' scratch buffers are planned into one arena (:mod:`.planner`) and every tensor is bound to
an array: constants, arena views, or (graph inputs and outputs) arrays of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import RuntimeModelError
from .kernels import EvalFn, Memo, OpContext, ScratchSpec, TensorSpec
from .limits import Limits
from .loader import LoadedGraph
from .planner import ALIGNMENT, ArenaPlan, arena_buffers, lifetimes, plan_arena
from .validate import tensor_nbytes

log = logging.getLogger("keras2edge.runtime")

#: Ops whose inputs are all known at prepare time are evaluated there (constant folding) when their
#: outputs take at most this many bytes: shape plumbing and dequantized weights. A bigger result (a
#: BROADCAST_TO of a constant to gigabytes) is computed at run time in the planned arena, so it is
#: counted in the arena total that is checked against the limits before anything is allocated.
FOLD_MAX_BYTES = 64 << 20

Shape = tuple[int, ...]


@dataclass
class Step:
    """One operator to run: its eval function and tensors."""

    op: int  # operator index in the subgraph
    eval: EvalFn
    inputs: tuple[int, ...]  # tensor indices, -1 omitted
    outputs: tuple[int, ...]
    ntmp: int
    alias: bool = False  # output 0 is bound as a view of an input: nothing to run
    #: no later step reads the outputs and none is a graph output (their readers are fused kernels that
    #: compute them themselves, ``OpContext.unread``): run only for an observer, which sees every op
    unread: bool = False
    reads: tuple[int, ...] = ()  # the inputs the eval reads (``inputs`` minus the kernel's unread ones)


@dataclass
class Plan:
    """Everything prepared for one set of input shapes, bound to its arrays."""

    shapes: dict[int, Shape] = field(default_factory=dict)
    consts: dict[int, np.ndarray] = field(default_factory=dict)  # file constants and values folded at prepare
    steps: list[Step] = field(default_factory=list)
    tmp: list[list[np.ndarray]] = field(default_factory=list)  # per step: scratch arrays
    bufs: list[np.ndarray | None] = field(default_factory=list)  # per tensor: constant, arena view or own array
    aliases: list[tuple[int, int]] = field(default_factory=list)  # (output tensor, root tensor) bound as views
    arena: ArenaPlan | None = None
    arena_bytes: int = 0
    tensor_offsets: dict[int, int] = field(default_factory=dict)
    scratch_offsets: dict[tuple[int, int], int] = field(default_factory=dict)
    scratch_specs: dict[int, list[ScratchSpec]] = field(default_factory=dict)


def _same_shape(declared: Sequence[int], signature: Sequence[int] | None, computed: Sequence[int]) -> bool:
    """The file's shape agrees with the computed one, ignoring dims the signature marks dynamic (-1)."""
    if len(declared) != len(computed):
        return False
    sig = signature if signature and len(signature) == len(declared) else declared
    return all(s == -1 or d == c for d, s, c in zip(declared, sig, computed))


def aligned_empty(nbytes: int) -> np.ndarray:
    """``nbytes`` uninitialized bytes starting at an ``ALIGNMENT``-byte boundary."""
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    off = (-raw.ctypes.data) % ALIGNMENT
    return raw[off:off + nbytes]


def prepare_plan(g: LoadedGraph, in_shapes: Sequence[Shape], memo: Memo, limits: Limits,
                 shape_mismatches: list[str]) -> Plan:
    """Prepare every kernel for ``in_shapes`` (one per graph input), plan the arena and bind the arrays.

    File shapes that differ from the computed ones are logged once and appended to ``shape_mismatches``.
    """
    sg, source = g.sg, g.source
    plan = Plan()
    specs = [TensorSpec(i, t.name, tuple(t.shape), g.dtypes[i], g.consts.get(i), t.quantization)
             for i, t in enumerate(sg.tensors)]
    for k, i in enumerate(g.inputs):
        specs[i].shape = tuple(in_shapes[k])
    file_shapes = tuple(tuple(sg.tensors[i].shape) for i in g.inputs)
    static = tuple(tuple(s) for s in in_shapes) == file_shapes
    inputs_set = set(g.inputs)
    outputs_set = set(g.outputs)
    folded = 0  # bytes of the constants folded at prepare time
    steps: list[Step] = []
    scratch: dict[int, list[ScratchSpec]] = {}
    hybrid = has_hybrid_ops(g)
    alias_of: dict[int, int] = {}  # tensor -> root tensor whose memory it views
    for k, op in enumerate(sg.operators):
        info = g.ops[k]
        ctx = OpContext(k, info.name, info.version, dict(op.options),
                        [specs[j] if j >= 0 else None for j in op.inputs], [specs[j] for j in op.outputs],
                        memo=memo, limits=limits, source=source, hybrid_model=hybrid)
        try:
            ev = g.prepare_fns[k](ctx)
        except RuntimeModelError:
            raise
        except Exception as e:
            raise RuntimeModelError(f"{ctx.describe()}: prepare failed: {type(e).__name__}: {e}") from e
        for j in op.outputs:
            specs[j].producer = (info.name, tuple(op.inputs))
            t = sg.tensors[j]
            if static and (t.shape or t.has_rank) and not _same_shape(t.shape, t.shape_signature, specs[j].shape):
                msg = (f"op #{k} {info.name}: output '{t.name}' is declared {list(t.shape)} in the file but "
                       f"computes to {list(specs[j].shape)}; using the computed shape")
                if msg not in shape_mismatches:
                    shape_mismatches.append(msg)
                    log.warning(msg)
        known = all(j < 0 or specs[j].data is not None for j in op.inputs) and \
            sum(specs[j].size * specs[j].dtype.itemsize for j in op.outputs) <= FOLD_MAX_BYTES
        if all(specs[j].data is not None for j in op.outputs):
            continue  # the kernel computed its outputs at prepare time (SHAPE)
        if known and op.inputs:
            # Fold: run it now, its outputs become constants of this plan (their sizes were checked by
            # set_output, their sum is checked here).
            folded += sum(specs[j].size * specs[j].dtype.itemsize for j in op.outputs)
            limits.check(folded, f"{source}: op #{k} {info.name}: the constants folded at prepare time")
            outs = [np.empty(specs[j].shape, specs[j].dtype) for j in op.outputs]
            tmp = [np.empty(s, d) for s, d in ctx.scratch_specs]
            try:
                with np.errstate(all="ignore"):
                    ev([specs[j].data if j >= 0 else None for j in op.inputs], outs, tmp)
            except Exception as e:
                raise RuntimeModelError(f"{ctx.describe()}: failed while folding constants: "
                                        f"{type(e).__name__}: {e}") from e
            for j, o in zip(op.outputs, outs):
                o.flags.writeable = False
                specs[j].data = o
            continue
        st = Step(k, ev, tuple(op.inputs), tuple(op.outputs), len(ctx.scratch_specs),
                  reads=tuple(j for q, j in enumerate(op.inputs) if q not in ctx.unread))
        if ctx.alias is not None:
            src = op.inputs[ctx.alias]
            out = op.outputs[0]
            root = alias_of.get(src, src)
            if (out not in outputs_set and root not in outputs_set and specs[src].data is None
                    and specs[src].dtype == specs[out].dtype and specs[src].size == specs[out].size):
                alias_of[out] = root
                st.alias = True
        scratch[len(steps)] = list(ctx.scratch_specs)
        steps.append(st)

    _mark_unread(steps, outputs_set)
    plan.shapes = {i: s.shape for i, s in enumerate(specs)}
    plan.consts = {i: s.data for i, s in enumerate(specs) if s.data is not None}
    plan.steps = steps
    plan.scratch_specs = scratch
    plan.aliases = list(alias_of.items())

    def nbytes(t: int) -> int:
        return int(np.prod(plan.shapes[t], dtype=np.int64)) * specs[t].dtype.itemsize

    lives = lifetimes([(st.inputs, st.outputs) for st in steps], alias_of)
    unplanned = inputs_set | outputs_set | plan.consts.keys()
    buffers = arena_buffers(lives, nbytes, unplanned,
                            {s: [int(np.prod(shape, dtype=np.int64)) * dt.itemsize for shape, dt in lst]
                             for s, lst in scratch.items()})
    arena = plan_arena(buffers)
    limits.check(arena.arena_bytes, f"{source}: the planned arena of intermediate tensors")
    io = sum(tensor_nbytes(specs[i].shape, specs[i].dtype, limits, f"{source}: tensor '{specs[i].name}' of shape")
             for i in inputs_set | outputs_set if i not in g.consts)
    limits.check(arena.arena_bytes + io + folded,
                 f"{source}: the planned arena with the graph inputs, outputs and folded constants")
    plan.arena = arena
    plan.arena_bytes = arena.arena_bytes
    plan.tensor_offsets = {t: arena.offsets[t] for t in lives if t not in unplanned}
    plan.scratch_offsets = {(s, q): arena.offsets[("scratch", s, q)]
                            for s, lst in scratch.items() for q in range(len(lst))}
    _bind(g, plan, aligned_empty(plan.arena_bytes))
    return plan


def _mark_unread(steps: list[Step], graph_outputs: set[int]) -> None:
    """Mark the steps whose outputs only fused kernels take, without reading them (see ``Step.unread``).
    An op whose output nothing takes at all is left alone: it runs, as in TFLite."""
    read = {j for st in steps for j in st.reads} | graph_outputs
    fused = {j for st in steps for j in st.inputs if j not in st.reads}
    for st in steps:
        if not st.alias and any(j in fused for j in st.outputs) and not any(j in read for j in st.outputs):
            st.unread = True


def _bind(g: LoadedGraph, plan: Plan, mem: np.ndarray) -> None:
    """Bind every tensor of the plan to an array: constants, views of ``mem`` (the arena), and arrays of
    their own for the graph inputs (graph outputs get theirs per run, see :mod:`.runner`)."""
    bufs: list[np.ndarray | None] = [None] * len(g.sg.tensors)
    for i, c in plan.consts.items():
        bufs[i] = c
    for t, off in plan.tensor_offsets.items():
        dt = g.dtypes[t]
        shape = plan.shapes[t]
        nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        bufs[t] = mem[off:off + nbytes].view(dt).reshape(shape)
    for i in g.inputs:
        bufs[i] = np.empty(plan.shapes[i], g.dtypes[i])
    for out, root in plan.aliases:
        root_buf = bufs[root]
        if root_buf is None:
            raise RuntimeModelError(f"{g.source}: tensor {out} is bound as a view of tensor {root}, "
                                    "which has no memory")
        bufs[out] = root_buf.reshape(plan.shapes[out])
    tmp = []
    for s in range(len(plan.steps)):
        lst = []
        for q, (shape, dt) in enumerate(plan.scratch_specs.get(s, ())):
            off = plan.scratch_offsets[(s, q)]
            nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
            lst.append(mem[off:off + nbytes].view(dt).reshape(shape))
        tmp.append(lst)
    plan.bufs, plan.tmp = bufs, tmp


#: The ops with a hybrid kernel (kernels/hybrid.py) and the input holding their int8 constant weights.
HYBRID_OPS = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "BATCH_MATMUL": 1}


def has_hybrid_ops(g: LoadedGraph) -> bool:
    """Whether an op of ``g`` runs a hybrid kernel: float32 main input, int8 weights (see OpContext.hybrid_model)."""
    for k, op in enumerate(g.sg.operators):
        w = HYBRID_OPS.get(g.ops[k].name)
        if w is not None and g.ops[k].dtype == "float32" and len(op.inputs) > w and op.inputs[w] >= 0 \
                and np.dtype(g.dtypes[op.inputs[w]]) == np.int8:
            return True
    return False
