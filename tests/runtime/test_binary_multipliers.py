"""The real-multiplier precision of MUL, ADD and SUB (``fixed_point.REAL_MULTIPLIERS``) against TFLite Micro.

Each model broadcasts x1 [256, 1] against x2 [1, 256] (every pair of int8 values, 65,536 outputs).
Random scales almost never tell a float32 rule from a double one, so besides random cases each
test searches scales where the rule ``fixed_point`` claims and the other precision give different
outputs, and TFLM must follow the claimed one. Expected outputs are the integer pipelines of
int8-arithmetic.md §3.6 (ADD/SUB: left shift 20, three roundings) and §3.7 (MUL: one MBQM).

Found here, against int8-arithmetic.md §2.7/§3.6: TFLM forms SUB's multipliers in double like ADD's
(not float32); LiteRT BUILTIN_REF agrees with TFLM on ADD and SUB but computes MUL's multiplier all
in float32 (``float32(s1·s2/s_out)``) where TFLM uses double — asserted as LiteRT's own rule.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from keras2edge.runtime import fixed_point as fp

from .int8_bench import ALL_INT8, T, one_op_model, run_litert_ref, run_tflm

Q1 = ALL_INT8.reshape(256, 1)
Q2 = ALL_INT8.reshape(1, 256)


def _mul(reals: float, z1: int, z2: int, zo: int) -> np.ndarray:
    m, s = fp.quantize_multiplier(reals)
    acc = (Q1.astype(np.int64) - z1) * (Q2.astype(np.int64) - z2)
    return np.clip(fp.mbqm(acc, m, s) + zo, -128, 127).astype(np.int8)


def _add_or_sub(sign: int) -> Callable[..., np.ndarray]:
    def pipeline(reals: tuple[float, float, float], z1: int, z2: int, zo: int) -> np.ndarray:
        (m1, e1), (m2, e2), (mo, eo) = (fp.quantize_multiplier_smaller_than_one_exp(r) for r in reals)
        a = fp.mbqm_smaller_than_one_exp((Q1.astype(np.int64) - z1) << fp.ADD_LEFT_SHIFT, m1, e1)
        b = fp.mbqm_smaller_than_one_exp((Q2.astype(np.int64) - z2) << fp.ADD_LEFT_SHIFT, m2, e2)
        return np.clip(fp.mbqm_smaller_than_one_exp(a + sign * b, mo, eo) + zo, -128, 127).astype(np.int8)
    return pipeline


def _mul_float32(s1: float, s2: float, so: float) -> float:
    """MUL's multiplier all in float32: what LiteRT's reference MUL computes (found by these tests)."""
    return float(np.float32(s1) * np.float32(s2) / np.float32(so))


def _add_float32(s1: float, s2: float, so: float) -> tuple[float, float, float]:
    """ADD's formulas in float32: what int8-arithmetic.md §3.6 says SUB does (neither runtime does)."""
    f1, f2, fo = np.float32(s1), np.float32(s2), np.float32(so)
    twice_max = np.float32(2) * max(f1, f2)
    return float(f1 / twice_max), float(f2 / twice_max), float(twice_max / (np.float32(1 << fp.ADD_LEFT_SHIFT) * fo))


OPS = {  # op: (expected pipeline, TFLM's rule, the other precision, LiteRT BUILTIN_REF's rule)
    "MUL": (_mul, fp.REAL_MULTIPLIERS["MUL"], _mul_float32, _mul_float32),
    "ADD": (_add_or_sub(1), fp.REAL_MULTIPLIERS["ADD"], _add_float32, fp.REAL_MULTIPLIERS["ADD"]),
    "SUB": (_add_or_sub(-1), fp.REAL_MULTIPLIERS["SUB"], _add_float32, fp.REAL_MULTIPLIERS["SUB"]),
}


def _cases(op: str, seed: int, n_random: int, n_separating: int) -> list[tuple[float, float, float, int, int, int]]:
    pipeline, claimed, other, _ = OPS[op]
    rng = np.random.default_rng(seed)
    cases, separating = [], 0
    for _ in range(4000):
        s1, s2 = (float(np.float32(v)) for v in np.exp(rng.uniform(np.log(1e-3), np.log(0.5), 2)))
        so = float(np.float32((s1 * s2 * 200 if op == "MUL" else max(s1, s2) * 2.5) * np.exp(rng.uniform(-0.7, 0.7))))
        z1, z2, zo = (int(v) for v in rng.integers(-128, 128, 3))
        if len(cases) < n_random:
            cases.append((s1, s2, so, z1, z2, zo))
            continue
        a, b = claimed(s1, s2, so), other(s1, s2, so)
        same_q = np.array_equal(np.array([fp.quantize_multiplier(v) for v in np.atleast_1d(a)]),
                                np.array([fp.quantize_multiplier(v) for v in np.atleast_1d(b)]))
        if not same_q and not np.array_equal(pipeline(a, z1, z2, zo), pipeline(b, z1, z2, zo)):
            cases.append((s1, s2, so, z1, z2, zo))
            separating += 1
            if separating == n_separating:
                break
    assert separating == n_separating, f"{op}: found only {separating} scale sets separating the two precisions"
    return cases


def _check(op: str, seed: int) -> None:
    pipeline, claimed, _, litert_rule = OPS[op]
    for s1, s2, so, z1, z2, zo in _cases(op, seed, n_random=4, n_separating=3):
        model = one_op_model(op, [T((256, 1), scale=s1, zero_point=z1), T((1, 256), scale=s2, zero_point=z2)],
                             [T((256, 256), scale=so, zero_point=zo)], options={})
        want = pipeline(claimed(s1, s2, so), z1, z2, zo)
        micro = run_tflm(model, [Q1, Q2])[0]
        assert np.array_equal(micro, want), f"{op} {s1},{z1} {s2},{z2} -> {so},{zo}: TFLM differs in " \
                                            f"{np.count_nonzero(micro != want)} elements"
        litert_want = pipeline(litert_rule(s1, s2, so), z1, z2, zo)
        assert np.array_equal(run_litert_ref(model, [Q1, Q2])[0], litert_want), f"{op}: LiteRT BUILTIN_REF differs"


def test_mul_multiplier_is_double() -> None:
    _check("MUL", 1)


def test_add_multipliers_are_double() -> None:
    _check("ADD", 2)


def test_sub_multipliers_are_double() -> None:
    _check("SUB", 3)
