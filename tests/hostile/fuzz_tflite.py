"""A seeded fuzz campaign over the whole ``.tflite`` path: mutant bytes -> Interpreter -> run -> inspect.

Run it in a child process with an address-space limit (``test_fuzz_tflite.py`` does)::

    python -m tests.hostile.fuzz_tflite --iterations 100000 --seed 1

Seeds are real files: the emitted fixtures (``tests/fixtures/tflite*``), the corpus' tflite-micro
``hello_world_float`` / ``hello_world_int8`` and two writer-made models, dense and with sparse weights. Each mutant is either a byte
mutation (bit flips, overwrites, offset words, truncation, copies, deletions: the reader fuzzer's
``_mutate``) or a semantic one made on the parsed Model and written back with the project's writer
(dims, ranks, dtypes, buffer / tensor / opcode indices, op codes, options, op order, quantization,
graph inputs and outputs, variables).

For each mutant: ``Interpreter(bytes, limits)``; two runs on the same valid-shaped input must give the
same outputs (a value that no op writes would differ); then the ``inspect`` report. Every outcome must
be a result or a ``Keras2EdgeError``. Anything else (another exception class, a hang) is recorded
with the mutation that caused it, one example per distinct (class, place); the summary is one JSON line
on stdout prefixed ``@@``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import tempfile
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from keras2edge.convert.tflite import write_model
from keras2edge.errors import Keras2EdgeError
from keras2edge.report import tflite_report
from keras2edge.runtime import Interpreter
from keras2edge.runtime.codes import TENSOR_TYPES, tensor_type_name
from keras2edge.runtime.limits import Limits
from keras2edge.runtime.model import Model
from keras2edge.runtime.reader import load_model
from keras2edge.runtime.schema import BUILTIN_OPERATOR_NAMES

from ..corpus import CORPUS, FIXTURES
from ..runtime.schema.helpers import buffer_data_offsets, conv_mean_model, fc_relu_model
from ..runtime.schema.test_reader_errors import _mutate

#: The campaign's memory limit: small, so a mutant declaring more is refused, never allocated.
FUZZ_LIMITS = Limits(max_memory=256 << 20)
HANG_SECONDS = 30.0
INTERESTING_INTS = [0, 1, 2, 3, 4, 7, 16, 255, -1, -2, 2**31 - 1, -(2**31), 10**6, 2**16]


class _Hang(Exception):
    pass


CORPUS_SEEDS = ("hello_world_float.tflite", "hello_world_int8.tflite")


def seed_files() -> list[tuple[str, bytes]]:
    files = sorted(FIXTURES.glob("tflite*/*.tflite"))
    if CORPUS.is_dir():  # the official converter's files too, when the corpus is there (tests/corpus.py)
        files += [CORPUS / "tflite-micro" / n for n in CORPUS_SEEDS]
    seeds = [(p.name, p.read_bytes()) for p in files]
    seeds += [("fc_relu", write_model(fc_relu_model()[0])), ("conv_mean", write_model(conv_mean_model()[0]))]
    seeds += [("sparse_" + name, sparse_seed(model)) for name, model in (("fc_relu", fc_relu_model()[0]),
                                                                          ("conv_mean", conv_mean_model()[0]))]
    return seeds


def sparse_seed(m: Model) -> bytes:
    """``m`` with 75 % of each FULLY_CONNECTED / CONV_2D weight zeroed and written sparse (DENSIFY), even
    where the tables cost more than they save (these weights are tiny)."""
    from keras2edge.convert.tflite import sparse
    from keras2edge.convert.tflite.sparse import SPARSE_WEIGHT_INPUTS, sparsify_model

    sg = m.subgraphs[0]
    for op in sg.operators:
        name = BUILTIN_OPERATOR_NAMES[m.operator_codes[op.opcode_index].builtin_code]
        if name in SPARSE_WEIGHT_INPUTS:
            t = sg.tensors[op.inputs[SPARSE_WEIGHT_INPUTS[name]]]
            w = np.array(m.tensor_data(0, op.inputs[SPARSE_WEIGHT_INPUTS[name]]))
            w[np.abs(w) < np.quantile(np.abs(w), 0.75)] = 0
            m.buffers[t.buffer] = w.view(np.uint8).ravel()
    saved, sparse.SPARSE_OVERHEAD = sparse.SPARSE_OVERHEAD, -(1 << 30)
    try:
        sparsify_model(m)
    finally:
        sparse.SPARSE_OVERHEAD = saved
    return write_model(m)


# ---------------------------------------------------------------------------------------------
# Semantic mutations of a parsed Model (each returns a description)

def _pick(rng: random.Random, seq: list) -> Any:
    return seq[rng.randrange(len(seq))]


def _dim(rng: random.Random, d: int) -> int:
    return _pick(rng, [0, 1, 2, -1, d + 1, max(d - 1, 0), d * 2, 10**9, 2**31 - 1, 3])


def _mut_dim(rng: random.Random, m: Model) -> str:
    t = _pick(rng, m.subgraphs[0].tensors)
    if not t.shape:
        t.shape = (_dim(rng, 1),)
        return f"tensor '{t.name}' rank 0 -> {list(t.shape)}"
    k = rng.randrange(len(t.shape))
    shape = list(t.shape)
    shape[k] = _dim(rng, shape[k])
    t.shape = tuple(shape)
    if t.shape_signature is not None and len(t.shape_signature) == len(shape) and rng.random() < 0.5:
        t.shape_signature = tuple(shape)
    return f"tensor '{t.name}' dim {k} -> {shape}"


def _mut_rank(rng: random.Random, m: Model) -> str:
    t = _pick(rng, m.subgraphs[0].tensors)
    shape = list(t.shape)
    if shape and rng.random() < 0.5:
        del shape[rng.randrange(len(shape))]
    else:
        shape.insert(rng.randrange(len(shape) + 1), _pick(rng, [1, 2, 3]))
    t.shape = tuple(shape)
    t.shape_signature = None
    return f"tensor '{t.name}' rank -> {shape}"


def _mut_signature(rng: random.Random, m: Model) -> str:
    t = _pick(rng, m.subgraphs[0].tensors)
    sig = [(-1 if rng.random() < 0.5 else d) for d in t.shape]
    t.shape_signature = tuple(sig)
    return f"tensor '{t.name}' shape_signature -> {sig}"


def _mut_dtype(rng: random.Random, m: Model) -> str:
    t = _pick(rng, m.subgraphs[0].tensors)
    t.type = _pick(rng, sorted(TENSOR_TYPES))
    return f"tensor '{t.name}' type -> {tensor_type_name(t.type)}"


def _mut_buffer(rng: random.Random, m: Model) -> str:
    t = _pick(rng, m.subgraphs[0].tensors)
    t.buffer = rng.randrange(len(m.buffers))
    return f"tensor '{t.name}' buffer -> {t.buffer}"


def _mut_variable(rng: random.Random, m: Model) -> str:
    t = _pick(rng, m.subgraphs[0].tensors)
    t.is_variable = not t.is_variable
    return f"tensor '{t.name}' is_variable -> {t.is_variable}"


def _mut_quant(rng: random.Random, m: Model) -> str:
    qs = [t for t in m.subgraphs[0].tensors if t.quantization is not None and len(t.quantization.scale)]
    if not qs:
        return _mut_dim(rng, m)
    t = _pick(rng, qs)
    q = t.quantization
    what = rng.randrange(3)
    if what == 0:
        scale = np.array(q.scale, np.float32)
        scale[rng.randrange(len(scale))] = _pick(rng, [0.0, -1.0, np.nan, np.inf, 1e-30, 1e30])
        q.scale = scale
    elif what == 1:
        zp = np.array(q.zero_point, np.int64)
        zp[rng.randrange(len(zp))] = _pick(rng, INTERESTING_INTS)
        q.zero_point = zp
    else:
        q.quantized_dimension = _pick(rng, [0, 1, 2, 3, 4, 7])
    return f"tensor '{t.name}' quantization field {what}"


def _mut_op_index(rng: random.Random, m: Model) -> str:
    sg = m.subgraphs[0]
    if not sg.operators:
        return _mut_dim(rng, m)
    k = rng.randrange(len(sg.operators))
    op = sg.operators[k]
    field = "inputs" if rng.random() < 0.6 or not op.outputs else "outputs"
    idx = list(getattr(op, field))
    if not idx:
        idx = [0]
    j = rng.randrange(len(idx))
    idx[j] = rng.randrange(-1 if field == "inputs" else 0, len(sg.tensors))
    setattr(op, field, tuple(idx))
    return f"op #{k} {field}[{j}] -> {idx[j]}"


def _mut_opcode(rng: random.Random, m: Model) -> str:
    sg = m.subgraphs[0]
    if rng.random() < 0.5 and sg.operators:
        k = rng.randrange(len(sg.operators))
        sg.operators[k].opcode_index = rng.randrange(len(m.operator_codes))
        return f"op #{k} opcode_index -> {sg.operators[k].opcode_index}"
    c = _pick(rng, m.operator_codes)
    c.builtin_code = _pick(rng, sorted(BUILTIN_OPERATOR_NAMES))
    c.deprecated_builtin_code = None
    if rng.random() < 0.3:
        c.version = _pick(rng, [1, 2, 3, 99])
    return f"operator code -> {BUILTIN_OPERATOR_NAMES[c.builtin_code]} v{c.version}"


def _mut_option(rng: random.Random, m: Model) -> str:
    ops = [op for op in m.subgraphs[0].operators if op.options]
    if not ops:
        return _mut_op_index(rng, m)
    op = _pick(rng, ops)
    key = _pick(rng, sorted(op.options))
    v = op.options[key]
    if isinstance(v, bool):
        op.options[key] = not v
    elif isinstance(v, int):
        op.options[key] = _pick(rng, INTERESTING_INTS)
    elif isinstance(v, float):
        op.options[key] = _pick(rng, [0.0, -1.0, float("nan"), float("inf"), 1e30])
    elif isinstance(v, (list, tuple, np.ndarray)) and len(v):
        arr = [int(a) for a in v]
        arr[rng.randrange(len(arr))] = _pick(rng, INTERESTING_INTS)
        op.options[key] = arr
    else:
        return _mut_dim(rng, m)
    return f"op option {key} -> {op.options[key]}"


def _mut_order(rng: random.Random, m: Model) -> str:
    ops = m.subgraphs[0].operators
    if len(ops) < 2:
        return _mut_io(rng, m)
    kind = rng.randrange(3)
    a, b = rng.randrange(len(ops)), rng.randrange(len(ops))
    if kind == 0:
        ops[a], ops[b] = ops[b], ops[a]
        return f"swap ops #{a} #{b}"
    if kind == 1:
        del ops[a]
        return f"delete op #{a}"
    ops.insert(b, ops[a])
    return f"duplicate op #{a} at #{b}"


def _mut_io(rng: random.Random, m: Model) -> str:
    sg = m.subgraphs[0]
    field = _pick(rng, ["inputs", "outputs"])
    idx = list(getattr(sg, field))
    if idx and rng.random() < 0.3:
        del idx[rng.randrange(len(idx))]
    elif idx and rng.random() < 0.7:
        idx[rng.randrange(len(idx))] = rng.randrange(len(sg.tensors))
    else:
        idx.append(rng.randrange(len(sg.tensors)))
    setattr(sg, field, tuple(idx))
    m.signature_defs = []
    return f"subgraph {field} -> {idx}"


SEMANTIC: list[Callable[[random.Random, Model], str]] = [
    _mut_dim, _mut_dim, _mut_rank, _mut_signature, _mut_dtype, _mut_buffer, _mut_variable, _mut_quant,
    _mut_op_index, _mut_op_index, _mut_opcode, _mut_option, _mut_option, _mut_order, _mut_io]


# ---------------------------------------------------------------------------------------------
# One mutant through the whole path

def _inputs(it: Interpreter, rng: np.random.Generator) -> list[np.ndarray]:
    xs = []
    for d in it.get_input_details():
        shape = tuple(max(int(s), 1) if s < 0 else int(s) for s in d["shape"])
        dt = np.dtype(d["dtype"])
        if dt.kind == "f":
            xs.append(rng.standard_normal(shape).astype(dt))
        elif dt.kind == "b":
            xs.append(rng.integers(0, 2, shape).astype(dt))
        else:
            info = np.iinfo(dt)
            xs.append(rng.integers(max(info.min, -128), min(info.max, 127) + 1, shape).astype(dt))
    return xs


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def exercise(data: bytes, path: Path, rng: np.random.Generator) -> str:
    """Interpreter + two runs + inspect; returns the outcome ("ran" or the refusal's class)."""
    try:
        it = Interpreter(data, limits=FUZZ_LIMITS)
        xs = _inputs(it, rng)
        first = it.run(list(xs) if len(xs) != 1 else xs[0])
        second = it.run(list(xs) if len(xs) != 1 else xs[0])
        if not _same(first, second):
            raise AssertionError("two runs on the same input gave different outputs (uninitialized memory?)")
        del it, first, second  # one model's memory at a time: the limit bounds each
        path.write_bytes(data)
        tflite_report(str(path), FUZZ_LIMITS)
        return "ran"
    except Keras2EdgeError as e:
        return f"refused:{type(e).__name__}"


def _where(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    inside = [f for f in tb if "keras2edge" in f.filename] or tb
    f = inside[-1]
    return f"{Path(f.filename).name}:{f.lineno}"


def campaign(iterations: int, seed: int) -> dict[str, Any]:
    seeds = seed_files()
    prepared = []
    for name, data in seeds:
        starts = buffer_data_offsets(data)
        sizes = [b.size for b in load_model(data).buffers if b.size]
        prepared.append((name, data, [(s, s + n) for s, n in zip(starts, sizes)]))
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    failures: dict[str, dict[str, str]] = {}

    def alarm(signum: int, frame: Any) -> None:
        raise _Hang

    signal.signal(signal.SIGALRM, alarm)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutant.tflite"
        for i in range(iterations):
            name, data, intervals = _pick(rng, prepared)
            if rng.random() < 0.5:
                mutant, how = _mutate(rng, data, intervals)
                kinds["bytes"] += 1
            else:
                model = load_model(data)
                how = _pick(rng, SEMANTIC)(rng, model)
                if rng.random() < 0.3:  # sometimes two at once
                    how += "; " + _pick(rng, SEMANTIC)(rng, model)
                try:
                    mutant = write_model(model)
                except (ValueError, TypeError, OverflowError):
                    outcomes["unwritable"] += 1  # the writer's own validation refused the mutant
                    continue
                kinds["semantic"] += 1
            signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
            try:
                outcomes[exercise(mutant, path, nrng)] += 1
            except _Hang:
                outcomes["HANG"] += 1
                failures.setdefault(f"hang:{name}", {"iteration": str(i), "seed": name, "how": how})
            except Exception as e:  # noqa: BLE001 - recording every class that is not a Keras2EdgeError
                outcomes["FAILED"] += 1
                key = f"{type(e).__name__}@{_where(e)}"
                failures.setdefault(key, {"iteration": str(i), "seed": name, "how": how,
                                          "error": f"{type(e).__name__}: {str(e)[:300]}"})
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    import resource

    return {"iterations": iterations, "seed": seed, "outcomes": dict(outcomes), "kinds": dict(kinds),
            "failures": failures, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=int(os.environ.get("K2E_FUZZ_ITERATIONS", "3000")))
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    logging.disable(logging.WARNING)  # shape-mismatch warnings of mutants are expected
    print("@@" + json.dumps(campaign(args.iterations, args.seed)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
