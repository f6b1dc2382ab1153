"""Quantized files made by the official TFLite converter (TF 2.21) run as TFLite Micro runs them.

The fixtures ``tests/fixtures/tflite_runtime/<name>.<mode>.tflite`` are made by
``tests/runtime/make_quantized_models.py`` from the same Keras models as the float fixtures, at batch 1,
in the converter's four post-training modes (int8, 16x8, dynamic, f16). Checked:

* int8 and 16x8 files: every output **bit-identical** to TFLite Micro's, for several random inputs;
  where TFLite Micro cannot run the file (it lacks an op, e.g. TILE, or a dtype of one, e.g. int16
  REDUCE_MAX), bit-identical to LiteRT's reference kernels instead, unless the file holds an op whose
  LiteRT reference arithmetic is documented to differ from TFLite Micro (docs/int8-findings.md):
  then within the documented one-step differences, counted and bounded, and also exactly op by op
  (below); where neither engine runs
  the whole file (LiteRT 2.3.0's reference resolver lacks ELU, and TILE version 3), **op by op**:
  each op of the file, fed the inputs this runtime computed for it, as a one-op file, bit-identical
  to TFLite Micro where it runs the op, else to LiteRT's reference kernel (opcode version lowered
  to 1 where the resolver lacks the file's version: the kernels do not depend on it);
* dynamic (hybrid int8-weight kernels) and f16 files: float outputs against LiteRT's reference kernels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keras2edge.runtime import Interpreter
from keras2edge.runtime.reader import load_model

from ..corpus import FIXTURES
from ..litert import MISSING_OP, litert
from ..tflm import tflm, tflm_unsupported
from ..tolerances import rel_err
from .zoo_int8 import ZOO_INT8, zoo_int8_file

DIR = FIXTURES / "tflite_runtime"
NAMES = ["mbv2_block", "pool_concat_tconv", "dense_seq", "conv1d", "resize"]
INTEGER_MODES = ["int8", "16x8"]
FLOAT_MODES = ["dynamic", "f16"]
#: Ops whose int8 arithmetic in LiteRT's reference kernels differs from TFLite Micro's by one step at
#: near-ties (docs/int8-findings.md): their files are compared with LiteRT within those steps.
LITERT_DIFFERS = {"FULLY_CONNECTED", "RELU", "LEAKY_RELU", "HARD_SWISH", "MUL", "LOGISTIC", "TANH"}
FLOAT_TOL = 1e-5
RUNS = 4


def _data(name: str, mode: str) -> bytes:
    return (DIR / f"{name}.{mode}.tflite").read_bytes()


def _feeds(it: Interpreter, seed: int) -> list[np.ndarray]:
    """Random inputs over each input's whole range: the integer range, or [-1, 1] for float inputs."""
    rng = np.random.default_rng(seed)
    feeds = []
    for d in it.get_input_details():
        dt = np.dtype(d["dtype"])
        if dt.kind in "iu":
            info = np.iinfo(dt)
            feeds.append(rng.integers(info.min, info.max, size=d["shape"], endpoint=True).astype(dt))
        else:
            feeds.append(rng.uniform(-1, 1, d["shape"]).astype(dt))
    return feeds


def _ops(data: bytes) -> tuple[set[str], list[str]]:
    from keras2edge.runtime import schema

    model = load_model(data)
    codes = [schema.op_name(c.builtin_code) for c in model.operator_codes]
    return {codes[op.opcode_index] for op in model.subgraphs[0].operators}, tflm_unsupported(model)


def test_quantized_fixtures_are_small_and_complete() -> None:
    for n in NAMES:
        for mode in INTEGER_MODES + FLOAT_MODES:
            assert (DIR / f"{n}.{mode}.tflite").stat().st_size < 200_000, (n, mode)


def _one_op_file(model, k: int) -> tuple[bytes, list[int]]:
    """Op ``k`` of ``model`` alone: a one-op file with the op's tensors (constants keep their data)
    and its non-constant inputs as graph inputs; returns (bytes, those inputs' tensor indices)."""
    from dataclasses import replace

    from keras2edge.convert.tflite.writer import write_model
    from keras2edge.runtime.model import Model, SubGraph

    sg = model.subgraphs[0]
    op = sg.operators[k]
    used = [i for i in dict.fromkeys([*op.inputs, *op.outputs]) if i >= 0]
    remap = {i: n for n, i in enumerate(used)}
    tensors = [sg.tensors[i] for i in used]
    feeds = [i for i in dict.fromkeys(op.inputs) if i >= 0 and not _is_const(model, sg.tensors[i])]
    new_op = replace(op, opcode_index=0, inputs=tuple(remap[i] if i >= 0 else -1 for i in op.inputs),
                     outputs=tuple(remap[i] for i in op.outputs), intermediates=())
    sub = SubGraph(tensors, tuple(remap[i] for i in feeds), new_op.outputs, [new_op])
    m = Model([model.operator_codes[op.opcode_index]], [sub], model.buffers)
    return write_model(m), feeds


def _is_const(model, t) -> bool:
    return t.buffer > 0 and len(model.buffers[t.buffer]) > 0


