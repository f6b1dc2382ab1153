"""Per-op tests of the ONNX emitter: each case of ``tests/op_cases.py`` (shared with the TFLite
emitter and runtime tests) is run for every opset and layout.

Every case builds a one-node IR graph, emits it, runs onnxruntime and compares with an oracle that
shares no arithmetic with the ONNX emitter (``tests/op_oracles.py``): LiteRT (default kernels)
running the same graph emitted as ``.tflite`` at the feeds' batch, or NumPy for the ops whose
emitters share axis arithmetic. TFLite carries padding, axes and geometry as LiteRT's own enums
and attributes, where the ONNX emitter computes explicit pads, permutations and shapes (and the IR
evaluator shares that arithmetic, ``ir.ops.same_pads``, so it cannot be the oracle). Running each
case with ``nchw_inputs=True`` feeds the op channels-first tensors, which exercises the axis
remapping of every layout-keeping op.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.onnxrt import run_onnx

from keras2edge.convert.onnx import DEFAULT_OPSET, ONNX_EMITTERS, to_onnx
from keras2edge.ir.ops import OPS
from tests.ir_graphs import assert_close, build_case
from tests.op_cases import Case, In, covered_ops, params
from tests.op_oracles import expected

# Ops the emitter cannot express at all, with the reason (none so far).
KNOWN_GAPS: dict[str, str] = {}

OPSETS = sorted({13, 17, 18, 20, DEFAULT_OPSET, 24})  # both ends, and where emitters switch form


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("nchw", [False, True], ids=["nhwc_in", "nchw_in"])
@pytest.mark.parametrize("c", params("onnx"))
def test_op_matches_oracle(c: Case, nchw: bool, opset: int) -> None:
    g, feeds = build_case(c)
    want = expected(c, "onnx")
    model = to_onnx(g, opset=opset, nchw_inputs=nchw)
    got = run_onnx(model, feeds, nchw_inputs=nchw)
    assert sorted(got) == sorted(want)
    for name, ref in want.items():
        assert_close(got[name], ref, f"{c.name} output {name}")


def test_every_op_has_an_emitter_or_a_known_gap() -> None:
    missing = {op for op in OPS if op not in ONNX_EMITTERS and op not in KNOWN_GAPS}
    assert not missing, f"IR ops without an ONNX emitter: {sorted(missing)}"
    assert all(reason.strip() for reason in KNOWN_GAPS.values())
    stale = {op for op in KNOWN_GAPS if op in ONNX_EMITTERS or op not in OPS}
    assert not stale, f"KNOWN_GAPS entries that are implemented or not IR ops: {sorted(stale)}"


def test_every_op_has_a_case() -> None:
    covered = covered_ops("onnx")
    assert not set(OPS) - covered - set(KNOWN_GAPS), sorted(set(OPS) - covered)


def test_emitters_have_docstrings() -> None:
    for op in ONNX_EMITTERS:
        fn = ONNX_EMITTERS.get(op)
        assert fn is not None and fn.__doc__ and "→" in fn.__doc__, f"emitter for {op} needs a mapping docstring"


def test_tie_rounding_matches_tf_nearest() -> None:
    """ONNX side of the align_corners tie: source 0.5 rounds up, as TF's roundf does."""
    c = Case("tie", "ResizeNearestNeighbor", [In((1, 2, 2, 1), data=np.arange(4.0).reshape(1, 2, 2, 1))],
             {"size": (3, 3), "align_corners": True})
    g, feeds = build_case(c)
    got = run_onnx(to_onnx(g), feeds)[g.outputs[0].name]
    assert got[0, :, :, 0].tolist() == [[0, 1, 1], [2, 3, 3], [2, 3, 3]]
