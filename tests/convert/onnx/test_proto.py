"""keras2edge's own ONNX protobuf encoder (convert/onnx/proto.py) against onnx's classes, byte for byte,
and the writer path that never imports the onnx Python package (convert/onnx/check.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from keras2edge.convert.onnx import MAX_OPSET, MIN_OPSET
from keras2edge.convert.onnx.check import check_model_bytes, checker_errors
from keras2edge.convert.onnx.proto import (ELEM_TYPE, IR_VERSION_FOR_OPSET, OnnxNode, OnnxTensor, OnnxValueInfo,
                                           encode_model, join)

from ...corpus import REPO


ATTRS: dict[str, Any] = {
    "i": 3, "neg": -2, "zero": 0, "flag": True, "np_int": np.int64(7), "f": 0.1, "f_zero": 0.0, "np_f": np.float32(2.5),
    "s": "same_upper", "b": b"raw", "ints": [1, -1, 0, 2**40], "floats": [0.5, -1.25], "mixed": [1, 2.5],
    "strs": ["a", "bc"], "tuple": (2, 2),
}


@pytest.mark.parametrize("key", sorted(ATTRS))
def test_node_with_each_attribute_kind_matches_onnx_helper(key: str) -> None:
    ours = OnnxNode("Conv", ["x", "", "w"], ["y"], name="conv/1", doc_string="conv (Conv2D)", attrs={key: ATTRS[key]})
    want = helper.make_node("Conv", ["x", "", "w"], ["y"], name="conv/1", doc_string="conv (Conv2D)",
                            **{key: ATTRS[key]})
    assert join(ours.encode()) == want.SerializeToString()


def test_node_attributes_sorted_and_empty_name_and_doc_left_out() -> None:
    ours = OnnxNode("Transpose", ["x"], ["y"], attrs=dict(ATTRS))
    want = helper.make_node("Transpose", ["x"], ["y"], **ATTRS)
    assert join(ours.encode()) == want.SerializeToString()


def test_untypable_attribute_is_refused() -> None:
    with pytest.raises(TypeError, match="'empty'"):
        OnnxNode("Pad", ["x"], ["y"], attrs={"empty": []}).encode()


@pytest.mark.parametrize("dtype", sorted(ELEM_TYPE, key=str), ids=str)
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 1, 3)], ids=str)
def test_tensor_matches_numpy_helper(dtype: np.dtype[Any], shape: tuple[int, ...]) -> None:
    a = (np.arange(int(np.prod(shape))).reshape(shape) - 2).astype(dtype)
    assert join(OnnxTensor("w", a).encode()) == numpy_helper.from_array(a, "w").SerializeToString()


def test_big_endian_tensor_is_written_little_endian() -> None:
    a = np.arange(6, dtype=">f4").reshape(2, 3)
    assert join(OnnxTensor("w", a).encode()) == numpy_helper.from_array(a.astype("<f4"), "w").SerializeToString()


@pytest.mark.parametrize("dims", [[], ["batch", 3, 224, 224], [0, "d1", 1 << 33]], ids=str)
def test_value_info_matches_onnx_helper(dims: list[int | str]) -> None:
    ours = OnnxValueInfo("input_1", onnx.TensorProto.FLOAT, dims)
    assert join(ours.encode()) == helper.make_tensor_value_info("input_1", onnx.TensorProto.FLOAT,
                                                                     dims).SerializeToString()


def test_ir_versions_match_onnx() -> None:
    for opset in range(MIN_OPSET, MAX_OPSET + 1):
        assert IR_VERSION_FOR_OPSET[opset] == helper.find_min_ir_version_for([helper.make_opsetid("", opset)])


def test_model_matches_onnx_helper_and_passes_the_checker() -> None:
    w = np.ones((4, 3), np.float32)
    nodes = [OnnxNode("MatMul", ["x", "w"], ["h"], name="dense"), OnnxNode("Relu", ["h"], ["y"], name="relu")]
    kw: dict[str, Any] = dict(nodes=nodes, name="mlp", initializers=[OnnxTensor("w", w)],
                              inputs=[OnnxValueInfo("x", 1, ["batch", 4])], outputs=[OnnxValueInfo("y", 1, ["batch", 3])])
    ours = join(encode_model(**kw, opset=21, producer_name="keras2edge", producer_version="1.2.3",
                             metadata={"keras_version": "3.15", "source": "m.h5"}))
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["h"], name="dense"),
                           helper.make_node("Relu", ["h"], ["y"], name="relu")], "mlp",
                          [helper.make_tensor_value_info("x", 1, ["batch", 4])],
                          [helper.make_tensor_value_info("y", 1, ["batch", 3])], [numpy_helper.from_array(w, "w")])
    opsets = [helper.make_opsetid("", 21)]
    want = helper.make_model(g, opset_imports=opsets, producer_name="keras2edge", producer_version="1.2.3",
                             ir_version=helper.find_min_ir_version_for(opsets))
    helper.set_model_props(want, {"keras_version": "3.15", "source": "m.h5"})
    assert ours == want.SerializeToString()
    check_model_bytes(ours)


def test_checker_still_rejects_a_bad_model() -> None:
    bad = join(encode_model(nodes=[OnnxNode("NoSuchOp", ["x"], ["y"])], name="g", initializers=[],
                            inputs=[OnnxValueInfo("x", 1, [1])], outputs=[OnnxValueInfo("y", 1, [1])], opset=21,
                            producer_name="keras2edge", producer_version="0", metadata={}))
    with pytest.raises(checker_errors(), match="NoSuchOp"):
        check_model_bytes(bad)
    assert onnx.checker.ValidationError in checker_errors()


def test_writing_onnx_imports_neither_onnx_nor_ml_dtypes(tmp_path: Path) -> None:
    """The file is written and checked by onnx's C++ checker without `import onnx` (which pulls ml_dtypes);
    importing onnx afterwards reuses the extension, and the file passes onnx's own full check. (Nor does
    one conversion start multiprocessing: only a batch with workers needs it.)"""
    out = tmp_path / "tiny.onnx"
    code = (
        "import sys, keras2edge\n"
        f"keras2edge.convert_model({str(REPO / 'examples' / 'tiny_cnn.keras')!r}, {str(out)!r})\n"
        "loaded = sorted(m for m in ('onnx', 'onnx.helper', 'ml_dtypes', 'google.protobuf', 'multiprocessing')\n"
        "                if m in sys.modules)\n"
        "assert not loaded, loaded\n"
        "assert 'onnx.onnx_cpp2py_export' in sys.modules\n"
        "import onnx, onnx.checker\n"
        f"onnx.checker.check_model(onnx.load({str(out)!r}), full_check=True)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
