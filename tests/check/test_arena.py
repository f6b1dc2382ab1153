"""keras2edge.check.arena against the tflite-micro package: the smallest arena with which TFLite
Micro allocates AND invokes each model is bisected (each trial in a forked child), and our figure must
be at least that and at most 110 % of it. The models: the corpus's TFLite Micro files, one-op int8
models of the common builtins, multi-op conv stacks, and one probe model per (builtin, dtype). The
kernel cost table and the allocator's fixed tail are measured again with the recording allocator.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from keras2edge.check import arena, costs
from keras2edge.check.arena import PYTHON_64, estimate_arena, greedy_plan
from keras2edge.runtime.reader import load_model

from ..corpus import require_corpus
from ..runtime.helpers import Out, X, op_model, to_bytes
from . import models
from .probe import OK, min_arena, recorded, trial
from .support_cases import probe_cases

pytest.importorskip("tflite_micro")

FIGURES: dict[str, tuple[int, int]] = {}  # model -> (ours, bisected minimum), printed at the end


def _bounded(name: str, data: bytes, feeds: list[np.ndarray] | None = None, slack: float = 1.10) -> None:
    est = estimate_arena(load_model(data))
    assert trial(data, est.arena_bytes, feeds) == OK, f"{name}: TFLite Micro fails with our {est.arena_bytes} bytes"
    low = min_arena(data, feeds, start=est.arena_bytes)
    FIGURES[name] = (est.arena_bytes, low)
    assert low <= est.arena_bytes <= slack * low, f"{name}: ours {est.arena_bytes}, minimum {low}"


@pytest.mark.parametrize("name,build", [*models.corpus().items(), *models.one_op_int8().items(),
                                        *models.multi_op().items()], ids=lambda v: v if isinstance(v, str) else "")
def test_arena_within_10_percent(name: str, build) -> None:
    if name in models.corpus():
        require_corpus()
    data = build()
    _bounded(name, data)
    # the activation plan is exactly the head the recording allocator reports
    assert estimate_arena(load_model(data)).plan_bytes == recorded(data)["head"]


def _one_per_op_dtype() -> list[tuple[str, str, str, bytes, list[np.ndarray]]]:
    seen: set[tuple[str, str]] = set()
    out = []
    for op, dt, name, data, feeds in probe_cases():
        if (op, dt) not in seen and trial(data, 1 << 20, feeds) == OK:
            seen.add((op, dt))
            out.append((op, dt, name, data, feeds))
    return out


@pytest.fixture(scope="module")
def probes() -> list[tuple[str, str, str, bytes, list[np.ndarray]]]:
    return _one_per_op_dtype()


def test_arena_of_every_probed_kernel(probes) -> None:
    for op, _, name, data, feeds in probes:
        # BATCH_MATMUL's persistent bytes depend on its shapes: sufficient, not tight (reported approximate)
        _bounded(name, data, feeds, slack=1.15 if costs.KERNELS[op].shape_dependent else 1.10)


def test_kernel_table_is_what_tflm_allocates(probes) -> None:
    """Each kernel's tail bytes, measured: the recording allocator's tail minus our replay with that
    kernel's table entry zeroed, is never above the table (the table keeps the largest seen)."""
    over = []
    for op, dt, name, data, feeds in probes:
        saved = costs.KERNELS[op]
        costs.KERNELS[op] = dataclasses.replace(saved, init=0)
        try:
            ours = estimate_arena(load_model(data)).persistent_bytes
        finally:
            costs.KERNELS[op] = saved
        measured = recorded(data, feeds=feeds)["tail"] - ours
        if measured > saved.init:
            over.append(f"{op} {dt} ({name}): TFLite Micro {measured} > table {saved.init}")
    assert not over, "\n".join(over)


def test_fixed_tail_is_what_tflm_allocates() -> None:
    """FLOOR's kernel allocates nothing: its tail is the allocator objects plus the replayed structs."""
    data = to_bytes(op_model("FLOOR", [X((4, 5))], [Out(np.float32, (4, 5))]))
    assert estimate_arena(load_model(data)).persistent_bytes == recorded(data)["tail"]
    assert PYTHON_64.fixed_tail - arena.FIRMWARE_64.fixed_tail == arena.RECORDING_OVERHEAD


def test_greedy_plan_places_largest_first_in_gaps() -> None:
    # a (size 32, alive 0-1), b (48, 1-2), c (16, 2-3): b at 0, a above b (overlaps in time), c in the
    # gap above b? c overlaps b (t=2) so c goes at 48, where a ended its life at 1.
    assert greedy_plan([(32, 0, 1), (48, 1, 2), (16, 2, 3)]) == 80
    assert greedy_plan([(64, 0, 0), (64, 1, 1)]) == 64  # disjoint lifetimes share bytes
    assert greedy_plan([]) == 0


def teardown_module() -> None:
    if FIGURES:
        rows = [f"  {n:34} ours {o:8,}  minimum {m:8,}  {o / m:6.3f}" for n, (o, m) in FIGURES.items()]
        print("\nTFLite Micro arena, ours vs bisected minimum:\n" + "\n".join(rows))
