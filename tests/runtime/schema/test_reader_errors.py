"""Malformed files: each defect raises RuntimeModelError naming what is wrong; a fuzzer checks that
no mutant of a valid file produces any other exception or a hang (a fixed count of seeded mutants;
a parse that takes seconds counts as a hang)."""

from __future__ import annotations

import os
import random
import signal
import struct
import time
from collections.abc import Callable

import numpy as np
import pytest

from keras2edge.convert.tflite import write_model
from keras2edge.runtime import RuntimeModelError
from keras2edge.runtime.model import Model
from keras2edge.runtime.reader import load_model

from .helpers import buffer_data_offsets, conv_mean_model, fc_relu_model
from .test_roundtrip import all_options_model, foreign_files, rich_model


def _root():  # noqa: ANN202
    import tflite

    return tflite.Model.GetRootAsModel


def _field(tab, slot: int) -> int:  # noqa: ANN001
    """Absolute position of field ``slot`` of a flatc table object (it must be present)."""
    off = tab.Offset(4 + 2 * slot)
    assert off, f"slot {slot} absent"
    return tab.Pos + off


def _vector(tab, slot: int) -> int:  # noqa: ANN001
    """Absolute position of the length word of vector field ``slot``."""
    return tab.Vector(tab.Offset(4 + 2 * slot)) - 4


def _put(data: bytearray, pos: int, fmt: str, value: int) -> bytearray:
    struct.pack_into(fmt, data, pos, value)
    return data


def _fc() -> bytes:
    return write_model(fc_relu_model()[0])


def _patch(fn: Callable[[bytearray, object], None], base: Callable[[], bytes] = _fc) -> bytes:
    data = bytearray(base())
    fn(data, _root()(bytes(data), 0))
    return bytes(data)


