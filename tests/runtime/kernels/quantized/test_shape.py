"""runtime/kernels/quantized/shape.py: quantized data movement, bit-exact with TFLite Micro.

Every case is a one-op ``.tflite`` with random shapes, axes (negative ones too), masks, paddings,
scales and zero points, fed random integers over the whole dtype range, and run in
``keras2edge.runtime.Interpreter`` and in TFLite Micro: outputs must be identical element by
element. Then: what TFLM refuses (mismatched quantization, dtypes it has no kernel for, options it
would ignore) is refused here with a RuntimeModelError naming the op and the tensor, and the one
documented difference (SPACE_TO_BATCH_ND's padding: TFLM's is uninitialized memory, LiteRT's and
ours the zero point) is asserted.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from keras2edge.runtime import Interpreter
from keras2edge.runtime.errors import RuntimeModelError
from keras2edge.runtime.kernels.base import KERNELS, OpContext, TensorSpec
from keras2edge.runtime.kernels.quantized.shape import _same_type

from ...int8_bench import T, run_tflm
from .bitexact import Case, assert_bitexact, litert_ref, run_both, run_ours

RNG = np.random.default_rng(20261203)
I8, U8, I16 = np.int8, np.uint8, np.int16


def _qp(dtype) -> tuple[float, int]:
    """A random per-tensor (scale, zero point); int16 zero points are 0, as int16 models have them."""
    scale = float(np.float32(np.exp(RNG.uniform(-8, 1))))
    if dtype == I16:
        return scale, 0
    info = np.iinfo(dtype)
    return scale, int(RNG.integers(info.min, int(info.max) + 1))


def _t(shape, dtype, qp: tuple[float, int] | None = None) -> T:
    s, z = qp if qp is not None else _qp(dtype)
    return T(tuple(int(d) for d in shape), dtype, s, z)


def _c(values, dtype=np.int32) -> T:
    a = np.asarray(values, dtype)
    return T(a.shape, dtype, data=a)


def _shape(rank: int, lo: int = 1, hi: int = 5) -> tuple[int, ...]:
    return tuple(int(d) for d in RNG.integers(lo, hi + 1, rank))


def _pick(seq):
    return seq[int(RNG.integers(len(seq)))]


def _same(shape_in, shape_out, dtype, same_q: bool = True) -> tuple[T, T]:
    """An input spec and an output spec with the same quantization (or an independent one)."""
    qp = _qp(dtype)
    return _t(shape_in, dtype, qp), _t(shape_out, dtype, qp if same_q else None)


# ------------------------------------------------------------------------------ case generators

def _reshape_cases(n: int) -> list[Case]:
    cases = []
    for i in range(n):
        dt = (I8, U8, I16)[i % 3]
        shape = _shape(int(RNG.integers(1, 5)))
        size = math.prod(shape)
        new = _pick([[size], [-1], list(shape[::-1]), [shape[0], -1], [1, size, 1]])
        out_shape = [size // math.prod(d for d in new if d != -1) if d == -1 else d for d in new]
        x, y = _same(shape, out_shape, dt, same_q=i % 2 == 0)
        cases.append(Case(f"RESHAPE/{dt.__name__}/{list(shape)}->{new}", "RESHAPE", [x, _c(new)], [y]))
    return cases


def _squeeze_cases(n: int) -> list[Case]:
    cases = []
    for i in range(n):
        dt = (I8, U8, I16)[i % 3]
        shape = list(_shape(int(RNG.integers(1, 5))))
        for _ in range(int(RNG.integers(1, 3))):
            shape.insert(int(RNG.integers(len(shape) + 1)), 1)
        ones = [k for k, d in enumerate(shape) if d == 1]
        dims = [] if i % 4 == 0 else [k - len(shape) if RNG.random() < 0.5 else k
                                      for k in ones if RNG.random() < 0.7] or [ones[0]]
        keep = [d for k, d in enumerate(shape) if not (k in ones if not dims else k % len(shape) in
                                                       [e % len(shape) for e in dims])]
        x, y = _same(shape, keep, dt)
        cases.append(Case(f"SQUEEZE/{dt.__name__}/{shape}/{dims}", "SQUEEZE", [x], [y], {"squeeze_dims": dims}))
    return cases


def _expand_dims_cases(n: int) -> list[Case]:
    cases = []
    for i in range(n):
        dt = (I8, I16)[i % 2]
        shape = _shape(int(RNG.integers(1, 4)))  # (TFLM's Python wrapper cannot feed a rank-0 input)
        axis = int(RNG.integers(-len(shape) - 1, len(shape) + 1))
        x, y = _same(shape, np.expand_dims(np.zeros(shape), axis).shape, dt)
        cases.append(Case(f"EXPAND_DIMS/{dt.__name__}/{list(shape)}/{axis}", "EXPAND_DIMS", [x, _c([axis])], [y]))
    return cases


def _transpose_cases(n: int) -> list[Case]:
    cases = []
    for i in range(n):
        dt = (I8, I16)[i % 2]
        rank = int(RNG.integers(1, 6))
        shape = _shape(rank, 1, 4)
        perm = [int(p) for p in RNG.permutation(rank)]
        x, y = _same(shape, [shape[p] for p in perm], dt)
        cases.append(Case(f"TRANSPOSE/{dt.__name__}/{list(shape)}/{perm}", "TRANSPOSE", [x, _c(perm)], [y]))
    return cases


def _concat_cases(n: int) -> list[Case]:
    cases = []
    for i in range(n):
        dt = (I8, I16)[i % 2]
        rank = int(RNG.integers(1, 5))
        base = list(_shape(rank))
        axis = int(RNG.integers(-rank, rank))
        shapes = []
        for _ in range(int(RNG.integers(1, 5))):
            s = list(base)
            s[axis] = int(RNG.integers(1, 4))
            shapes.append(s)
        out = list(base)
        out[axis] = sum(s[axis] for s in shapes)
        qp = _qp(dt)
        # int8: every input carries the output's quantization; int16 only needs zero point 0 (scales may differ)
        xs = [_t(s, dt, qp if dt == I8 else None) for s in shapes]
        cases.append(Case(f"CONCATENATION/{dt.__name__}/{shapes}/axis{axis}", "CONCATENATION", list(xs),
                          [_t(out, dt, qp)], {"axis": axis}))
    return cases


def _pad_cases(n: int) -> list[Case]:
    cases = []
    for i in range(n):
        dt = (I8, I16)[i % 2]
        op = ("PAD", "PADV2")[(i // 2) % 2]
        value = ("none", "const", "input")[(i // 4) % 3] if op == "PADV2" else "none"
        rank = int(RNG.integers(1, 6))
        shape = _shape(rank, 1, 4)
        pads = RNG.integers(0, 3, (rank, 2))
        qp = _qp(dt)
        if dt == I16 and i % 3 == 0:
            qp = (qp[0], 7)  # int16 PAD fills 0, not the zero point
        ins: list[T | None] = [_t(shape, dt, qp), _c(pads)]
        if value == "const":
            ins.append(T((1,), dt, qp[0], qp[1], data=np.array([RNG.integers(-100, 100)], dt)))
        elif value == "input":
            ins.append(T((1,), dt, qp[0], qp[1]))
        out = [d + int(a) + int(b) for d, (a, b) in zip(shape, pads)]
        name = f"{op}/{dt.__name__}/{list(shape)}/{pads.tolist()}/value-{value}"
        cases.append(Case(name, op, ins, [_t(out, dt, qp)]))
    return cases


def _mirror_pad_cases(n: int) -> list[Case]:
    cases = []
    for i in range(n):
        mode = i % 2  # 0 REFLECT (pads < dim), 1 SYMMETRIC (pads <= dim)
        shape = _shape(int(RNG.integers(1, 5)), 1, 4)
        pads = np.array([[int(RNG.integers(0, d - 1 + mode + 1)) for _ in range(2)] for d in shape])
        out = [d + int(a) + int(b) for d, (a, b) in zip(shape, pads)]
        x, y = _same(shape, out, I8)
        idt = (np.int32, np.int64)[(i // 2) % 2]
        cases.append(Case(f"MIRROR_PAD/{list(shape)}/{pads.tolist()}/mode{mode}", "MIRROR_PAD",
                          [x, _c(pads, idt)], [y], {"mode": mode}))
    return cases


def _tflm_strided_shape(shape, begin, end, strides, bm, em, sm) -> list[int]:
    """The output shape TFLM's prepare computes (strided_slice_common.cc CheckOutputSize, with
    strided_slice_logic.h StartForAxis / StopForAxis), written out independently of the kernel."""
    lowest, highest = -(1 << 31), (1 << 31) - 1
    out = []
    for i, n in enumerate(shape):
        s = strides[i]

        def clamp(v: int) -> int:
            lo, hi = (0, n) if s > 0 else (-1, n - 1)  # noqa: B023
            return min(max(v, lo), hi)

        start = (lowest if s > 0 else highest) if bm >> i & 1 else begin[i]
        start = clamp(start + n if start < 0 else start)
        if sm >> i & 1:
            continue
        stop = (highest if s > 0 else lowest) if em >> i & 1 else end[i]
        stop = clamp(stop + n if stop < 0 else stop)
        out.append(max(math.ceil((stop - start) / s), 0))
    return out


def _strided_slice_cases(n: int) -> list[Case]:
    """Random begin/end (negative and out of range too), strides ±1..3, masks and shrunk axes; only
    non-empty results (TFLM refuses a zero-sized tensor as "dynamic")."""
    cases: list[Case] = []
    i = 0
    while len(cases) < n:
        i += 1
        dt = (I8, I16)[i % 2]
        rank = int(RNG.integers(1, 5))
        shape = _shape(rank, 1, 6)
        begin, end, strides = [], [], []
        sm = 0
        for k, d in enumerate(shape):
            if RNG.random() < 0.15:
                sm |= 1 << k  # shrink: an index inside the axis, stride 1
                begin.append(int(RNG.integers(-d, d)))
                end.append(int(RNG.integers(-d - 2, d + 2)))
                strides.append(1)
                continue
            begin.append(int(RNG.integers(-d - 2, d + 3)))
            end.append(int(RNG.integers(-d - 2, d + 3)))
            strides.append(int(_pick([1, 1, 2, 3, -1, -1, -2])))
        bm, em = int(RNG.integers(0, 1 << rank)) * (i % 3 != 0), int(RNG.integers(0, 1 << rank)) * (i % 3 != 1)
        opts = {"begin_mask": bm, "end_mask": em, "shrink_axis_mask": sm}
        out = _tflm_strided_shape(shape, begin, end, strides, bm, em, sm)
        if 0 in out:
            continue
        x, y = _same(shape, out, dt)
        cases.append(Case(f"STRIDED_SLICE/{dt.__name__}/{list(shape)}/b{begin}e{end}s{strides}/m{bm},{em},{sm}",
                          "STRIDED_SLICE", [x, _c(begin), _c(end), _c(strides)], [y], opts))
    return cases


def _slice_cases(n: int) -> list[Case]:
    cases = []
    for i in range(n):
        dt = (I8, I16)[i % 2]
        idt = (np.int32, np.int64)[(i // 2) % 2]
        shape = _shape(int(RNG.integers(1, 6)), 1, 5)
        begin = [int(RNG.integers(0, d)) for d in shape]  # non-empty: TFLM refuses zero-sized tensors
        size = [-1 if RNG.random() < 0.25 else int(RNG.integers(1, d - b + 1)) for d, b in zip(shape, begin)]
        out = [d - b if s == -1 else s for d, b, s in zip(shape, begin, size)]
        x, y = _same(shape, out, dt)
        cases.append(Case(f"SLICE/{dt.__name__}/{np.dtype(idt).name}/{list(shape)}/b{begin}s{size}", "SLICE",
                          [x, _c(begin, idt), _c(size, idt)], [y]))
    return cases


def _gather_cases(n: int) -> list[Case]:
    cases = []
    for i in range(n):
        rank = int(RNG.integers(1, 5))
        shape = _shape(rank, 1, 5)
        axis = int(RNG.integers(0, rank))
        bd = int(RNG.integers(0, axis + 1)) if i % 2 else 0
        ind_shape = tuple(shape[:bd]) + _shape(int(RNG.integers(0 if bd else 1, 3)), 1, 4)
        ind = RNG.integers(0, shape[axis], ind_shape)
        out = tuple(shape[:axis]) + ind_shape[bd:] + tuple(shape[axis + 1:])
        a_opt = axis - rank if RNG.random() < 0.5 else axis
        b_opt = bd - len(ind_shape) if bd and RNG.random() < 0.5 else bd
        x, y = _same(shape, out, I8)
        cases.append(Case(f"GATHER/{list(shape)}/axis{a_opt}/bd{b_opt}/{list(ind_shape)}", "GATHER",
                          [x, _c(ind)], [y], {"axis": a_opt, "batch_dims": b_opt}))
    return cases


def _split_cases(n: int) -> list[Case]:
    cases = []
    for i in range(n):
        dt = (I8, I16)[i % 2]
        rank = int(RNG.integers(1, 5))
        shape = list(_shape(rank, 1, 4))
        axis = int(RNG.integers(-rank, rank))
        if i % 4 < 2:
            num = int(RNG.integers(1, 4))
            shape[axis] = num * int(RNG.integers(1, 3))
            parts = [shape[axis] // num] * num
            qp = _qp(dt)
            outs = [_t(shape[:axis % rank] + [p] + shape[axis % rank + 1:], dt, qp) for p in parts]
            cases.append(Case(f"SPLIT/{dt.__name__}/{shape}/axis{axis}/{num}", "SPLIT",
                              [_c(axis), _t(shape, dt, qp)], outs, {"num_splits": num}))
        else:
            parts = [int(p) for p in RNG.integers(1, 4, int(RNG.integers(1, 4)))]
            shape[axis] = sum(parts)
            sizes = list(parts)
            if RNG.random() < 0.5:
                sizes[int(RNG.integers(len(sizes)))] = -1
            qp = _qp(dt)
            outs = [_t(shape[:axis % rank] + [p] + shape[axis % rank + 1:], dt, qp) for p in parts]
            cases.append(Case(f"SPLIT_V/{dt.__name__}/{shape}/axis{axis}/{sizes}", "SPLIT_V",
                              [_t(shape, dt, qp), _c(sizes), _c([axis])], outs, {"num_splits": len(parts)}))
    return cases


def _pack_cases(n: int) -> list[Case]:
    cases = []
    for i in range(n):
        dt = (I8, I16)[i % 2]
        rank = int(RNG.integers(1, 4))
        shape = _shape(rank, 1, 4)
        qp = _qp(dt)
        if i % 4 < 2:
            k = int(RNG.integers(1, 5))
            axis = int(RNG.integers(-rank - 1, rank + 1))
            out = np.stack([np.zeros(shape)] * k, axis=axis).shape
            cases.append(Case(f"PACK/{dt.__name__}/{k}x{list(shape)}/axis{axis}", "PACK", [_t(shape, dt, qp)] * k,
                              [_t(out, dt, qp)], {"values_count": k, "axis": axis}))
        else:
            shape = _shape(rank + 1, 1, 4)
            axis = int(RNG.integers(-rank - 1, rank + 1))
            part = np.take(np.zeros(shape), 0, axis=axis).shape
            outs = [_t(part, dt, qp)] * shape[axis]
            cases.append(Case(f"UNPACK/{dt.__name__}/{list(shape)}/axis{axis}", "UNPACK", [_t(shape, dt, qp)], outs,
                              {"num": shape[axis], "axis": axis}))
    return cases


def _depth_space_cases(n: int) -> list[Case]:
    cases = []
    for i in range(n):
        b = int(RNG.integers(1, 4))
        nb, h, w, c = _shape(4, 1, 3)
        if i % 2 == 0:
            x, y = _same((nb, h, w, c * b * b), (nb, h * b, w * b, c), I8)
            cases.append(Case(f"DEPTH_TO_SPACE/{list(x.shape)}/b{b}", "DEPTH_TO_SPACE", [x], [y], {"block_size": b}))
        else:
            x, y = _same((nb, h * b, w * b, c), (nb, h, w, c * b * b), I8)
            cases.append(Case(f"SPACE_TO_DEPTH/{list(x.shape)}/b{b}", "SPACE_TO_DEPTH", [x], [y], {"block_size": b}))
    return cases


def _batch_to_space_cases(n: int) -> list[Case]:
    cases = []
    for i in range(n):
        rank = 4 if i % 3 else 3
        block = [int(v) for v in RNG.integers(1, 4, rank - 2)]
        b = int(RNG.integers(1, 3))
        spatial = list(_shape(rank - 2, 1, 4))
        c = int(RNG.integers(1, 4))
        crops = [[int(RNG.integers(0, (k * d - 1) // 2 + 1)), int(RNG.integers(0, (k * d - 1) // 2 + 1))]
                 for k, d in zip(block, spatial)]  # at least one row and column left
        out = [b] + [k * d - c0 - c1 for k, d, (c0, c1) in zip(block, spatial, crops)] + [c]
        x, y = _same([b * math.prod(block)] + spatial + [c], out, I8)
        cases.append(Case(f"BATCH_TO_SPACE_ND/{list(x.shape)}/k{block}/crops{crops}", "BATCH_TO_SPACE_ND",
                          [x, _c(block), _c(crops)], [y]))
    return cases


def _space_to_batch_case(i: int, padded: bool) -> Case:
    rank = 4 if i % 3 else 3
    block = [int(v) for v in RNG.integers(2 if padded else 1, 4, rank - 2)]
    b, c = int(RNG.integers(1, 3)), int(RNG.integers(1, 4))
    outer = list(_shape(rank - 2, 1, 3))
    pads = [[int(RNG.integers(1, k)), 0] if padded else [0, 0] for k in block]
    spatial = []
    for k, o, p in zip(block, outer, pads):
        d = max(k * o - p[0] - int(RNG.integers(0, k)) * padded, 1)
        p[1] = k * o - p[0] - d
        spatial.append(d)
    x, y = _same([b] + spatial + [c], [b * math.prod(block)] + outer + [c], I8)
    return Case(f"SPACE_TO_BATCH_ND/{list(x.shape)}/k{block}/pads{pads}", "SPACE_TO_BATCH_ND",
                [x, _c(block), _c(pads)], [y])


def _broadcast_to_cases(n: int) -> list[Case]:
    cases = []
    for i in range(n):
        dt = (I8, U8, I16)[i % 3]
        out = _shape(int(RNG.integers(1, 6)), 1, 4)
        k = int(RNG.integers(1, len(out) + 1))
        shape = tuple(d if RNG.random() < 0.5 else 1 for d in out[len(out) - k:])
        x, y = _same(shape, out, dt)
        idt = (np.int32, np.int64)[i % 2]
        cases.append(Case(f"BROADCAST_TO/{dt.__name__}/{list(shape)}->{list(out)}", "BROADCAST_TO",
                          [x, _c(out, idt)], [y]))
    return cases


CASES = (_reshape_cases(12) + _squeeze_cases(9) + _expand_dims_cases(8) + _transpose_cases(12) + _concat_cases(14)
         + _pad_cases(24) + _mirror_pad_cases(8) + _strided_slice_cases(40) + _slice_cases(12) + _gather_cases(14) + _split_cases(12)
         + _pack_cases(12) + _depth_space_cases(8) + _batch_to_space_cases(9) + _broadcast_to_cases(9)
         + [_space_to_batch_case(i, padded=False) for i in range(6)])


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bitexact_with_tflm(case: Case) -> None:
    assert_bitexact(case, seed=len(case.name))


def test_case_count() -> None:
    assert len(CASES) >= 150
    assert len({c.op for c in CASES}) == 20


@pytest.mark.parametrize("op, shape, const, opts", [
    ("RESHAPE", (2, 6), np.array([3, 4], np.int32), {}),
    ("SQUEEZE", (1, 12), None, {"squeeze_dims": [0]}),
    ("EXPAND_DIMS", (12,), np.array([0], np.int32), {}),
])
def test_reshape_squeeze_expand_dims_alias_their_input(op, shape, const, opts) -> None:
    """RESHAPE, SQUEEZE and EXPAND_DIMS re-view their input's memory (``ctx.alias_input(0)``)."""
    q = T(shape, I8, 0.5, 3).quantization()
    x = TensorSpec(0, "x", shape, np.dtype(I8), None, q)
    ins = [x] if const is None else [x, TensorSpec(1, "c", const.shape, const.dtype, const)]
    ctx = OpContext(0, op, 1, opts, ins, [TensorSpec(2, "y", (), np.dtype(I8), None, q)])
    KERNELS[(op, "int8")](ctx)
    assert ctx.alias == 0 and ctx.outputs[0].size == 12


