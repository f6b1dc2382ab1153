"""What every quantized kernel shares: a tensor's quantization read and checked once, the integer
range of a dtype, a fused activation's integer clamp, and the requantization step.

* :func:`qparams` -- a TensorSpec's ``Quantization`` -> :class:`QParams` (float32 scales, int64 zero
  points, the quantized axis or None for per-tensor), refusing missing, non-finite or non-positive
  scales, zero points outside the dtype, and per-axis lists that do not match the axis length;
* :func:`per_tensor` -- the same for a tensor TFLite Micro reads per tensor only: ``(scale, zp)``;
* :func:`int_range` -- ``[qmin, qmax]`` of int8 / uint8 / int16 / int32;
* :func:`activation_clamp` -- the op's fused activation as integer bounds of its output
  (``fixed_point.activation_range``: TFLM CalculateActivationRangeQuantized);
* :func:`requantize` -- int32 accumulators -> ``clamp(zp + MBQM(acc, M, shift))`` written into an
  int8 / int16 output (TFLM's double-rounding MultiplyByQuantizedMultiplier, per tensor or per
  channel along the last axis). This is the hot path of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED
  and TRANSPOSE_CONV; its plain integer form is ``fixed_point.mbqm``. :class:`Requantizer` sets it up
  once in prepare and runs a float64 fast path proven (and tested) equal to the integer one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ... import fixed_point as fp
from ..base import OpContext, TensorSpec

#: np.clip's ufunc, called without np.clip's Python wrapper (about 10 us a call) in the hot loops.
_clip = getattr(getattr(np, "_core", None), "umath", np).clip

#: The integer dtypes a quantized tensor may have, and their ranges.
INT_RANGES: dict[str, tuple[int, int]] = {
    "int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "int32": (fp.INT32_MIN, fp.INT32_MAX),
}


@dataclass(frozen=True)
class QParams:
    """One tensor's quantization: real = scale * (q - zero_point)."""

    scale: np.ndarray  # float32, shape (n,)
    zero_point: np.ndarray  # int64, shape (n,)
    axis: int | None  # the quantized dimension when per-axis (n > 1); None per tensor

    @property
    def per_tensor(self) -> bool:
        return self.axis is None

    @property
    def s(self) -> float:
        """The scale of a per-tensor quantization (as the file's float32 value, widened exactly)."""
        return float(self.scale[0])

    @property
    def zp(self) -> int:
        """The zero point of a per-tensor quantization."""
        return int(self.zero_point[0])


def int_range(ctx: OpContext, t: TensorSpec) -> tuple[int, int]:
    """``[qmin, qmax]`` of tensor ``t``'s integer dtype."""
    r = INT_RANGES.get(t.dtype.name)
    if r is None:
        raise ctx.fail(f"tensor '{t.name}' is {t.dtype}; a quantized tensor must be int8, uint8, int16 or int32")
    return r


def qparams(ctx: OpContext, t: TensorSpec) -> QParams:
    """Tensor ``t``'s quantization, checked: present, finite positive scales, zero points inside the
    dtype's range, and per-axis lists as long as the quantized dimension."""
    q = t.quantization
    if q is None or len(q.scale) == 0:
        raise ctx.fail(f"tensor '{t.name}' ({t.dtype}) has no quantization parameters (scale, zero point); "
                       "a quantized op needs them")
    scale = np.asarray(q.scale, np.float32).reshape(-1)
    zp = np.asarray(q.zero_point, np.int64).reshape(-1)
    if zp.size == 0:
        zp = np.zeros(scale.shape, np.int64)
    if not np.all(np.isfinite(scale)) or not np.all(scale > 0):
        raise ctx.fail(f"tensor '{t.name}' has scale {scale[:4].tolist()}; scales must be finite and > 0")
    lo, hi = int_range(ctx, t)
    if zp.size not in (1, scale.size) or np.any(zp < lo) or np.any(zp > hi):
        raise ctx.fail(f"tensor '{t.name}' has zero point {zp[:4].tolist()}; it must be one value or one per "
                       f"scale, within [{lo}, {hi}] for {t.dtype}")
    if scale.size == 1:
        return QParams(scale, zp[:1], None)
    axis = int(q.quantized_dimension)
    if not 0 <= axis < t.rank or t.shape[axis] != scale.size:
        raise ctx.fail(f"tensor '{t.name}' {list(t.shape)} has {scale.size} scales for quantized_dimension "
                       f"{axis}; per-axis quantization needs one scale per element of that dimension")
    return QParams(scale, np.broadcast_to(zp, scale.shape).copy(), axis)


