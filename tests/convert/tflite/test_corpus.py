"""Every Keras file in shared/corpus that must convert, through the TFLite path.

The emitted ``.tflite`` runs in LiteRT (default kernels, and reference kernels where they have
every builtin; resized to the oracle's batch), in keras2edge.runtime, and in TFLite Micro whenever
it has every builtin used (written at the oracle's batch). Each must match the file's value oracle
(tests/corpus_oracles.py: catalog reference data, recorded Keras outputs or an independent NumPy
model; never keras2edge's own IR evaluator) within ``tolerances.CORPUS``.
"""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.convert.tflite import to_tflite, write_model
from keras2edge.runtime import Interpreter
from keras2edge.runtime.schema import op_name

from ...corpus_cases import CONVERTIBLE, ORACLE_ELSEWHERE
from ...corpus_oracles import oracle
from ...litert import LITERT_REF_MISSING, litert
from ...test_corpus import load_case
from ...tolerances import CORPUS as TOLERANCE, scaled_error
from .helpers import check_with_tflite_package
from ...tflm import tflm, tflm_unsupported


def _check(label: str, got: list[np.ndarray], want: list[np.ndarray]) -> None:
    errs = [scaled_error(g, w) for g, w in zip(got, want)]
    assert len(got) == len(want) and max(errs) <= TOLERANCE, f"{label}: errors {errs}"


@pytest.mark.parametrize("rel", [r for r in CONVERTIBLE if r not in ORACLE_ELSEWHERE])
def test_corpus_tflite(rel: str) -> None:
    graph = load_case(rel)
    if graph is None:
        pytest.skip("refused by the importer, as CATALOG.md allows (see test_corpus.py)")
    o = oracle(rel)
    xs, want = o.inputs, o.outputs
    model = to_tflite(graph)
    data = write_model(model)
    check_with_tflite_package(data, model)
    _check(f"{rel} LiteRT default kernels", litert(data, xs, reference=False), want)
    if not {(op_name(c.builtin_code), c.version) for c in model.operator_codes} & LITERT_REF_MISSING:
        _check(f"{rel} LiteRT reference kernels", litert(data, xs, reference=True), want)
    ours = Interpreter(data).run(list(xs))
    _check(f"{rel} keras2edge.runtime", list(ours.values()) if isinstance(ours, dict) else [ours], want)
    if not tflm_unsupported(model):
        micro = write_model(to_tflite(graph, batch=xs[0].shape[0]))
        _check(f"{rel} TFLite Micro", tflm(micro, xs, len(want), arena=64 << 20), want)
