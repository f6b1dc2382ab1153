"""The magnitude schedules: exact counts (layer: per layer; global and auto: in total), the global
normalization and cap, the auto scan's allocation from layer output errors."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.errors import PruneError
from keras2edge.prune.allocate import GLOBAL_CAP, allocate, magnitude_zero, sensitivity
from keras2edge.prune.stats import collect
from keras2edge.prune.targets import find_targets

from .helpers import graph, split


def _weights(g):
    ts = find_targets(g)
    return ts, {t.name: np.asarray(t.value(g).const) for t in ts}


def test_magnitude_zero_removes_the_smallest() -> None:
    w = np.array([[0.5, -0.1], [0.05, -2.0]], np.float32)
    np.testing.assert_array_equal(magnitude_zero(w, 2), [[0.5, 0.0], [0.0, -2.0]])
    assert np.count_nonzero(w) == 4   # the input is not modified


def test_layer_schedule_same_fraction_everywhere() -> None:
    ts, ws = _weights(graph("digits_cnn"))
    counts = allocate("layer", ts, ws, 0.3)
    assert counts == {n: round(0.3 * w.size) for n, w in ws.items()}


def test_global_schedule_total_exact_and_normalized() -> None:
    ts, ws = _weights(graph("digits_mlp"))
    total = sum(w.size for w in ws.values())
    counts = allocate("global", ts, ws, 0.5)
    assert sum(counts.values()) == round(0.5 * total)
    # Scaling one layer's weights by 1000 changes nothing: magnitudes are divided by the layer RMS.
    ws2 = dict(ws, **{"dense_2/kernel": ws["dense_2/kernel"] * 1000})
    assert allocate("global", ts, ws2, 0.5) == counts


def test_global_schedule_cap_keeps_every_layer_alive() -> None:
    ts, ws = _weights(graph("digits_mlp"))
    # One layer made of many tiny weights and a few large ones: by RMS it would be wiped out.
    w = np.full_like(ws["probs/kernel"], 1e-6)
    w[0, :] = 1.0
    counts = allocate("global", ts, dict(ws, **{"probs/kernel": w}), 0.9)
    assert counts["probs/kernel"] <= int(GLOBAL_CAP * w.size)
    assert sum(counts.values()) == round(0.9 * sum(x.size for x in ws.values()))


def test_auto_schedule_prefers_insensitive_layers() -> None:
    g = graph("digits_cnn")
    ts, ws = _weights(g)
    stats = collect(g, ts, split("digits_cnn", "calib")[0])
    curves = sensitivity(ts, ws, stats)
    for pts in curves.values():           # error grows with sparsity from 0
        assert pts[0][1] == 0.0 and pts[-1][1] > pts[1][1]
    counts = allocate("auto", ts, ws, 0.5, stats)
    assert sum(counts.values()) == round(0.5 * sum(w.size for w in ws.values()))
    frac = {n: counts[n] / ws[n].size for n in ws}
    # the stem conv (9 taps x 16 filters on a 1-channel image) is more sensitive than the 1x1 expansion
    assert frac["stem_conv/kernel"] < frac["ir_expand/kernel"]


def test_auto_without_statistics_and_unknown_schedule() -> None:
    ts, ws = _weights(graph("digits_mlp"))
    with pytest.raises(PruneError, match="auto needs calibration data"):
        allocate("auto", ts, ws, 0.5, {})
    with pytest.raises(PruneError, match="unknown schedule 'best'; supported: layer, global, auto"):
        allocate("best", ts, ws, 0.5)


def test_statistics_do_not_depend_on_the_row_slicing() -> None:
    from keras2edge.prune import stats as stats_module

    g = graph("digits_cnn")
    ts, _ = _weights(g)
    x = split("digits_cnn", "calib")[0][:40]
    whole = collect(g, ts, x)
    old = stats_module.ROWS_AT_ONCE
    stats_module.ROWS_AT_ONCE = 1000           # a few samples at a time
    try:
        sliced = collect(g, ts, x)
    finally:
        stats_module.ROWS_AT_ONCE = old
    for name, st in whole.items():
        assert sliced[name].count == st.count
        np.testing.assert_allclose(sliced[name].h, st.h, rtol=1e-10, atol=1e-9)


def test_default_schedule_is_auto_with_calibration_on_small_models() -> None:
    from keras2edge.prune.allocate import AUTO_DEFAULT_TARGETS, default_schedule

    assert default_schedule(True, 9) == "auto"
    assert default_schedule(False, 9) == "global"                    # auto needs calibration data
    assert default_schedule(True, AUTO_DEFAULT_TARGETS + 1) == "global"  # the scan's cost grows with the layers


def test_prune_without_a_schedule_resolves_it_in_the_report() -> None:
    from keras2edge.prune import PruneOptions, prune_graph

    from .helpers import graph, split

    g = graph("digits_mlp")
    assert prune_graph(g, PruneOptions()).report["schedule"] == "global"
    calibrated = prune_graph(g, PruneOptions(calibration=split("digits_mlp", "calib")[0][:64]))
    assert calibrated.report["schedule"] == "auto"
    assert calibrated.report["totals"]["pruned"] == round(0.5 * calibrated.report["totals"]["prunable"])
