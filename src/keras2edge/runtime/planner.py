"""Memory planning: place every intermediate tensor at an offset of ONE arena, reusing dead space.

The interpreter computes, once per input-shape plan, each buffer's lifetime in op steps
(``first`` = the step that writes it, ``last`` = the last step that reads it) and its size in bytes.
Graph inputs, graph outputs and constants are not planned (they own their memory). Scratch buffers
that a kernel asks for live only during their op (``first == last``).

:func:`plan_arena` is the greedy-by-size algorithm of TFLite Micro's GreedyMemoryPlanner and of
TFLite's ArenaPlanner ("greedy by size"): buffers are placed largest first, each at the lowest
offset where it overlaps no already-placed buffer whose lifetime intersects its own. Two buffers may
share bytes only if their lifetimes are disjoint, which :func:`check_plan` verifies.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def _align(n: int, a: int = ALIGNMENT) -> int:
    return (n + a - 1) // a * a


def plan_arena(buffers: Sequence[Buffer], alignment: int = ALIGNMENT) -> ArenaPlan:
    """Greedy by size: largest buffer first, lowest offset that fits among time-overlapping ones."""
    order = sorted(buffers, key=lambda b: (-b.size, b.first, b.last))
    placed: list[tuple[int, int, Buffer]] = []  # (offset, aligned end, buffer)
    offsets: dict = {}
    top = 0
    for b in order:
        size = _align(max(b.size, 1), alignment)
        # Intervals already taken by buffers alive at the same time, sorted by offset.
        busy = sorted((o, e) for o, e, p in placed if p.first <= b.last and b.first <= p.last)
        off = 0
        for o, e in busy:
            if off + size <= o:
                break
            off = max(off, e)
        offsets[b.key] = off
        placed.append((off, off + size, b))
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
