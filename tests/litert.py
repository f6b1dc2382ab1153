"""Running ``.tflite`` bytes in LiteRT (``ai_edge_litert``), the oracle of the TFLite emitter and
keras2edge.runtime tests, and what its reference resolver lacks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

# The message both LiteRT and TFLite Micro give for a builtin they do not register.
MISSING_OP = "Didn't find op for builtin opcode"

# Builtins (op, version) LiteRT 2.3.0's reference resolver (BUILTIN_REF) does not register; the
# default resolver runs them.
LITERT_REF_MISSING = {("ELU", 1), ("CEIL", 1), ("ROUND", 1), ("ABS", 5)}


def litert(data: bytes, feeds: Sequence[np.ndarray], *, reference: bool = True,
           fallback: bool = False) -> list[np.ndarray]:
    """Run ``data`` in LiteRT (reference kernels, or the default resolver), resizing inputs to the feeds.

    ``fallback``: where the reference resolver lacks a builtin of the file, run the default
    resolver instead of raising LiteRT's ``ValueError``.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = OpResolverType.BUILTIN_REF if reference else OpResolverType.AUTO
    try:
        it = Interpreter(model_content=data, num_threads=1, experimental_op_resolver_type=kind)
    except ValueError as e:
        if not (fallback and reference and MISSING_OP in str(e)):
            raise
        it = Interpreter(model_content=data, num_threads=1)
    for d, x in zip(it.get_input_details(), feeds):
        if tuple(d["shape"]) != tuple(x.shape):
            it.resize_tensor_input(d["index"], list(x.shape))
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), feeds):
        it.set_tensor(d["index"], np.ascontiguousarray(x, dtype=d["dtype"]))
    it.invoke()
    return [np.array(it.get_tensor(d["index"])) for d in it.get_output_details()]


def litert_signature(data: bytes, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run through the ``serving_default`` signature runner (inputs/outputs by Keras name)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=data, num_threads=1, experimental_op_resolver_type=OpResolverType.AUTO)
    runner = it.get_signature_runner("serving_default")
    return {k: np.array(v) for k, v in runner(**feeds).items()}
