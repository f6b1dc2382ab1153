"""Infer functions refuse inputs that do not fit the op with a typed ShapeError (a Keras2EdgeError
naming the op and the input shapes), never an ``assert``: the same errors under ``python -O``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from keras2edge.errors import GraphError, Keras2EdgeError, ShapeError
from keras2edge.ir import DType, Graph, Value
from keras2edge.ir.ops import op_spec

from ..corpus import REPO


def _v(*shape: int | None) -> Value:
    return Value("v", DType.FLOAT32, tuple(shape))


# op, inputs, attrs (completed with the op's defaults), what the message says
BAD = [
    ("Conv2D", [_v(1, 8, 8, 3), None], {}, "input 1 is missing"),
    ("Conv2D", [_v(1, 8, 8, 3), _v(None, 3, 3, 4)], {}, "kernel dimensions"),
    ("Conv2D", [_v(1, 8, 8, 3), _v(3, 3, 2, 4)], {}, "not a multiple"),
    ("DepthwiseConv2D", [_v(1, 8, 8, 3), _v(1, 3, 3, None)], {}, "kernel dimensions"),
    ("FullyConnected", [_v(2, 5), _v(4, 3)], {}, "does not match"),
    ("Add", [_v(2, 3), _v(2, 4)], {}, "do not broadcast"),
    ("MaxPool2D", [_v(2, 8, 3)], {"pool_size": 2, "strides": 2}, "rank-4"),
    ("Reshape", [_v(2, 6)], {"shape": (5, -1, -1)}, "more than one -1"),
    ("Concatenation", [_v(2, 3), _v(2, 3, 1)], {"axis": -1}, "differ in rank"),
    ("Squeeze", [_v(2, 3)], {"axes": (5,)}, "out of range"),
    ("Select", [_v(2), None, _v(2)], {}, "input 1 is missing"),
]


def _attrs(op: str, given: dict) -> dict:
    return {**{k: v for k, v in op_spec(op).attrs.items()}, **given}


@pytest.mark.parametrize("op, ins, attrs, says", BAD, ids=[f"{b[0]}-{b[3]}" for b in BAD])
def test_infer_raises_shape_error(op: str, ins: list, attrs: dict, says: str) -> None:
    with pytest.raises(ShapeError) as ei:
        op_spec(op).infer(ins, _attrs(op, attrs))
    e = ei.value
    assert isinstance(e, Keras2EdgeError) and isinstance(e, GraphError) and e.op == op
    assert str(e).startswith(f"{op}: ") and says in str(e) and "input shapes" in str(e)


def test_graph_names_the_node() -> None:
    g = Graph("bad")
    x = g.add_input("x", DType.FLOAT32, (None, 5))
    w = g.add_const("w", __import__("numpy").zeros((4, 3), "float32"))
    with pytest.raises(GraphError, match=r"node 'dense/FullyConnected'.*FullyConnected: the input's last axis"):
        g.add_node("FullyConnected", [x, w], origin=("dense", "Dense"))


_UNDER_O = """
from keras2edge.errors import ShapeError
from keras2edge.ir.ops import op_spec
import tests.ir.test_infer_errors as t
try:
    assert False
except AssertionError:
    raise SystemExit("asserts are on: not running under -O")
for op, ins, attrs, says in t.BAD:
    try:
        op_spec(op).infer(ins, t._attrs(op, attrs))
    except ShapeError as e:
        if says not in str(e):
            raise SystemExit(f"{op}: wrong message: {e}")
    else:
        raise SystemExit(f"{op}: no ShapeError")
print("ok", len(t.BAD))
"""


def test_same_errors_under_python_O() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    r = subprocess.run([sys.executable, "-O", "-c", _UNDER_O], capture_output=True, text=True, env=env, cwd=REPO,
                       timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout
    assert r.stdout.split() == ["ok", str(len(BAD))]
