"""Every op the IR -> TFLite emitter produces runs in keras2edge.runtime.

The per-op cases of the emitter tests (``tests/op_cases.py``: each IR op with its attribute variants)
are emitted to ``.tflite`` bytes with ``convert.tflite`` and run by keras2edge.runtime, which must
agree with the IR's NumPy semantics (``ir.evaluate``) and with LiteRT's reference kernels. Most cases
feed a batch of 2 or 3 to a file written with a dynamic batch of 1, so re-planning is exercised too.
"""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.convert.tflite import to_tflite, write_model
from keras2edge.ir.evaluate import evaluate
from keras2edge.runtime import Interpreter

from ..ir_graphs import build_case
from ..litert import litert
from ..op_cases import Case, params
from .oracle import rel_err

TOL = 1e-5


@pytest.mark.parametrize("c", params("runtime"))
def test_emitted_op_runs(c: Case) -> None:
    g, feeds = build_case(c)
    want = list(evaluate(g, feeds).values())
    data = write_model(to_tflite(g))
    it = Interpreter(data)
    xs = [feeds[v.name] for v in g.inputs]
    got = it.run(xs if len(xs) != 1 else xs[0]) if xs else it.run()
    got = list(got.values()) if isinstance(got, dict) else [got]
    assert len(got) == len(want)
    ref = litert(data, xs, fallback=True)
    for k, (mine, ir, lite) in enumerate(zip(got, want, ref)):
        ir = np.asarray(ir)
        assert mine.shape == ir.shape, f"output {k}: {mine.shape} vs IR {ir.shape}"
        if ir.dtype.kind == "f":
            assert rel_err(mine, ir.astype(mine.dtype)) <= TOL, f"output {k} vs IR"
        else:
            np.testing.assert_array_equal(mine, ir.astype(mine.dtype), err_msg=f"output {k} vs IR")
        assert rel_err(mine, lite) <= TOL, f"output {k} vs LiteRT"