# ------------------------------------------------------------------------------ SPACE_TO_BATCH_ND padding

@pytest.mark.parametrize("i", range(8))
def test_space_to_batch_pads_with_the_zero_point_as_litert(i: int) -> None:
    """TFLM's int8 SPACE_TO_BATCH_ND pads with an uninitialized value (its ``output_offset`` is never
    set): ours must equal TFLM everywhere but the padding, equal LiteRT BUILTIN_REF everywhere, and
    the padding holds the output zero point."""
    case = _space_to_batch_case(i, padded=True)
    feeds, ours, micro = run_both(case, seed=i)
    ref = litert_ref(case, feeds)[0]
    assert np.array_equal(ours[0], ref), case
    # Where the padding is: run ours on an input that never holds the zero point.
    zp = case.outputs[0].zero_point
    marker = [np.full(case.inputs[0].shape, 1 if zp != 1 else 2, np.int8)]
    pad = run_ours(case.model(), marker)[0] == zp
    assert pad.any(), case
    assert np.array_equal(ours[0][~pad], micro[0][~pad]), case
    assert (ours[0][pad] == zp).all()


# ------------------------------------------------------------------------------ refusals

def _refused(case: Case, message: str, tflm_refuses: bool = True) -> None:
    """Our loader/prepare raises RuntimeModelError naming the op; TFLM refuses the file too."""
    model = case.model()
    with pytest.raises(RuntimeModelError, match=message) as e:
        it = Interpreter(model)
        it.run(case.feeds(np.random.default_rng(0)))
    assert case.op in str(e.value)
    if tflm_refuses:
        with pytest.raises(RuntimeError):
            run_tflm(model, case.feeds(np.random.default_rng(0)), len(case.outputs))


