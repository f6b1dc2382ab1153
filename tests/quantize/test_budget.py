"""The accuracy budget (quantize/budget.py: ``max_drop`` / ``--max-drop`` with eval data) on digits
models where some layer must move, each result measured independently: the returned graph saved as
``.tflite`` and run in TFLite Micro on the eval data, the float model's accuracy from Keras' record or
onnxruntime.

Measured (360 labelled test samples, max drop 0.5 pt): the loud-unit MLP starts 86.39 pt below float;
pass 1 raises dense_1 to int16 (drop unchanged: dense_2 still reads it at int8), then dense_2 (drop
0.00 pt); pass 3 finds dense_1 still needed (back at int8: 86.39 pt): final int16 = dense_1, dense_2,
12768 B, +704 B over the all-int8 file (12064 B). The broken-weights MLP (int16 cannot repair int8
weights) starts at 86.67 pt; all four layers at int16 leave it at 87.22 pt; dense_1 to float gives
0.00 pt (+10672 B); pass 3 returns flatten, dense_2 and probs to int8: final keep_float = dense_1,
22992 B (all-int8: 12064 B).
"""

from __future__ import annotations

import numpy as np
import pytest

import keras2edge
from keras2edge.errors import QuantizationError

from .report_cases import broken_mlp, data, load, loud_unit_mlp, ort_top1, tflm_top1
from .test_trained_fixtures import MANIFEST

MAX_DROP = 0.5  # percentage points


@pytest.fixture(scope="module")
def d() -> dict[str, np.ndarray]:
    return data()


def _budget(g, d, eval_data, max_drop=MAX_DROP):
    return keras2edge.quantize(g, calibration=d["x_calib"], eval_data=eval_data, report=True, max_drop=max_drop)


def test_int16_repairs_an_activation_range(d, tmp_path) -> None:
    """int8 collapses on dense_1's output range; int16 moves alone meet the budget (labelled data)."""
    g = loud_unit_mlp()
    x, y = d["x_test"], d["y_test"]
    q, rep = _budget(g, d, {"image": x, "labels": y})
    b = rep.budget
    assert b is not None and b.metric == "accuracy"
    assert b.start_drop_pt > 50 and b.met and b.final_drop_pt <= MAX_DROP
    assert b.keep_float == [] and "dense_1" in b.int16
    assert [s.precision for s in b.steps if s.kept][:1] == ["int16"]
    assert rep.layer("dense_1").precision == "int16"
    out = tmp_path / "q.tflite"
    keras2edge.save(q, out)
    float_acc = float(np.mean(ort_top1(g, x, tmp_path) == y))
    quant_acc = float(np.mean(tflm_top1(out.read_bytes(), x) == y))
    assert 100 * (float_acc - quant_acc) <= MAX_DROP + 1e-9, (float_acc, quant_acc)
    assert rep.float_top1 == pytest.approx(float_acc, abs=1e-12)
    assert rep.quant_top1 == pytest.approx(quant_acc, abs=1e-12)
    assert b.steps[-1].size_bytes == rep.quant_size or not b.steps[-1].kept


def test_float_repairs_broken_weights(d, tmp_path) -> None:
    """int16 keeps int8 weights, so only float repairs dense_1; the final file keeps no needless
    move (pass 3), and its accuracy in TFLite Micro is within the budget of Keras' float accuracy."""
    g = broken_mlp()
    x, y = d["x_test"], d["y_test"]
    q, rep = _budget(g, d, {"image": x, "labels": y})
    b = rep.budget
    assert b.met and b.keep_float == ["dense_1"] and b.int16 == []
    moved = [s for s in b.steps if s.kept and s.precision == "float"]
    assert [s.layer for s in moved] == ["dense_1"] and moved[0].cost_bytes > 0
    out = tmp_path / "q.tflite"
    keras2edge.save(q, out)
    keras_acc = MANIFEST["models"]["digits_mlp"]["keras_test_accuracy"]
    quant_acc = float(np.mean(tflm_top1(out.read_bytes(), x) == y))
    assert 100 * (keras_acc - quant_acc) <= MAX_DROP + 1e-9
    md = rep.to_markdown()
    assert "### Accuracy budget" in md and "| dense_1 | float |" in md


def test_unlabelled_budget_is_agreement(d, tmp_path) -> None:
    """Without labels the budget holds top-1 agreement with the float model (Keras' predictions)."""
    g = broken_mlp()
    x = d["x_test"]
    q, rep = _budget(g, d, x, max_drop=1.0)
    assert rep.budget.metric == "agreement" and rep.budget.met
    out = tmp_path / "q.tflite"
    keras2edge.save(q, out)
    keras_pred = np.array(MANIFEST["models"]["digits_mlp"]["keras_predictions"])
    agreement = float(np.mean(tflm_top1(out.read_bytes(), x) == keras_pred))
    assert 100 * (1 - agreement) <= 1.0 + 1e-9


def test_already_within_budget(d) -> None:
    """A model already within the budget moves nothing."""
    g = load("digits_mlp")
    _q, rep = _budget(g, d, {"image": d["x_test"], "y": d["y_test"]})
    assert rep.budget.met and rep.budget.steps == [] and rep.budget.start_drop_pt <= MAX_DROP


@pytest.mark.parametrize(("kw", "match"), [
    ({"max_drop": 1.0}, "eval data"),
    ({"max_drop": -1.0, "eval_data": "x"}, "between 0 and 100"),
    ({"max_drop": float("nan"), "eval_data": "x"}, "between 0 and 100"),
    ({"max_drop": 1.0, "eval_data": "x", "scheme": "dynamic"}, "int8 scheme"),
])
def test_refusals(d, kw, match) -> None:
    if kw.get("eval_data") == "x":
        kw["eval_data"] = d["x_test"]
    with pytest.raises(QuantizationError, match=match):
        keras2edge.quantize(broken_mlp(), calibration=d["x_calib"], report=True, **kw)
