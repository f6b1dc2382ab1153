"""keras2edge.check.support against the tflite-micro package itself: every probe model (the float,
int32 and bool cases of tests/runtime/kernels/builtin_cases.py and their int8 twins) runs in a forked
TFLite Micro, and the table must say exactly what the package did."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.check.support import (
    LITERT_REFUSED,
    SUPPORTED,
    TFLM_KERNELS,
    TFLM_MISSING,
    TFLM_REFUSED,
    UNSUPPORTED,
    WRONG,
    check_op,
    int16_kernel,
)
from keras2edge.runtime import schema
from keras2edge.runtime.reader import load_model

from ..convert.tflite.qdq_models import integer_probes
from ..runtime.int8_bench import T, one_op_model
from .probe import OK, trial
from .support_cases import probe_cases

pytest.importorskip("tflite_micro")

# Probe cases TFLite Micro refuses for their parameters, not their builtin or dtype (the table says
# "supported"; the reason is why the probe's generic int8 parameters do not fit).
PARAMETER_FAILURES = {
    "softmax_int8": "int8 SOFTMAX needs output scale 1/256, zero point -128",
    "softmax_beta_4d_int8": "int8 SOFTMAX needs output scale 1/256, zero point -128",
    "logistic_int8": "int8 LOGISTIC needs output scale 1/256, zero point -128",
    "rsqrt_int8": "the probe feeds values below the zero point: 'Rsqrt is only defined for positive values'",
}


@pytest.fixture(scope="module")
def probed() -> list[tuple[str, str, str, bytes, str]]:
    return [(op, dt, name, data, trial(data, 1 << 20, feeds)) for op, dt, name, data, feeds in probe_cases()]


def _status(data: bytes) -> str:
    m = load_model(data)
    sg = m.subgraphs[0]
    op = sg.operators[0]
    return check_op(schema.op_name(m.operator_codes[op.opcode_index].builtin_code), m, sg, op)[0]


def test_table_says_what_tflm_does(probed) -> None:
    wrong = []
    for op, dt, name, data, outcome in probed:
        status = _status(data)
        if name in PARAMETER_FAILURES:
            assert outcome != OK and status == SUPPORTED, name
            continue
        # WRONG: TFLite Micro runs it, with wrong results (the documented rules)
        expected = {SUPPORTED, WRONG} if outcome == OK else {UNSUPPORTED}
        if status not in expected:
            wrong.append(f"{name} ({op} {dt}): TFLite Micro {outcome}, table {status}")
    assert not wrong, "\n".join(wrong)


def test_every_table_entry_was_probed(probed) -> None:
    ran = {(op, dt) for op, dt, _, _, outcome in probed if outcome == OK}
    int8_models = {"SOFTMAX", "LOGISTIC", "QUANTIZE", "RSQRT"}  # int8 entries proven by test_int8_entries below
    lowered = {(op, dt) for op, dt, *_ in integer_probes()}    # proven by test_integer_lowering_entries
    missing = [(op, dt) for op, dts in TFLM_KERNELS.items() for dt in dts
               if (op, dt) not in ran and (op, dt) not in lowered and not (op in int8_models and dt == "int8")]
    assert not missing
    refused = {op for op, _, _, _, outcome in probed if outcome != OK}
    assert TFLM_MISSING <= refused


@pytest.mark.parametrize("op,out", [("SOFTMAX", T((2, 10), np.int8, 1 / 256, -128)),
                                    ("LOGISTIC", T((2, 10), np.int8, 1 / 256, -128)),
                                    ("QUANTIZE", T((2, 10), np.int8, 0.1, 3)),
                                    ("RSQRT", T((2, 10), np.int8, 0.1, 3))])
def test_int8_entries(op: str, out: T) -> None:
    data = one_op_model(op, [T((2, 10), np.int8, 0.05, -3)], [out], {"beta": 1.0} if op == "SOFTMAX" else None)
    feeds = [np.arange(-3, 17, dtype=np.int8).reshape(2, 10)]  # at or above the zero point (RSQRT needs it)
    assert trial(data, 1 << 16, feeds) == OK and _status(data) == SUPPORTED


@pytest.mark.parametrize("probe", integer_probes(), ids=lambda p: p[2])
def test_integer_lowering_entries(probe) -> None:
    """The int16 entries, int8 TRANSPOSE_CONV and uint8 QUANTIZE: one-operator files of the TFLite
    emitter's integer lowering (16x8 weights int8, biases int64) allocate and invoke in TFLite Micro."""
    from keras2edge.convert.tflite import tflite_bytes

    op, dtype, _, graph, feeds = probe
    data = tflite_bytes(graph)
    m = load_model(data)
    assert len(m.subgraphs[0].operators) == 1
    assert trial(data, 1 << 20, [feeds[v.name] for v in graph.inputs]) == OK
    assert _status(data) == SUPPORTED and dtype in TFLM_KERNELS[op]


