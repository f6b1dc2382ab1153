"""Every Keras file in shared/corpus that must convert, through the TFLite path.

The emitted ``.tflite`` runs in LiteRT (resized to the data's batch); where the corpus has reference
data (Keras' recorded predictions) the outputs must match it, elsewhere they must match the IR's own
semantics (``keras2edge.ir.evaluate``) on random inputs. TFLite Micro runs the same check whenever it
has every builtin used.
"""

from __future__ import annotations

import numpy as np
import pytest

import keras2edge
from keras2edge.convert.tflite import to_tflite, write_model
from keras2edge.errors import UnsupportedLayerError
from keras2edge.ir.evaluate import evaluate

from ..conftest import corpus, rel_err
from ..litert import litert
from ..test_corpus import CASES, REFERENCE, _feeds, _reference
from .tflite_reader import check_with_tflite_package
from .tflite_testing import tflm, tflm_unsupported

CONVERT = sorted(rel for rel, (_, expect) in CASES.items() if expect.startswith("convert"))
TOLERANCE = 1e-4


@pytest.mark.parametrize("rel", CONVERT)
def test_corpus_tflite(rel: str) -> None:
    weights, expect = CASES[rel]
    try:
        graph = keras2edge.load(corpus(rel), corpus(weights) if weights else None)
    except UnsupportedLayerError as e:
        if expect == "convert-or-fail:Masking" and "Masking" in str(e):
            pytest.skip("Masking refused by the importer (allowed by CATALOG.md)")
        raise
    if rel in REFERENCE:
        xs, want = _reference(REFERENCE[rel])
    else:
        feeds = _feeds(graph, np.random.default_rng(0), batch=graph.inputs[0].shape[0] or 2)
        xs = [feeds[v.name] for v in graph.inputs]
        want = list(evaluate(graph, feeds).values())
    model = to_tflite(graph)
    data = write_model(model)
    check_with_tflite_package(data, model)
    got = litert(data, xs, reference=False)
    errs = [rel_err(g, w) for g, w in zip(got, want)]
    assert max(errs) <= TOLERANCE, f"{rel} LiteRT: errors {errs}"
    if not tflm_unsupported(model):
        micro = write_model(to_tflite(graph, batch=xs[0].shape[0]))
        errs = [rel_err(g, w) for g, w in zip(tflm(micro, xs, len(want), arena=64 << 20), want)]
        assert max(errs) <= TOLERANCE, f"{rel} TFLite Micro: errors {errs}"
