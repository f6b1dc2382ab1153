"""quantize/errorstats.py: the error metrics against their definitions, on small hand-made tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keras2edge.quantize.errorstats import ErrorStats


def test_metrics_by_definition() -> None:
    """Two batches summed: SQNR, cosine, max abs, RMSE, RMSE/scale and the worst channel's SQNR."""
    rng = np.random.default_rng(1)
    f = rng.normal(size=(6, 4, 3))
    q = f + rng.normal(scale=0.1, size=f.shape) * np.array([1.0, 0.1, 3.0])  # channel 2 the noisiest
    s = ErrorStats(scale=0.05)
    s.update(f[:2], q[:2])
    s.update(f[2:], q[2:])
    m = s.result()
    e = q - f
    assert m.sqnr_db == pytest.approx(10 * math.log10(np.sum(f ** 2) / np.sum(e ** 2)), rel=1e-12)
    assert m.cosine == pytest.approx(np.sum(f * q) / math.sqrt(np.sum(f ** 2) * np.sum(q ** 2)), rel=1e-12)
    assert m.max_abs == pytest.approx(np.max(np.abs(e)), rel=1e-12)
    assert m.rmse == pytest.approx(math.sqrt(np.mean(e ** 2)), rel=1e-12)
    assert m.rmse_over_scale == pytest.approx(m.rmse / 0.05, rel=1e-12)
    per_channel = [10 * math.log10(np.sum(f[..., c] ** 2) / np.sum(e[..., c] ** 2)) for c in range(3)]
    assert m.worst_channel_sqnr_db == pytest.approx(min(per_channel), rel=1e-12) == pytest.approx(per_channel[2])
    assert m.median_channel_sqnr_db == pytest.approx(float(np.median(per_channel)), rel=1e-12)
    assert m.elements == f.size


def test_degenerate() -> None:
    """No error: SQNR inf (None in JSON), cosine 1; silent channels do not count as the worst."""
    f = np.zeros((3, 2))
    f[:, 0] = [1.0, 2.0, 3.0]
    s = ErrorStats()
    s.update(f, f.copy())
    m = s.result()
    assert m.sqnr_db == math.inf and m.cosine == 1.0 and m.worst_channel_sqnr_db == math.inf
    assert m.channel_sqnr_db == (math.inf,)
    assert m.rmse_over_scale is None and m.to_dict()["sqnr_db"] is None
