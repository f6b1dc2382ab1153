"""N:M pruning: the pattern along each op's input axis, M not dividing a dimension, depthwise
kernels left dense, the recurrent kernels of unrolled cells."""

from __future__ import annotations

import numpy as np
import pytest

import keras2edge
from keras2edge.errors import PruneError
from keras2edge.prune import PruneOptions, prune_graph
from keras2edge.prune.nm import DEPTHWISE_SKIP, nm_holds, nm_zero
from keras2edge.prune.targets import find_targets

from .helpers import graph, split


def _exactly_n(w: np.ndarray, n: int, m: int, axis: int) -> bool:
    moved = np.moveaxis(w, axis, -1)
    groups = moved.reshape(*moved.shape[:-1], -1, m)
    return bool(np.all(np.count_nonzero(groups, axis=-1) == n))


def test_nm_zero_groups_along_the_input_axis() -> None:
    w = np.array([[1.0, -8.0], [-4.0, 7.0], [3.0, 6.0], [2.0, 5.0]], np.float32)   # Dense (K=4, N=2)
    out = nm_zero(w, 2, 4, in_axis=0)
    # column 0: |1, -4, 3, 2| keeps -4 and 3; column 1: |-8, 7, 6, 5| keeps -8 and 7
    np.testing.assert_array_equal(out, [[0.0, -8.0], [-4.0, 7.0], [3.0, 0.0], [0.0, 0.0]])
    assert nm_holds(out, 2, 4, 0) and not nm_holds(w, 2, 4, 0)


def test_nm_zero_conv_hwio_groups_on_cin() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3, 8, 5)).astype(np.float32)
    out = nm_zero(w, 1, 4, in_axis=2)
    assert _exactly_n(out, 1, 4, 2)
    # the survivor of each group is its largest weight
    g = np.abs(w).reshape(3, 3, 2, 4, 5)
    kept = np.abs(out).reshape(3, 3, 2, 4, 5).max(axis=3)
    np.testing.assert_array_equal(kept, g.max(axis=3))


@pytest.mark.parametrize("recover", [False, True])
def test_two_four_on_the_cnn(recover: bool) -> None:
    g = graph("digits_cnn")
    x = split("digits_cnn", "calib")[0]
    r = prune_graph(g, PruneOptions(method="nm", n=2, m=4, exclude=("stem_conv",), calibration=x if recover else None))
    before = {t.name: np.asarray(t.value(g).const) for t in find_targets(g)}
    for t in find_targets(r.graph):
        w = np.asarray(t.value(r.graph).const)
        if t.layer == "stem_conv" or t.op == "DepthwiseConv2D":
            np.testing.assert_array_equal(w, before[t.name])       # excluded / no input axis: dense
        else:
            assert _exactly_n(w, 2, 4, t.axes.in_axis), t.name
    rows = {row["layer"]: row for row in r.report["layers"]}
    assert f"skipped: {DEPTHWISE_SKIP}" in rows["dw1"]["steps"]
    assert rows["pw1"]["sparsity"] == 0.5
    if recover:
        assert "bias_correction(bn_mean)" in r.report["ran"] and "bias_correction" in r.report["ran"]
        assert all(s.startswith(("reconstruct: ", "bias_correction")) for s in r.report["ran"])
    else:
        assert r.report["ran"] == ["magnitude"]


def test_recurrent_kernels_two_four() -> None:
    r = keras2edge.prune(graph("digits_gru"), method="nm")
    for t in find_targets(r.graph):
        assert _exactly_n(np.asarray(t.value(r.graph).const), 2, 4, t.axes.in_axis), t.name


def test_m_not_dividing_names_the_layer() -> None:
    with pytest.raises(PruneError, match=r"M=4 to divide .*stem_conv \(Conv2D\) weight stem_conv/kernel input "
                                         r"dimension 1.*--exclude"):
        prune_graph(graph("digits_cnn"), PruneOptions(method="nm"))
    with pytest.raises(PruneError, match="M=3 .*dense_1 \\(Dense\\) weight dense_1/kernel input dimension 64"):
        prune_graph(graph("digits_mlp"), PruneOptions(method="nm", n=1, m=3))


@pytest.mark.parametrize("n,m", [(4, 4), (5, 4), (0, 4), (1, 1)])
def test_bad_n_m(n: int, m: int) -> None:
    with pytest.raises(PruneError, match="N:M pruning needs 1 <= N < M"):
        keras2edge.prune(graph("digits_mlp"), method="nm", n=n, m=m)
