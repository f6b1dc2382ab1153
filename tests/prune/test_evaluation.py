"""Eval data: labels from an .npz ('labels' or 'y'), a tuple or a dict; unlabelled data gives
agreement only; predictions come from the model run as .tflite in the runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keras2edge.errors import PruneError
from keras2edge.prune.evaluation import eval_data, evaluate, predictions

from .helpers import MANIFEST, graph, split


def test_predictions_match_keras() -> None:
    x, _ = split("digits_gru", "test")
    p = predictions(graph("digits_gru"), x)
    np.testing.assert_array_equal(p, MANIFEST["models"]["digits_gru"]["keras_predictions"])


def test_label_sources(tmp_path: Path) -> None:
    x, y = split("digits_mlp", "test")
    np.savez(tmp_path / "a.npz", image=x, y=y)
    for src in (str(tmp_path / "a.npz"), (x, y), {"image": x, "labels": y}):
        d = eval_data(src)
        np.testing.assert_array_equal(d.labels, y)
    assert eval_data(x).labels is None
    np.savez(tmp_path / "b.npz", image=x, y=y, labels=y)
    with pytest.raises(PruneError, match="both 'labels' and 'y'"):
        eval_data(str(tmp_path / "b.npz"))
    with pytest.raises(PruneError, match="no such file"):
        eval_data(str(tmp_path / "c.npz"))


def test_evaluate_same_model() -> None:
    g = graph("digits_mlp")
    x, y = split("digits_mlp", "test")
    res = evaluate(g, g, (x, y))
    assert res["agreement_pct"] == 100.0 and res["accuracy_drop_pts"] == 0.0
    assert res["accuracy_before_pct"] == round(100 * MANIFEST["models"]["digits_mlp"]["keras_test_accuracy"], 3)
    with pytest.raises(PruneError, match="labels must be integer class ids"):
        evaluate(g, g, (x, y.astype(np.float32)))