Q = (0.25, -3)


def test_concat_int8_with_another_scale_or_zero_point_is_refused() -> None:
    a, b = _t((1, 2), I8, Q), _t((1, 3), I8, (0.5, -3))
    _refused(Case("cat", "CONCATENATION", [a, b], [_t((1, 5), I8, Q)], {"axis": 1}),
             r"input 'in1' has scale 0.5 and zero point -3, the output 'concatenation_0' 0.25 and -3")
    b = _t((1, 3), I8, (0.25, 4))
    _refused(Case("cat", "CONCATENATION", [a, b], [_t((1, 5), I8, Q)], {"axis": 1}), "does not requantize")


def test_concat_int16_needs_zero_point_zero_and_int8_needs_quantization() -> None:
    a, b = _t((1, 2), I16, (0.5, 0)), _t((1, 3), I16, (0.25, 2))
    _refused(Case("cat", "CONCATENATION", [a, b], [_t((1, 5), I16, (0.5, 0))], {"axis": 1}),
             "'in1' has zero point 2; int16 CONCATENATION requires 0")
    bare = T((1, 3), I8)  # no quantization: TFLM reads scale 0 and accepts; we refuse the file
    _refused(Case("cat", "CONCATENATION", [_t((1, 2), I8, Q), bare], [_t((1, 5), I8, Q)], {"axis": 1}),
             "tensor 'in1' .* has no quantization parameters", tflm_refuses=False)


