"""runtime/kernels/quantized/resize.py: RESIZE_NEAREST_NEIGHBOR (int8, int16) and RESIZE_BILINEAR
(int8), bit-exact with TFLite Micro.

Random input and output sizes (up, down, non-integer factors, size 1), batches and channels, the
three coordinate modes (plain, align_corners, half_pixel_centers) and random zero points, each a
one-op model compared with TFLM element by element. The bilinear kernel's separable int32 path is
also checked against TFLM's four-tap int64 formula written out plainly below, on extreme inputs,
and against LiteRT's reference kernel (the same function there). Then the refusals.
"""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.runtime import Interpreter
from keras2edge.runtime.errors import RuntimeModelError

from ...int8_bench import T, run_tflm
from .bitexact import Case, assert_bitexact, litert_ref, run_both

RNG = np.random.default_rng(20261204)
MODES = ({}, {"align_corners": True}, {"half_pixel_centers": True})


def _case(op: str, dtype, i: int) -> Case:
    n, c = int(RNG.integers(1, 3)), int(RNG.integers(1, 4))
    h, w = (int(v) for v in RNG.integers(1, 7, 2))
    oh, ow = (int(v) for v in RNG.integers(1, 13, 2))
    if i % 5 == 0:  # integer up-sampling, the common case
        oh, ow = 2 * h, 2 * w
    mode = MODES[i % 3]
    scale = float(np.float32(np.exp(RNG.uniform(-6, 0))))
    zp = 0 if dtype == np.int16 else int(RNG.integers(-128, 128))
    x = T((n, h, w, c), dtype, scale, zp)
    y = T((n, oh, ow, c), dtype, scale, zp)
    size = T((2,), np.int32, data=np.array([oh, ow], np.int32))
    return Case(f"{op}/{np.dtype(dtype).name}/{[n, h, w, c]}->{[oh, ow]}/{mode}", op, [x, size], [y],
                {"align_corners": False, "half_pixel_centers": False, **mode})


def _extreme_case(op: str, i: int) -> Case:
    """Large factors both ways (1..3 -> up to 64 and 40..64 -> 1..5): where scale10's rounding and
    the clamping of the last source index matter most."""
    up = i % 2 == 0
    h, w = (int(v) for v in RNG.integers(1, 4, 2)) if up else (int(v) for v in RNG.integers(40, 65, 2))
    oh, ow = (int(v) for v in RNG.integers(30, 65, 2)) if up else (int(v) for v in RNG.integers(1, 6, 2))
    zp = int(RNG.integers(-128, 128))
    mode = MODES[i % 3]
    return Case(f"{op}/int8/{[1, h, w, 2]}->{[oh, ow]}/{mode}", op,
                [T((1, h, w, 2), np.int8, 0.1, zp), T((2,), np.int32, data=np.array([oh, ow], np.int32))],
                [T((1, oh, ow, 2), np.int8, 0.1, zp)], {"align_corners": False, "half_pixel_centers": False, **mode})


CASES = ([_case("RESIZE_NEAREST_NEIGHBOR", (np.int8, np.int16)[i % 2], i) for i in range(30)]
         + [_case("RESIZE_BILINEAR", np.int8, i) for i in range(45)]
         + [_extreme_case(op, i) for op in ("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR") for i in range(6)])


def _case_id(case: object) -> str:
    """A test id without spaces or commas (the mutation runner passes ids on a command line)."""
    return str(case).replace(", ", "x").replace(" ", "_").replace(",", "x")


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_bitexact_with_tflm(case: Case) -> None:
    assert_bitexact(case, seed=len(case.name))


def _cdiv(a: int, b: int) -> int:
    """C division: truncation toward zero."""
    q = abs(a) // b
    return -q if a < 0 else q


