"""Optimal Brain Compression (prune/obc.py) on random correlated layers: exact counts and N:M
patterns, the elimination's recorded losses equal the true error growth, and the mask it picks
(after the least-squares update) has a smaller output error than magnitude's and SparseGPT's
(obs_prune, with and without the least-squares update on its mask) at the same count."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.prune.allocate import magnitude_zero
from keras2edge.prune.nm import nm_holds, nm_zero
from keras2edge.prune.obc import affordable, allocate_columns, eliminate, obc_mask
from keras2edge.prune.obs import masked_reconstruct, obs_prune, output_error, paired_error


def _layer(seed: int, rows: int = 400, f: int = 32, n: int = 12):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, f)) @ rng.normal(size=(f, f)) / np.sqrt(f)   # correlated, as activations are
    return x, rng.normal(size=(f, n))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_obc_beats_magnitude_and_sparsegpt(seed: int) -> None:
    x, w = _layer(seed)
    h = x.T @ x
    count = w.size // 2
    mask = obc_mask(w, h, count=count)
    assert mask.sum() == count
    ours = output_error(w - masked_reconstruct(w, mask, h), h)
    mag = output_error(w - masked_reconstruct(w, magnitude_zero(w, count) == 0, h), h)
    q = obs_prune(w, h, count=count)
    sgpt = min(output_error(w - q, h), output_error(w - masked_reconstruct(w, q == 0, h), h))
    assert ours < 0.8 * mag and ours < sgpt, (ours, mag, sgpt)


def test_nm_pattern_and_smaller_error() -> None:
    x, w = _layer(3)
    h = x.T @ x
    mask = obc_mask(w, h, nm=(2, 4))
    q = np.where(mask, 0.0, masked_reconstruct(w, mask, h))
    assert nm_holds(q, 2, 4, 0) and np.count_nonzero(q) == w.size // 2
    mag = nm_zero(w, 2, 4, 0)
    assert output_error(w - q, h) < output_error(w - masked_reconstruct(w, mag == 0, h), h)


def test_recorded_losses_are_the_error_growth() -> None:
    """Each step's loss is exactly how much (w − w*)ᵀĤ(w − w*) grows when the weight goes and the
    others are re-solved (Ĥ dampened as eliminate dampens it)."""
    x, w = _layer(4, f=10, n=3)
    h = x.T @ x
    damp = 0.01
    hd = h + damp * np.mean(np.diag(h)) * np.eye(10)
    order, loss = eliminate(w, h, damp)
    for k in range(3):
        prev = 0.0
        for s in range(4):
            gone = np.zeros((10, 1), bool)
            gone[order[k, : s + 1], 0] = True
            wk = masked_reconstruct(w[:, [k]], gone, h, damp)
            err = output_error(w[:, [k]] - wk, hd)
            assert np.isclose(err - prev, loss[k, s], rtol=1e-6, atol=1e-9)
            prev = err


def test_column_allocation_is_least_total_error() -> None:
    loss = np.array([[1.0, 5.0, 9.0], [2.0, 3.0, 4.0], [0.5, 0.4, 8.0]])
    per = allocate_columns(loss, 4)           # monotone: row 2 -> 0.5, 0.5, 8; picks 0.5, 0.5, 1, 2
    np.testing.assert_array_equal(per, [1, 1, 2])
    assert per.sum() == 4


def test_paired_target_compensates_upstream_error() -> None:
    """With G (inputs of a pruned upstream vs the unpruned ones) the mask and weights chase the
    unpruned layer's output X₀W₀: less paired error than choosing as if the inputs were unchanged."""
    rng = np.random.default_rng(5)
    x0, w = _layer(5)
    x = x0 + 0.3 * rng.normal(size=x0.shape)                 # what a pruned upstream now feeds in
    h, g = x.T @ x, x.T @ x0
    count = w.size // 2
    mask_p = obc_mask(w, h, count=count, g=g)
    mask_u = obc_mask(w, h, count=count)
    e_p = paired_error(masked_reconstruct(w, mask_p, h, g=g), w, h, g)
    e_u = paired_error(masked_reconstruct(w, mask_u, h, g=g), w, h, g)
    assert e_p < e_u


def test_depthwise_per_channel_statistics() -> None:
    rng = np.random.default_rng(6)
    c, t, mult = 4, 9, 2
    xs = rng.normal(size=(600, t, c)) * rng.uniform(0.2, 3.0, size=(1, t, c))
    h = np.einsum("rtc,rsc->cts", xs, xs)
    w = rng.normal(size=(t, c * mult))
    mask = obc_mask(w, h, count=w.size // 2)
    assert mask.sum() == w.size // 2
    ours = output_error(w - masked_reconstruct(w, mask, h), h)
    mag = output_error(w - masked_reconstruct(w, magnitude_zero(w, w.size // 2) == 0, h), h)
    assert ours < mag


def test_budget() -> None:
    assert affordable(np.zeros((48, 24))) and not affordable(np.zeros((4096, 1000)))