def test_padv2_constant_with_another_quantization_is_refused() -> None:
    x = _t((2, 3), I8, Q)
    cv = T((1,), I8, 0.5, -3, data=np.array([5], I8))
    _refused(Case("pad", "PADV2", [x, _c([[1, 1], [0, 2]]), cv], [_t((4, 5), I8, Q)]),
             r"constant value 'const2' has scale 0.5 and zero point -3.*requires them equal")
    _refused(Case("pad", "PAD", [x, _c([[1, 1], [0, 2]])], [T((4, 5), I8)]),
             "'pad_0' .* has no quantization parameters", tflm_refuses=False)


def test_per_axis_output_quantization_is_refused_where_read() -> None:
    x = _t((2, 3), I8, Q)
    out = T((4, 3), I8, [0.25] * 4, [-3] * 4, axis=0)
    _refused(Case("pad", "PAD", [x, _c([[1, 1], [0, 0]])], [out]), "quantized per axis", tflm_refuses=False)


def test_gather_int64_positions_and_uint8_concat_have_no_tflm_kernel() -> None:
    _refused(Case("g", "GATHER", [_t((4, 3), I8, Q), _c([0, 3], np.int64)], [_t((2, 3), I8, Q)], {"axis": 0}),
             "positions 'const1' are int64; TFLite Micro's GATHER takes int32 only")
    _refused(Case("cat", "CONCATENATION", [_t((1, 2), U8, (0.5, 3))] * 2, [_t((1, 4), U8, (0.5, 3))], {"axis": 1}),
             "uint8")
    _refused(Case("t", "TRANSPOSE", [_t((2, 3), U8, (0.5, 3)), _c([1, 0])], [_t((3, 2), U8, (0.5, 3))]), "uint8")


