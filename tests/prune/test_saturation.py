"""Activation-aware reconstruction (prune/saturation.py, stats.collect_paired(weighted=True)): which
clamp follows a layer (fused, after a BatchNorm, none before a Softmax), the per-column weighted
moments against explicit sums, and on a random ReLU layer the weighted fit's post-activation error
below the plain fit's at the same mask count."""

from __future__ import annotations

import numpy as np

from keras2edge.prune.obc import obc_mask
from keras2edge.prune.obs import masked_reconstruct
from keras2edge.prune.saturation import SATURATED_WEIGHT, clamp_after
from keras2edge.prune.stats import REDUCTIONS, _accumulate, collect_paired
from keras2edge.prune.targets import find_targets

from .helpers import graph, split


def _node(g, layer):
    return next(n for n in g.nodes if n.origin and n.origin.layer == layer and op_weighted(n))


def op_weighted(n) -> bool:
    return n.op in ("Conv2D", "DepthwiseConv2D", "FullyConnected")


def test_clamp_after_layers_of_the_fixtures() -> None:
    cnn = graph("digits_cnn")
    c = clamp_after(cnn, _node(cnn, "pw1"))                    # Conv2D -> BatchNorm -> Relu6
    assert c is not None and c.value == "pw1_relu6/Relu6" and (c.low, c.high) == (0.0, 6.0)
    assert clamp_after(cnn, _node(cnn, "ir_project")) is None  # -> BatchNorm -> Add: linear
    assert clamp_after(cnn, _node(cnn, "probs")) is None       # -> Softmax
    mlp = graph("digits_mlp")
    c = clamp_after(mlp, _node(mlp, "dense_1"))                # -> Relu
    assert c is not None and c.low == 0.0 and c.high == np.inf


def test_weighted_moments_are_the_explicit_sums() -> None:
    rng = np.random.default_rng(0)
    xp, xo = rng.normal(size=(50, 6)), rng.normal(size=(50, 6))
    a = rng.choice([SATURATED_WEIGHT, 1.0], size=(50, 3))
    acc: list = []
    _accumulate(acc, REDUCTIONS["FullyConnected"], xp, xo, a)
    for k in range(3):
        np.testing.assert_allclose(acc[0].h[k], sum(a[r, k] * np.outer(xp[r], xp[r]) for r in range(50)))
        np.testing.assert_allclose(acc[0].g[k], sum(a[r, k] * np.outer(xp[r], xo[r]) for r in range(50)))
    np.testing.assert_allclose(acc[0].total, xp.sum(axis=0))          # means stay unweighted
    dw = rng.normal(size=(40, 9, 2))                                    # depthwise rows (R, T, C), M = 2
    a = rng.choice([SATURATED_WEIGHT, 1.0], size=(40, 4))
    acc = []
    _accumulate(acc, REDUCTIONS["DepthwiseConv2D"], dw, dw, a)
    for k in range(4):
        x = dw[:, :, k // 2]
        np.testing.assert_allclose(acc[0].h[k], (x * a[:, k:k + 1]).T @ x)


def test_weighted_fit_has_less_error_after_the_relu() -> None:
    rng = np.random.default_rng(1)
    x = np.maximum(rng.normal(size=(3000, 24)) @ rng.normal(size=(24, 24)) / 5, 0)
    w = rng.normal(size=(24, 16))
    y0 = np.maximum(x @ w, 0)
    count = w.size // 2
    a = np.where(x @ w <= 0, SATURATED_WEIGHT, 1.0)
    hw = np.stack([(x * a[:, k:k + 1]).T @ x for k in range(16)])
    h = x.T @ x
    errs = {}
    for name, hh in (("plain", h), ("weighted", hw)):
        q = masked_reconstruct(w, obc_mask(w, hh, count=count), hh)
        errs[name] = float(np.sum((np.maximum(x @ q, 0) - y0) ** 2))
    assert errs["weighted"] < errs["plain"], errs


def test_collect_paired_weighted_on_the_cnn() -> None:
    g = graph("digits_cnn")
    t = next(t for t in find_targets(g) if t.layer == "pw1")
    x = split("digits_cnn", "calib")[0][:40]
    plain = collect_paired(g, g, t, x)
    st = collect_paired(g, g, t, x, weighted=True)
    assert st.weighted and not plain.weighted
    assert st.h.shape == (24, 16, 16) and plain.h.shape == (16, 16)
    # every column's weighted H lies between SATURATED_WEIGHT·H and H
    for k in range(24):
        assert np.all(np.linalg.eigvalsh(plain.h - st.h[k]) >= -1e-6 * np.abs(plain.h).max())
        assert np.all(np.linalg.eigvalsh(st.h[k] - SATURATED_WEIGHT * plain.h) >= -1e-6 * np.abs(plain.h).max())
    np.testing.assert_allclose(st.total, plain.total)


def test_switch_and_report() -> None:
    from keras2edge.prune import PruneOptions, prune_graph

    g = graph("digits_mlp")
    x = split("digits_mlp", "calib")[0][:64]
    on = prune_graph(g, PruneOptions(schedule="layer", calibration=x))
    off = prune_graph(g, PruneOptions(schedule="layer", calibration=x, activation_aware=False))
    assert any(s.endswith("(activation-aware)") for s in on.report["ran"])
    assert not any("activation-aware" in s for s in off.report["ran"])
