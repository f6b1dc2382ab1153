"""The weight-pruning pipeline: the input graph is untouched, excluded layers and biases stay as they
were (biases change only by bias correction), bias correction restores the mean output, the folded
(BatchNorm) magnitude is the one ranked, and bad options or data are refused before any work."""

from __future__ import annotations

import numpy as np
import pytest

import keras2edge
from keras2edge.errors import PruneError
from keras2edge.prune import PruneOptions, prune_graph
from keras2edge.prune.pipeline import out_scale
from keras2edge.prune.runner import run_graph
from keras2edge.prune.targets import find_targets

from .helpers import graph, split


def _consts(g):
    return {v.name: np.array(v.const) for n in g.nodes for v in n.inputs if v is not None and v.is_const}


def test_input_untouched_excluded_and_biases_kept() -> None:
    g = graph("digits_mlp")
    before = _consts(g)
    r = prune_graph(g, PruneOptions(sparsity=0.6, schedule="layer", exclude=("dense_2",)))
    after = _consts(r.graph)
    for name, arr in _consts(g).items():
        np.testing.assert_array_equal(arr, before[name])            # the caller's graph is unchanged
    for name in ("dense_2/kernel", "dense_1/bias", "dense_2/bias", "probs/bias"):
        np.testing.assert_array_equal(after[name], before[name])
    for name in ("dense_1/kernel", "probs/kernel"):
        assert after[name].size - np.count_nonzero(after[name]) == round(0.6 * after[name].size)
        kept = after[name] != 0                                       # survivors are unchanged weights
        np.testing.assert_array_equal(after[name][kept], before[name][kept])
    r.graph.verify()


def test_zero_sparsity_changes_nothing() -> None:
    g = graph("digits_cnn")
    r = prune_graph(g, PruneOptions(sparsity=0.0))
    for name, arr in _consts(g).items():
        np.testing.assert_array_equal(_consts(r.graph)[name], arr)


def _mean_output(g, value: str, x: np.ndarray) -> np.ndarray:
    sums: list[np.ndarray] = []
    run_graph(g, x, [value], lambda _n, a: sums.append(np.asarray(a, np.float64).reshape(-1, a.shape[-1]).sum(0)))
    return np.sum(sums, axis=0)


def test_bias_correction_restores_the_mean_output() -> None:
    g = graph("digits_mlp")
    x = split("digits_mlp", "calib")[0]
    r = prune_graph(g, PruneOptions(sparsity=0.5, schedule="layer", calibration=x))
    assert "bias_correction" in r.report["ran"]
    ref = _mean_output(g, "probs/FullyConnected", x)    # the pre-softmax logits (dense_1 fuses its relu)
    got = _mean_output(r.graph, "probs/FullyConnected", x)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3 * np.abs(ref).max())
    assert not np.array_equal(_consts(r.graph)["probs/bias"], _consts(g)["probs/bias"])


def test_bias_correction_can_be_switched_off() -> None:
    g = graph("digits_mlp")
    r = prune_graph(g, PruneOptions(sparsity=0.5, calibration=split("digits_mlp", "calib")[0], bias_correction=False))
    assert not any(s.startswith("bias_correction") for s in r.report["ran"])
    np.testing.assert_array_equal(_consts(r.graph)["probs/bias"], _consts(g)["probs/bias"])


def test_bias_less_conv_corrects_the_batchnorm_mean() -> None:
    g = graph("digits_cnn")
    x = split("digits_cnn", "calib")[0]
    r = prune_graph(g, PruneOptions(sparsity=0.5, schedule="layer", calibration=x))
    assert "bias_correction(bn_mean)" in r.report["ran"]
    assert not np.array_equal(_consts(r.graph)["pw1_bn/moving_mean"], _consts(g)["pw1_bn/moving_mean"])


def test_ranking_uses_the_batchnorm_folded_weight() -> None:
    g = graph("digits_cnn")
    t = next(t for t in find_targets(g) if t.layer == "pw1")
    s = out_scale(g, t)
    assert s is not None and s.shape == (24,)
    r = prune_graph(g, PruneOptions(sparsity=0.5, schedule="layer", exclude=("stem_conv", "dw*", "ir_*", "pw2", "probs")))
    w = np.asarray(t.value(g).const)
    folded = np.abs(w * s)
    pruned = np.asarray(t.value(r.graph).const) == 0
    assert folded[pruned].max() <= folded[~pruned].min()


def test_refusals_before_any_work() -> None:
    g = graph("digits_mlp")
    with pytest.raises(PruneError, match="needs --calibration data"):
        prune_graph(g, PruneOptions(recover=True))
    with pytest.raises(PruneError, match="--schedule auto needs --calibration"):
        prune_graph(g, PruneOptions(schedule="auto"))
    with pytest.raises(PruneError, match="unknown schedule 'fast'"):
        prune_graph(g, PruneOptions(schedule="fast"))
    with pytest.raises(PruneError, match=r"sparsity must be in \[0, 1\), got 1.0"):
        keras2edge.prune(g, sparsity=1.0)
    with pytest.raises(PruneError, match="unknown pruning method 'random'; supported: .*magnitude, nm"):
        keras2edge.prune(g, method="random")


def test_calibration_of_the_wrong_shape() -> None:
    with pytest.raises(PruneError, match="calibration data: .*image.*"):
        prune_graph(graph("digits_mlp"), PruneOptions(calibration=np.zeros((10, 8, 9), np.float32)))
