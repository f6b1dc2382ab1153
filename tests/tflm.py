"""Running ``.tflite`` bytes in TFLite Micro (the third oracle of the TFLite emitter, the runtime's
schema and the zoo tests, next to LiteRT's reference and default kernels in ``tests/litert.py``), what it
lacks, and the builtin names of a model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keras2edge.check import support

# What TFLite Micro runs is one table in src (keras2edge.check.support, re-probed by
# tests/check/test_support.py); these names stay for the tests that read them.
TFLM_MISSING = set(support.TFLM_MISSING)


def tflm_unsupported(model) -> list[str]:
    """Builtins of ``model`` TFLite Micro refuses (no kernel, no kernel for the dtype, int64), as
    ``keras2edge check --target tflm`` reports them; operators it runs wrongly are not listed."""
    sg = model.subgraphs[0]
    bad = set()
    for op, name in zip(sg.operators, op_names(model)):
        status, _ = support.check_op(name, model, sg, op)
        if status == support.UNSUPPORTED:
            bad.add(name if name in support.TFLM_MISSING else f"{name} ({support.data_dtype(model, sg, op)})")
    return sorted(bad)


def tflm(data: bytes, feeds: Sequence[np.ndarray], n_outputs: int | None = None,
         arena: int | None = None) -> list[np.ndarray]:
    """Run ``data`` in TFLite Micro (the model must have the feeds' shapes; feeds are cast to the
    model's input types); its ``n_outputs`` outputs (all of them when None)."""
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(data, arena_size=arena or max(len(data) * 10, 1 << 20))
    for k, x in enumerate(feeds):
        it.set_input(np.ascontiguousarray(x, dtype=it.get_input_details(k)["dtype"]), k)
    it.invoke()
    if n_outputs is None:
        import tflite

        n_outputs = tflite.Model.GetRootAsModel(data, 0).Subgraphs(0).OutputsLength()
    return [np.array(it.get_output(k)) for k in range(n_outputs)]


def op_names(model: Any) -> list[str]:
    """Builtin names of a runtime.model.Model's operators, in order."""
    from keras2edge.runtime import schema

    codes = [schema.op_name(c.builtin_code) for c in model.operator_codes]
    return [codes[op.opcode_index] for op in model.subgraphs[0].operators]
