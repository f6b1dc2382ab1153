"""Few samples: pruning never repeats quantization's warning about calibration *ranges* (it computes
none); eval data of any size gets no warning (the report states its sample count); calibration data
under ``quantize.data.WARN_BELOW`` samples gets one warning, in pruning's terms, once per run."""

from __future__ import annotations

import logging

import pytest

import keras2edge
from keras2edge.quantize.data import WARN_BELOW

from .helpers import graph, split


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_small_eval_data_warns_of_nothing(caplog: pytest.LogCaptureFixture) -> None:
    x, y = split("digits_mlp", "test")
    with caplog.at_level(logging.WARNING):
        r = keras2edge.prune(graph("digits_mlp"), eval=(x[:10], y[:10]))
    assert r.report["eval"]["samples"] == 10
    assert _warnings(caplog) == []


@pytest.mark.parametrize("method", ["magnitude", "channel"])
def test_small_calibration_data_warns_once_in_pruning_terms(method: str, caplog: pytest.LogCaptureFixture) -> None:
    name = "digits_mlp" if method == "magnitude" else "digits_cnn"
    xc = split(name, "calib")[0][:WARN_BELOW - 6]
    x, y = split(name, "test")
    with caplog.at_level(logging.WARNING):
        keras2edge.prune(graph(name), method=method, sparsity=0.3, calibration=xc, eval=(x[:8], y[:8]))
    got = _warnings(caplog)
    assert got == [f"pruning calibration data: only {WARN_BELOW - 6} samples; the recovery's least-squares fits "
                   "and bias corrections (and --schedule auto's sensitivity scan) estimated from fewer than "
                   f"{WARN_BELOW} samples are unreliable"], got
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        keras2edge.prune(graph(name), method=method, sparsity=0.3, calibration=split(name, "calib")[0][:WARN_BELOW])
    assert _warnings(caplog) == []


def test_quantizing_few_samples_still_warns_of_ranges(caplog: pytest.LogCaptureFixture) -> None:
    """Quantization's own warning is true there (it computes activation ranges) and stays."""
    r = keras2edge.prune(graph("digits_mlp"))
    with caplog.at_level(logging.WARNING):
        keras2edge.quantize_pruned(r.graph, calibration=split("digits_mlp", "calib")[0][:4])
    assert any("ranges from fewer than" in m for m in _warnings(caplog)), _warnings(caplog)
