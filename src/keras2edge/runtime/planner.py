"""Memory planning: tensor liveness, then every intermediate tensor at an offset of ONE arena.

Once per input-shape plan (:mod:`.prepare`), :func:`lifetimes` gives each tensor's lifetime in op
steps (``first`` = the step that writes it, ``last`` = the last step that reads it; a tensor bound as
a view of another counts as its root), and :func:`arena_buffers` turns lifetimes and sizes into the
:class:`Buffer` list to place. Graph inputs, graph outputs and constants are not planned (they own
their memory). Scratch buffers that a kernel asks for live only during their op (``first == last``).

:func:`plan_arena` is the greedy-by-size algorithm of TFLite Micro's GreedyMemoryPlanner and of
TFLite's ArenaPlanner ("greedy by size"): buffers are placed largest first, each at the lowest
offset where it overlaps no already-placed buffer whose lifetime intersects its own. Two buffers may
share bytes only if their lifetimes are disjoint, which :func:`check_plan` verifies.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass

ALIGNMENT = 64  # bytes; cache-line aligned views keep NumPy/BLAS on their fast paths


@dataclass(frozen=True)
class Buffer:
    """One thing to place: ``size`` bytes live from step ``first`` to step ``last`` (inclusive)."""

    key: object  # the caller's handle (tensor index, or ("scratch", op, i))
    size: int
    first: int
    last: int


@dataclass
class ArenaPlan:
    offsets: dict  # key -> byte offset in the arena
    arena_bytes: int
    buffers: list[Buffer]


#: What liveness needs of one step: (input tensor indices, output tensor indices); -1 = omitted.
StepIO = tuple[Sequence[int], Sequence[int]]


def lifetimes(steps: Sequence[StepIO], alias_of: Mapping[int, int]) -> dict[int, tuple[int, int]]:
    """``tensor -> (first, last)`` step for every tensor some step writes, in order of first write.

    A tensor in ``alias_of`` (bound as a view of its root tensor's memory) extends its root's lifetime
    instead of having its own. Tensors only read (graph inputs, constants) have no entry.
    """
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for s, (ins, outs) in enumerate(steps):
        for j in outs:
            if j >= 0:
                r = alias_of.get(j, j)
                first.setdefault(r, s)
                last[r] = max(last.get(r, s), s)
        for j in ins:
            if j >= 0:
                r = alias_of.get(j, j)
                last[r] = max(last.get(r, s), s)
    return {t: (f, last[t]) for t, f in first.items()}


def arena_buffers(lives: Mapping[int, tuple[int, int]], nbytes: Callable[[int], int], unplanned: Container[int],
                  scratch: Mapping[int, Sequence[int]]) -> list[Buffer]:
    """The buffers to place: every tensor of ``lives`` not in ``unplanned`` (``nbytes(tensor)`` bytes),
    then each step's scratch buffers (``scratch[step]`` = their sizes), keyed ``("scratch", step, i)``."""
    buffers = [Buffer(t, nbytes(t), f, last) for t, (f, last) in lives.items() if t not in unplanned]
    for s, sizes in scratch.items():
        buffers.extend(Buffer(("scratch", s, q), size, s, s) for q, size in enumerate(sizes))
    return buffers


def _align(n: int, a: int = ALIGNMENT) -> int:
    return (n + a - 1) // a * a


class _LifetimeIndex:
    """Every buffer sorted by first step, with a max-tree over last steps: the buffers whose lifetime
    intersects a given one are found in O((k + 1) log n) for k of them, not by scanning all n (a
    20,001-op chain made the planner quadratic)."""

    def __init__(self, buffers: Sequence[Buffer]) -> None:
        self.order = sorted(range(len(buffers)), key=lambda i: buffers[i].first)
        self.firsts = [buffers[i].first for i in self.order]
        width = 1
        while width < len(buffers):
            width *= 2
        self.width = width
        tree = [-1] * (2 * width)  # tree[width + k] = last step of the k-th buffer by first step
        for k, i in enumerate(self.order):
            tree[width + k] = buffers[i].last
        for node in range(width - 1, 0, -1):
            tree[node] = max(tree[2 * node], tree[2 * node + 1])
        self.tree = tree

    def overlapping(self, first: int, last: int) -> list[int]:
        """Indices of the buffers alive at some step of ``[first, last]``."""
        hi = bisect_right(self.firsts, last)  # these start no later than ``last``...
        found: list[int] = []
        stack = [(1, 0, self.width)]
        tree = self.tree
        while stack:
            node, lo, span = stack.pop()
            if lo >= hi or tree[node] < first:  # ...and of those, keep the ones still alive at ``first``
                continue
            if span == 1:
                found.append(self.order[lo])
                continue
            half = span // 2
            stack.append((2 * node + 1, lo + half, half))
            stack.append((2 * node, lo, half))
        return found


def plan_arena(buffers: Sequence[Buffer], alignment: int = ALIGNMENT) -> ArenaPlan:
    """Greedy by size: largest buffer first, lowest offset that fits among time-overlapping ones.

    Buffers alive at every step overlap every other buffer:
    they are stacked at the bottom first, and the greedy places the rest above them.
    """
    offsets: dict = {}
    top = 0
    if buffers:
        start, end = min(b.first for b in buffers), max(b.last for b in buffers)
        for b in buffers:
            if b.first <= start and b.last >= end:
                offsets[b.key] = top
                top += _align(max(b.size, 1), alignment)
    base = top
    rest = [b for b in buffers if b.key not in offsets]
    index = _LifetimeIndex(rest)
    order = sorted(range(len(rest)), key=lambda i: (-rest[i].size, rest[i].first, rest[i].last))
    placed: list[tuple[int, int] | None] = [None] * len(rest)  # (offset, aligned end) once placed
    for i in order:
        b = rest[i]
        size = _align(max(b.size, 1), alignment)
        # Intervals already taken by buffers alive at the same time, sorted by offset.
        busy = sorted(p for p in (placed[j] for j in index.overlapping(b.first, b.last)) if p is not None)
        off = base
        for o, e in busy:
            if off + size <= o:
                break
            off = max(off, e)
        offsets[b.key] = off
        placed[i] = (off, off + size)
        top = max(top, off + size)
    return ArenaPlan(offsets, top, list(buffers))


def check_plan(plan: ArenaPlan) -> list[str]:
    """Every pair of buffers whose lifetimes intersect must not share a byte; returns the violations."""
    bad = []
    items = sorted(plan.buffers, key=lambda b: plan.offsets[b.key])
    for i, a in enumerate(items):
        ao = plan.offsets[a.key]
        if ao % ALIGNMENT or ao + a.size > plan.arena_bytes:
            bad.append(f"{a.key}: offset {ao} size {a.size} misaligned or past the arena ({plan.arena_bytes})")
        for b in items[i + 1:]:
            bo = plan.offsets[b.key]
            if bo >= ao + a.size:
                break
            if a.first <= b.last and b.first <= a.last and a.size and b.size:
                bad.append(f"{a.key} [{ao}, {ao + a.size}) steps {a.first}-{a.last} overlaps "
                           f"{b.key} [{bo}, {bo + b.size}) steps {b.first}-{b.last}")
    return bad
