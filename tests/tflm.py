"""Running ``.tflite`` bytes in TFLite Micro (the third oracle of the TFLite emitter, the runtime's
schema and the zoo tests, next to LiteRT's reference and default kernels in ``tests/litert.py``), what it
lacks, and the builtin names of a model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# Builtins the TFLite Micro Python package (tflite-micro 0.dev20261023) does not register.
TFLM_MISSING = {"RELU_N1_TO_1", "RELU_0_TO_1", "SIGN", "GELU", "POW", "REDUCE_PROD", "REDUCE_ANY", "TILE"}
# Builtins TFLite Micro registers for float only (it fails at invoke on INT32).
TFLM_FLOAT_ONLY = {"ABS", "FLOOR_DIV", "FLOOR_MOD"}
# Builtins TFLite Micro rejects at invoke for an INT64 input ("Input type INT64 (4) not supported").
TFLM_NO_INT64 = {"CAST"}
# Builtins TFLite Micro has for float only where LiteRT also has int8 / int16 kernels.
TFLM_NO_QUANTIZED = {"EXP", "LOG"}
# Builtins TFLite Micro has for int8 but not for an INT16 input (it fails at invoke).
TFLM_NO_INT16 = {"REDUCE_MAX", "REDUCE_MIN", "RESIZE_BILINEAR", "RSQRT"}


def tflm_unsupported(model) -> list[str]:
    """Builtins of ``model`` TFLite Micro cannot run (missing, float-only on a non-float input, int64 input,
    or an int8 / int16 input where it has float or int8 kernels only)."""
    sg = model.subgraphs[0]
    bad = set()
    for op, name in zip(sg.operators, op_names(model)):
        if name in TFLM_MISSING:
            bad.add(name)
        elif name in TFLM_FLOAT_ONLY and sg.tensors[op.inputs[0]].type != 0:
            bad.add(f"{name} (non-float)")
        elif name in TFLM_NO_INT64 and sg.tensors[op.inputs[0]].type == 4:
            bad.add(f"{name} (int64)")
        elif name in TFLM_NO_QUANTIZED and sg.tensors[op.inputs[0]].type in (7, 9):
            bad.add(f"{name} (quantized)")
        elif name in TFLM_NO_INT16 and sg.tensors[op.inputs[0]].type == 7:
            bad.add(f"{name} (int16)")
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
