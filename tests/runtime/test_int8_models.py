"""Whole int8 models of the third-party corpus (``shared/corpus``), bit-exact with TFLite Micro.

Every int8 ``.tflite`` of the corpus runs in ``keras2edge.runtime.Interpreter`` and in TFLite Micro
on several random int8 inputs; the outputs must be identical. On a mismatch the test finds the
first operator whose output differs: it records every op's outputs with an ``observer`` and runs
TFLM on the same file with that op's outputs made graph outputs, op by op in execution order, so
the failure names the op, its index and its output tensor instead of just "the logits differ".

Until every kernel these models use exists for int8 (FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D,
AVERAGE_POOL_2D, RESHAPE, SOFTMAX) the interpreter refuses to load them ("no kernel"), and so does
this test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from keras2edge.convert.tflite.writer import write_model
from keras2edge.runtime import Interpreter, OpInfo
from keras2edge.runtime.reader import load_model

from ..corpus import CORPUS, corpus, require_corpus
from ..tflm import op_names, tflm

MODELS = ["tflite-micro/hello_world_int8.tflite", "tflite-micro/person_detect.tflite"]
INPUTS_PER_MODEL = 5
INT8 = 9  # TensorType INT8


def _int8_inputs(data: bytes) -> bool:
    sg = load_model(data).subgraphs[0]
    return all(sg.tensors[i].type == INT8 for i in sg.inputs)


def test_every_int8_tflite_of_the_corpus_is_listed() -> None:
    require_corpus()
    found = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.tflite") if _int8_inputs(p.read_bytes()))
    assert found == sorted(MODELS)


class Recorder:
    """An observer keeping a copy of every op's outputs, by op index (the arrays it is shown are arena
    views, valid only during the call)."""

    def __init__(self) -> None:
        self.outputs: dict[int, list[np.ndarray]] = {}
        self.order: list[OpInfo] = []

    def __call__(self, index: int, op: OpInfo, outputs: Sequence[np.ndarray]) -> None:
        self.outputs[index] = [np.array(a) for a in outputs]
        self.order.append(op)


def _with_outputs(data: bytes, outputs: Sequence[int]) -> bytes:
    """The same model with ``outputs`` (tensor indices) as its graph outputs."""
    model = load_model(data)
    sg = replace(model.subgraphs[0], outputs=tuple(outputs))
    return write_model(replace(model, subgraphs=[sg], signature_defs=[]))


def first_difference(data: bytes, feeds: Sequence[np.ndarray]) -> str:
    """Which op is the first whose outputs differ between keras2edge.runtime and TFLM, as a sentence."""
    rec = Recorder()
    Interpreter(data).run(list(feeds), observer=rec)
    names = op_names(load_model(data))
    for op in rec.order:
        micro = tflm(_with_outputs(data, op.output_indices), feeds, len(op.output_indices))
        for name, ours, theirs in zip(op.outputs, rec.outputs[op.index], micro):
            if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
                diff = np.abs(ours.astype(np.int64) - theirs.astype(np.int64)) if ours.shape == theirs.shape else None
                what = (f"{int(np.count_nonzero(diff))} of {diff.size} elements, by up to {int(diff.max())}"
                        if diff is not None else f"shape {ours.shape} vs {theirs.shape}")
                return f"first difference at op #{op.index} {names[op.index]}, output '{name}': {what}"
    return "every op's outputs agree; only the graph outputs differ"


@pytest.mark.parametrize("rel", MODELS)
def test_int8_model_is_bitexact_with_tflm(rel: str) -> None:
    data = open(corpus(rel), "rb").read()
    it = Interpreter(data)  # raises RuntimeModelError "no kernel" while an int8 kernel is missing
    details = it.get_input_details()
    rng = np.random.default_rng(10)
    for k in range(INPUTS_PER_MODEL):
        feeds = [rng.integers(-128, 128, tuple(d["shape"])).astype(np.int8) for d in details]
        got = it.run(feeds)
        ours = list(got.values()) if isinstance(got, dict) else [got]
        micro = tflm(data, feeds)
        if not all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(ours, micro)):
            pytest.fail(f"{rel}, input {k}: outputs differ from TFLite Micro; {first_difference(data, feeds)}")


# ------------------------------------------------------------------------------ the diagnosis itself

def _three_op_model() -> bytes:
    """int8 RESHAPE -> TRANSPOSE -> RESHAPE (kernels that exist now), one quantization throughout."""
    from keras2edge.runtime.model import Quantization

    from .helpers import GraphBuilder

    g = GraphBuilder()
    x = g.input("x", (2, 6), np.int8, quant=(0.5, 3))
    a = g.op("RESHAPE", [x, np.array([3, 4], np.int32)], dtype=np.int8, shapes=[(3, 4)], name="a")
    b = g.op("TRANSPOSE", [a, np.array([1, 0], np.int32)], dtype=np.int8, shapes=[(4, 3)], name="b")
    c = g.op("RESHAPE", [b, np.array([12], np.int32)], dtype=np.int8, shapes=[(12,)], name="c")
    for t in (a, b, c):
        g.tensors[t].quantization = Quantization(np.array([0.5], np.float32), np.array([3], np.int64))
    g.output(c)
    return write_model(g.model())


def test_first_difference_names_the_op(monkeypatch: pytest.MonkeyPatch) -> None:
    """A multi-op int8 model agrees with TFLM; with TRANSPOSE's kernel broken on purpose, the
    diagnosis names op #1 TRANSPOSE and its output, not the last RESHAPE."""
    from keras2edge.runtime.kernels import KERNELS

    data = _three_op_model()
    feeds = [np.random.default_rng(0).integers(-128, 128, (2, 6)).astype(np.int8)]
    assert np.array_equal(Interpreter(data).run(feeds), tflm(data, feeds)[0])
    assert first_difference(data, feeds) == "every op's outputs agree; only the graph outputs differ"
    real = KERNELS[("TRANSPOSE", "int8")]

    def broken(ctx):  # type: ignore[no-untyped-def]
        ev = real(ctx)

        def eval_(ins, outs, tmp):  # type: ignore[no-untyped-def]
            ev(ins, outs, tmp)
            outs[0][0, 0] ^= 1

        return eval_

    monkeypatch.setitem(KERNELS, ("TRANSPOSE", "int8"), broken)
    assert first_difference(data, feeds) == \
        "first difference at op #1 TRANSPOSE, output 'b': 1 of 12 elements, by up to 1"