# (description, mutated bytes factory, regex the message must match)
CASES: list[tuple[str, Callable[[], bytes], str]] = [
    ("empty", lambda: b"", "too short"),
    ("7 bytes", lambda: _fc()[:7], "too short"),
    ("identifier", lambda: _fc()[:4] + b"TFL2" + _fc()[8:], "file identifier is b'TFL2'"),
    ("root offset", lambda: b"\xff\xff\xff\x7f" + _fc()[4:], "root offset.*past the end"),
    ("version", lambda: _patch(lambda d, m: _put(d, _field(m._tab, 0), "<I", 2)), "Model.version is 2"),
    ("vtable", lambda: _patch(lambda d, m: _put(d, m._tab.Pos, "<i", -10**6)), "vtable at .*outside"),
    ("vtable size", lambda: _patch(lambda d, m: _put(d, m._tab.Pos - struct.unpack_from("<i", d, m._tab.Pos)[0],
                                                     "<H", 60000)), "vtable at offset .* declares 60000"),
    ("table size", lambda: _patch(lambda d, m: _put(d, m._tab.Pos - struct.unpack_from("<i", d, m._tab.Pos)[0] + 2,
                                                    "<H", 60000)), "declares 60000 bytes"),
    ("opcode index", lambda: _patch(lambda d, m: _put(d, _field(m.Subgraphs(0).Operators(1)._tab, 0), "<I", 5)),
     r"operators\[1\]: opcode_index 5 out of range \(2 operator codes\)"),
    ("operator input", lambda: _patch(lambda d, m: _put(d, _vector(m.Subgraphs(0).Operators(0)._tab, 1) + 8, "<i", 77)),
     r"operators\[0\] \(FULLY_CONNECTED\): inputs\[1\] is tensor 77: out of range \(5 tensors"),
    ("operator output -1",
     lambda: _patch(lambda d, m: _put(d, _vector(m.Subgraphs(0).Operators(1)._tab, 2) + 4, "<i", -1)),
     r"operators\[1\] \(RELU\): outputs\[0\] is tensor -1"),
    ("tensor buffer", lambda: _patch(lambda d, m: _put(d, _field(m.Subgraphs(0).Tensors(1)._tab, 2), "<I", 40)),
     r"tensors\[1\] \('w'\): buffer 40 out of range \(3 buffers\)"),
    ("short buffer", lambda: _patch(lambda d, m: _put(d, _vector(m.Buffers(1)._tab, 0), "<I", 47)),
     r"tensors\[1\] \('w'\): buffer 1 holds 47 bytes, the tensor \(shape \[3, 4\], FLOAT32\) needs 48"),
    ("buffer length", lambda: _patch(lambda d, m: _put(d, _vector(m.Buffers(1)._tab, 0), "<I", 10**9)),
     r"buffers\[1\]\.data \(Buffer\.data\): vector of 1000000000"),
    ("tensor type", lambda: _patch(lambda d, m: _put(d, _field(m.Subgraphs(0).Tensors(4)._tab, 1), "<b", 99),
                                   lambda: write_model(conv_mean_model()[0])),
     r"tensors\[4\] \('axes'\): unknown TensorType 99"),
    ("shape length", lambda: _patch(lambda d, m: _put(d, _vector(m.Subgraphs(0).Tensors(0)._tab, 0), "<I", 2**31)),
     r"tensors\[0\]\.shape \(Tensor\.shape\): vector of 2147483648"),
    ("union tag", lambda: _patch(lambda d, m: _put(d, _field(m.Subgraphs(0).Operators(0)._tab, 3), "<B", 200)),
     r"operator FULLY_CONNECTED: .*operators\[0\]\.builtin_options \(Operator\.builtin_options\): unknown union type "
     r"tag 200"),
    ("subgraph input", lambda: _patch(lambda d, m: _put(d, _vector(m.Subgraphs(0)._tab, 1) + 4, "<i", 9)),
     r"subgraphs\[0\]\.inputs\[0\] is tensor 9: out of range"),
    ("signature tensor", lambda: _patch(lambda d, m: _put(d, _field(m.SignatureDefs(0).Outputs(0)._tab, 1), "<I", 99)),
     r"signature_defs\[0\] \('serving_default'\): outputs\[0\] \('y'\) is tensor 99"),
    ("utf-8", lambda: _patch(lambda d, m: _put(d, _vector(m.Subgraphs(0).Tensors(0)._tab, 3) + 4, "<B", 0xFF)),
     r"tensors\[0\]\.name \(Tensor\.name\): string at offset \d+ is not valid UTF-8"),
    ("nul", lambda: _patch(lambda d, m: _put(d, _vector(m.Subgraphs(0).Tensors(0)._tab, 3) + 5, "<B", 0x41)),
     r"tensors\[0\]\.name \(Tensor\.name\): string at offset \d+ is not NUL-terminated"),
    ("field offset", lambda: _patch(lambda d, m: _put(d, m.Subgraphs(0).Tensors(0)._tab.Pos - struct.unpack_from(
        "<i", d, m.Subgraphs(0).Tensors(0)._tab.Pos)[0] + 4, "<H", 5000)), r"tensors\[0\]\.shape.*field offset 5000"),
    ("buffers[0] data", lambda: _patch(lambda d, m: _put(d, _vector(m._tab, 4) + 4, "<I",
                                                        struct.unpack_from("<I", d, _vector(m._tab, 4) + 8)[0] + 4)),
     r"buffers\[0\] holds 48 bytes"),
    ("no subgraphs", lambda: _patch(lambda d, m: _put(d, _vector(m._tab, 2), "<I", 0)), "subgraphs is empty"),
    ("negative code", lambda: _patch(lambda d, m: _put(d, _field(m.OperatorCodes(1)._tab, 0), "<b", -5) and
                                     _put(d, _field(m.OperatorCodes(1)._tab, 3), "<i", -5)),
     "builtin code -5 is negative"),
]


@pytest.mark.parametrize("name,make,match", CASES, ids=[c[0] for c in CASES])
def test_malformed_file_is_named(name: str, make: Callable[[], bytes], match: str) -> None:
    with pytest.raises(RuntimeModelError, match=match):
        load_model(make())


def _object_api(edit: Callable[[object, object], None]) -> bytes:
    """Re-pack our FC model through ai-edge-litert's generated object API after ``edit(model, module)``
    (to produce fields our writer never writes)."""
    import flatbuffers

    s = pytest.importorskip("ai_edge_litert.schema_py_generated")
    m = s.ModelT.InitFromPackedBuf(_fc(), 0)
    edit(m, s)
    b = flatbuffers.Builder(0)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _sparse(m, s) -> None:  # noqa: ANN001
    m.subgraphs[0].tensors[1].sparsity = s.SparsityParametersT()
    m.subgraphs[0].tensors[1].sparsity.traversalOrder = [0, 1]


