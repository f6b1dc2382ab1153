"""Real-Keras fixtures (tests/fixtures, Keras 2 and 3) through the TFLite path: every entry that must
convert is loaded (cleanup passes applied), emitted to ``.tflite``, and run in LiteRT at the fixture's
batch size (the file is written at batch 1; the inputs are resized) and in TFLite Micro (written at
the fixture's batch) whenever TFLite Micro has every builtin used. Outputs must match the outputs
Keras recorded, within ``tolerances.KERAS_FIXTURES`` (relative to the output's peak magnitude).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import keras2edge
from keras2edge.convert.tflite import to_tflite, write_model
from keras2edge.runtime.schema import op_name

from ...corpus import FIXTURES
from ...litert import LITERT_REF_MISSING, litert, litert_signature
from ...test_fixtures import KERAS_BUGS
from ...tolerances import KERAS_FIXTURES as TOLERANCE, scaled_error
from .helpers import check_with_tflite_package
from ...tflm import tflm, tflm_unsupported

MANIFEST = [e for e in json.loads((FIXTURES / "manifest.json").read_text()) if e["expect"] == "convert"]
WORST: dict[str, float] = {}


def _id(e: dict) -> str:
    return f"{e['era']}-{e['model']}-{e['format']}"


def _expected(entry: dict, io: np.lib.npyio.NpzFile, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    (x0,) = feeds.values() if len(feeds) == 1 else (None,)
    return [KERAS_BUGS[name](x0) if name in KERAS_BUGS and x0 is not None else io[f"out:{k}"]
            for k, name in enumerate(entry["outputs"])]


@pytest.mark.parametrize("entry", MANIFEST, ids=[_id(e) for e in MANIFEST])
def test_fixture_tflite(entry: dict) -> None:
    weights = FIXTURES / entry["weights"] if entry.get("weights") else None
    graph = keras2edge.load(FIXTURES / entry["file"], weights)
    io = np.load(FIXTURES / entry["io"], allow_pickle=False)
    feeds = {k[3:]: io[k] for k in io.files if k.startswith("in:")}
    want = _expected(entry, io, feeds)
    xs = [feeds[v.name] for v in graph.inputs]

    model = to_tflite(graph)
    data = write_model(model)
    check_with_tflite_package(data, model)
    sig = model.signature_defs[0]
    assert [n for n, _ in sig.inputs] == [v.name for v in graph.inputs]
    assert sorted(n for n, _ in sig.inputs) == sorted(feeds)
    assert [n for n, _ in sig.outputs] == entry["outputs"]

    errs = [scaled_error(g, w) for g, w in zip(litert(data, xs, reference=False), want)]
    WORST[_id(entry)] = max(errs)
    assert max(errs) <= TOLERANCE, f"{_id(entry)} LiteRT (default kernels): errors {errs}"
    codes = {(op_name(c.builtin_code), c.version) for c in model.operator_codes}
    if not codes & LITERT_REF_MISSING:
        errs_ref = [scaled_error(g, w) for g, w in zip(litert(data, xs, reference=True), want)]
        assert max(errs_ref) <= TOLERANCE, f"{_id(entry)} LiteRT reference kernels: errors {errs_ref}"
    by_name = litert_signature(data, feeds)
    assert sorted(by_name) == sorted(entry["outputs"])
    for k, name in enumerate(entry["outputs"]):
        assert scaled_error(by_name[name], want[k]) <= TOLERANCE, f"signature output {name}"

    lacking = tflm_unsupported(model)
    if lacking:
        pytest.skip(f"TFLite Micro lacks {lacking}")
    batch = xs[0].shape[0]
    micro = write_model(to_tflite(graph, batch=batch))
    errs_micro = [scaled_error(g, w) for g, w in zip(tflm(micro, xs, len(want)), want)]
    assert max(errs_micro) <= TOLERANCE, f"{_id(entry)} TFLite Micro: errors {errs_micro}"
