"""What bad channel-pruning requests get: a PruneError that names the layer or the input and what
is supported, before any graph is built; and the options that switch the recovery steps."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.errors import PruneError
from keras2edge.prune import PruneOptions, prune_graph

from .channel_graphs import Builder, residual


def _two_channel_graph():
    b = Builder("tiny")
    f = b.conv("narrow", b.x, 2, act="relu")
    return b.done(b.conv("head", f, 3))


def test_removing_every_channel_of_a_layer_is_refused() -> None:
    with pytest.raises(PruneError, match=r"remove all 2 channels of layer narrow \(Conv2D\)"):
        prune_graph(_two_channel_graph(), PruneOptions(method="channel", sparsity=0.75, schedule="layer"))


def test_global_beyond_what_groups_can_lose_is_refused() -> None:
    with pytest.raises(PruneError, match="more than the groups can lose"):
        prune_graph(residual(), PruneOptions(method="channel", sparsity=0.95, schedule="global"))


def test_recovery_without_calibration_is_refused() -> None:
    with pytest.raises(PruneError, match=r"recovery \(reconstruction\) needs calibration data"):
        prune_graph(residual(), PruneOptions(method="channel", sparsity=0.3, reconstruct=True))


def test_calibration_of_the_wrong_shape_names_the_input() -> None:
    bad = np.zeros((4, 5, 5, 3), np.float32)
    with pytest.raises(PruneError, match=r"input 'x' has shape \(4, 5, 5, 3\) but the model's input 'x' is \(N, 6, 6, 3\)"):
        prune_graph(residual(), PruneOptions(method="channel", sparsity=0.3, calibration=bad))


@pytest.mark.parametrize("field,value,match", [("criterion", "l3", "unknown channel criterion 'l3'"),
                                               ("schedule", "best", "schedule 'best' is not supported; supported: layer, global, auto")])
def test_unknown_choices(field: str, value: str, match: str) -> None:
    with pytest.raises(PruneError, match=match):
        prune_graph(residual(), PruneOptions(method="channel", sparsity=0.3, **{field: value}))


def test_recovery_switches_and_report() -> None:
    """Each step runs only when asked (or by default with calibration data) and the report says so;
    excluded layers keep their channels."""
    x = np.random.default_rng(1).standard_normal((40, 6, 6, 3)).astype(np.float32)
    g = residual()
    r = prune_graph(g, PruneOptions(method="channel", sparsity=0.5, schedule="layer", calibration=x))
    rec = r.report["recovery"]
    assert rec["reconstruction"] and not rec["bias_correction"] and not rec["batchnorm_reestimation"]
    r = prune_graph(g, PruneOptions(method="channel", sparsity=0.5, schedule="layer", calibration=x,
                                    reconstruct=False))
    assert not r.report["recovery"]["reconstruction"] and r.report["recovery"]["bias_correction"]
    r = prune_graph(g, PruneOptions(method="channel", sparsity=0.5, schedule="layer", exclude=("conv_*",)))
    groups = {tuple(gr["layers"]): gr for gr in r.report["groups"]}
    assert groups[("conv_a", "conv_b")]["channels_after"] == 6 and "excluded" in groups[("conv_a", "conv_b")]["note"]
    assert groups[("head",)]["channels_after"] == 2   # floor(0.5 * 5 + 0.5) = 3 of 5 removed