def _per_op_exact(data: bytes, it: Interpreter, feeds: list[np.ndarray]) -> None:
    """Each op of the file, fed this runtime's own values of its inputs, equals TFLite Micro's one-op
    result where TFLM runs the op, else LiteRT BUILTIN_REF's (see the module docstring)."""
    from dataclasses import replace

    from keras2edge.convert.tflite.writer import write_model

    model = load_model(data)
    sg = model.subgraphs[0]
    it.run(feeds if len(feeds) > 1 else feeds[0], keep_intermediates=True)
    values = it.intermediates
    for k, op in enumerate(sg.operators):
        one, ins = _one_op_file(model, k)
        x = [values[sg.tensors[i].name] for i in ins]
        mine = [values[sg.tensors[i].name] for i in op.outputs]
        if not tflm_unsupported(load_model(one)):
            want, who = tflm(one, x, len(mine)), "TFLite Micro"
        else:
            try:
                want, who = litert(one, x), "LiteRT"
            except ValueError as e:
                if MISSING_OP not in str(e):
                    raise
                m1 = load_model(one)
                m1.operator_codes[0] = replace(m1.operator_codes[0], version=1)
                want, who = litert(write_model(m1), x), "LiteRT (version 1)"
        for g, w in zip(mine, want):
            assert g.dtype == w.dtype and g.shape == w.shape, (k, g.dtype, w.dtype, g.shape, w.shape)
            if g.dtype.kind == "f":  # a float output (DEQUANTIZE): as the whole-file check
                assert rel_err(g, w, same_dtype=True) <= FLOAT_TOL, (k, who)
            else:
                assert np.array_equal(g, w), f"op #{k} differs from {who}: {np.count_nonzero(g != w)} of {g.size}"


@pytest.mark.parametrize("mode", INTEGER_MODES)
@pytest.mark.parametrize("name", NAMES)
def test_integer_file_is_bit_exact(name: str, mode: str) -> None:
    data = _data(name, mode)
    ops, missing = _ops(data)
    it = Interpreter(data)
    steps = 0
    for seed in range(RUNS):
        feeds = _feeds(it, seed)
        got = it.run(feeds if len(feeds) > 1 else feeds[0])
        got = list(got.values()) if isinstance(got, dict) else [got]
        if not missing:
            want = tflm(data, feeds, len(got))
        else:
            try:
                want = litert(data, feeds)
            except ValueError as e:  # LiteRT's reference resolver lacks an op too: op by op
                if MISSING_OP not in str(e):
                    raise
                _per_op_exact(data, it, feeds)
                continue
        for k, (g, w) in enumerate(zip(got, want)):
            assert g.dtype == w.dtype and g.shape == w.shape, (k, g.dtype, w.dtype, g.shape, w.shape)
            if not missing or not ops & LITERT_DIFFERS or g.dtype.kind == "f":
                if g.dtype.kind == "f":
                    assert rel_err(g, w, same_dtype=True) <= FLOAT_TOL, (name, mode, k)
                else:
                    diff = np.flatnonzero(g != w)
                    assert diff.size == 0, (f"{name}.{mode} output {k} (seed {seed}): {diff.size} of {g.size} "
                                            f"elements differ from {'LiteRT' if missing else 'TFLite Micro'}, "
                                            f"first at {diff[:5].tolist()}: {g.flat[diff[:5]]} vs {w.flat[diff[:5]]}")
            else:
                d = np.abs(g.astype(np.int64) - w.astype(np.int64))
                steps = max(steps, int(d.max()))
        if missing and ops & LITERT_DIFFERS:  # and exactly, op by op (TFLite Micro for those ops)
            _per_op_exact(data, it, feeds)
    if missing and ops & LITERT_DIFFERS:
        # TFLite Micro cannot run it (it lacks {missing}); LiteRT's reference kernels round
        # {ops & LITERT_DIFFERS} differently at near-ties, and a one-step difference may grow a little
        # through the layers after it.
        assert steps <= 3, f"{name}.{mode}: up to {steps} steps from LiteRT (ops {sorted(ops & LITERT_DIFFERS)})"


@pytest.mark.parametrize("mode", FLOAT_MODES)
@pytest.mark.parametrize("name", NAMES)
def test_float_file_matches_litert(name: str, mode: str) -> None:
    data = _data(name, mode)
    it = Interpreter(data)
    for seed in range(2):
        feeds = _feeds(it, seed)
        got = it.run(feeds if len(feeds) > 1 else feeds[0])
        got = list(got.values()) if isinstance(got, dict) else [got]
        want = litert(data, feeds, fallback=True)
        for k, (g, w) in enumerate(zip(got, want)):
            assert rel_err(g, w, same_dtype=True) <= FLOAT_TOL, (name, mode, k, rel_err(g, w, same_dtype=True))


# ------------------------------------------------------------------------------------------------
# Zoo: the TFLite converter's full-int8 files of five Keras applications, made on the fly
# (TensorFlow needed; not committed: too big). Bit-identical to TFLite Micro on every element.
# ------------------------------------------------------------------------------------------------

@pytest.mark.zoo
@pytest.mark.parametrize("name", ZOO_INT8)
def test_zoo_int8_model_is_bit_exact_with_tflm(name: str, int8_zoo_dir: Path) -> None:
    path = zoo_int8_file(name, int8_zoo_dir)
    data = path.read_bytes()
    it = Interpreter(data)
    for seed in range(2):
        (x,) = _feeds(it, seed)
        got = it.run(x)
        (want,) = tflm(data, [x], 1, arena=64 << 20)
        diff = np.flatnonzero(got != want)
        assert got.dtype == want.dtype == np.int8
        assert diff.size == 0, (f"{name}: {diff.size} of {got.size} output elements differ from TFLite Micro "
                                f"(seed {seed}), first at {diff[:5].tolist()}")
