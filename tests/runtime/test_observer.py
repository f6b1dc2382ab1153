"""The run loop's observer hook: once per op in execution order, no copies, exceptions propagate, and
keep_intermediates (built on it) agrees with what an observer collects."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from keras2edge.runtime import Interpreter, OpInfo

from .helpers import GraphBuilder, to_bytes
from .test_converter_models import NAMES, _io, fixture
from .test_interpreter import _feeds, _net


class MinMax:
    """A calibration-style observer: the running min/max of every tensor it is shown."""

    def __init__(self) -> None:
        self.ranges: dict[str, tuple[float, float]] = {}
        self.calls: list[tuple[int, OpInfo]] = []

    def __call__(self, index: int, op: OpInfo, outputs: Sequence[np.ndarray]) -> None:
        self.calls.append((index, op))
        for name, a in zip(op.outputs, outputs):
            lo, hi = float(a.min()), float(a.max())
            old = self.ranges.get(name)
            self.ranges[name] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))


@pytest.mark.parametrize("name", NAMES)
def test_observer_ranges_equal_keep_intermediates(name: str) -> None:
    xs, _ = _io(name)
    data = fixture(name)
    mm = MinMax()
    out = Interpreter(data).run(xs, observer=mm)
    kept = Interpreter(data, keep_intermediates=True)
    out_kept = kept.run(xs)
    for a, b in zip(out.values() if isinstance(out, dict) else [out],
                    out_kept.values() if isinstance(out_kept, dict) else [out_kept]):
        np.testing.assert_array_equal(a, b)
    assert mm.ranges
    for tensor, (lo, hi) in mm.ranges.items():
        a = kept.intermediates[tensor]
        assert (lo, hi) == (float(a.min()), float(a.max())), tensor


def test_called_once_per_op_in_execution_order() -> None:
    it = Interpreter(to_bytes(_net()))
    mm = MinMax()
    it.run(_feeds(2), observer=mm)
    ran = [s.op for s in it._plan.steps]
    assert [k for k, _ in mm.calls] == ran == sorted(ran)
    assert [op.name for _, op in mm.calls] == ["CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "RESHAPE",
                                               "FULLY_CONNECTED", "MUL", "SOFTMAX"]
    for k, op in mm.calls:
        assert op == it.ops[k]
        sg = it.model.subgraphs[0]
        assert op.outputs == tuple(sg.tensors[j].name for j in op.output_indices)
        assert op.inputs == tuple(sg.tensors[j].name if j >= 0 else None for j in op.input_indices)


def test_outputs_are_the_arena_arrays_not_copies() -> None:
    it = Interpreter(to_bytes(_net()))
    seen: dict[int, np.ndarray] = {}

    def grab(index: int, op: OpInfo, outputs: Sequence[np.ndarray]) -> None:
        for j, a in zip(op.output_indices, outputs):
            seen[j] = a
            assert a.shape == it._plan.shapes[j]

    probs = it.run(_feeds(1), observer=grab)["probs"]
    bufs = it._plan.bufs
    conv = next(o for o in it.ops if o.name == "CONV_2D").output_indices[0]
    flat = next(o for o in it.ops if o.name == "RESHAPE").output_indices[0]
    dw = next(o for o in it.ops if o.name == "DEPTHWISE_CONV_2D").output_indices[0]
    assert seen[conv] is bufs[conv]  # the planned arena view itself
    assert np.shares_memory(seen[flat], bufs[dw])  # a RESHAPE bound as a view: shown, not run
    softmax = next(o for o in it.ops if o.name == "SOFTMAX").output_indices[0]
    assert seen[softmax] is probs  # a graph output is the array handed to the caller


def test_an_observer_that_raises_stops_the_run() -> None:
    it = Interpreter(to_bytes(_net()))

    class Stop(Exception):
        pass

    calls = []

    def stop_at_fc(index: int, op: OpInfo, outputs: Sequence[np.ndarray]) -> None:
        calls.append(op.name)
        if op.name == "FULLY_CONNECTED":
            raise Stop(index)

    with pytest.raises(Stop):
        it.run(_feeds(1), observer=stop_at_fc)
    assert calls == ["CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "RESHAPE", "FULLY_CONNECTED"]
    # the interpreter is still usable and gives the same result as a fresh one
    want = Interpreter(to_bytes(_net())).run(_feeds(1))
    got = it.run(_feeds(1))
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


def test_observer_with_keep_intermediates() -> None:
    it = Interpreter(to_bytes(_net()), keep_intermediates=True)
    mm = MinMax()
    it.run(_feeds(3), observer=mm)
    assert len(mm.calls) == len(it._plan.steps)
    for name, (lo, hi) in mm.ranges.items():
        assert (lo, hi) == (float(it.intermediates[name].min()), float(it.intermediates[name].max()))
    assert {"image", "scale"} <= set(it.intermediates)  # graph inputs are kept too, as before


def test_ops_folded_at_prepare_are_not_observed() -> None:
    """SHAPE -> STRIDED_SLICE -> PACK is folded into a constant at prepare: only RESHAPE (a view) and RELU
    are run and observed; keep_intermediates still lists the folded values."""
    g = GraphBuilder()
    x = g.input("x", (1, 2, 3), signature=(-1, 2, 3))
    shp = g.op("SHAPE", [x], {"out_type": 2}, dtype=np.int32)
    b = g.op("STRIDED_SLICE", [shp, np.array([0], np.int32), np.array([1], np.int32), np.array([1], np.int32)],
             {"shrink_axis_mask": 1}, dtype=np.int32)
    packed = g.op("PACK", [b, np.array(6, np.int32)], {"values_count": 2, "axis": 0}, dtype=np.int32)
    g.output(g.op("RELU", [g.op("RESHAPE", [x, packed])]))
    it = Interpreter(to_bytes(g.model()), keep_intermediates=True)
    mm = MinMax()
    got = it.run(np.arange(-6, 6, dtype=np.float32).reshape(2, 2, 3), observer=mm)
    assert [op.name for _, op in mm.calls] == ["RESHAPE", "RELU"]
    assert mm.ranges[it.ops[-1].outputs[0]] == (0.0, 5.0) and got.shape == (2, 6)
    sg = it.model.subgraphs[0]
    np.testing.assert_array_equal(it.intermediates[sg.tensors[packed].name], [2, 6])
