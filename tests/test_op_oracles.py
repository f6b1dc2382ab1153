"""The per-op oracles (``tests/op_oracles.py``) stay independent of the emitters they check: the
arithmetic helpers both emitters take from ``keras2edge.ir.ops`` are exactly ``SHARED_HELPERS``, and
every op whose emitter calls one is checked against NumPy instead of the other emitter's output."""

from __future__ import annotations

import sys

import numpy as np

from keras2edge.convert.onnx import ONNX_EMITTERS
from keras2edge.convert.tflite import TFLITE_EMITTERS

from .ir_graphs import build_case
from .op_cases import CASES
from .op_oracles import NUMPY, SHARED_HELPERS, ir_ops_functions, numpy_outputs, shared_helpers_called

TABLES = {"ONNX": ONNX_EMITTERS, "TFLite": TFLITE_EMITTERS}


def _emitters(table) -> dict[str, object]:
    return {op: table.get(op) for op in table}


def test_shared_helpers_are_the_ones_both_emitters_import() -> None:
    imported = []
    for table in TABLES.values():
        modules = {sys.modules[fn.__module__] for fn in _emitters(table).values()}
        imported.append(set().union(*(ir_ops_functions(m) for m in modules)))
    assert imported[0] & imported[1] - {"op_spec"} == SHARED_HELPERS


def test_ops_calling_a_shared_helper_have_a_numpy_oracle() -> None:
    for backend, table in TABLES.items():
        calling = {op for op, fn in _emitters(table).items() if shared_helpers_called(fn, SHARED_HELPERS)}
        assert calling, f"{backend}: no emitter calls {SHARED_HELPERS}: the check below proves nothing"
        assert not calling - set(NUMPY), f"{backend} emitters calling {SHARED_HELPERS} without a NumPy oracle: " \
                                         f"{sorted(calling - set(NUMPY))}"


def test_numpy_oracle_resolves_negative_axes_by_hand() -> None:
    """Hand-computed: the oracle of a negative-axis reduction is the sum over the last axis."""
    (c,) = [c for c in CASES if c.name == "Sum/channels_keep"]
    assert c.attrs["axes"] == (-1,)
    (got,) = numpy_outputs(c.name).values()
    _, feeds = build_case(c)
    (x,) = feeds.values()
    want = np.stack([x[..., 0] + x[..., 1] + x[..., 2]], axis=3)
    np.testing.assert_allclose(got, want, rtol=1e-6)
