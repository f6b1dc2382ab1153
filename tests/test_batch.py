"""Batch conversion (keras2edge.convert_many and `keras2edge convert A B ... -o OUTDIR/`): mixed good and
bad inputs, per-model results, exit codes, no partial or temporary files, the JSON summary, workers."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import keras2edge
from keras2edge import batch
from keras2edge.cli import main

from .corpus import FIXTURES, REPO, CorpusFile

EXAMPLE = str(REPO / "examples" / "tiny_cnn.keras")
MLP = str(FIXTURES / "k3" / "mlp.h5")
PAIR = f"{FIXTURES / 'k3' / 'cnn2d.json'}:{FIXTURES / 'k3' / 'cnn2d.weights.h5'}"
LAMBDA = CorpusFile("dl4j-test-resources/keras2/model_lambda.h5")

RESULT_KEYS = {"model": (str,), "output": (str, type(None)), "status": (str,), "error": (str,),
               "error_class": (str,), "seconds": (float,), "output_bytes": (int,), "ops": (int,), "pid": (int,)}


@pytest.fixture
def truncated(tmp_path: Path) -> str:
    """The first 3000 bytes of a real .keras archive."""
    p = tmp_path / "inputs" / "truncated.keras"
    p.parent.mkdir()
    p.write_bytes(Path(EXAMPLE).read_bytes()[:3000])
    return str(p)


def mixed(truncated: str) -> list[str]:
    return [EXAMPLE, MLP, truncated, str(LAMBDA), PAIR]


def check_mixed(results: list[keras2edge.ConvertResult], out: Path, ext: str, truncated: str) -> None:
    assert [r.model for r in results] == mixed(truncated)
    assert [r.status for r in results] == ["ok", "ok", "failed", "failed", "ok"]
    assert [r.error_class for r in results] == ["", "", "ModelFormatError", "UnsupportedLayerError", ""]
    assert "truncated" in results[2].error and "truncated.keras" in results[2].error
    assert "Lambda (layers: lambda_3, lambda_4)" in results[3].error
    assert all(r.output is None and r.output_bytes == 0 and r.ops == 0 for r in results if not r.ok)
    # exactly the good models' files, each complete; nothing partial, no temporary file
    assert sorted(os.listdir(out)) == sorted(f"{s}.{ext}" for s in ("tiny_cnn", "mlp", "cnn2d"))
    for r in results:
        if r.ok:
            assert r.output is not None and r.output_bytes == os.path.getsize(r.output) and r.ops > 0
            assert r.seconds >= 0


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_mixed_inputs_in_process(tmp_path: Path, truncated: str, fmt: str) -> None:
    out = tmp_path / "out"
    seen: list[str] = []
    results = keras2edge.convert_many(mixed(truncated), out, fmt=fmt, on_result=lambda r: seen.append(r.model))
    check_mixed(results, out, fmt, truncated)
    assert seen == mixed(truncated) and {r.pid for r in results} == {os.getpid()}


def test_outputs_match_single_conversions_and_run(tmp_path: Path) -> None:
    """The batch writes the same bytes as convert_model, and the ONNX runs in onnxruntime like Keras."""
    import onnxruntime as ort

    results = keras2edge.convert_many([EXAMPLE, PAIR], tmp_path / "out", fmt="onnx")
    keras2edge.convert_model(EXAMPLE, tmp_path / "single.onnx")
    assert Path(results[0].output or "").read_bytes() == (tmp_path / "single.onnx").read_bytes()
    sess = ort.InferenceSession(results[0].output, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"image": np.load(REPO / "examples" / "tiny_cnn_input.npy")})[0]
    np.testing.assert_allclose(y, np.load(REPO / "examples" / "tiny_cnn_keras_output.npy"), rtol=1e-4, atol=1e-5)


def test_two_jobs_use_worker_processes_and_write_the_same_bytes(tmp_path: Path, truncated: str) -> None:
    one = keras2edge.convert_many(mixed(truncated), tmp_path / "one", fmt="onnx", jobs=1)
    two = keras2edge.convert_many(mixed(truncated), tmp_path / "two", fmt="onnx", jobs=2)
    check_mixed(two, tmp_path / "two", "onnx", truncated)
    assert os.getpid() not in {r.pid for r in two}
    assert [(r.status, r.error, r.ops, r.output_bytes) for r in one] == [(r.status, r.error, r.ops, r.output_bytes)
                                                                         for r in two]
    for a, b in zip(one, two):
        if a.ok:
            assert Path(a.output or "").read_bytes() == Path(b.output or "").read_bytes()


def _crash_on_mlp(model: str, output: str, **kwargs: object) -> object:
    """Stand-in for convert_model in forked workers: for mlp.h5, die inside a write, as a killed worker would."""
    if os.path.basename(model) == "mlp.h5":
        fd, _ = tempfile.mkstemp(prefix=f".{os.path.basename(output)}.", suffix=".tmp", dir=os.path.dirname(output))
        os.write(fd, b"partial")
        os._exit(9)
    return keras2edge.convert_model(model, output, **kwargs)  # type: ignore[arg-type]


@pytest.mark.skipif(multiprocessing.get_start_method() != "fork", reason="the stand-in reaches workers by fork")
def test_a_dying_worker_fails_only_its_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "convert_model", _crash_on_mlp)
    out = tmp_path / "out"
    results = keras2edge.convert_many([EXAMPLE, MLP, PAIR], out, fmt="onnx", jobs=2)
    assert [r.status for r in results] == ["ok", "failed", "ok"]
    assert results[1].error_class == "WorkerCrashed" and "died" in results[1].error
    assert sorted(os.listdir(out)) == ["cnn2d.onnx", "tiny_cnn.onnx"]   # the temporary file is gone too


def test_same_stem_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(keras2edge.BatchInputError) as e:
        keras2edge.convert_many([EXAMPLE, MLP, str(FIXTURES / "k2" / "mlp.h5")], tmp_path / "out", fmt="onnx")
    assert "mlp.onnx" in str(e.value) and "k2" in str(e.value) and "k3" in str(e.value)
    assert not (tmp_path / "out").exists()


def test_globs_pairs_and_paths_with_colons(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(EXAMPLE, src / "a:b.keras")             # an existing file is a model, even with a ':'
    shutil.copy(MLP, src / "sub" / "mlp.h5")
    shutil.copy(FIXTURES / "k3" / "cnn2d.json", src / "arch.json")
    shutil.copy(FIXTURES / "k3" / "cnn2d.weights.h5", src / "arch.weights.h5")
    got = batch.expand_models([str(src / "*.keras"), str(src / "**" / "*.h5"), f"{src / 'arch.json'}:{src / 'arch.weights.h5'}",
                               str(src / "a:b.keras")])
    assert got == [batch.ModelInput(str(src / "a:b.keras")), batch.ModelInput(str(src / "arch.weights.h5")),
                   batch.ModelInput(str(src / "sub" / "mlp.h5")),
                   batch.ModelInput(str(src / "arch.json"), str(src / "arch.weights.h5"))]
    with pytest.raises(keras2edge.BatchInputError, match="matches no file"):
        batch.expand_models([str(src / "*.tflite")])


def test_output_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").write_bytes(b"x")
    res = CliRunner().invoke(main, ["convert", EXAMPLE, MLP, "-o", str(tmp_path / "out"), "--format", "onnx"])
    assert res.exit_code == 1 and res.output.startswith("Error: cannot write into") and "folder" in res.output
    assert "internal error" not in res.output and (tmp_path / "out").read_bytes() == b"x"


def test_bad_format_jobs_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(keras2edge.BatchInputError, match="supported: onnx, tflite"):
        keras2edge.convert_many([EXAMPLE], tmp_path, fmt="pb")
    with pytest.raises(keras2edge.BatchInputError, match="jobs"):
        keras2edge.convert_many([EXAMPLE], tmp_path, fmt="onnx", jobs=0)
    (r,) = keras2edge.convert_many([str(tmp_path / "nope.h5")], tmp_path / "out", fmt="onnx")
    assert r.status == "failed" and "no such file" in r.error and os.listdir(tmp_path / "out") == []


def test_cli_batch_json_summary_and_exit_code(tmp_path: Path, truncated: str) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["convert", *mixed(truncated), "-o", f"{out}/", "--format", "tflite", "-j", "2",
                                    "--json"])
    assert res.exit_code == 1, res.output
    data = json.loads(res.stdout)
    assert set(data) == {"format", "outdir", "jobs", "seconds", "ok", "failed", "results"}
    assert (data["format"], data["jobs"], data["ok"], data["failed"]) == ("tflite", 2, 3, 2)
    for row in data["results"]:
        assert set(row) == set(RESULT_KEYS)
        for key, types in RESULT_KEYS.items():
            assert isinstance(row[key], types), (key, row[key])
    assert [row["status"] for row in data["results"]] == ["ok", "ok", "failed", "failed", "ok"]
    assert "Traceback" not in res.output
    assert "[5/5]" in res.stderr   # a progress line per model when stderr is not a terminal
    assert sorted(os.listdir(out)) == ["cnn2d.tflite", "mlp.tflite", "tiny_cnn.tflite"]


def test_cli_batch_table_all_good_exit_0(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["convert", EXAMPLE, PAIR, "-o", str(tmp_path / "out") + os.sep, "--format", "onnx"])
    assert res.exit_code == 0, res.output
    assert "model" in res.stdout and "status" in res.stdout and "2 converted, 0 failed" in res.stdout


def test_cli_one_model_into_an_existing_folder_is_a_batch(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["convert", EXAMPLE, "-o", str(tmp_path), "--format", "onnx"])
    assert res.exit_code == 0, res.output
    assert os.listdir(tmp_path) == ["tiny_cnn.onnx"]


@pytest.mark.parametrize("args, needle", [
    (["-o", "OUT/"], "--format"),
    (["-o", "OUT/", "--format", "onnx", "--weights", MLP], "ARCH.json:WEIGHTS.h5"),
    (["-o", "OUT/m.onnx", "--json"], "batch"),
    (["-o", "OUT/m.onnx", "--format", "tflite"], "does not match"),
])
def test_cli_usage_errors(tmp_path: Path, args: list[str], needle: str) -> None:
    args = [a.replace("OUT", str(tmp_path / "o")) for a in args]
    res = CliRunner().invoke(main, ["convert", EXAMPLE, *args])
    assert res.exit_code == 2 and needle in res.output
    assert not (tmp_path / "o").exists()


def test_cli_same_stem_exit_1_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["convert", MLP, str(FIXTURES / "k2" / "mlp.h5"), "-o", str(tmp_path / "o"),
                                    "--format", "onnx"])
    assert res.exit_code == 1 and res.output.startswith("Error: ") and "mlp.onnx" in res.output
    assert not (tmp_path / "o").exists()