def test_options_tflm_ignores_are_refused() -> None:
    x = _t((3, 4), I8, Q)
    ins = [x, _c([0, 0]), _c([2, 3]), _c([1, 1])]
    for opt in ("ellipsis_mask", "new_axis_mask"):
        with pytest.raises(RuntimeModelError, match=f"{opt} is set; TFLite Micro ignores it") as e:
            Interpreter(Case("ss", "STRIDED_SLICE", ins, [_t((2, 3), I8, Q)], {opt: 1}).model()).run(
                [np.zeros((3, 4), I8)])
        assert "STRIDED_SLICE" in str(e.value) and "'in0'" in str(e.value)


def test_output_of_another_type_and_negative_permutation_are_refused() -> None:
    with pytest.raises(RuntimeModelError, match="TRANSPOSE .*negative"):
        Interpreter(Case("t", "TRANSPOSE", [_t((2, 3), I8, Q), _c([-1, 0])], [_t((3, 2), I8, Q)]).model()).run(
            [np.zeros((2, 3), I8)])
    x = _t((2, 3), I8, Q)
    with pytest.raises(RuntimeModelError, match="requires the same type"):
        spec = TensorSpec(0, "x", (2, 3), np.dtype(I8), None, x.quantization())
        out = TensorSpec(1, "y", (2, 3), np.dtype(I16), None, x.quantization())
        _same_type(OpContext(0, "SLICE", 1, {}, [spec], [out]))