def test_float_to_uint8_quantize_is_refused() -> None:
    data = one_op_model("QUANTIZE", [T((2, 10), np.float32)], [T((2, 10), np.uint8, 0.1, 128)])
    assert trial(data, 1 << 16) != OK
    assert _status(data) == UNSUPPORTED


def test_per_channel_dequantize_runs_wrong_and_is_reported() -> None:
    from ..tflm import tflm

    x = np.array([[10, 10], [10, 10]], np.int8)
    data = one_op_model("DEQUANTIZE", [T((2, 2), np.int8, [0.5, 2.0], [0, 0], axis=1)], [T((2, 2), np.float32)])
    got = tflm(data, [x])[0]
    assert np.array_equal(got, np.full((2, 2), 5.0, np.float32))  # 0.5 for both channels, not [5, 20]
    assert _status(data) == WRONG


def test_depthwise_without_bias_is_reported() -> None:
    data = one_op_model("DEPTHWISE_CONV_2D", [T((1, 4, 4, 2), np.float32),
                                              T((1, 3, 3, 2), np.float32, data=np.ones((1, 3, 3, 2), np.float32)), None],
                        [T((1, 4, 4, 2), np.float32)],
                        {"padding": 0, "stride_h": 1, "stride_w": 1, "depth_multiplier": 1,
                         "fused_activation_function": 0, "dilation_h_factor": 1, "dilation_w_factor": 1})
    assert trial(data, 1 << 16) != OK
    assert _status(data) == UNSUPPORTED


def _refusal_probe(op: str, dtype: str) -> bytes:
    """A one-op model of ``op`` on ``dtype`` with parameters LiteRT accepts for that dtype."""
    dt = np.dtype(dtype)
    q = None if dt.kind == "f" else (0.05, 0)
    x = T((1, 4, 4, 2), dt, *(q or (None, 0)))
    y = T((1, 4, 4, 2), dt, *(q or (None, 0)))
    if op in ("REDUCE_MAX", "REDUCE_MIN"):
        axis = T((1,), np.int32, data=np.array([1], np.int32))
        return one_op_model(op, [x, axis], [T((1, 4, 2), dt, *(q or (None, 0)))], {"keep_dims": False})
    if op == "RESIZE_BILINEAR":
        size = T((2,), np.int32, data=np.array([8, 8], np.int32))
        return one_op_model(op, [x, size], [T((1, 8, 8, 2), dt, *(q or (None, 0)))])
    return one_op_model(op, [x], [y])


@pytest.mark.parametrize("op,dtype", sorted((op, dt) for op, dts in TFLM_REFUSED.items() for dt in dts
                                            if dt in ("int8", "int16")))
def test_refused_quantized_entries(op: str, dtype: str) -> None:
    """Every int8 / int16 refusal of the table is what TFLite Micro does with that one-op model."""
    data = _refusal_probe(op, dtype)
    feeds = [np.arange(32, dtype=dtype).reshape(1, 4, 4, 2)]  # valid values for every op of the table
    assert trial(data, 1 << 16, feeds) != OK and _status(data) == UNSUPPORTED


