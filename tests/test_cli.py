"""The command line: the README quick start, exit codes, one-line errors, --debug, atomic output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from keras2edge.cli import main

from .corpus import REPO, corpus
from .tolerances import rel_err

EXAMPLE = REPO / "examples" / "tiny_cnn.keras"


def test_readme_quick_start(tmp_path: Path) -> None:
    """`keras2edge convert examples/tiny_cnn.keras -o tiny_cnn.onnx` matches Keras' recorded output."""
    import onnxruntime as ort

    out = tmp_path / "tiny_cnn.onnx"
    res = CliRunner().invoke(main, ["convert", str(EXAMPLE), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "Wrote" in res.output
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.load(REPO / "examples" / "tiny_cnn_input.npy")
    y = sess.run(None, {"image": x})[0]
    assert rel_err(y, np.load(REPO / "examples" / "tiny_cnn_keras_output.npy")) < 1e-5


def test_inspect_text_and_json() -> None:
    res = CliRunner().invoke(main, ["inspect", str(EXAMPLE)])
    assert res.exit_code == 0, res.output
    assert "conv1" in res.output and "Conv2D" in res.output and "Total params" in res.output
    res = CliRunner().invoke(main, ["inspect", str(EXAMPLE), "--json"])
    data = json.loads(res.output)
    rows = {r["name"]: r for r in data["layers"]}
    # conv1: 3x3x1x8 kernel + 8 bias = 80 params; output 28x28x8, 9 MACs per output element.
    assert rows["conv1"]["params"] == 80
    assert rows["conv1"]["macs"] == 28 * 28 * 8 * 9
    assert rows["conv1"]["output_shapes"] == [[None, 28, 28, 8]]
    assert rows["bn1"]["params"] == 32
    assert data["total_params"] == sum(r["params"] for r in data["layers"])


def test_unsupported_layer_exit_code_and_no_traceback(tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    res = CliRunner().invoke(main, ["convert", corpus("dl4j-test-resources/keras2/model_lambda.h5"), "-o", str(out)])
    assert res.exit_code == 1
    assert res.output.startswith("Error: ") and "Lambda" in res.output and "lambda_3, lambda_4" in res.output
    assert "Traceback" not in res.output
    assert not out.exists() and not os.listdir(tmp_path)


def test_debug_shows_traceback(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["--debug", "convert", corpus("dl4j-test-resources/keras2/model_lambda.h5"),
                                    "-o", str(tmp_path / "m.onnx")])
    assert res.exit_code != 0
    assert res.exception is not None  # raised through instead of printed


def test_usage_error_exit_2(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["convert", str(EXAMPLE)])
    assert res.exit_code == 2
    res = CliRunner().invoke(main, ["convert", str(EXAMPLE), "-o", str(tmp_path / "x.onnx"), "--input-shape", "a:1,x"])
    assert res.exit_code == 2


def test_missing_file(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["convert", str(tmp_path / "nope.h5"), "-o", str(tmp_path / "x.onnx")])
    assert res.exit_code == 1 and "no such file" in res.output


def test_input_shape_pins_batch(tmp_path: Path) -> None:
    import onnx

    out = tmp_path / "pinned.onnx"
    res = CliRunner().invoke(main, ["convert", str(EXAMPLE), "-o", str(out), "--input-shape", "image:1,28,28,1"])
    assert res.exit_code == 0, res.output
    dims = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 28, 28, 1]
    res = CliRunner().invoke(main, ["convert", str(EXAMPLE), "-o", str(out), "--input-shape", "image:1,32,32,1"])
    assert res.exit_code == 1 and "does not fit" in res.output


def test_unknown_output_extension(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["convert", str(EXAMPLE), "-o", str(tmp_path / "x.pb")])
    assert res.exit_code == 1 and "supported: .onnx" in res.output
    assert not os.listdir(tmp_path)


def test_convert_to_tflite_runs_in_litert(tmp_path: Path) -> None:
    """`keras2edge convert ... -o m.tflite`: the file runs in LiteRT (reference kernels) and matches Keras."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    out = tmp_path / "tiny_cnn.tflite"
    res = CliRunner().invoke(main, ["convert", str(EXAMPLE), "-o", str(out)])
    assert res.exit_code == 0, res.output
    interp = Interpreter(model_path=str(out), num_threads=1,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], np.load(REPO / "examples" / "tiny_cnn_input.npy"))
    interp.invoke()
    y = interp.get_tensor(interp.get_output_details()[0]["index"])
    assert rel_err(y, np.load(REPO / "examples" / "tiny_cnn_keras_output.npy")) < 1e-5


def test_run_and_inspect_tflite(tmp_path: Path) -> None:
    """`keras2edge run m.tflite --input x.npy -o out.npz` matches Keras; `inspect m.tflite` lists ops,
    versions, MACs and the arena."""
    model = tmp_path / "m.tflite"
    assert CliRunner().invoke(main, ["convert", str(EXAMPLE), "-o", str(model)]).exit_code == 0
    out = tmp_path / "out.npz"
    res = CliRunner().invoke(main, ["run", str(model), "--input", str(REPO / "examples" / "tiny_cnn_input.npy"),
                                    "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "probs: float32 (1, 10)" in res.output
    with np.load(out, allow_pickle=False) as z:
        assert rel_err(z["probs"], np.load(REPO / "examples" / "tiny_cnn_keras_output.npy")) < 1e-5
    res = CliRunner().invoke(main, ["inspect", str(model), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert [o["op"] for o in rep["ops"]][:2] == ["CONV_2D", "MAX_POOL_2D"]
    assert rep["total_macs"] == 95_808  # the same count as `inspect` gives for the Keras model
    assert rep["arena_bytes"] > 0 and rep["inputs"][0]["shape_signature"] == [-1, 28, 28, 1]
    text = CliRunner().invoke(main, ["inspect", str(model)]).output
    assert "CONV_2D" in text and "Arena" in text


def test_run_bad_input_file(tmp_path: Path) -> None:
    model = tmp_path / "m.tflite"
    assert CliRunner().invoke(main, ["convert", str(EXAMPLE), "-o", str(model)]).exit_code == 0
    bad = tmp_path / "x.npy"
    bad.write_bytes(b"not numpy")
    res = CliRunner().invoke(main, ["run", str(model), "--input", str(bad)])
    assert res.exit_code == 1 and "not an .npy array nor an .npz archive" in res.output
    wrong = tmp_path / "w.npy"
    np.save(wrong, np.zeros((1, 5, 5, 1), np.float32))
    res = CliRunner().invoke(main, ["run", str(model), "--input", str(wrong)])
    assert res.exit_code == 1 and res.output.startswith("Error: ") and "Traceback" not in res.output


def test_run_truncated_tflite(tmp_path: Path) -> None:
    model = tmp_path / "m.tflite"
    assert CliRunner().invoke(main, ["convert", str(EXAMPLE), "-o", str(model)]).exit_code == 0
    model.write_bytes(model.read_bytes()[:1000])
    res = CliRunner().invoke(main, ["run", str(model), "--input", str(REPO / "examples" / "tiny_cnn_input.npy")])
    assert res.exit_code == 1 and res.output.startswith("Error: ")


def test_nchw_inputs_flag(tmp_path: Path) -> None:
    import onnx

    out = tmp_path / "nchw.onnx"
    res = CliRunner().invoke(main, ["convert", str(EXAMPLE), "-o", str(out), "--nchw-inputs"])
    assert res.exit_code == 0, res.output
    model = onnx.load(str(out))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 1, 28, 28]
    assert "Transpose" not in [n.op_type for n in model.graph.node]


def test_reader_closing_the_pipe_is_not_an_internal_error() -> None:
    """`keras2edge inspect m.tflite | head -1`: the reader leaves early; no traceback, no 'internal error'."""
    import subprocess
    import sys

    model = corpus("tflite-micro/hello_world_float.tflite")
    proc = subprocess.Popen([sys.executable, "-m", "keras2edge.cli", "inspect", model, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before anything is written: every write hits EPIPE
    err = proc.stderr.read().decode()
    proc.wait()
    assert proc.returncode == 1
    assert "internal error" not in err and "Traceback" not in err, err


def _int8_model(tmp_path: Path) -> tuple[object, Path]:
    from .int8_io_models import io_model

    m = io_model(np.int8, shape=(1, 3, 4), float_input=True, float_output=True, batch_dynamic=True)
    p = tmp_path / "q.tflite"
    p.write_bytes(m.data)
    return m, p


def test_run_int8_model_takes_and_returns_real_values(tmp_path: Path) -> None:
    """`keras2edge run q.tflite -i x.npz -o out.npz`: float in, quantized with the model's parameters,
    float32 out; each conversion printed. `--raw` feeds and returns the int8 tensors."""
    from .int8_io_models import expected, q_to_real, real_to_q

    m, model = _int8_model(tmp_path)
    x = np.linspace(-2, 2, 24, dtype=np.float32).reshape(2, 3, 4)  # a batch of 2 (dynamic batch)
    y = np.full((2, 3, 4), 0.25, np.float32)
    np.savez(tmp_path / "in.npz", x=x, y=y)
    res = CliRunner().invoke(main, ["run", str(model), "-i", str(tmp_path / "in.npz"), "-o", str(tmp_path / "o.npz")])
    assert res.exit_code == 0, res.output
    assert "input 'x': float32 -> int8, quantized (scale 0.05, zero point -3)" in res.output
    assert "output 'out': int8 -> float32, dequantized (scale 0.1, zero point 5)" in res.output
    assert "input 'y'" not in res.output  # a float input is not converted: nothing to say
    xq = real_to_q(x, 0.05, -3, np.dtype(np.int8))
    want = expected(m, xq, y)  # type: ignore[arg-type]
    with np.load(tmp_path / "o.npz", allow_pickle=False) as z:
        assert z["out"].dtype == np.float32 and np.array_equal(z["out"], q_to_real(want["out"], 0.1, 5))
        assert np.array_equal(z["f"], want["f"])
    np.savez(tmp_path / "raw.npz", x=xq, y=y)
    res = CliRunner().invoke(main, ["run", str(model), "--input", str(tmp_path / "raw.npz"), "--raw",
                                    "-o", str(tmp_path / "r.npz")])
    assert res.exit_code == 0, res.output
    assert "input 'x': int8 as is (raw)" in res.output and "output 'out': int8 as is (raw)" in res.output
    with np.load(tmp_path / "r.npz", allow_pickle=False) as z:
        assert z["out"].dtype == np.int8 and np.array_equal(z["out"], want["out"])


def test_run_int8_model_to_stdout_keeps_stdout_clean(tmp_path: Path) -> None:
    import io

    _, model = _int8_model(tmp_path)
    np.savez(tmp_path / "in.npz", x=np.zeros((1, 3, 4), np.float32), y=np.zeros((1, 3, 4), np.float32))
    res = CliRunner().invoke(main, ["run", str(model), "-i", str(tmp_path / "in.npz"), "-o", "-"])
    assert res.exit_code == 0, res.stderr
    assert "quantized" in res.stderr
    with np.load(io.BytesIO(res.stdout_bytes), allow_pickle=False) as z:
        assert sorted(z.files) == ["f", "out"]


def test_run_int8_model_wrong_dtypes(tmp_path: Path) -> None:
    """Without --raw an int8 array is refused (it could be real values or quantized data); with --raw a
    float array is refused. One line, exit 1, no traceback."""
    _, model = _int8_model(tmp_path)
    y = np.zeros((1, 3, 4), np.float32)
    np.savez(tmp_path / "i8.npz", x=np.zeros((1, 3, 4), np.int8), y=y)
    np.savez(tmp_path / "f.npz", x=y, y=y)
    for args, msg in ((["-i", str(tmp_path / "i8.npz")], "pass --raw / raw=True to feed it as quantized data"),
                      (["-i", str(tmp_path / "f.npz"), "--raw"], "raw mode takes the int8 tensor as is, got float32")):
        res = CliRunner().invoke(main, ["run", str(model), *args])
        assert res.exit_code == 1 and res.output.startswith("Error: ") and msg in res.output, res.output
        assert "Traceback" not in res.output and res.output.count("\n") == 1