# ------------------------------------------------------------------------------ LiteRT BUILTIN_REF

def _litert_pads_int16_differently(case: Case) -> bool:
    return case.op in ("PAD", "PADV2") and case.inputs[0].dtype == I16 and case.outputs[0].zero_point != 0 \
        and (len(case.inputs) < 3 or case.inputs[2] is None)


LITERT_CASES = [c for c in CASES if c.op != "BROADCAST_TO" and not _litert_pads_int16_differently(c)]


@pytest.mark.parametrize("case", LITERT_CASES, ids=str)
def test_litert_reference_agrees(case: Case) -> None:
    """LiteRT BUILTIN_REF equals us (and TFLM) on every case, except what the module docstring lists:
    BROADCAST_TO (no reference kernel there), int16 PAD with a zero point (below), SPACE_TO_BATCH_ND
    padding (above)."""
    feeds, ours, _ = run_both(case, seed=3)
    for a, b in zip(ours, litert_ref(case, feeds)):
        assert np.array_equal(a, b), case


@pytest.mark.parametrize("case", [c for c in CASES if _litert_pads_int16_differently(c)], ids=str)
def test_int16_pad_fills_zero_where_litert_fills_the_zero_point(case: Case) -> None:
    """TFLM's int16 PAD (and PADV2 without a value) fills 0 whatever the output zero point; LiteRT's
    reference PAD fills the zero point. We follow TFLM (and the bit-exact test above pins it)."""
    feeds, ours, micro = run_both(case, seed=3)
    ref = litert_ref(case, feeds)[0]
    border = np.ones(ours[0].shape, bool)
    border[tuple(slice(int(a), int(a) + d) for d, (a, _) in zip(case.inputs[0].shape, case.inputs[1].data))] = False
    assert border.any()
    assert np.array_equal(ours[0], micro[0])
    assert (ours[0][border] == 0).all() and (ref[border] == case.outputs[0].zero_point).all()
    assert np.array_equal(ours[0][~border], ref[~border])


