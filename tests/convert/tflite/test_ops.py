"""Per-op tests of the TFLite emitter: every case of ``tests/op_cases.py`` (shared with the ONNX
emitter and runtime tests) is emitted once, run in every TFLite runtime and compared with the
case's oracle (``tests/op_oracles.py``): onnxruntime on the same case emitted as ONNX, or NumPy for
the ops whose emitters share axis arithmetic. Never the IR's own ``keras2edge.ir.evaluate``, which
shares padding and axis arithmetic with the emitters.

Oracles: LiteRT with its default (XNNPACK/optimized) and reference (BUILTIN_REF) resolvers, after
resizing the dynamic batch; TFLite Micro on a file emitted at the feeds' batch; and the PyPI
``tflite`` reader, which must read back exactly what was emitted. Builtins a runtime does not
register are listed in tests/litert.py and tests/tflm.py, and checked to fail with the runtime's
message (so the lists stay true).
"""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.convert.tflite import TFLITE_EMITTERS, to_tflite, write_model
from keras2edge.convert.tflite.emitter import KNOWN_GAPS
from keras2edge.ir.ops import OPS
from keras2edge.runtime.schema import op_name

from ...ir_graphs import assert_close, build_case
from ...litert import LITERT_REF_MISSING, MISSING_OP, litert
from ...op_cases import Case, In, covered_ops, params
from ...op_oracles import expected
from .helpers import check_with_tflite_package
from ...tflm import TFLM_MISSING, op_names, tflm, tflm_unsupported


def _batch(feeds: dict[str, np.ndarray], g) -> int | None:
    """The batch of the feeds (for a file TFLite Micro runs as written), None if no input is dynamic."""
    dyn = [v for v in g.inputs if v.shape and v.shape[0] is None]
    return int(feeds[dyn[0].name].shape[0]) if dyn else None


@pytest.mark.parametrize("c", params("tflite"))
def test_op_matches_oracle(c: Case, capfd: pytest.CaptureFixture[str]) -> None:
    g, feeds = build_case(c)
    want = [expected(c, "tflite")[v.name] for v in g.outputs]
    model = to_tflite(g)
    data = write_model(model)
    check_with_tflite_package(data, model)
    xs = list(feeds.values())
    names = op_names(model)
    codes = {(op_name(oc.builtin_code), oc.version) for oc in model.operator_codes}

    for got, ref in zip(litert(data, xs, reference=False), want):
        assert_close(got, ref, f"{c.name} (LiteRT default)")
    if codes & LITERT_REF_MISSING:
        with pytest.raises(ValueError, match=MISSING_OP):
            litert(data, xs, reference=True)
    else:
        for got, ref in zip(litert(data, xs, reference=True), want):
            assert_close(got, ref, f"{c.name} (LiteRT reference)")

    micro = write_model(to_tflite(g, batch=_batch(feeds, g)))
    missing = sorted(set(names) & TFLM_MISSING)
    if tflm_unsupported(model):
        capfd.readouterr()
        with pytest.raises(RuntimeError):
            tflm(micro, xs, len(want))
        err = capfd.readouterr().err
        if missing:
            assert f"{MISSING_OP} '{missing[0]}'" in err
        return
    for got, ref in zip(tflm(micro, xs, len(want)), want):
        assert_close(got, ref, f"{c.name} (TFLite Micro)")


def test_every_op_has_an_emitter_or_a_known_gap() -> None:
    missing = {op for op in OPS if op not in TFLITE_EMITTERS and op not in KNOWN_GAPS}
    assert not missing, f"IR ops without a TFLite emitter: {sorted(missing)}"
    assert all(reason.strip() for reason in KNOWN_GAPS.values())
    stale = {op for op in KNOWN_GAPS if op in TFLITE_EMITTERS or op not in OPS}
    assert not stale, f"KNOWN_GAPS entries that are implemented or not IR ops: {sorted(stale)}"


def test_every_op_has_a_case() -> None:
    covered = covered_ops("tflite")
    assert not set(OPS) - covered - set(KNOWN_GAPS), sorted(set(OPS) - covered)


def test_emitters_have_docstrings() -> None:
    for op in TFLITE_EMITTERS:
        fn = TFLITE_EMITTERS.get(op)
        assert fn is not None and fn.__doc__ and "→" in fn.__doc__, f"emitter for {op} needs a mapping docstring"


def test_tie_rounding_matches_tf_nearest() -> None:
    """align_corners nearest: source 0.5 rounds up in TFLite, as in the IR."""
    c = Case("tie", "ResizeNearestNeighbor", [In((1, 2, 2, 1), data=np.arange(4.0).reshape(1, 2, 2, 1))],
             {"size": (3, 3), "align_corners": True})
    g, feeds = build_case(c)
    got = litert(write_model(to_tflite(g)), list(feeds.values()))[0]
    assert got[0, :, :, 0].tolist() == [[0, 1, 1], [2, 3, 3], [2, 3, 3]]
