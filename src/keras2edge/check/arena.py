"""The tensor arena TFLite Micro needs for a model: its allocator, replayed on sizes alone.

TFLite Micro (``tflite::MicroInterpreter``) carves everything from one arena
(``arena_allocator/single_arena_buffer_allocator.cc``): *persistent* buffers from the end down (the
"tail"), the *non-persistent* head from the start up (scratch-request bookkeeping while preparing,
then the memory plan of every activation and scratch buffer), and *temporary* buffers just above the
head (TfLiteTensor structs a kernel asks for while preparing, the planner's working memory). Each
request checks its own bound: a temp or head buffer must end below the tail, a tail buffer must
start above the head. :func:`arena_bytes` replays, in TFLite Micro's order, every allocation
``MicroInterpreter::AllocateTensors`` makes (``micro_allocator.cc``, ``micro_interpreter.cc``,
``micro_allocation_info.cc``) and returns the largest ``head + temp + tail`` any check sees, rounded
up to the 16-byte arena alignment: the smallest arena with which allocation succeeds.

The order replayed:

1. the allocator objects (:data:`HOST_64.fixed_tail`; the Python package's recording allocator is
   larger than the firmware's ``MicroAllocator``);
2. ``StartModelAllocation``: the builtin-data allocator, the scratch-request array (head,
   ``ScratchBufferRequest`` x 12), ``SubgraphAllocations``, one ``TfLiteEvalTensor`` per tensor,
   one ``NodeAndRegistration`` per operator;
3. each operator's parsed options and each kernel's ``Init`` (its OpData), then each kernel's ``Prepare`` (temporary TfLiteTensors for its inputs and outputs;
   per-channel arrays; scratch requests growing the head by 16 bytes each) -- :mod:`.costs`;
4. ``FinishModelAllocation``: scratch-buffer handles, the ``AllocationInfo`` array (temp), the greedy
   planner's working memory (40 bytes per planned buffer, temp), then the head reserved for the plan
   (:func:`greedy_plan`, ``greedy_memory_planner.cc``);
5. the input and output TfLiteTensors the interpreter keeps (with their quantization structs).

Sizes are those of a 64-bit host (the ``tflite-micro`` wheel the tests measure against). On a 32-bit
microcontroller every struct is the same size or smaller and the activation plan is identical, so
the figure is sufficient there too, with some margin (see docs/tflm-check.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..runtime import schema
from .costs import KernelCost, kernel_cost
from .support import op_name

if TYPE_CHECKING:
    from ..runtime.model import Model, SubGraph

ALIGN = 16  # MicroArenaBufferAlignment()


def align_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


@dataclass(frozen=True)
class Host:
    """Struct sizes (bytes) and alignments of one build of TFLite Micro."""

    name: str
    fixed_tail: int  # allocator objects placed in the tail before StartModelAllocation
    builtin_data_allocator: int = 16
    subgraph_allocations: int = 24
    eval_tensor: int = 24  # TfLiteEvalTensor
    node_and_registration: int = 64
    tflite_tensor: int = 64  # TfLiteTensor (TF_LITE_STATIC_MEMORY)
    affine_quantization: int = 24  # TfLiteAffineQuantization
    scratch_request: int = 16  # internal::ScratchBufferRequest
    scratch_handle: int = 8  # ScratchBufferHandle
    allocation_info: int = 32  # AllocationInfo
    planner_per_buffer: int = 40  # GreedyMemoryPlanner::per_buffer_size()
    pointer: int = 8
    max_scratch_per_op: int = 12  # kMaxScratchBuffersPerOp


# The tflite-micro Python package (64-bit host, RecordingMicroAllocator + GreedyMemoryPlanner): the
# tail its allocator objects take, measured (a FLOOR model, whose kernel allocates nothing, leaves
# 448 bytes unexplained by the rest of the replay; tests/check/test_arena.py measures it again).
PYTHON_64 = Host("tflite-micro Python package (64-bit, recording allocator)", fixed_tail=448)
#: What the Python package's recording allocator adds to the tail: seven RecordedAllocation records
#: (3 x size_t each) and a pointer in RecordingMicroAllocator, four size_t counters in
#: RecordingSingleArenaBufferAllocator (recording_micro_allocator.h,
#: recording_single_arena_buffer_allocator.h). Read from the source, not measurable from Python.
RECORDING_OVERHEAD = 7 * 24 + 8 + 4 * 8
# A 64-bit C++ build with the plain MicroAllocator (a firmware, or a host test): the same replay
# without the recording bookkeeping. Not measured (the Python package always records).
FIRMWARE_64 = Host("C++ MicroInterpreter (64-bit, MicroAllocator)", fixed_tail=448 - RECORDING_OVERHEAD)


class _Arena:
    """Positions of SingleArenaBufferAllocator as byte counts: ``head``/``temp`` from the start,
    ``tail`` from the end; ``need`` is the largest head/temp + tail any check has seen."""

    def __init__(self) -> None:
        self.head = self.temp = self.tail = self.need = 0

    def _check(self, low: int) -> None:
        self.need = max(self.need, low + self.tail)

    def persistent(self, size: int, align: int = ALIGN) -> None:
        self.tail = align_up(self.tail + size, align)
        self._check(self.head)

    def resize_head(self, size: int, align: int = ALIGN) -> None:
        self.head = self.temp = size
        self._check(self.head)

    def alloc_temp(self, size: int, align: int) -> None:
        self.temp = align_up(self.temp, align) + size
        self._check(self.temp)

    def reset_temp(self) -> None:
        self.temp = self.head


def tensor_bytes(sg: SubGraph, i: int) -> int:
    t = sg.tensors[i]
    n = schema.tensor_nbytes(t.shape, t.type)
    return int(n or 0)


def _temp_tensor(a: _Arena, host: Host, channels: int | None) -> None:
    """AllocateTempTfLiteTensor: the struct, then for a quantized tensor its TfLiteAffineQuantization
    and zero-point TfLiteIntArray (the scales point into the flatbuffer)."""
    a.alloc_temp(host.tflite_tensor, 8)
    if channels is not None:
        a.alloc_temp(host.affine_quantization, 8)
        a.alloc_temp(4 + 4 * channels, 4)


def _persistent_tensor(a: _Arena, host: Host, channels: int | None) -> None:
    a.persistent(host.tflite_tensor, 8)
    if channels is not None:
        a.persistent(host.affine_quantization, 8)
        a.persistent(4 + 4 * channels, 4)


def _channels(sg: SubGraph, i: int) -> int | None:
    q = sg.tensors[i].quantization
    if q is None or len(q.scale) == 0 or len(q.zero_point) == 0:
        return None
    return len(q.scale)


@dataclass(frozen=True)
class ArenaEstimate:
    """What :func:`estimate_arena` found for one model and one host."""

    arena_bytes: int  # smallest arena that allocates (multiple of 16)
    plan_bytes: int  # the activation + scratch plan (the head once planned)
    persistent_bytes: int  # the tail once allocation is finished
    scratch_bytes: int  # scratch buffers kernels request, summed
    approximate: tuple[str, ...]  # operators whose kernel costs are not in the table (estimated)


def lifetimes(sg: SubGraph, const: set[int], scratch: list[list[int]]) -> list[tuple[int, int, int]]:
    """(size aligned to 16, first, last) of every buffer the greedy planner places, in its order
    (tensors by index, then scratch buffers by request order); as ``MarkAllocationLifetimes``:
    graph inputs live from 0, op k's outputs are created at k+1, inputs last used at k+1, graph
    outputs live to the end. Constants (``const``), variables and empty tensors are not planned."""
    n = len(sg.tensors)
    first = [-1] * n
    last = [-1] * n

    def created(i: int, t: int) -> None:
        if first[i] == -1 or t < first[i]:
            first[i] = t

    def used(i: int, t: int) -> None:
        if last[i] == -1 or t > last[i]:
            last[i] = t

    for i in sg.inputs:
        created(i, 0)
        used(i, 0)
    scratch_life: list[tuple[int, int, int]] = []
    for k, op in enumerate(sg.operators):
        t = k + 1
        for i in op.outputs:
            created(i, t)
        for i in op.inputs:
            if i >= 0:
                used(i, t)
        for i in op.outputs:
            used(i, t)
        scratch_life += [(align_up(s, ALIGN), t, t) for s in scratch[k]]
    end = len(sg.operators)
    for i in sg.outputs:
        created(i, end)
        used(i, end)
    out = []
    for i, t in enumerate(sg.tensors):
        if i in const or t.is_variable:
            continue
        size = tensor_bytes(sg, i)
        if size == 0:
            continue
        out.append((align_up(size, ALIGN), first[i], last[i]))
    return out + scratch_life


def greedy_plan(buffers: list[tuple[int, int, int]]) -> int:
    """Size of GreedyMemoryPlanner's plan: buffers sorted by size, largest first (ties: the later
    buffer first, as its stable bubble sort over the reversed list leaves them), each at the lowest
    offset where it overlaps no placed buffer alive at the same time."""
    order = sorted(range(len(buffers)), key=lambda j: (-buffers[j][0], -j))
    placed: list[tuple[int, int, int, int]] = []  # (offset, size, first, last), kept sorted by offset
    top = 0
    for j in order:
        size, first, last = buffers[j]
        offset = 0
        for off, sz, f, la in placed:
            if f > last or first > la:
                continue
            if off - offset >= size:
                break
            offset = max(offset, off + sz)
        placed.append((offset, size, first, last))
        placed.sort(key=lambda p: p[0])
        top = max(top, offset + size)
    return top


def estimate_arena(model: Model, host: Host = PYTHON_64) -> ArenaEstimate:
    """Replay TFLite Micro's allocations for ``model`` (see the module docstring)."""
    a = _Arena()
    a.persistent(host.fixed_tail, ALIGN)
    sgs = model.subgraphs
    # StartModelAllocation
    a.persistent(host.builtin_data_allocator, 8)
    a.resize_head(host.scratch_request * host.max_scratch_per_op, 8)
    a.persistent(host.subgraph_allocations * len(sgs), 8)
    for sg in sgs:
        a.persistent(host.eval_tensor * len(sg.tensors), 8)
    for sg in sgs:
        a.persistent(host.node_and_registration * len(sg.operators), 8)
    sg = sgs[0]
    names = [op_name(model, op.opcode_index) for op in sg.operators]
    costs: list[KernelCost] = [kernel_cost(name, model, sg, op) for name, op in zip(names, sg.operators)]
    # PrepareNodeAndRegistrationDataFromFlatbuffer (parsed options), then InitSubgraphs (each
    # kernel's Init): one figure per kernel in the table, both rounded up to 16 together.
    for c in costs:
        for size in c.init:
            a.persistent(size, ALIGN)
    requests = 0
    for c in costs:  # PrepareSubgraphs
        # Prepare's tail allocations are replayed before its temporary tensors although kernels make
        # them after: an upper bound (temp buffers are checked against the tail), and one that covers
        # a per-channel FULLY_CONNECTED needing 64 bytes more than the in-order replay (unexplained).
        for size in c.prepare:
            a.persistent(size, ALIGN)
        for i in c.fetches:
            _temp_tensor(a, host, _channels(sg, i))
        requests += len(c.scratch)
        a.reset_temp()
        a.resize_head(host.scratch_request * (requests + host.max_scratch_per_op), 8)
    # FinishModelAllocation
    if requests:
        a.persistent(host.scratch_handle * requests, 8)
    a.alloc_temp(8 * len(sgs), 8)
    a.alloc_temp(host.allocation_info * (sum(len(s.tensors) for s in sgs) + requests), 8)
    for s in sgs:
        for t in s.tensors:
            if t.is_variable:
                a.persistent(int(schema.tensor_nbytes(t.shape, t.type) or 0), ALIGN)
    const = {i for i in range(len(sg.tensors)) if model.tensor_data(0, i) is not None}
    buffers = lifetimes(sg, const, [list(c.scratch) for c in costs])
    # The planner gets GetAvailableMemory(16): from the 16-aligned temp end to the 16-aligned tail.
    a.need = max(a.need, align_up(a.temp, ALIGN) + host.planner_per_buffer * len(buffers) + align_up(a.tail, ALIGN))
    a.reset_temp()
    plan = greedy_plan(buffers)
    a.resize_head(plan, ALIGN)
    # MicroInterpreter::AllocateTensors: the input and output TfLiteTensors it keeps
    a.persistent(host.pointer * len(sg.inputs), ALIGN)
    for i in sg.inputs:
        _persistent_tensor(a, host, _channels(sg, i))
    a.persistent(host.pointer * len(sg.outputs), ALIGN)
    for i in sg.outputs:
        _persistent_tensor(a, host, _channels(sg, i))
    return ArenaEstimate(arena_bytes=align_up(a.need, ALIGN), plan_bytes=plan, persistent_bytes=a.tail,
                         scratch_bytes=sum(sum(c.scratch) for c in costs),
                         approximate=tuple(sorted({n for n, c in zip(names, costs) if c.approximate})))
