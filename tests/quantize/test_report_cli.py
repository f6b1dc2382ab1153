"""``keras2edge quantize --eval/--report/--max-drop``: the report files, the table on stdout, and the
refusals (one line, exit 1 or 2, no output file)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from keras2edge.cli import main

from .report_cases import data
from .test_trained_fixtures import MANIFEST, TRAINED

MLP = str(TRAINED / "digits_mlp.keras")
LAYERS = ["image", "flatten", "dense_1", "dense_2", "probs"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = data()
    root = tmp_path_factory.mktemp("report_cli")
    paths = {k: str(root / k) for k in ("calib.npy", "eval.npz", "unlabelled.npy", "bad_shape.npz", "bad_labels.npz")}
    np.save(paths["calib.npy"], d["x_calib"])
    np.savez(paths["eval.npz"], image=d["x_test"], labels=d["y_test"])
    np.save(paths["unlabelled.npy"], d["x_test"])
    np.savez(paths["bad_shape.npz"], image=d["x_test"][:, :, :4], labels=d["y_test"])
    np.savez(paths["bad_labels.npz"], image=d["x_test"], labels=d["y_test"][:100])
    return paths


def _run(args: list[str]):
    return CliRunner().invoke(main, ["quantize", MLP, *args])


def test_report_json(files, tmp_path) -> None:
    out, rep = tmp_path / "m.tflite", tmp_path / "r.json"
    res = _run(["-o", str(out), "--calibration", files["calib.npy"], "--eval", files["eval.npz"], "--report", str(rep)])
    assert res.exit_code == 0, res.output
    d = json.loads(rep.read_text())
    assert [r["name"] for r in d["layers"]] == LAYERS
    assert d["labelled"] and d["samples"] == 360
    assert d["float_top1"] == MANIFEST["models"]["digits_mlp"]["keras_test_accuracy"]
    assert sorted(d["ranked"]) == sorted(LAYERS) and d["budget"] is None
    for r in d["layers"]:
        assert r["local"]["sqnr_db"] > 20 and 0 < r["accumulated"]["rmse_over_scale"] < 1
    assert "| dense_1 | Dense | int8 |" in res.output  # the table on stdout
    assert out.stat().st_size == d["quant_size"]


def test_report_markdown_unlabelled_and_budget(files, tmp_path) -> None:
    out, rep = tmp_path / "m.tflite", tmp_path / "r.md"
    res = _run(["-o", str(out), "--calibration", files["calib.npy"], "--eval", files["unlabelled.npy"],
                "--report", str(rep), "--max-drop", "1"])
    assert res.exit_code == 0, res.output
    md = rep.read_text()
    assert "top-1 agreement with float on 360 unlabelled samples" in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and " | int8 | " in line]
    assert [r.split(" | ")[0][2:] for r in rows] == LAYERS
    assert "### Accuracy budget: max drop 1 pt of agreement" in md and "(met)" in md


def test_json_summary_carries_the_report(files, tmp_path) -> None:
    res = _run(["-o", str(tmp_path / "m.tflite"), "--calibration", files["calib.npy"], "--eval", files["eval.npz"],
                "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert [r["name"] for r in info["report"]["layers"]] == LAYERS


@pytest.mark.parametrize(("key", "message"), [
    ("bad_shape.npz", "Error: eval data '{path}': array 'image': input 'image' has shape (360, 8, 4)"),
    ("bad_labels.npz", "Error: eval data '{path}': 100 labels for 360 samples"),
])
def test_bad_eval_data(files, tmp_path, key, message) -> None:
    out, rep = tmp_path / "m.tflite", tmp_path / "r.json"
    res = _run(["-o", str(out), "--calibration", files["calib.npy"], "--eval", files[key], "--report", str(rep)])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message.format(path=files[key])), res.output
    assert not out.exists() and not rep.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--report", "{tmp}/r.txt"], "write a .json or .md file"),
    (["--max-drop", "1"], "--max-drop is measured on eval data"),
    (["--report", "{tmp}/m.tflite"], "write a .json or .md file"),
])
def test_usage_errors(files, tmp_path, args, message) -> None:
    out = tmp_path / "m.tflite"
    res = _run(["-o", str(out), "--calibration", files["calib.npy"], *[a.format(tmp=tmp_path) for a in args]])
    assert res.exit_code == 2 and message in res.output
    assert not out.exists()