def test_litert_also_refuses_int8_concat_with_another_scale() -> None:
    a, b = _t((1, 2), I8, Q), _t((1, 3), I8, (0.5, -3))
    case = Case("cat", "CONCATENATION", [a, b], [_t((1, 5), I8, Q)], {"axis": 1})
    with pytest.raises(RuntimeError, match="scale"):
        litert_ref(case, case.feeds(np.random.default_rng(0)))


# ------------------------------------------------------------------------------ the dtype table is TFLM's

def as_dtype(case: Case, dtype) -> Case:
    """``case`` with every int8/uint8/int16 tensor retyped to ``dtype`` (zero point 0, so valid in all)."""
    def retype(t: T | None) -> T | None:
        if t is None or np.dtype(t.dtype) not in (np.dtype(I8), np.dtype(U8), np.dtype(I16)):
            return t
        data = None if t.data is None else np.asarray(t.data).astype(dtype)
        return T(t.shape, dtype, t.scale, 0, t.axis, data)

    return Case(f"{case.op}/{np.dtype(dtype).name}", case.op, [retype(t) for t in case.inputs],
                [retype(t) for t in case.outputs], case.options)  # type: ignore[misc]


def _accepts(run) -> bool:  # type: ignore[no-untyped-def]
    try:
        run()
    except (RuntimeError, ValueError):
        return False
    return True


