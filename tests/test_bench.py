"""keras2edge.bench: ``keras2edge bench`` and ``bench_tflite`` on float and int8-I/O models; the JSON
schema; the thread variables reaching the child; errors. No timing is asserted beyond being present
and ordered (min <= p50 <= p90 <= p99 <= max, all > 0)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from keras2edge import (
    BenchResult,
    ModelFormatError,
    OptionError,
    RuntimeModelError,
    bench_tflite,
)
from keras2edge.bench import SCHEMA, THREAD_ENV, random_inputs
from keras2edge.cli import main

from .corpus import corpus
from .int8_io_models import io_model

FLOAT_MODEL = "tflite-micro/hello_world_float.tflite"


def _int8(tmp_path: Path) -> Path:
    p = tmp_path / "q.tflite"
    p.write_bytes(io_model(np.int8, shape=(1, 3, 4), float_input=True, float_output=True, batch_dynamic=True).data)
    return p


def _check_sane(d: dict) -> None:
    """Every figure present, positive, and the percentiles in order."""
    lat = d["latency"]
    assert 0 < lat["min_ms"] <= lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"] <= lat["max_ms"]
    assert lat["min_ms"] <= lat["mean_ms"] <= lat["max_ms"]
    cold = d["cold"]
    assert all(cold[k] > 0 for k in ("import_ms", "import_numpy_ms", "load_prepare_ms", "first_run_ms"))
    assert cold["python_start_ms"] >= 0 and cold["import_numpy_ms"] < cold["import_ms"]
    parts = cold["python_start_ms"] + cold["import_ms"] + cold["load_prepare_ms"] + cold["first_run_ms"]
    assert math.isclose(cold["total_ms"], parts)
    assert d["arena_bytes"] > 0 and d["peak_rss_bytes"] > 10 * 2**20 and d["model_bytes"] > 0
    assert d["pid"] > 0 and d["python"] and d["numpy"] == np.__version__ and d["blas"]


def test_bench_float_model_table(tmp_path: Path) -> None:
    path = corpus(FLOAT_MODEL)
    res = CliRunner().invoke(main, ["bench", path, "--runs", "7", "--warmup", "1"])
    assert res.exit_code == 0, res.output
    for row in ("model", "cold start", "python start", "import", "load+prepare", "first run", "p50", "p99",
                "arena", "peak RSS", "7 runs after 1 warm-up", "float32 [1, 1]"):
        assert row in res.output, row


def test_bench_int8_model_json_schema(tmp_path: Path) -> None:
    """--json: the documented schema; random inputs of the model's dtypes; --threads sets every
    thread variable in the child; --input-shape picks the batch (the arena grows with it)."""
    model = _int8(tmp_path)
    args = ["bench", str(model), "--json", "--runs", "5", "--warmup", "0", "--threads", "1", "--seed", "3"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert list(d) == ["schema", "model", "model_bytes", "runs", "warmup", "seed", "threads", "thread_env",
                       "inputs", "cold", "latency", "arena_bytes", "peak_rss_bytes", "python", "numpy", "blas", "blas_threads", "pid"]
    assert d["schema"] == SCHEMA and d["model"] == str(model) and d["model_bytes"] == model.stat().st_size
    assert (d["runs"], d["warmup"], d["seed"], d["threads"]) == (5, 0, 3, 1)
    assert d["thread_env"] == {k: "1" for k in THREAD_ENV}
    assert d["blas_threads"] in (1, None)  # what OpenBLAS itself says, where it can be asked
    assert d["inputs"] == [{"name": "x", "shape": [1, 3, 4], "dtype": "int8", "quantized": True},
                           {"name": "y", "shape": [1, 3, 4], "dtype": "float32", "quantized": False}]
    assert list(d["cold"]) == ["python_start_ms", "import_ms", "import_numpy_ms", "load_prepare_ms",
                               "first_run_ms", "total_ms"]
    assert list(d["latency"]) == ["min_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms"]
    _check_sane(d)
    res8 = CliRunner().invoke(main, [*args, "--input-shape", "x:8,3,4", "--input-shape", "y:8,3,4"])
    assert res8.exit_code == 0, res8.output
    d8 = json.loads(res8.stdout)
    assert [i["shape"] for i in d8["inputs"]] == [[8, 3, 4], [8, 3, 4]]
    assert d8["arena_bytes"] > d["arena_bytes"]


def test_bench_api_returns_a_dataclass(tmp_path: Path) -> None:
    r = bench_tflite(corpus(FLOAT_MODEL), runs=3, warmup=0, input_shapes={"*": (4, 1)})
    assert isinstance(r, BenchResult) and r.runs == 3 and r.threads is None and r.inputs[0].shape == [4, 1]
    _check_sane(r.to_dict())
    assert BenchResult.from_dict(json.loads(r.to_json())) == r


def test_random_inputs_follow_the_dtypes() -> None:
    """Floats in [-1, 1), quantized integers over their whole range, other integers zero, seeded."""
    def d(name: str, dtype: type, scales: list[float]) -> dict:
        return {"name": name, "dtype": dtype, "shape": [1, 4000],
                "quantization_parameters": {"scales": np.array(scales, np.float32), "zero_points": np.zeros(len(scales)),
                                            "quantized_dimension": 0}}

    details = [d("f", np.float32, []), d("q", np.int8, [0.5]), d("i", np.int32, []), d("b", np.bool_, [])]
    a = random_inputs(details, [[1, 4000]] * 4, seed=7)
    assert [x.dtype for x in a] == [np.float32, np.int8, np.int32, np.bool_]
    assert -1 <= a[0].min() and a[0].max() < 1 and a[1].min() == -128 and a[1].max() == 127
    assert not a[2].any() and 0 < a[3].mean() < 1
    assert all(np.array_equal(x, y) for x, y in zip(a, random_inputs(details, [[1, 4000]] * 4, seed=7)))


def test_bench_errors(tmp_path: Path) -> None:
    """Missing file, a file that is not a model, an unknown input name: one line, exit 1; bad numbers
    are usage errors (exit 2) in the CLI and OptionError in the API."""
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer at all" * 4)
    cases = [([str(tmp_path / "nope.tflite")], "no such file"),
             ([str(bad)], f"{str(bad)!r}: "),
             ([corpus(FLOAT_MODEL), "--input-shape", "nope:1,1"], "no input named 'nope'"),
             ([corpus(FLOAT_MODEL), "--input-shape", "1,2"], "expects shape")]
    for args, msg in cases:
        res = CliRunner().invoke(main, ["bench", *args, "--runs", "1"])
        assert res.exit_code == 1 and res.output.startswith("Error: ") and msg in res.output, res.output
        assert "Traceback" not in res.output
    res = CliRunner().invoke(main, ["--debug", "bench", str(tmp_path / "nope.tflite")])
    assert res.exit_code != 0 and isinstance(res.exception, ModelFormatError)  # raised through with --debug
    for opt in (["--runs", "0"], ["--warmup", "-1"], ["--threads", "0"], ["--runs", "x"]):
        res = CliRunner().invoke(main, ["bench", corpus(FLOAT_MODEL), *opt])
        assert res.exit_code == 2, (opt, res.output)
    with pytest.raises(OptionError, match="runs=0"):
        bench_tflite(corpus(FLOAT_MODEL), runs=0)
    with pytest.raises(OptionError, match="every dim must be given"):
        bench_tflite(corpus(FLOAT_MODEL), input_shapes={"*": (None, 1)})
    with pytest.raises(ModelFormatError, match="not a file"):
        bench_tflite(tmp_path)
    with pytest.raises(RuntimeModelError, match=str(bad)):
        bench_tflite(bad, runs=1)


def test_a_child_that_dies_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child exits without a report (a crash, an OOM kill): a Keras2EdgeError with its exit status
    and last stderr lines, never a JSON decoding error."""
    from keras2edge import Keras2EdgeError, bench

    monkeypatch.setattr(bench, "_BOOT", "import sys; sys.stderr.write('segfault-ish\\n'); sys.exit(3)")
    with pytest.raises(Keras2EdgeError, match=r"exited with 3 without a result:\nsegfault-ish"):
        bench_tflite(corpus(FLOAT_MODEL), runs=1)
    monkeypatch.setattr(bench, "_BOOT", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    with pytest.raises(Keras2EdgeError, match="was killed by signal 9"):
        bench_tflite(corpus(FLOAT_MODEL), runs=1)
    monkeypatch.setattr(bench, "_BOOT", "import time; time.sleep(30)")
    with pytest.raises(Keras2EdgeError, match="did not finish within 0.5 s"):
        bench_tflite(corpus(FLOAT_MODEL), runs=1, timeout=0.5)


def test_an_internal_error_in_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the child (not a keras2edge error): one line naming it, its traceback kept on the
    exception for --debug."""
    from keras2edge import Keras2EdgeError, bench

    monkeypatch.setattr(bench, "_BOOT", "import sys; sys.argv[1] = '{}'; from keras2edge.bench import child_main; "
                                        "child_main(0.0, 0.0, 0.0, 0.0)")
    with pytest.raises(Keras2EdgeError, match=r"internal error in the benchmark process \(KeyError: 'path'\)") as e:
        bench_tflite(corpus(FLOAT_MODEL), runs=1)
    assert "Traceback" in e.value.child_traceback and "Traceback" not in str(e.value)  # type: ignore[attr-defined]


def test_child_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child imports this keras2edge (its folder first on PYTHONPATH, once) and gets the thread
    variables only when threads is given."""
    import os

    import keras2edge
    from keras2edge.bench import child_env

    root = os.path.dirname(os.path.dirname(os.path.abspath(keras2edge.__file__)))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["/elsewhere", root]))
    for k in THREAD_ENV:
        monkeypatch.delenv(k, raising=False)
    env = child_env(None)
    assert env["PYTHONPATH"].split(os.pathsep) == [root, "/elsewhere"]
    assert not any(k in env for k in THREAD_ENV)
    assert all(child_env(3)[k] == "3" for k in THREAD_ENV)
