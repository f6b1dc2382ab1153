"""Every op the IR -> TFLite emitter produces runs in keras2edge.runtime.

The per-op cases of the emitter tests (``tests/op_cases.py``: each IR op with its attribute variants)
are emitted to ``.tflite`` bytes with ``convert.tflite`` and run by keras2edge.runtime, which must
agree with the case's oracle (``tests/op_oracles.py``: onnxruntime on the case emitted as ONNX, or
NumPy; never the IR's own evaluator) and with LiteRT's reference kernels on the same file. Most cases
feed a batch of 2 or 3 to a file written with a dynamic batch of 1, so re-planning is exercised too.
"""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.convert.tflite import to_tflite, write_model
from keras2edge.runtime import Interpreter

from ..ir_graphs import build_case
from ..litert import litert
from ..op_cases import Case, params
from ..op_oracles import expected
from ..tolerances import rel_err

TOL = 1e-5


@pytest.mark.parametrize("c", params("runtime"))
def test_emitted_op_runs(c: Case) -> None:
    g, feeds = build_case(c)
    want = [expected(c, "runtime")[v.name] for v in g.outputs]
    data = write_model(to_tflite(g))
    it = Interpreter(data)
    xs = [feeds[v.name] for v in g.inputs]
    got = it.run(xs if len(xs) != 1 else xs[0]) if xs else it.run()
    got = list(got.values()) if isinstance(got, dict) else [got]
    assert len(got) == len(want)
    ref = litert(data, xs, fallback=True)
    for k, (mine, oracle, lite) in enumerate(zip(got, want, ref)):
        assert mine.shape == oracle.shape, f"output {k}: {mine.shape} vs oracle {oracle.shape}"
        if oracle.dtype.kind == "f":
            assert rel_err(mine, oracle.astype(mine.dtype), same_dtype=True) <= TOL, f"output {k} vs oracle"
        else:
            np.testing.assert_array_equal(mine, oracle.astype(mine.dtype), err_msg=f"output {k} vs oracle")
        assert rel_err(mine, lite, same_dtype=True) <= TOL, f"output {k} vs LiteRT"