@pytest.mark.parametrize("op", sorted({c.op for c in CASES}))
def test_dtypes_are_exactly_those_tflm_runs(op: str) -> None:
    """For int8, uint8 and int16, this runtime accepts the op exactly when TFLM runs it (and then
    agrees with it): no dtype is missing, none is added."""
    base = next(c for c in CASES if c.op == op)
    for dt in (I8, U8, I16):
        case = as_dtype(base, dt)
        model, feeds = case.model(), case.feeds(np.random.default_rng(5))
        ours = _accepts(lambda: run_ours(model, feeds))  # noqa: B023
        micro = _accepts(lambda: run_tflm(model, feeds, len(case.outputs)))  # noqa: B023
        assert ours == micro, f"{case}: keras2edge {'runs' if ours else 'refuses'} it, TFLM " \
                              f"{'runs' if micro else 'refuses'} it"
        if ours:
            assert_bitexact(case, seed=5)


def test_shrunk_axis_with_a_negative_stride_is_refused() -> None:
    """TFLM loops ``start > start + 1`` there and writes nothing: refused rather than guessed."""
    ins = [_t((3, 4), I8, Q), _c([1, 0]), _c([2, 4]), _c([-1, 1])]
    with pytest.raises(RuntimeModelError, match="positive stride") as e:
        Interpreter(Case("ss", "STRIDED_SLICE", ins, [_t((4,), I8, Q)], {"shrink_axis_mask": 1}).model()).run(
            [np.zeros((3, 4), I8)])
    assert "STRIDED_SLICE" in str(e.value)


def test_gather_positions_outside_the_axis_raise_at_run_time() -> None:
    """Runtime positions: TFLM's bound check is a DCHECK (undefined behaviour in release builds)."""
    case = Case("g", "GATHER", [_t((4, 3), I8, Q), T((2,), np.int32)], [_t((2, 3), I8, Q)], {"axis": 0})
    it = Interpreter(case.model())
    assert np.array_equal(it.run([np.arange(12, dtype=I8).reshape(4, 3), np.array([3, 0], np.int32)]),
                          [[9, 10, 11], [0, 1, 2]])
    with pytest.raises(RuntimeModelError, match=r"GATHER .*positions outside \[0, 4\) \(min 0, max 4\)"):
        it.run([np.zeros((4, 3), I8), np.array([0, 4], np.int32)])


# ------------------------------------------------------------------------------ TILE (LiteRT; TFLM has none)

def _tile_case(i: int) -> Case:
    rng = np.random.default_rng(7000 + i)
    dtype = (np.int8, np.int16)[i % 2]
    rank = int(rng.integers(1, 6))
    shape = tuple(int(d) for d in rng.integers(1, 5, rank))
    mult = [int(m) for m in rng.integers(0 if i % 7 == 0 else 1, 4, rank)]
    mdt = (np.int32, np.int64)[(i // 2) % 2]
    q = (float(np.float32(rng.uniform(1e-3, 1))), int(rng.integers(-100, 100)) if dtype == np.int8 else 0)
    out = tuple(d * m for d, m in zip(shape, mult))
    return Case(f"TILE/{np.dtype(dtype).name}/{list(shape)}x{mult}/{np.dtype(mdt).name}", "TILE",
                [T(shape, dtype, *q), T((rank,), mdt, data=np.array(mult, mdt))], [T(out, dtype, *q)])


@pytest.mark.parametrize("case", [_tile_case(i) for i in range(44)], ids=str)
def test_tile_is_bit_exact_with_litert_ref(case: Case) -> None:
    """TFLite Micro has no TILE; LiteRT BUILTIN_REF (``tile.cc``) copies the raw integers: equal
    everywhere, zero multiples (empty outputs) and int64 multiples included."""
    feeds = case.feeds(np.random.default_rng(len(case.name)))
    ours = run_ours(case.model(), feeds)[0]
    want = litert_ref(case, feeds)[0]
    assert ours.dtype == want.dtype and ours.shape == want.shape and np.array_equal(ours, want), case


def test_tile_refusals() -> None:
    mult = T((2,), np.int32, data=np.array([2, 1], np.int32))
    _refused(Case("TILE", "TILE", [T((2, 3), np.int8, *Q), mult], [T((4, 3), np.int16, *Q)]),
             "requires the same type", tflm_refuses=False)
    _refused(Case("TILE", "TILE", [T((2, 3), np.int8, *Q), T((2,), np.int16, data=np.array([2, 1], np.int16))],
                  [T((4, 3), np.int8, *Q)]), "multiples.*int32 or int64", tflm_refuses=False)
    _refused(Case("TILE", "TILE", [T((2, 3), np.int16, *Q), T((3,), np.int32, data=np.array([2, 1, 1], np.int32))],
                  [T((4, 3), np.int16, *Q)]), "multiples", tflm_refuses=False)
