"""keras2edge.check.report, ``keras2edge.check_tflm`` and ``keras2edge check``: what the report says
(findings with Keras layer names, flash, C statements), its JSON schema and the CLI's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import keras2edge
from keras2edge.check.report import c_statement
from keras2edge.check.support import UNSUPPORTED, WRONG
from keras2edge.cli import main

from ..corpus import CORPUS, REPO, require_corpus
from ..runtime.int8_bench import T, one_op_model

HELLO = CORPUS / "tflite-micro" / "hello_world_int8.tflite"
PERSON = CORPUS / "tflite-micro" / "person_detect.tflite"
ACTIVATIONS = REPO / "tests" / "fixtures" / "k3" / "activations.keras"


def test_c_statements() -> None:
    # 1/255 in float32 is 0.00392156886; 9 significant digits read back to the same float32
    assert c_statement("input", "int8", 1 / 255, -128) == \
        "input->data.int8[i] = (int8_t)fminf(fmaxf(roundf(x / 0.00392156886f) + (-128), -128.0f), 127.0f);"
    assert c_statement("output", "int8", 1 / 256, -128) == "float y = (output->data.int8[i] - (-128)) * 0.00390625f;"
    assert c_statement("input", "uint8", 0.5, 128) == \
        "input->data.uint8[i] = (uint8_t)fminf(fmaxf(roundf(x / 0.5f) + (128), 0.0f), 255.0f);"
    assert c_statement("output", "float32", None, None) == "float y = output->data.f[i];"
    assert c_statement("input", "float32", None, None) == "input->data.f[i] = x;"
    assert c_statement("output", "int16", 2.0, 0) == "float y = (output->data.i16[i] - (0)) * 2.0f;"


def test_corpus_models() -> None:
    require_corpus()
    rep = keras2edge.check_tflm(HELLO)
    assert rep.runs and not rep.findings and rep.op_counts == {"FULLY_CONNECTED": 3}
    assert rep.file_bytes == HELLO.stat().st_size == 2704
    assert rep.weight_bytes == 420  # the three layers' int8 weights and int32 biases (test below adds them up)
    (i,), (o,) = rep.inputs, rep.outputs
    assert (i.dtype, i.shape, o.dtype, o.shape) == ("int8", [1, 1], "int8", [1, 1])
    assert i.zero_point == -128 and "roundf(x / " in i.c and o.c.startswith("float y = (output->data.int8[i] - (5))")
    rep = keras2edge.check_tflm(PERSON)
    assert rep.runs and rep.op_counts["DEPTHWISE_CONV_2D"] == 14
    assert rep.arena.plan_bytes == 55296 and rep.firmware_arena.arena_bytes < rep.arena.arena_bytes


def test_hello_world_weights_add_up() -> None:
    require_corpus()
    from keras2edge.runtime.reader import load_model

    m = load_model(HELLO.read_bytes())
    sg = m.subgraphs[0]
    consts = [t for i, t in enumerate(sg.tensors) if m.tensor_data(0, i) is not None]
    assert keras2edge.check_tflm(HELLO).weight_bytes == sum(int(np.prod(t.shape)) * t.dtype.itemsize for t in consts)


def test_keras2edge_file_names_keras_layers(tmp_path: Path) -> None:
    out = tmp_path / "activations.tflite"
    keras2edge.convert_model(ACTIVATIONS, out)
    rep = keras2edge.check_tflm(out)
    assert rep.keras2edge_file and not rep.runs
    bad = {(f.op, f.keras_layer) for f in rep.findings if f.status == UNSUPPORTED}
    assert ("GELU", "act_gelu") in bad and ("RELU_N1_TO_1", "act_hard_tanh") in bad


def test_foreign_file_has_no_keras_layers(tmp_path: Path) -> None:
    data = one_op_model("TILE", [T((2, 3), np.float32), T((2,), np.int32, data=np.array([2, 1], np.int32))],
                        [T((4, 3), np.float32)])
    p = tmp_path / "tile.tflite"
    p.write_bytes(data)
    rep = keras2edge.check_tflm(p)
    (f,) = rep.findings
    assert (f.op, f.status, f.keras_layer, f.index) == ("TILE", UNSUPPORTED, None, 0)


def test_per_channel_dequantize_is_not_runnable(tmp_path: Path) -> None:
    p = tmp_path / "dq.tflite"
    p.write_bytes(one_op_model("DEQUANTIZE", [T((2, 2), np.int8, [0.5, 2.0], [0, 0], axis=1)],
                               [T((2, 2), np.float32)]))
    rep = keras2edge.check_tflm(p)
    assert [f.status for f in rep.findings] == [WRONG] and not rep.runs


def test_json_schema() -> None:
    require_corpus()
    res = CliRunner().invoke(main, ["check", str(HELLO), "--target", "tflm", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert set(d) == {"schema", "path", "target", "runs", "keras2edge_file", "flash", "arena", "ops", "findings",
                      "inputs", "outputs"}
    assert d["schema"] == 1 and d["runs"] is True and d["target"] == "tflm"
    assert set(d["arena"]) == {"bytes", "firmware_bytes", "plan_bytes", "persistent_bytes", "scratch_bytes",
                               "approximate_ops"}
    assert set(d["inputs"][0]) == {"index", "name", "dtype", "shape", "scale", "zero_point", "c"}
    assert d["flash"] == {"file_bytes": 2704, "weight_bytes": 420}


def test_cli_exit_codes(tmp_path: Path) -> None:
    out = tmp_path / "activations.tflite"
    keras2edge.convert_model(ACTIVATIONS, out)
    res = CliRunner().invoke(main, ["check", str(out)])
    assert res.exit_code == 1
    assert "NOT RUNNABLE" in res.output and "GELU (float32) [Keras layer act_gelu]" in res.output
    assert "Tensor arena:" in res.output and "Flash:" in res.output
    res = CliRunner().invoke(main, ["check", str(out), "--json"])
    assert res.exit_code == 1 and json.loads(res.output)["runs"] is False


@pytest.mark.parametrize("make,message", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_text("not a model"), "not a .tflite file"),
    (lambda p: p.write_bytes(b"\x00" * 4 + b"TFL3" + b"\x01" * 8), ""),
])
def test_cli_errors(tmp_path: Path, make, message: str) -> None:
    p = tmp_path / "m.tflite"
    make(p)
    res = CliRunner().invoke(main, ["check", str(p)])
    assert res.exit_code == 1
    assert res.output.startswith("Error: ") and message in res.output and "Traceback" not in res.output


def test_cli_keras_file_is_refused() -> None:
    res = CliRunner().invoke(main, ["check", str(ACTIVATIONS)])
    assert res.exit_code == 1 and "keras2edge convert" in res.output


def test_cli_debug_shows_traceback(tmp_path: Path) -> None:
    p = tmp_path / "m.tflite"
    p.write_text("x")
    res = CliRunner().invoke(main, ["--debug", "check", str(p)])
    assert res.exit_code == 1 and res.exception is not None


@pytest.mark.parametrize("op,inputs,out,options,status", [
    ("STRIDED_SLICE", [T((2, 3), np.float32), T((2,), np.int32, data=np.array([0, 0], np.int32)),
                       T((2,), np.int32, data=np.array([2, 3], np.int32)),
                       T((2,), np.int32, data=np.array([1, 1], np.int32))],
     T((2, 1, 3), np.float32), {"new_axis_mask": 2}, WRONG),
    ("SPACE_TO_BATCH_ND", [T((1, 2, 2, 1), np.int8, 0.1, 0), T((2,), np.int32, data=np.array([2, 2], np.int32)),
                           T((2, 2), np.int32, data=np.array([[1, 1], [1, 1]], np.int32))],
     T((4, 2, 2, 1), np.int8, 0.1, 0), None, WRONG),
    ("GREATER", [T((3,), np.int16, 0.1, 0), T((3,), np.int16, 0.1, 0)], T((3,), np.bool_), None, WRONG),
    ("LESS", [T((3,), np.int16, 0.1, 0), T((3,), np.int16, 0.1, 0)], T((3,), np.bool_), None, UNSUPPORTED),
    ("GATHER", [T((4, 2), np.float32), T((2,), np.int64, data=np.array([0, 3], np.int64))],
     T((2, 2), np.float32), {"axis": 0}, UNSUPPORTED),
    ("RELU", [T((0, 3), np.float32)], T((0, 3), np.float32), None, UNSUPPORTED),
])
def test_documented_tflm_behaviours(tmp_path: Path, op: str, inputs: list, out: T, options, status: str) -> None:
    """The TFLite Micro behaviours docs/int8-findings.md records (found while the int8 kernels were built)."""
    p = tmp_path / "m.tflite"
    p.write_bytes(one_op_model(op, inputs, [out], options))
    (f,) = keras2edge.check_tflm(p).findings
    assert (f.op, f.status) == (op, status), f.reason
