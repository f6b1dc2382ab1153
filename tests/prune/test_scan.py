"""The auto schedule's end-to-end scan (prune.scan) and the recovery of recurrent kernels (refit and
bias correction through the layer's bias), on the trained digits fixtures."""

from __future__ import annotations

import numpy as np

from keras2edge.prune import PruneOptions, prune_graph
from keras2edge.prune.allocate import magnitude_zero
from keras2edge.prune.scan import EndToEnd, end_to_end_curves, outputs
from keras2edge.prune.stats import collect
from keras2edge.prune.targets import find_targets

from .helpers import graph, split


def test_end_to_end_error_is_the_kl_of_the_softmax_outputs() -> None:
    g = graph("digits_mlp")
    x = split("digits_mlp", "calib")[0][:64]
    e2e = EndToEnd(g, x, 32)
    assert e2e.softmax == [True]
    assert e2e.error(g) == 0.0
    p = graph("digits_mlp")
    t = find_targets(p)[0]
    w = np.asarray(t.value(p).const)
    p.replace_const(t.value(p), magnitude_zero(w, w.size // 2))
    q = outputs(p, x, 32)[0]
    ref = e2e.ref[0]
    kl = np.mean(np.sum(ref * (np.log(np.maximum(ref, 1e-12)) - np.log(np.maximum(q, 1e-12))), axis=1))
    assert e2e.error(p) > 0
    np.testing.assert_allclose(e2e.error(p), kl, rtol=1e-12)


def test_end_to_end_curves_rank_the_stem_above_a_1x1_conv() -> None:
    """On the digits CNN the 144-weight stem costs more end to end than the 1152-weight ir_expand at
    every sparsity of the grid (the per-layer output error ranks them the other way round)."""
    g = graph("digits_cnn")
    x = split("digits_cnn", "calib")[0]
    ts = [t for t in find_targets(g) if t.layer in ("stem_conv", "ir_expand")]
    ws = {t.name: np.asarray(t.value(g).const) for t in ts}
    curves = end_to_end_curves(g, ts, ws, collect(g, ts, x), x, 64, lambda t, w: w, recover=True,
                               grid=(0.0, 0.5, 0.9))
    stem, expand = curves["stem_conv/kernel"], curves["ir_expand/kernel"]
    assert [c for c, _ in stem] == [0, 72, 130] and stem[0][1] == 0.0
    assert all(b[1] >= a[1] for a, b in zip(stem, stem[1:]))          # monotone envelope
    assert stem[1][1] > expand[1][1] and stem[2][1] > expand[2][1]


def test_recurrent_kernel_is_refitted_and_bias_corrected(monkeypatch) -> None:
    """The LSTM's recurrent kernel (read at 7 unrolled steps) is refitted and its mean shift goes to
    the layer's bias; the refits bring the pruned model's class probabilities on the calibration data
    closer to the unpruned model's (KL) than the first fit alone, and the refitted kernel keeps its
    pruned entries at zero (50% over the prunable weights). Measured KL: 0.0442 refitted, 0.0527 first fit."""
    import sys

    name = "digits_lstm"
    x = split(name, "calib")[0]
    e2e = EndToEnd(graph(name), x, 32)
    r = prune_graph(graph(name), PruneOptions(sparsity=0.5, calibration=x))
    steps = next(row["steps"] for row in r.report["layers"] if row["layer"] == "lstm")
    assert "refit" in steps and "bias_correction" in steps
    assert r.report["totals"]["pruned"] == r.report["totals"]["prunable"] // 2
    monkeypatch.setattr(sys.modules["keras2edge.prune.pipeline"], "REFITS", 0)
    first = prune_graph(graph(name), PruneOptions(sparsity=0.5, calibration=x))
    assert e2e.error(r.graph) < 0.9 * e2e.error(first.graph), (e2e.error(r.graph), e2e.error(first.graph))
