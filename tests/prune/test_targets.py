"""Prunable weights come from the op specs' WeightAxes: Dense/Conv/Depthwise kernels and the shared
recurrent kernels of unrolled cells; biases never; exclude globs on Keras layer names."""

from __future__ import annotations

import pytest

from keras2edge.errors import PruneError
from keras2edge.prune.targets import find_targets, select_targets

from .helpers import graph


def test_cnn_kernels_and_no_biases() -> None:
    ts = find_targets(graph("digits_cnn"))
    names = [t.name for t in ts]
    assert names == ["stem_conv/kernel", "dw1/depthwise_kernel", "pw1/kernel", "ir_expand/kernel",
                     "ir_dw/depthwise_kernel", "ir_project/kernel", "dw2/depthwise_kernel", "pw2/kernel",
                     "probs/kernel"]
    assert {t.op for t in ts} == {"Conv2D", "DepthwiseConv2D", "FullyConnected"}
    assert not any("bias" in n for n in names)


def test_recurrent_kernel_is_one_target_read_by_every_step() -> None:
    ts = {t.name: t for t in find_targets(graph("digits_lstm"))}
    assert set(ts) == {"lstm/kernel", "lstm/recurrent_kernel", "probs/kernel"}
    rec = ts["lstm/recurrent_kernel"]
    assert (rec.layer, rec.cls) == ("lstm", "LSTM")
    assert len(rec.nodes) == 7          # 8 time steps; the first reads h0 = 0 and is not built
    assert ts["lstm/kernel"].axes.in_axis == 0


def test_exclude_globs() -> None:
    g = graph("digits_cnn")
    kept = select_targets(g, ("*dw*", "stem_conv"))
    assert [t.layer for t in kept] == ["pw1", "ir_expand", "ir_project", "pw2", "probs"]


def test_exclude_errors() -> None:
    g = graph("digits_mlp")
    with pytest.raises(PruneError, match=r"excludes every prunable layer of 'digits_mlp' \(dense_1, dense_2, probs\)"):
        select_targets(g, ("*",))
    with pytest.raises(PruneError, match="'conv9' matches no Keras layer .*dense_1, dense_2, flatten, probs"):
        select_targets(g, ("conv9",))
