"""Files written by ``write_model`` load and run in LiteRT (reference and default kernels) and TFLite
Micro with the expected outputs; rewritten converter and corpus files compute exactly what the
originals compute."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.convert.tflite import write_model
from keras2edge.runtime.reader import load_model

from ...litert import litert
from ...tflm import tflm
from .helpers import conv_mean_model, fc_relu_model, gelu_model
from .test_roundtrip import FOREIGN_FILES, foreign_path

TINY = {"fc_relu": fc_relu_model, "conv_mean": conv_mean_model}


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("runner", ["litert_ref", "litert_default", "tflm"])
def test_tiny_float_models_run(name: str, runner: str) -> None:
    model, ref = TINY[name]()
    data = write_model(model)
    x = np.random.default_rng(5).standard_normal(model.subgraphs[0].tensors[0].shape).astype(np.float32)
    if runner == "tflm":
        (got,) = tflm(data, [x], arena=1 << 20)
    else:
        (got,) = litert(data, [x], reference=runner == "litert_ref")
    want = ref(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_signature_runner_and_127_rule_in_litert() -> None:
    """GELU (code 150) needs the 127 rule; the signature def makes get_signature_runner work."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    model, ref = gelu_model()
    data = write_model(model)
    x = np.linspace(-3, 3, 6, dtype=np.float32).reshape(1, 6)
    for kw in ({"experimental_op_resolver_type": OpResolverType.BUILTIN_REF}, {}):
        it = Interpreter(model_content=data, **kw)
        out = it.get_signature_runner("serving_default")(x=x)
        np.testing.assert_allclose(out["y"], ref(x), rtol=1e-5, atol=1e-5)


def _outputs(run, data: bytes, inputs: list[np.ndarray]):  # noqa: ANN001, ANN202
    try:
        return run(data, inputs)
    except Exception as e:  # noqa: BLE001 - the runtime's own refusal, compared below
        return e


@pytest.mark.parametrize("name", FOREIGN_FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_rewritten_foreign_files_compute_the_same(name: str) -> None:
    original = open(foreign_path(name), "rb").read()
    rewritten = write_model(load_model(original))
    ran = 0
    for name, run in (("litert_ref", lambda d, i: litert(d, i, reference=True)),
                      ("litert_default", lambda d, i: litert(d, i, reference=False)), ("tflm", lambda d, i: tflm(d, i, arena=1 << 20))):
        inputs = _inputs_for(original)
        want = _outputs(run, original, inputs)
        got = _outputs(run, rewritten, inputs)
        if isinstance(want, Exception):
            # e.g. LiteRT refuses person_detect's bias quantized_dimension 3, TFLM lacks an op:
            # the rewrite must be refused the same way
            assert isinstance(got, Exception) and type(got) is type(want), (name, want, got)
            continue
        assert not isinstance(got, Exception), (name, got)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and np.array_equal(g, w), name
        ran += 1
    assert ran >= 1, "no runtime could run the original"


def _inputs_for(data: bytes) -> list[np.ndarray]:
    model = load_model(data)
    sg = model.subgraphs[0]
    rng = np.random.default_rng(11)
    out = []
    for i in sg.inputs:
        t = sg.tensors[i]
        dt = t.dtype
        if np.issubdtype(dt, np.floating):
            out.append(rng.uniform(0, 1, t.shape).astype(dt))
        else:
            info = np.iinfo(dt)
            out.append(rng.integers(info.min, info.max, t.shape, endpoint=True).astype(dt))
    return out