def _hlo(m, s) -> None:  # noqa: ANN001
    m.subgraphs[0].operators[1].builtinOptions2Type = 1
    m.subgraphs[0].operators[1].builtinOptions2 = s.StablehloConcatenateOptionsT()


def _external(m, s) -> None:  # noqa: ANN001
    m.buffers[1].offset, m.buffers[1].size = 4096, 48


def _details(m, s) -> None:  # noqa: ANN001
    q = s.QuantizationParametersT()
    q.detailsType, q.details = 1, s.CustomQuantizationT()
    m.subgraphs[0].tensors[0].quantization = q


# A sparse tensor is read (runtime/sparse.py); one without dim_metadata is malformed.
UNSUPPORTED = [(_sparse, r"tensors\[1\] \('w'\): sparsity has 0 dim_metadata entries for 2 traversal dims"),
               (_hlo, r"operators\[1\] \(RELU\): builtin_options_2"),
               (_external, r"buffers\[1\] keeps its 48 bytes outside"), (_details, r"details \(type 1")]


@pytest.mark.parametrize("edit,match", UNSUPPORTED, ids=[u[0].__name__ for u in UNSUPPORTED])
def test_unrepresentable_features_are_refused(edit, match: str) -> None:  # noqa: ANN001
    data = _object_api(edit)
    with pytest.raises(RuntimeModelError, match=match):
        load_model(data)


def test_object_api_repack_without_edits_loads() -> None:
    """The control for the test above: the generated bindings' own output is read fine."""
    from .helpers import assert_models_equal

    assert_models_equal(load_model(_object_api(lambda m, s: None)), load_model(_fc()), fill_defaults=False)


def test_nesting_depth_is_capped() -> None:
    from keras2edge.runtime import flatbuf, schema

    buf = flatbuf.FlatBuffer(_fc())
    root_pos = struct.unpack_from("<I", _fc(), 0)[0]
    with pytest.raises(RuntimeModelError, match="nested more than"):
        buf.table(root_pos, schema.TABLES["Model"], "Model", depth=flatbuf.MAX_DEPTH + 1)


def test_unknown_op_code_is_kept() -> None:
    """An op code no runtime knows is not the reader's business: it is kept for the interpreter."""
    data = _patch(lambda d, m: _put(d, _field(m.OperatorCodes(1)._tab, 3), "<i", 4321))
    model = load_model(data)
    assert model.operator_codes[1].builtin_code == 4321
    assert load_model(write_model(model)).operator_codes[1].builtin_code == 4321


def test_every_truncation_is_refused() -> None:
    data = _fc()
    for n in range(len(data)):
        try:
            load_model(data[:n])
        except RuntimeModelError:
            continue
        # only cutting alignment padding at the very end may leave a complete file
        assert n > len(data) - 16, n


def test_wrong_input_types() -> None:
    with pytest.raises(TypeError):
        load_model("not bytes")  # type: ignore[arg-type]
    arr = np.frombuffer(_fc(), np.uint8).reshape(-1, 4)  # a 2-D contiguous buffer is accepted
    assert isinstance(load_model(memoryview(arr)), Model)
    with pytest.raises(TypeError, match="contiguous"):
        load_model(memoryview(np.frombuffer(_fc() * 2, np.uint8)[::2]))


# ---------------------------------------------------------------------------------------------
# Fuzzing

# A fixed number of mutants (counted, never timed: the machine may be loaded); a longer campaign
# with K2E_FUZZ_ITERATIONS=100000. A mutant that takes HANG_SECONDS is a hang (a generous bound).
ITERATIONS = int(os.environ.get("K2E_FUZZ_ITERATIONS", "3000"))
HANG_SECONDS = 20.0


class _Hang(Exception):
    pass