def test_hybrid_fully_connected_is_refused() -> None:
    """A dynamic-range FULLY_CONNECTED (float input, int8 weights): TFLite Micro refuses it, and so does
    the table."""
    w = T((3, 4), np.int8, [0.02, 0.03, 0.01], [0, 0, 0], axis=0, data=np.arange(12, dtype=np.int8).reshape(3, 4))
    data = one_op_model("FULLY_CONNECTED", [T((2, 4), np.float32), w, None], [T((2, 3), np.float32)],
                        {"asymmetric_quantize_inputs": True})
    assert trial(data, 1 << 16, [np.ones((2, 4), np.float32)]) != OK
    assert _status(data) == UNSUPPORTED


def _litert_child(data: bytes, feeds: list[np.ndarray], tflm_runs: bool) -> int:
    """3: LiteRT refuses the model; 6: it runs with outputs more than one LSB from TFLite Micro's; 0: it runs
    (when ``tflm_runs``, with TFLite Micro's outputs or within one LSB: LiteRT's reference FULLY_CONNECTED
    rounds otherwise, docs/int8-findings.md)."""
    from ai_edge_litert.interpreter import Interpreter as LiteRT
    from ai_edge_litert.interpreter import OpResolverType

    from ..tflm import tflm

    try:
        it = LiteRT(model_content=data, num_threads=1, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        it.allocate_tensors()
        for d, x in zip(it.get_input_details(), feeds):
            it.set_tensor(d["index"], np.ascontiguousarray(x, d["dtype"]))
        it.invoke()
        got = [np.array(it.get_tensor(d["index"])) for d in it.get_output_details()]
    except Exception:  # noqa: BLE001 - any refusal is the answer
        return 3
    if tflm_runs:
        want = tflm(data, feeds, n_outputs=len(got))
        if any(np.abs(g.astype(np.int64) - w.reshape(g.shape).astype(np.int64)).max(initial=0) > 1
               for g, w in zip(got, want)):
            return 6
    return 0


def _litert_outcome(data: bytes, feeds: list[np.ndarray], tflm_runs: bool) -> str:
    """"same" / "differs" (LiteRT's reference kernels against TFLite Micro) or "refused", run in a forked
    child: LiteRT aborts the process on some int16 models (a broadcasting ADD with ``pot_scale_int16``)."""
    import os

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 5
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            code = _litert_child(data, feeds, tflm_runs)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 5
    return {0: "same", 6: "differs"}.get(code, "refused")


def test_int16_kernels_run_in_litert(probed) -> None:
    """16x8 facts: every int16 probe TFLite Micro runs also runs in LiteRT's reference kernels, with
    TFLite Micro's outputs, unless LITERT_REFUSED (refused) or LITERT_WRONG (other outputs) lists its
    builtin, and each probe of a listed builtin does what the table says; ``int16_kernel`` is true
    exactly for the builtins with an int16 probe that runs in both with the same outputs."""
    from keras2edge.check.support import LITERT_WRONG
    from keras2edge.convert.tflite import tflite_bytes

    outcomes = {name: outcome for _op, _dt, name, _data, outcome in probed}
    cases = [(op, name, data, feeds, outcomes[name]) for op, dt, name, data, feeds in probe_cases() if dt == "int16"]
    cases += [(op, name, tflite_bytes(g), [feeds[v.name] for v in g.inputs], OK)
              for op, dt, name, g, feeds in integer_probes() if dt == "int16"]
    wrong = []
    both: dict[str, bool] = {}
    for op, name, data, feeds, tflm_outcome in cases:
        got = _litert_outcome(data, feeds, tflm_outcome == OK)
        want = ("refused" if "int16" in LITERT_REFUSED.get(op, frozenset()) else
                "differs" if "int16" in LITERT_WRONG.get(op, frozenset()) else "same")
        if got != want and (tflm_outcome == OK or want == "refused"):
            wrong.append(f"{name} ({op} int16): LiteRT {got}, table {want} (TFLite Micro {tflm_outcome})")
        both[op] = both.get(op, False) or (got == "same" and tflm_outcome == OK)
    assert not wrong, "\n".join(wrong)
    listed = {op for table in (LITERT_REFUSED, LITERT_WRONG) for op, dts in table.items() if "int16" in dts}
    assert listed <= set(both)
    assert sorted(op for op in both if int16_kernel(op)) == sorted(op for op, ok in both.items() if ok)
