"""The pruning report: per-Keras-layer rows (sparsity, params, nonzero params, MACs) against counts
made here from the weights, totals, and the Markdown table."""

from __future__ import annotations

import numpy as np

from keras2edge.prune import PruneOptions, prune_graph
from keras2edge.prune.report import to_markdown

from .helpers import graph, split


def test_rows_and_totals_from_the_weights() -> None:
    r = prune_graph(graph("digits_lstm"), PruneOptions(sparsity=0.4, schedule="layer"))
    rows = {row["layer"]: row for row in r.report["layers"]}
    # LSTM: kernel 8x128 + recurrent 32x128 + bias 128; each pruned 40%: 410 + 1638 zeros
    lstm = rows["lstm"]
    assert (lstm["class"], lstm["params"], lstm["prunable"], lstm["pruned"]) == ("LSTM", 5248, 5120, 410 + 1638)
    assert lstm["nonzero_params"] == 5248 - 2048
    assert lstm["weights"] == ["lstm/kernel", "lstm/recurrent_kernel"]
    # probs: 32x10 kernel (128 zeros) + 10 biases; MACs 320 per sample, 192 over nonzero weights
    assert (rows["probs"]["params"], rows["probs"]["nonzero_params"]) == (330, 202)
    assert (rows["probs"]["macs"], rows["probs"]["nonzero_macs"]) == (320, 192)
    t = r.report["totals"]
    assert t["params"] == sum(x["params"] for x in rows.values()) == t["params_before"]
    assert t["sparsity"] == round(t["pruned"] / t["prunable"], 6)
    assert r.report["ran"] == ["magnitude"] and r.report["recover"] is False


def test_markdown_table() -> None:
    x, y = split("digits_mlp", "test")
    r = prune_graph(graph("digits_mlp"), PruneOptions(sparsity=0.5, schedule="layer", eval=(x, y)))
    md = to_markdown(r.report)
    lines = md.splitlines()
    assert lines[0] == "Pruned digits_mlp with magnitude (schedule layer, target sparsity 0.50); ran: magnitude"
    assert lines[2].startswith("| layer | class | sparsity | params | nonzero | MACs | nonzero MACs | steps |")
    bias = next(v.const for n in r.graph.nodes for v in n.inputs if v is not None and v.name == "dense_1/bias")
    nonzero = 2048 + np.count_nonzero(bias)          # half the 64x64 kernel and the nonzero biases
    assert f"| dense_1 | Dense | 50.0% | 4160 | {nonzero} | 4096 | 2048 | magnitude |" in lines
    acc = r.report["eval"]
    assert lines[-1].startswith(f"Accuracy on 360 eval samples: {acc['accuracy_before_pct']:.2f}% -> ")
    assert np.isclose(acc["accuracy_drop_pts"], acc["accuracy_before_pct"] - acc["accuracy_after_pct"], atol=1e-3)
