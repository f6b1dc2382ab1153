"""Memory planning: no two live buffers share a byte, space is reused, and the bound memory obeys it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from keras2edge.runtime import Interpreter
from keras2edge.runtime.planner import (ALIGNMENT, Buffer, _LifetimeIndex, arena_buffers, check_plan, lifetimes,
                                        plan_arena)

from .helpers import to_bytes
from .test_interpreter import _feeds, _net


def test_greedy_plan_random_lifetimes() -> None:
    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(1, 60))
        steps = int(rng.integers(1, 40))
        bufs = []
        for k in range(n):
            a = int(rng.integers(0, steps))
            b = int(rng.integers(a, min(steps, a + int(rng.integers(1, 8)))))
            bufs.append(Buffer(k, int(rng.integers(0, 5000)), a, b))
        plan = plan_arena(bufs)
        assert check_plan(plan) == [], trial
        # lower bound: the most bytes live at one step; upper bound: everything side by side
        peak = max(sum(-(-max(b.size, 1) // ALIGNMENT) * ALIGNMENT for b in bufs if b.first <= s <= b.last)
                   for s in range(steps))
        total = sum(-(-max(b.size, 1) // ALIGNMENT) * ALIGNMENT for b in bufs)
        assert peak <= plan.arena_bytes <= total
        assert all(plan.offsets[b.key] % ALIGNMENT == 0 for b in bufs)


def test_chain_reuses_two_slots() -> None:
    # a chain of equal tensors, each read only by the next op: two slots suffice (ping-pong)
    bufs = [Buffer(k, 1000, k, k + 1) for k in range(20)]
    plan = plan_arena(bufs)
    assert check_plan(plan) == []
    assert plan.arena_bytes == 2 * 1024


def test_lifetime_index_finds_exactly_the_overlapping_buffers() -> None:
    rng = np.random.default_rng(1)
    for trial in range(100):
        n = int(rng.integers(1, 80))
        bufs = []
        for k in range(n):
            a = int(rng.integers(0, 30))
            bufs.append(Buffer(k, 1, a, a + int(rng.integers(0, 10))))
        index = _LifetimeIndex(bufs)
        for f in range(0, 40, 3):
            for last in (f, f + 2, f + 9):
                want = {i for i, b in enumerate(bufs) if b.first <= last and f <= b.last}
                got = index.overlapping(f, last)
                assert sorted(got) == sorted(want), (trial, f, last)


def test_long_chain_plans_in_linear_work(monkeypatch: pytest.MonkeyPatch) -> None:
    # The 20,001-op chain of issue 6 made the planner quadratic (every buffer compared with every placed
    # one). Count the candidates the planner looks at: a constant number per buffer, not n.
    n = 20001
    seen = []
    real = _LifetimeIndex.overlapping

    def counted(self: _LifetimeIndex, first: int, last: int) -> list[int]:
        found = real(self, first, last)
        seen.append(len(found))
        return found

    monkeypatch.setattr(_LifetimeIndex, "overlapping", counted)
    plan = plan_arena([Buffer(k, 16, k, k + 1) for k in range(n)])
    assert plan.arena_bytes == 2 * ALIGNMENT
    assert len(seen) == n and max(seen) == 3 and sum(seen) <= 3 * n


def test_check_plan_catches_overlap() -> None:
    bufs = [Buffer("a", 100, 0, 2), Buffer("b", 100, 1, 3)]
    plan = plan_arena(bufs)
    plan.offsets["b"] = plan.offsets["a"]
    assert check_plan(plan)


def _live_ranges_disjoint(it: Interpreter) -> None:
    """Independent of the planner's own bookkeeping: from the op list and the bound arrays' addresses,
    check that at every step the memory of all live arena tensors (and that step's scratch) is disjoint."""
    plan = it._plan
    steps = plan.steps
    arena_tensors = set(plan.tensor_offsets)
    roots = dict(plan.aliases)
    last: dict[int, int] = {}
    first: dict[int, int] = {}
    for s, st in enumerate(steps):
        for t in st.outputs:
            first.setdefault(roots.get(t, t), s)
        for t in (*st.inputs, *st.outputs):
            if t >= 0:
                r = roots.get(t, t)
                last[r] = max(last.get(r, s), s)

    def span(a: np.ndarray) -> tuple[int, int]:
        p = a.__array_interface__["data"][0]
        return p, p + a.nbytes

    for s in range(len(steps)):
        live = [(t, span(plan.bufs[t])) for t in arena_tensors if first.get(t, 1 << 30) <= s <= last.get(t, -1)]
        live += [(("tmp", q), span(a)) for q, a in enumerate(plan.tmp[s])]
        live.sort(key=lambda kv: kv[1])
        for (ka, (a0, a1)), (kb, (b0, b1)) in itertools.pairwise(live):
            assert a1 <= b0 or a0 == a1 or b0 == b1, f"step {s}: {ka} and {kb} overlap"


def test_bound_memory_of_a_net() -> None:
    it = Interpreter(to_bytes(_net()))
    assert check_plan(it._plan.arena) == []
    _live_ranges_disjoint(it)
    it.run(_feeds(3))
    _live_ranges_disjoint(it)


@pytest.mark.parametrize("name", ["mbv2_block", "pool_concat_tconv", "dense_seq", "conv1d", "resize"])
def test_bound_memory_of_converter_models(name: str) -> None:
    from .test_converter_models import fixture

    it = Interpreter(fixture(name))
    assert check_plan(it._plan.arena) == []
    _live_ranges_disjoint(it)
    # the arena reuses memory: smaller than all intermediates side by side
    total = sum(b.size for b in it._plan.arena.buffers)
    assert it.arena_bytes < total


def test_buffers_alive_throughout_are_stacked_without_pairwise_work(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every tensor lives from the first step to the last, so each overlaps all
    # others; they are stacked directly (the greedy would compare each with every placed one).
    n = 5000
    calls = []
    monkeypatch.setattr(_LifetimeIndex, "overlapping", lambda self, f, last: calls.append(1) or [])
    bufs = [Buffer(k, 100, 0, 10) for k in range(n)] + [Buffer(("scratch", s), 64, s, s) for s in range(11)]
    plan = plan_arena(bufs)
    assert len(calls) == 11  # only the scratch buffers go through the greedy
    assert sorted(plan.offsets[k] for k in range(n)) == [128 * k for k in range(n)]
    assert all(plan.offsets[("scratch", s)] == 128 * n for s in range(11))


def test_lifetimes_merge_views_into_their_root() -> None:
    # step 0: x(0) -> a(1); step 1: a -> v(2), a view of a; step 2: v, c(5) -> b(3); step 3: b -> out(4)
    steps = [((0,), (1,)), ((1,), (2,)), ((2, 5), (3,)), ((3, -1), (4,))]
    lives = lifetimes(steps, {2: 1})
    assert lives == {1: (0, 2), 3: (2, 3), 4: (3, 3)}  # a lives until its view is read; inputs/consts absent
    assert list(lives) == [1, 3, 4]  # in order of first write
    bufs = arena_buffers(lives, lambda t: 10 * t, {4}, {0: [], 2: [7, 8]})
    assert bufs == [Buffer(1, 10, 0, 2), Buffer(3, 30, 2, 3), Buffer(("scratch", 2, 0), 7, 2, 2),
                    Buffer(("scratch", 2, 1), 8, 2, 2)]