def per_tensor(ctx: OpContext, t: TensorSpec) -> tuple[float, int]:
    """``(scale, zero_point)`` of a tensor the kernel reads per tensor (activations, biases of int8 ops)."""
    p = qparams(ctx, t)
    if not p.per_tensor:
        raise ctx.fail(f"tensor '{t.name}' is quantized per axis ({p.scale.size} scales on dimension {p.axis}); "
                       "this op reads it per tensor, as TFLite Micro does")
    return p.s, p.zp


def activation_clamp(ctx: OpContext, out: TensorSpec, key: str = "fused_activation_function") -> tuple[int, int]:
    """The op's fused activation as ``[lo, hi]`` bounds of its quantized output (TFLM
    CalculateActivationRangeQuantized; TANH and SIGN_BIT act as NONE, as in TFLM's int8 kernels)."""
    scale, zp = per_tensor(ctx, out)
    lo, hi = int_range(ctx, out)
    return fp.activation_range(int(ctx.opt(key, 0)), scale, zp, lo, hi)


class Requantizer:
    """TFLM's per-channel requantization ``clamp(zp + MBQM(acc + bias, M_c, shift_c), lo, hi)``, set up
    once in prepare (per-channel constants) and applied in eval through a float64 fast path that is
    bit-exact with the integer one (``fixed_point.mbqm``, TFLM ``kernels/internal/common.cc``).

    Why the fast path is exact. Write N = 2^R with R = max(−shift, 0), t = x'·M / 2^31 (x' = x·2^max(shift,0))
    and y = t / N = x·M·2^(shift − 31), the exact real value. MBQM is r1 = floor(t + 1/2) (SRDHM, half-up),
    then RDBPOT(r1, R) (half-away). With the identity floor((floor(a) + n) / N) = floor((a + n) / N) for
    integer n:

    * R ≥ 1, r1 ≥ 0: floor((r1 + N/2) / N)     = floor(y + 1/2 + 2^-(R+1));
    * R ≥ 1, r1 < 0: floor((r1 + N/2 − 1) / N) = floor(y + 1/2 − 2^-(R+1));
    * R = 0: r1 itself                         = floor(y + 1/2).

    r1 ≥ 0 ⟺ y ≥ −2^-(R+1), and for y in [−2^-(R+1), 0) both R ≥ 1 formulas give 0, so the sign of y picks
    the branch: result = floor(w + 1/2) with w = y + copysign(off_c, y), off_c = 2^-(R+1) (0 when R = 0) —
    ONE rounding of a shifted y, so double rounding costs nothing extra; away from the ties of w + 1/2 it
    is rint(w), and clamping commutes with it: clip(rint(w) + zp) = rint(clip(w, lo − zp, hi − zp)) + zp.
    In float64: acc + bias is exact (integers < 2^53); y = (acc + bias)·m_c with m_c = M·2^(shift − 31)
    exact, one rounding (relative error ≤ 2^-53); the addition of ±off one more. Only elements whose
    result lies inside the clamp matter (|y| ≤ 2^18 when lo, hi and zp are within 2^16 of zero, as for
    int8, uint8 and int16 outputs — wider ranges take the integer path; outside it an error of a
    fraction of one cannot move the clamped value), so the total error is < 2·2^-53·2^19 = 2^-33 <
    ETA = 2^-30. The exact w + 1/2 has a fractional part that is 0 or at least 2^-62, so the result is
    exact unless w_f − rint(w_f) is within ETA of ±1/2: those elements (about 2^-29 of random inputs,
    plus exact ties) are recomputed with ``fixed_point.mbqm``. (A clamped w is an integer: never flagged.)
    A positive shift wraps x·2^shift in int32 in TFLM: elements with |x| ≥ 2^(31 − shift) go to the exact
    path too.
    """

    #: Half-width of the band around integers where the float result is recomputed exactly (see above).
    ETA = 2.0 ** -30
    #: Elements per block of the fast path (two float64 work blocks of this size stay in L2 cache).
    BLOCK = 1 << 16

    def __init__(self, multiplier: np.ndarray | int, shift: np.ndarray | int, zero_point: int,
                 lo: int, hi: int) -> None:
        self.multiplier = np.asarray(multiplier, np.int64).reshape(-1)
        self.shift = np.asarray(shift, np.int64).reshape(-1)
        self.zero_point, self.lo, self.hi = int(zero_point), int(lo), int(hi)
        right = np.maximum(-self.shift, 0)
        self.scale = np.ldexp(self.multiplier.astype(np.float64), (self.shift - 31).astype(np.int32))
        self.offset = np.where(right >= 1, np.ldexp(1.0, (-(right + 1)).astype(np.int32)), 0.0)
        left = np.maximum(self.shift, 0)
        self.max_left = int(left.max()) if left.size else 0
        # per channel: |y| from which an element may come from a wrapped x·2^shift (never without a left shift)
        self.wrap_limit = np.where(left > 0, 2.0 ** 29, np.inf)
        # QuantizeMultiplier makes M = 0 or M in [2^30, 2^31); the wrap test above relies on M ≥ 2^30,
        # the error bound on outputs within 2^16 of zero (int8, uint8, int16; not an int32 output)
        m = self.multiplier
        self.fast = bool(np.all((m == 0) | ((m >= 1 << 30) & (m < 1 << 31))) and np.all(self.shift >= -31)
                         and max(abs(self.lo), abs(self.hi), abs(self.zero_point)) <= 1 << 16)

    def plain(self, acc: np.ndarray, out: np.ndarray, bias: np.ndarray | None = None) -> None:
        """The integer path (``fixed_point.mbqm`` on int64), the definition the fast path must equal."""
        a = np.asarray(acc).astype(np.int64)
        if bias is not None:
            a += np.asarray(bias, np.int64)
        v = fp.mbqm(a, self.multiplier, self.shift)
        v += self.zero_point
        np.clip(v, self.lo, self.hi, out=v)
        np.copyto(out, v.reshape(out.shape), casting="unsafe")

    def __call__(self, acc: np.ndarray, out: np.ndarray, bias: np.ndarray | None = None,
                 work: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """``out = clamp(zp + MBQM(acc + bias))`` via the float64 fast path. ``acc``: integer values
        (any int or float dtype holding exact integers), channels on the last axis; ``bias``: one
        integer per channel or None; ``work``: two flat float64 buffers of at least
        ``min(acc.size, BLOCK + channels)`` elements (``acc.size`` when ``acc`` is not C-contiguous),
        not overlapping ``acc`` (allocated when None)."""
        n = acc.size
        if not self.fast or acc.ndim == 0:
            self.plain(acc, out, bias)
            return
        if n == 0:
            return
        c = acc.shape[-1]
        blocked = acc.ndim >= 2 and acc.flags.c_contiguous and out.flags.c_contiguous and n > self.BLOCK
        size = min(n, self.BLOCK + c) if blocked else n
        if work is None or min(work[0].size, work[1].size) < size:  # (a strided output, say: not blocked)
            work = (np.empty(size, np.float64), np.empty(size, np.float64))
        bias64 = None if bias is None else np.asarray(bias, np.float64)
        if not blocked:
            self._block(acc, out, bias64, bias, work[0][:n].reshape(acc.shape), work[1][:n].reshape(acc.shape))
            return
        # cache-sized blocks of whole rows: the ~11 passes below then run from cache, not memory
        a2, o2 = acc.reshape(-1, c), out.reshape(-1, c)
        rows = max(1, self.BLOCK // c)
        for r0 in range(0, a2.shape[0], rows):
            ab = a2[r0:r0 + rows]
            k = ab.size
            self._block(ab, o2[r0:r0 + rows], bias64, bias, work[0][:k].reshape(ab.shape),
                        work[1][:k].reshape(ab.shape))

    def _block(self, acc: np.ndarray, out: np.ndarray, bias64: np.ndarray | None, bias: np.ndarray | None,
               z: np.ndarray, t: np.ndarray) -> None:
        if bias64 is not None:  # a float64 bias vector: converting int64 elementwise is several times slower
            np.add(acc, bias64, out=z)
            np.multiply(z, self.scale, out=z)
        else:
            np.multiply(acc, self.scale, out=z)
        wrap = None
        if self.max_left > 0:  # TFLM's int32 x·2^shift may wrap: those go to the exact path
            # a wrap needs |x|·2^shift ≥ 2^31, hence |y| ≥ 2^30 as M ≥ 2^30: flag from 2^29
            wrap = np.abs(z) >= self.wrap_limit
        np.copysign(self.offset, z, out=t)
        np.add(z, t, out=z)  # w = y ± off: the result is floor(w + 1/2) + zp, i.e. rint(w) + zp off ties
        _clip(z, self.lo - self.zero_point, self.hi - self.zero_point, out=z)
        np.rint(z, out=t)
        np.add(t, self.zero_point, out=out, casting="unsafe")
        np.subtract(z, t, out=t)  # w − rint(w), in [−1/2, 1/2]: near ±1/2 is near a tie of floor(w + 1/2)
        edge = 0.5 - self.ETA
        if t.min() < -edge or t.max() > edge or (wrap is not None and wrap.any()):
            flag = (t < -edge) | (t > edge)
            if wrap is not None:
                flag |= wrap
            self._fix(acc, out, bias, flag)

    def _fix(self, acc: np.ndarray, out: np.ndarray, bias: np.ndarray | None, flag: np.ndarray) -> None:
        """Recompute the flagged elements with the integer path."""
        idx = np.nonzero(flag)
        c = idx[-1] if self.multiplier.size > 1 else 0
        a = np.asarray(acc)[idx].astype(np.int64)
        if bias is not None:
            a += np.broadcast_to(np.asarray(bias, np.int64), acc.shape)[idx]
        m = self.multiplier[c] if self.multiplier.size > 1 else self.multiplier[0]
        s = self.shift[c] if self.shift.size > 1 else self.shift[0]
        v = fp.mbqm(a, m, s) + self.zero_point
        out[idx] = np.clip(v, self.lo, self.hi)


class Requantizer32:
    """A float32 requantization of int8 / uint8 outputs with a constant bias, for accumulators whose size
    is bounded in prepare (``acc_bound[c] ≥ |acc|`` for every element of channel c, e.g. Σ|w|·max|x − z_in|
    from the constant filter): ``out = clamp(zp + MBQM(acc + bias, M_c, shift_c))`` bit-exact, in about
    half of :class:`Requantizer`'s time (6 to 9 float32 passes instead of 10 float64 ones).

    Built by :meth:`build`, which returns None when the proof below does not hold (a left shift, an
    output wider than 8 bits, or accumulators so large that the float32 error band would flag too many
    elements): the caller then keeps :class:`Requantizer`.

    Why it is exact. As in :class:`Requantizer`, the result is ``floor(w + 1/2) + zp`` clamped, with
    ``y = (acc + bias)·m_c`` (m_c = M·2^(shift − 31)), ``w = y + copysign(off_c, y)``, off_c = 2^-(R+1)
    (0 when R = 0; ≤ 1/4), the exact real value; away from ties ``floor(w + 1/2) = rint(w)``.

    * ReLU-like clamp (lo − zp ≥ 0: TFLM's lower bound of RELU/RELU6 is the zero point): no negative
      result survives the clamp and for y < 0 both floor(y + 1/2 ± off) are ≤ 0, so the offset is +off_c
      always and folds into a per-channel constant with the bias and zero point:
      ``z = fl32(fl32(acc·s_c) + c_c)``, s_c = fl32(m_c), c_c = fl32(bias·m_c + zp + off_c); clamp to
      [lo, hi]; rint.
    * Otherwise ``z = fl32(acc·s_c) + fl32(bias·m_c)``, then z ± off_c with the sign bit of z copied onto
      off_c by integer ops (np.copysign is several times slower); a z whose sign differs from y's has
      |y| ≤ E < 1/4, where both w round to 0. Clamp to [lo − zp, hi − zp], rint, add zp.
    * The error is relative to the size of the element: |acc·s_c − acc·m_c| ≤ |acc·m_c|·2^-24, the
      product's rounding ≤ |acc·m_c|·2^-24(1 + 2^-24), c_c's rounding ≤ |c_c|·2^-24 (its float64 error
      is negligible), the one or two sums' roundings ≤ |z|·2^-24 each. Let B = max(|lo'|, |hi'|) be the
      largest clamp bound in z's units (lo', hi' = lo, hi in the ReLU form, lo − zp, hi − zp in the
      signed one) and W = B + 1. Only elements with |w| ≤ W can end anywhere but at their clamp bound;
      for them |acc·m_c| ≤ W + 1/4 + |c| =: A_c (A_c = acc_bound[c]·m_c when that is smaller) and |z| ≤
      W + 1, so |z − w| ≤ E = 2^-24·(2.001·A + |c| + 2·(W + 1)), and ``ETA = 2·E`` (a factor of two
      for safety). An element with |w| > W is at least 3/2 beyond a bound − 1/2 while its error is at
      most 2^-22·(|w| + 2|c| + 2), which is smaller as long as |c| < 2^20 (:meth:`build` checks it):
      z then clamps to the same bound (or lands within ETA of a tie and is recomputed). Clamping
      commutes with the rounding (a clamped z is an integer, never flagged; one within E < 1/2 of a
      bound rounds to that bound on both paths). The accumulator bound therefore matters only for
      the accumulators' own exactness (float32 below 2^24, the caller's choice), not for ETA.
    * ``d = |z − rint(z)|``; an element is recomputed with ``fixed_point.mbqm`` when d > 1/2 − ETA (this
      takes in the exact ties too). For int8 outputs ETA is about 2^-13 (|c| ≤ 256), so about 2^-11
      of the elements take the slow path. :meth:`build` declines when ETA > 2^-8.
    """

    #: Largest error band accepted (beyond it the float64 Requantizer is used).
    MAX_ETA = 2.0 ** -8
    #: Elements per block (the float32 blocks of acc, z and t stay in L2 cache).
    BLOCK = 1 << 16

    def __init__(self, exact: Requantizer, bias: np.ndarray | None, scale32: np.ndarray, const32: np.ndarray,
                 off32: np.ndarray | None, edge: float) -> None:
        self.exact, self.bias = exact, bias
        self.scale32, self.const32, self.edge = scale32, const32, np.float32(edge)
        self.off_bits = None if off32 is None else off32.view(np.int32)
        zp = 0 if off32 is None else exact.zero_point  # signed form: clamp around 0, add zp at the end
        self.lo32, self.hi32 = np.float32(exact.lo - zp), np.float32(exact.hi - zp)
        self.zp32 = np.float32(exact.zero_point)
        # the integer path's per-channel constants (build admits no left shift: R = −shift ≥ 0), one
        # row each of one table (a single gather per fix): bias, M, R, 2^R − 1, (2^R − 1) >> 1
        m = exact.multiplier.astype(np.int64)
        r = np.maximum(-exact.shift, 0).astype(np.int64)
        b = np.zeros(1, np.int64) if bias is None else np.asarray(bias, np.int64).reshape(-1)
        m, r, b = np.broadcast_arrays(m, r, b)
        mask = (np.int64(1) << r) - 1
        self.fix_tab = np.stack([b, m, r, mask, mask >> 1])

    @classmethod
    def build(cls, exact: Requantizer, bias: np.ndarray | None, acc_bound: np.ndarray | float,
              channels: int) -> Requantizer32 | None:
        """The float32 requantizer for ``exact``'s constants, a constant int64 ``bias`` (one per channel,
        or None) and ``acc_bound`` (per channel or one value), or None when it cannot be proven exact."""
        m = exact.multiplier
        if (not exact.fast or np.any(exact.shift > 0) or max(abs(exact.lo), abs(exact.hi)) > 255
                or abs(exact.zero_point) > 255 or m.size not in (1, channels)):
            return None
        mc = np.broadcast_to(exact.scale, (channels,)).astype(np.float64)
        off = np.broadcast_to(exact.offset, (channels,)).astype(np.float64)
        b = np.zeros(channels) if bias is None else np.broadcast_to(np.asarray(bias, np.float64), (channels,))
        bound = np.broadcast_to(np.asarray(acc_bound, np.float64), (channels,))
        relu = exact.lo - exact.zero_point >= 0
        const = b * mc + (exact.zero_point + off if relu else 0.0)
        zp = 0 if relu else exact.zero_point
        w = max(abs(exact.lo - zp), abs(exact.hi - zp)) + 1.0  # W: |w| beyond it ends at a clamp bound
        cabs = np.abs(const)
        if not np.all(cabs < 2.0 ** 20):
            return None
        a = np.minimum(bound * mc, w + 0.25 + cabs)  # |acc·m_c| of the elements that can be unclamped
        err = 2.0 ** -24 * (2.001 * a + cabs + 2.0 * (w + 1.0))
        eta = 2.0 * float(err.max())
        if not np.isfinite(eta) or eta > cls.MAX_ETA:
            return None
        bias64 = None if bias is None else np.asarray(bias, np.int64).reshape(-1)
        return cls(exact, bias64, mc.astype(np.float32), const.astype(np.float32),
                   None if relu else off.astype(np.float32), 0.5 - eta)

    def __call__(self, acc: np.ndarray, out: np.ndarray, work: Sequence[np.ndarray]) -> None:
        """``out = clamp(zp + MBQM(acc + bias))``; ``acc``: exact integers (float32 or float64), channels
        last; ``work``: two flat float32 buffers of at least ``min(acc.size, BLOCK + channels)``
        elements (``acc.size`` when acc or out is not C-contiguous), and optionally two more of the same
        size where an output of several blocks gets the per-channel constants laid out once per call
        (NumPy multiplies by a full block about twice as fast as by a broadcast row)."""
        n = acc.size
        if n == 0:
            return
        c = acc.shape[-1]
        consts = (self.scale32, self.const32)
        if not (acc.ndim >= 2 and acc.flags.c_contiguous and out.flags.c_contiguous and n > self.BLOCK):
            flat = self._block(acc, out, work[0][:n].reshape(acc.shape), work[1][:n].reshape(acc.shape), *consts)
            if flat is not None:
                self._fix(acc, out, flat)
            return
        a2 = acc.reshape(-1, c)
        self.stream(lambda r0, r1: a2[r0:r1], a2.shape[0], out.reshape(-1, c), work)

    def rows_per_block(self, channels: int) -> int:
        """Rows of ``channels`` elements that :meth:`stream` hands to its producer at a time."""
        return max(1, self.BLOCK // channels)

    def stream(self, produce: Callable[[int, int], np.ndarray], nrows: int, out: np.ndarray,
               work: Sequence[np.ndarray], rows: int = 0) -> None:
        """``out[r0:r1] = requantized produce(r0, r1)`` for consecutive blocks of
        :meth:`rows_per_block` rows: ``produce`` returns the [r1 − r0, C] accumulators of those rows (it
        may compute them into the same buffer each time, e.g. one GEMM per block, so they are still in
        cache here). ``out``: [nrows, C], C-contiguous; ``work`` as for ``__call__``; ``rows``: the
        rows per block when not :meth:`rows_per_block` (at most that many). The near-ties'
        accumulators are kept as they are found and recomputed exactly at the end."""
        c = out.shape[1]
        rows = rows or self.rows_per_block(c)
        consts = (self.scale32, self.const32)
        if len(work) >= 4 and nrows >= 2 * rows:
            full = [w[:rows * c].reshape(rows, c) for w in work[2:4]]
            for f, v in zip(full, consts):
                _tile_rows(f, v)
            consts = (full[0], full[1])
        found, vals = [], []
        for r0 in range(0, nrows, rows):
            r1 = min(nrows, r0 + rows)
            ab = produce(r0, r1)
            k, r = ab.size, r1 - r0
            flat = self._block(ab, out[r0:r1], work[0][:k].reshape(ab.shape), work[1][:k].reshape(ab.shape),
                               consts[0][:r] if consts[0].ndim == 2 else consts[0],
                               consts[1][:r] if consts[1].ndim == 2 else consts[1])
            if flat is not None:
                found.append(flat + r0 * c)
                vals.append(np.ravel(ab)[flat])
        if found:  # the few near-ties of all blocks on the integer path at once
            self._fix_values(np.concatenate(found), np.concatenate(vals), out)

    def _block(self, acc: np.ndarray, out: np.ndarray, z: np.ndarray, t: np.ndarray, scale: np.ndarray,
               const: np.ndarray) -> np.ndarray | None:
        """One block; the flat indices of its elements to recompute exactly, or None."""
        np.multiply(acc, scale, out=z, casting="same_kind")
        np.add(z, const, out=z)
        if self.off_bits is not None:  # z ± off_c, the sign taken from z's sign bit
            ti = t.view(np.int32)
            np.bitwise_and(z.view(np.int32), np.int32(-1 << 31), out=ti)
            np.bitwise_or(ti, self.off_bits, out=ti)
            np.add(z, t, out=z)
        _clip(z, self.lo32, self.hi32, out=z)
        np.rint(z, out=t)
        if self.off_bits is None:
            np.copyto(out, t, casting="unsafe")
        else:
            np.add(t, self.zp32, out=out, casting="unsafe")
        np.subtract(z, t, out=t)  # z − rint(z): near ±1/2 → the exact path
        np.abs(t, out=t)
        # a 64 K block nearly always holds a few near-ties (about 2·ETA of its unclamped elements): find
        # them at once (one compare, one nonzero) rather than test the maximum first
        flat = np.greater(t, self.edge).reshape(-1).nonzero()[0]
        return flat if flat.size else None

    def _fix(self, acc: np.ndarray, out: np.ndarray, flat: np.ndarray) -> None:
        """Recompute the elements at flat indices ``flat`` with the integer path (flat indices: NumPy's
        nonzero of a 2-D mask is an order of magnitude slower than of a 1-D one)."""
        self._fix_values(flat, np.ravel(acc)[flat], out)

    def _fix_values(self, flat: np.ndarray, acc: np.ndarray, out: np.ndarray) -> None:
        """``out.flat[flat] = clamp(zp + MBQM(acc + bias))`` on the integer path; ``acc``: the
        accumulators of those elements. MBQM without a left shift (``build`` refuses one) is
        ``fixed_point.mbqm`` = rdbpot(srdhm(wrap_int32(x), M), R) written out on the per-channel
        constants gathered from one table (``fix_tab``): few NumPy calls, as there are few elements
        (tested equal to ``fixed_point.mbqm``)."""
        ex = self.exact
        tab = self.fix_tab
        b, m, r, mask, half = tab[:, flat % out.shape[-1]] if tab.shape[1] > 1 else tab[:, 0]
        x = acc.astype(np.int64)
        x += b
        x += 1 << 31  # wrap_int32, as TFLM's int32 accumulator
        x &= 0xFFFFFFFF
        x -= 1 << 31
        x *= m  # srdhm: (x·M + 2^30) >> 31, half-up (M ≥ 0: no saturating case)
        x += 1 << 30
        x >>= 31
        # rdbpot(x, R): (x >> R) + ((x & mask) > mask/2 + [x < 0]), half-away
        v = x >> r
        v += (x & mask) > half + (x < 0)
        v += ex.zero_point
        _clip(v, ex.lo, ex.hi, out=v)
        if out.flags.c_contiguous:
            out.reshape(-1)[flat] = v
        else:
            out[np.unravel_index(flat, out.shape)] = v


def _tile_rows(full: np.ndarray, row: np.ndarray) -> None:
    """``full[:] = row`` for a C-contiguous [R, C] ``full``: a few rows by broadcasting, then copies of
    the rows already written, doubling (contiguous copies: a broadcast copy of a short row runs C
    elements at a time: 26 -> 12 us for C = 16, no gain beyond C = 48)."""
    n = full.shape[0]
    if full.shape[1] > 48:  # long rows: the broadcast copy is as fast
        np.copyto(full, row)
        return
    k = min(n, max(1, 1024 // max(1, full.shape[1])))
    np.copyto(full[:k], row)
    while k < n:
        m = min(k, n - k)
        np.copyto(full[k:k + m], full[:m])
        k += m


def requantize(acc: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int, zero_point: int,
               lo: int, hi: int, out: np.ndarray) -> None:
    """``out = clamp(zero_point + MBQM(acc, M, shift), lo, hi)`` (TFLM's double rounding: half-up at
    bit 31, then half-away at the final shift). ``acc`` holds int32 values (any integer dtype);
    ``multiplier``/``shift`` are scalars or arrays broadcasting against ``acc`` (per-channel: one per
    element of the last axis). ``out`` may be any integer dtype that holds ``[lo, hi]``. Runs the
    float64 fast path of :class:`Requantizer` (build one in prepare to set it up once)."""
    m, s = np.asarray(multiplier), np.asarray(shift)
    if m.ndim > 1 or s.ndim > 1:  # not per last axis: the integer path handles any broadcast
        v = fp.mbqm(acc, m, s)
        v += zero_point
        np.clip(v, lo, hi, out=v)
        np.copyto(out, v, casting="unsafe")
        return
    Requantizer(m, s, zero_point, lo, hi)(np.asarray(acc), out)


#: Indices per ``np.take`` call in :func:`take`: NumPy converts an index array to intp (8 bytes an
#: index) before gathering, so one call over a large tensor allocates 8 bytes per element (4.8 MB for
#: EfficientNetB0's 112x112x96 LOGISTIC) and runs from memory; chunks of this size keep that temporary in
#: cache (about 1.7x faster on 600 K indices) and the peak memory bounded.
TAKE_CHUNK = 1 << 16


def take(table: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
    """``out[...] = table[idx]`` for indices known to be in range (``mode="clip"``: NumPy's default
    "raise" also writes through a temporary copy of ``out``), chunk by chunk of :data:`TAKE_CHUNK` when
    ``idx`` and ``out`` are C-contiguous and of one size (one call otherwise)."""
    n = idx.size
    if n <= TAKE_CHUNK or n != out.size or not (idx.flags.c_contiguous and out.flags.c_contiguous):
        np.take(table, idx, out=out, mode="clip")
        return
    i1, o1 = idx.reshape(-1), out.reshape(-1)
    for a in range(0, n, TAKE_CHUNK):
        np.take(table, i1[a:a + TAKE_CHUNK], out=o1[a:a + TAKE_CHUNK], mode="clip")
