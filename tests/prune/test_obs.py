"""OBS reconstruction on a random layer: exact counts and patterns, a smaller output error than
magnitude pruning, and the fixed-mask optimum checked against NumPy's least squares on X itself."""

from __future__ import annotations

import numpy as np

from keras2edge.prune.allocate import magnitude_zero
from keras2edge.prune.nm import nm_zero
from keras2edge.prune.obc import obc_mask
from keras2edge.prune.obs import masked_reconstruct, obs_prune, output_error, reconstruct


def _layer(seed: int = 0, rows: int = 400, f: int = 48, n: int = 12):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(f, f))
    x = rng.normal(size=(rows, f)) @ mix / np.sqrt(f)          # correlated inputs, as real activations are
    w = rng.normal(size=(f, n))
    return x, w


def _err(x: np.ndarray, w0: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum((x @ (w0 - w)) ** 2) / np.sum((x @ w0) ** 2))


def test_unstructured_count_and_smaller_error() -> None:
    x, w = _layer()
    count = w.size // 2
    q = obs_prune(w, x.T @ x, count=count)
    assert q.size - np.count_nonzero(q) == count
    e_obs, e_mag = _err(x, w, q), _err(x, w, magnitude_zero(w, count))
    assert e_obs < e_mag, (e_obs, e_mag)


def test_blocks_keep_the_count_exact() -> None:
    x, w = _layer(rows=800, f=300, n=4)                          # 300 rows: 3 blocks of <= 128
    q = obs_prune(w, x.T @ x, count=431)
    assert q.size - np.count_nonzero(q) == 431


def test_nm_pattern_and_smaller_error() -> None:
    x, w = _layer(1)
    q = obs_prune(w, x.T @ x, nm=(2, 4))
    groups = q.T.reshape(w.shape[1], -1, 4)
    assert np.all(np.count_nonzero(groups, axis=-1) == 2)
    assert _err(x, w, q) < _err(x, w, nm_zero(w, 2, 4, 0))


def test_dead_inputs_are_pruned_first() -> None:
    x, w = _layer(2)
    x[:, 5] = 0.0
    q = obs_prune(w, x.T @ x, count=w.shape[1])
    np.testing.assert_array_equal(q[5], 0.0)
    assert q.size - np.count_nonzero(q) == w.shape[1]


def test_masked_reconstruct_is_the_least_squares_optimum() -> None:
    rng = np.random.default_rng(3)
    c, t, mult = 3, 9, 2
    xs = rng.normal(size=(500, t, c))                            # depthwise patches, one H per channel
    h = np.einsum("rtc,rsc->cts", xs, xs)
    w = rng.normal(size=(t, c * mult))
    pruned = np.abs(w) < np.median(np.abs(w))
    got = masked_reconstruct(w, pruned, h, damp=0.0)
    for k in range(c * mult):
        xk = xs[:, :, k // mult]
        keep = ~pruned[:, k]
        sol, *_ = np.linalg.lstsq(xk[:, keep], xk @ w[:, k], rcond=None)
        np.testing.assert_allclose(got[keep, k], sol, rtol=1e-8, atol=1e-10)
        np.testing.assert_array_equal(got[pruned[:, k], k], 0.0)


def test_reconstruct_keeps_the_best_candidate() -> None:
    x, w = _layer(4)
    h = x.T @ x
    count = w.size // 2
    mask = magnitude_zero(w, count) == 0
    q, how = reconstruct(w, h, mask, count=count)
    assert q.size - np.count_nonzero(q) == count
    cands = [masked_reconstruct(w, mask, h), obs_prune(w, h, count=count)]
    cands.append(masked_reconstruct(w, cands[1] == 0, h))
    cands.append(masked_reconstruct(w, obc_mask(w, h, count=count), h))
    assert output_error(w - q, h) == min(output_error(w - c, h) for c in cands)
    assert how in ("magnitude mask + least squares", "obs", "obs mask + least squares", "obc mask + least squares")


def test_large_layers_keep_obs_only(monkeypatch) -> None:
    from keras2edge.prune import obs

    x, w = _layer(5)
    h = x.T @ x
    monkeypatch.setattr(obs, "LS_MAX_FLOPS", 10.0)          # as if the layer were huge
    assert not obs.ls_affordable(w, h)
    q, how = reconstruct(w, h, magnitude_zero(w, w.size // 2) == 0, count=w.size // 2)
    assert how == "obs" and q.size - np.count_nonzero(q) == w.size // 2