def bilinear_tflm_formula(x: np.ndarray, oh: int, ow: int, align: bool, half: bool) -> np.ndarray:
    """TFLM reference ResizeBilinearInteger, element by element in Python ints (slow, plain)."""
    n, h, w, c = x.shape

    def scale10(i: int, o: int) -> int:
        if align and o > 1:
            return (1024 * (i - 1) + (o - 1) // 2) // (o - 1)
        return (1024 * i + o // 2) // o

    def coords(v: int, s10: int, size: int) -> tuple[int, int, int]:
        p = v * s10 + s10 // 2 - 512 if half else v * s10
        return p, max(_cdiv(p, 1024), 0), min(_cdiv(p + 1023, 1024), size - 1)

    hs, ws = scale10(h, oh), scale10(w, ow)
    out = np.zeros((n, oh, ow, c), np.int8)
    for b in range(n):
        for y in range(oh):
            iy, y0, y1 = coords(y, hs, h)
            for xx in range(ow):
                ix, x0, x1 = coords(xx, ws, w)
                for ch in range(c):
                    s = (int(x[b, y0, x0, ch]) * (1024 - (iy - 1024 * y0)) * (1024 - (ix - 1024 * x0))
                         + int(x[b, y1, x0, ch]) * (iy - 1024 * y0) * (1024 - (ix - 1024 * x0))
                         + int(x[b, y0, x1, ch]) * (1024 - (iy - 1024 * y0)) * (ix - 1024 * x0)
                         + int(x[b, y1, x1, ch]) * (iy - 1024 * y0) * (ix - 1024 * x0))
                    out[b, y, xx, ch] = _cdiv(s + (1 << 19 if s > 0 else -(1 << 19)), 1 << 20)
    return out


@pytest.mark.parametrize("i", range(24))
def test_bilinear_fast_path_equals_the_plain_formula(i: int) -> None:
    """The separable int32 kernel == TFLM's four-tap int64 sum, also on constant −128 / 127 inputs
    (the int32 bound) and at sizes where half-pixel coordinates go negative."""
    case = _case("RESIZE_BILINEAR", np.int8, i)
    n, h, w, c = case.inputs[0].shape
    oh, ow = case.outputs[0].shape[1:3]
    x = np.random.default_rng(i).integers(-128, 128, (n, h, w, c)).astype(np.int8)
    if i % 4 == 3:
        x[:] = -128 if i % 8 == 3 else 127
    got = Interpreter(case.model()).run(x)
    want = bilinear_tflm_formula(x, oh, ow, bool(case.options.get("align_corners")),
                                 bool(case.options.get("half_pixel_centers")))
    assert np.array_equal(got, want), case


@pytest.mark.parametrize("case", CASES[30:40] + CASES[:6], ids=_case_id)
def test_litert_reference_agrees(case: Case) -> None:
    """LiteRT BUILTIN_REF runs the same integer functions: no difference to document."""
    feeds, ours, _ = run_both(case, seed=1)
    assert np.array_equal(ours[0], litert_ref(case, feeds)[0]), case


# ------------------------------------------------------------------------------ refusals

Q = (0.5, 3)


def _model(op: str, dtype, size: np.ndarray, opts: dict, shape=(1, 2, 2, 1), out=(1, 4, 4, 1)) -> Case:
    return Case(op, op, [T(shape, dtype, *Q), T(size.shape, size.dtype, data=size)], [T(out, dtype, *Q)],
                {"align_corners": False, "half_pixel_centers": False, **opts})


def _refused(case: Case, message: str, tflm_refuses: bool = True) -> None:
    feeds = case.feeds(np.random.default_rng(0))
    with pytest.raises(RuntimeModelError, match=message) as e:
        Interpreter(case.model()).run(feeds)
    assert case.op in str(e.value)
    if tflm_refuses:
        with pytest.raises(RuntimeError):
            run_tflm(case.model(), feeds)


SIZE = np.array([4, 4], np.int32)


def test_align_corners_with_half_pixel_centers_is_refused() -> None:
    _refused(_model("RESIZE_BILINEAR", np.int8, SIZE, {"align_corners": True, "half_pixel_centers": True}),
             "cannot both be set")


def test_size_must_be_int32() -> None:
    _refused(_model("RESIZE_BILINEAR", np.int8, SIZE.astype(np.int64), {}), "needs int32 \\[2\\]")
    _refused(_model("RESIZE_NEAREST_NEIGHBOR", np.int16, SIZE.astype(np.int64), {}), "needs int32 \\[2\\]")


def test_dtypes_without_a_tflm_kernel_are_refused() -> None:
    _refused(_model("RESIZE_BILINEAR", np.uint8, SIZE, {}), "uint8")
    _refused(_model("RESIZE_NEAREST_NEIGHBOR", np.uint8, SIZE, {}), "uint8")


def test_bilinear_sizes_where_tflm_reads_out_of_bounds_are_refused() -> None:
    """2 -> 3000 rows: scale10 = (2048 + 1500) // 3000 = 1, so the last row samples p = 2999, row
    2999 // 1024 = 2 of a 2-row input; TFLM would read past the input (not run here)."""
    case = _model("RESIZE_BILINEAR", np.int8, np.array([3000, 2], np.int32), {}, (1, 2, 2, 1), (1, 3000, 2, 1))
    _refused(case, "outside the input", tflm_refuses=False)


@pytest.mark.parametrize("op", ["RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"])
def test_dtypes_are_exactly_those_tflm_runs(op: str) -> None:
    """int8 / uint8 / int16: accepted here exactly when TFLM runs the op (then bit-exact), except
    int16 RESIZE_BILINEAR, which TFLM lacks and this runtime runs as LiteRT does (tested below)."""
    for dt in (np.int8, np.uint8, np.int16):
        case = _model(op, dt, SIZE, {})
        case.inputs[0] = T((1, 2, 2, 1), dt, 0.5, 0)
        case.outputs[0] = T((1, 4, 4, 1), dt, 0.5, 0)
        feeds = case.feeds(np.random.default_rng(0))
        try:
            Interpreter(case.model()).run(feeds)
            ours = True
        except RuntimeModelError:
            ours = False
        try:
            run_tflm(case.model(), feeds)
            micro = True
        except RuntimeError:
            micro = False
        if op == "RESIZE_BILINEAR" and dt == np.int16:
            assert ours and not micro
            continue
        assert ours == micro, f"{op} {np.dtype(dt).name}: ours {ours}, TFLM {micro}"
        if ours:
            assert_bitexact(case)


# ------------------------------------------------------------------------------ int16 RESIZE_BILINEAR (LiteRT)

BILINEAR_INT16 = [_case("RESIZE_BILINEAR", np.int16, i) for i in range(30)]


@pytest.mark.parametrize("case", BILINEAR_INT16, ids=_case_id)
def test_bilinear_int16_is_bit_exact_with_litert_ref(case: Case) -> None:
    """TFLite Micro has no int16 RESIZE_BILINEAR; LiteRT BUILTIN_REF runs ResizeBilinearInteger<int16>:
    bit-exact on random inputs over the whole int16 range, and on constant ±32768 / 32767 inputs (the
    int64 bound)."""
    for seed in range(2):
        feeds = case.feeds(np.random.default_rng(seed))
        if seed == 1:
            feeds[0][:] = -32768 if len(case.name) % 2 else 32767
        ours = Interpreter(case.model()).run(feeds[0])
        want = litert_ref(case, feeds)[0]
        assert ours.dtype == want.dtype == np.int16 and np.array_equal(ours, want), case
