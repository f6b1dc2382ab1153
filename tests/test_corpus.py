"""Every Keras file in shared/corpus behaves as CATALOG.md says, through the whole ONNX path.

Convertible files: onnxruntime on the written ONNX must match the file's value oracle
(tests/corpus_oracles.py: the catalog's reference data, Keras' recorded outputs, or an independent
NumPy model) within ``tolerances.CORPUS``. Must-fail files fail with the cause named and no output
file written. The TFLite path of the same files: tests/convert/tflite/test_corpus.py.
"""

from __future__ import annotations

import os
import re

import pytest

import keras2edge
from keras2edge.errors import Keras2EdgeError, UnsupportedLayerError

from .onnxrt import run_graph_onnx
from .corpus import CORPUS, corpus, require_corpus
from .corpus_cases import CASES, CONVERTIBLE, NOT_MODELS, ORACLE_ELSEWHERE, OTHER_FILES
from .corpus_oracles import oracle, oracle_kind
from .tolerances import CORPUS as TOLERANCE, scaled_error


def load_case(rel: str) -> keras2edge.Graph | None:
    """Import a convertible corpus file (None: a refusal CATALOG.md allows, e.g. Masking)."""
    weights, expect = CASES[rel]
    try:
        return keras2edge.load(corpus(rel), corpus(weights) if weights else None)
    except UnsupportedLayerError as e:
        allowed = expect.split(":", 1)[1] if expect.startswith("convert-or-fail:") else None
        if allowed and allowed in str(e):
            return None
        raise


@pytest.mark.parametrize("rel", sorted(CASES))
def test_corpus_model(rel: str, tmp_path) -> None:
    weights, expect = CASES[rel]
    wpath = corpus(weights) if weights else None
    out = tmp_path / "out.onnx"
    if expect.startswith("fail:"):
        with pytest.raises(Keras2EdgeError) as ei:
            keras2edge.convert_model(corpus(rel), out, weights=wpath)
        assert expect[5:] in str(ei.value)
        assert not out.exists() and not os.listdir(tmp_path)
        return
    try:
        graph = keras2edge.convert_model(corpus(rel), out, weights=wpath)
    except UnsupportedLayerError as e:
        if expect.startswith("convert-or-fail:") and expect.split(":", 1)[1] in str(e):
            assert not os.listdir(tmp_path)
            return
        raise
    graph.verify()
    assert out.exists()
    # Every node carries the Keras layer it came from.
    assert all(n.origin is not None for n in graph.nodes)
    if rel in ORACLE_ELSEWHERE:
        return
    o = oracle(rel)
    got = run_graph_onnx(graph, {v.name: x for v, x in zip(graph.inputs, o.inputs)})
    errs = [scaled_error(g, y) for g, y in zip(got, o.outputs)]
    assert len(got) == len(o.outputs) and max(errs) <= TOLERANCE, f"{rel} ({o.kind} oracle): errors {errs}"


@pytest.mark.parametrize("rel", sorted(NOT_MODELS))
def test_corpus_not_a_model(rel: str, tmp_path) -> None:
    out = tmp_path / "out.onnx"
    with pytest.raises(Keras2EdgeError) as ei:
        keras2edge.convert_model(corpus(rel), out)
    assert NOT_MODELS[rel] in str(ei.value)
    assert not os.listdir(tmp_path)


def test_every_convertible_file_has_a_value_oracle() -> None:
    lacking = [rel for rel in CONVERTIBLE if oracle_kind(rel) is None and rel not in ORACLE_ELSEWHERE]
    assert not lacking, f"convertible corpus files without a value oracle: {lacking}"


def test_every_catalog_file_has_a_case() -> None:
    """The catalog's sha256 list and the tables of tests/corpus_cases.py name the same files, and the
    corpus folder holds exactly those files (none missing, none unclassified)."""
    require_corpus()
    listed = set(re.findall(r"^[0-9a-f]{64}  (\S+)$", (CORPUS / "CATALOG.md").read_text(), re.M))
    tables = [set(CASES), set(NOT_MODELS), set(OTHER_FILES)] + [{w for w, _ in CASES.values() if w}]
    assert listed == set().union(*tables), sorted(listed ^ set().union(*tables))
    present = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file() and p.name != "CATALOG.md"}
    assert present == listed, sorted(present ^ listed)