def _seeds() -> list[tuple[bytes, list[tuple[int, int]]]]:
    """(file, buffer data intervals) for every base file."""
    files = [write_model(fc_relu_model()[0]), write_model(conv_mean_model()[0]), write_model(rich_model()),
             write_model(all_options_model())]
    files += [open(p, "rb").read() for p in foreign_files()]
    out = []
    for f in files:
        model = load_model(f)
        starts = buffer_data_offsets(f)
        sizes = [b.size for b in model.buffers if b.size]
        out.append((f, list(zip(starts, [s + n for s, n in zip(starts, sizes)]))))
    return out


def _mutate(rng: random.Random, data: bytes, intervals: list[tuple[int, int]]) -> tuple[bytes, str]:
    d = bytearray(data)
    n = len(d)

    def pos(width: int = 1) -> int:
        for _ in range(8):  # prefer the structure over weight bytes
            p = rng.randrange(0, max(1, n - width + 1))
            if not any(a <= p < b for a, b in intervals) or rng.random() < 0.1:
                return p
        return p

    kind = rng.randrange(7)
    if kind == 0:
        k = rng.randint(1, 4)
        for _ in range(k):
            p = pos()
            d[p] ^= 1 << rng.randrange(8)
        return bytes(d), f"flip {k} bits"
    if kind == 1:
        k = rng.randint(1, 8)
        for _ in range(k):
            d[pos()] = rng.randrange(256)
        return bytes(d), f"overwrite {k} bytes"
    if kind == 2:
        cut = rng.randrange(n)
        return bytes(d[:cut]), f"truncate at {cut}"
    if kind == 3:
        p = pos(4) & ~3
        v = rng.choice([rng.getrandbits(32), rng.randrange(64), n - rng.randrange(64), 0xFFFFFFFF,
                        (-rng.randrange(1, 64)) & 0xFFFFFFFF, rng.randrange(n)])
        struct.pack_into("<I", d, min(p, n - 4), v & 0xFFFFFFFF)
        return bytes(d), f"offset word at {p} := {v}"
    if kind == 4:
        p = pos(2) & ~1
        struct.pack_into("<H", d, min(p, n - 2), rng.choice([rng.getrandbits(16), rng.randrange(64)]))
        return bytes(d), f"u16 at {p}"
    if kind == 5:
        a, b = pos(), pos()
        k = rng.randint(1, 32)
        chunk = d[a:a + k]
        d[b:b + len(chunk)] = chunk
        return bytes(d[:n]), f"copy {k} bytes {a}->{b}"
    p = pos(4)
    k = rng.randint(1, 4)
    return bytes(d[:p] + d[p + k:]), f"delete {k} bytes at {p}"


def test_fuzz_mutants_raise_runtime_model_error_or_load() -> None:
    seeds = _seeds()
    weights = [1 if len(f) > 100_000 else 20 for f, _ in seeds]  # person_detect rarely: it is 300 KB
    rng = random.Random(20261122)

    def alarm(signum, frame):  # noqa: ANN001, ARG001
        raise _Hang

    old = signal.signal(signal.SIGALRM, alarm)
    iterations = loaded = refused = 0
    slowest = 0.0
    start = time.perf_counter()
    try:
        while iterations < ITERATIONS:
            (base, intervals), = rng.choices(seeds, weights)
            mutant, how = _mutate(rng, base, intervals)
            iterations += 1
            t0 = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
            try:
                model = load_model(mutant)
            except RuntimeModelError:
                refused += 1
                model = None
            except _Hang:
                pytest.fail(f"iteration {iterations} ({how}): load_model hung")
            except Exception as e:  # noqa: BLE001
                pytest.fail(f"iteration {iterations} ({how}): {type(e).__name__}: {e}")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            dt = time.perf_counter() - t0
            slowest = max(slowest, dt)
            if model is not None:
                loaded += 1
                if len(mutant) > 20_000:  # writing is the slow part: check it on the small files
                    continue
                # whatever the reader accepts, the writer writes, and that is a fixed point
                once = write_model(model)
                assert write_model(load_model(once)) == once, f"iteration {iterations} ({how})"
    finally:
        signal.signal(signal.SIGALRM, old)
    elapsed = time.perf_counter() - start
    print(f"fuzz: {iterations} mutants in {elapsed:.1f} s ({iterations / elapsed:.0f}/s): "
          f"{refused} refused, {loaded} loaded; slowest {slowest * 1000:.1f} ms")
    assert refused > iterations // 4 and loaded > 100
