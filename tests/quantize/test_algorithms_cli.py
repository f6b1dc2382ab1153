"""``keras2edge quantize`` flags of the accuracy-preserving algorithms (--cle/--no-cle,
--bias-correction/--no-bias-correction, --adaround/--no-adaround): the summary says which ran, and a
forced algorithm that cannot run fails with one line."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from keras2edge.cli import main

from .test_trained_fixtures import MANIFEST, TRAINED, _data

MODEL = TRAINED / "digits_cnn.keras"


def _calibration(tmp_path, name: str = "digits_cnn") -> str:
    path = tmp_path / f"{name}.npy"
    np.save(path, _data()["x_calib"][:32].reshape((-1, *MANIFEST["models"][name]["input_shape"])))
    return str(path)


def test_defaults_and_flags(tmp_path) -> None:
    cal = _calibration(tmp_path)
    out = tmp_path / "q.tflite"
    res = CliRunner().invoke(main, ["quantize", str(MODEL), "-o", str(out), "--calibration", cal, "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["algorithms"].startswith("cle: off; bias_correction: one_pass, "), info
    assert info["algorithms"].endswith("adaround: off")
    res = CliRunner().invoke(main, ["quantize", str(MODEL), "-o", str(out), "--calibration", cal, "--no-cle",
                                    "--no-bias-correction", "--adaround"])
    assert res.exit_code == 0, res.output
    assert "Algorithms: cle: off; bias_correction: off; adaround: " in res.output
    assert "adaround: off" not in res.output and out.exists()


def test_dense_model_default_has_no_bias_correction(tmp_path) -> None:
    """The rules: bias correction is on by default only for graphs with a convolution, CLE only with
    per-tensor weights."""
    res = CliRunner().invoke(main, ["quantize", str(TRAINED / "digits_mlp.keras"), "-o", str(tmp_path / "m.tflite"),
                                    "--calibration", _calibration(tmp_path, "digits_mlp")])
    assert res.exit_code == 0, res.output
    assert "cle: off; bias_correction: off" in res.output, res.output
    res = CliRunner().invoke(main, ["quantize", str(TRAINED / "digits_mlp.keras"), "-o", str(tmp_path / "m.tflite"),
                                    "--calibration", _calibration(tmp_path, "digits_mlp"), "--per-tensor"])
    assert res.exit_code == 0, res.output
    # CLE brings high-bias absorption with it (the MLP's two ReLU layers: dense_1's ReLU never clipped some units).
    assert "cle: 2 pairs, 1 declined, high-bias absorption: 1 layers (largest c: dense_1 " in res.output, res.output
    assert "; bias_correction: off" in res.output, res.output
    res = CliRunner().invoke(main, ["quantize", str(TRAINED / "digits_mlp.keras"), "-o", str(tmp_path / "m.tflite"),
                                    "--calibration", _calibration(tmp_path, "digits_mlp"), "--per-tensor",
                                    "--no-high-bias-absorption"])
    assert res.exit_code == 0, res.output
    assert "cle: 2 pairs, 1 declined; bias_correction: off" in res.output, res.output
