"""FoldIdentityPass: each no-op removed, layout chains merged, graph output names kept."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from keras2edge.ir import DType, Graph, QuantParams, Value
from keras2edge.ir.passes import FoldIdentityPass

from tests.ir_graphs import ops

from tests.ir.helpers import check_pass


def chain(shape: tuple[int | None, ...], *steps: tuple[str, dict[str, Any]],
          dtype: DType = DType.FLOAT32) -> tuple[Graph, Value]:
    """x -> Relu -> steps... -> Tanh -> output (so each step sits between two real ops)."""
    g = Graph()
    x = g.add_input("x", dtype, shape)
    v = g.op("Relu", [x]) if dtype.is_float else x
    for op, attrs in steps:
        v = g.op(op, [v], **attrs)
    out = g.op("Tanh", [v]) if dtype.is_float else g.op("Abs", [v])
    g.outputs.append(out)
    return g, x


NOOPS: dict[str, tuple[tuple[int | None, ...], tuple[tuple[str, dict[str, Any]], ...]]] = {
    "identity": ((2, 3), (("Identity", {}),)),
    "identity_chain": ((2, 3), (("Identity", {}), ("Identity", {}), ("Identity", {}))),
    "transpose_identity_perm": ((2, 3, 4), (("Transpose", {"perm": (0, 1, 2)}),)),
    "transpose_pair_cancels": ((2, 3, 4), (("Transpose", {"perm": (0, 2, 1)}), ("Transpose", {"perm": (0, 2, 1)}))),
    "transpose_triple_cancels": ((2, 3, 4), (("Transpose", {"perm": (1, 2, 0)}), ("Transpose", {"perm": (1, 2, 0)}),
                                             ("Transpose", {"perm": (1, 2, 0)}))),
    "nchw_nhwc_round_trip": ((1, 4, 5, 3), (("Transpose", {"perm": (0, 3, 1, 2)}),
                                           ("Transpose", {"perm": (0, 2, 3, 1)}))),
    "reshape_same_static": ((2, 3), (("Reshape", {"shape": (2, 3)}),)),
    "reshape_same_dynamic": ((None, 3), (("Reshape", {"shape": (-1, 3)}),)),
    "reshape_round_trip": ((None, 2, 2), (("Reshape", {"shape": (-1, 4)}), ("Reshape", {"shape": (-1, 2, 2)}))),
    "cast_same": ((2, 3), (("Cast", {"to": "float32"}),)),
    "pad_zero": ((1, 3, 3, 2), (("Pad", {"pads": ((0, 0), (0, 0), (0, 0), (0, 0)), "value": 5.0}),)),
    "slice_whole": ((4, 6), (("StridedSlice", {"begin": (0, None), "end": (None, 6), "strides": (1, 1)}),)),
    "slice_whole_dynamic": ((None, 6), (("StridedSlice", {"begin": (0, -6), "end": (2**31 - 1, 100),
                                                          "strides": (None, 1)}),)),
}


@pytest.mark.parametrize("key", list(NOOPS))
def test_removes_noop(key: str) -> None:
    shape, steps = NOOPS[key]
    g, _ = chain(shape, *steps)
    check_pass(g, FoldIdentityPass())
    assert ops(g) == ["Relu", "Tanh"]
    assert g.nodes[1].inputs[0] is g.nodes[0].output


KEPT: dict[str, tuple[tuple[int | None, ...], tuple[tuple[str, dict[str, Any]], ...]]] = {
    "transpose": ((2, 3, 4), (("Transpose", {"perm": (0, 2, 1)}),)),
    "reshape": ((2, 3), (("Reshape", {"shape": (3, 2)}),)),
    "reshape_static_of_dynamic": ((None, 6), (("Reshape", {"shape": (2, 6)}),)),
    "cast_other": ((2, 3), (("Cast", {"to": "float16"}),)),
    "pad": ((2, 3), (("Pad", {"pads": ((0, 0), (0, 1))}),)),
    "slice_part": ((4, 6), (("StridedSlice", {"begin": (0, 1), "end": (None, None), "strides": (1, 1)}),)),
    "slice_reversed": ((4, 6), (("StridedSlice", {"begin": (None, None), "end": (None, None), "strides": (1, -1)}),)),
    "slice_strided": ((4, 6), (("StridedSlice", {"begin": (0, 0), "end": (4, 6), "strides": (2, 1)}),)),
    "slice_dynamic_bounded": ((None, 6), (("StridedSlice", {"begin": (0, 0), "end": (1, 6), "strides": (1, 1)}),)),
}


@pytest.mark.parametrize("key", list(KEPT))
def test_keeps_real_op(key: str) -> None:
    shape, steps = KEPT[key]
    g, _ = chain(shape, *steps)
    before = ops(g)
    check_pass(g, FoldIdentityPass(), changed=False)
    assert ops(g) == before


def test_transpose_pair_composes() -> None:
    g, _ = chain((2, 3, 4), ("Transpose", {"perm": (1, 2, 0)}), ("Transpose", {"perm": (0, 2, 1)}))
    check_pass(g, FoldIdentityPass())
    assert ops(g) == ["Relu", "Transpose", "Tanh"]
    assert tuple(g.nodes[1].attrs["perm"]) == (1, 0, 2)


def test_reshape_pair_collapses() -> None:
    g, _ = chain((2, 3, 4), ("Reshape", {"shape": (6, 4)}), ("Reshape", {"shape": (4, -1)}))
    check_pass(g, FoldIdentityPass())
    assert ops(g) == ["Relu", "Reshape", "Tanh"]
    assert g.nodes[1].inputs[0] is g.nodes[0].output and tuple(g.nodes[1].attrs["shape"]) == (4, -1)


def test_layout_pair_with_shared_first_is_kept() -> None:
    for op, a1, a2 in [("Transpose", {"perm": (1, 2, 0)}, {"perm": (0, 2, 1)}),
                       ("Reshape", {"shape": (6, 4)}, {"shape": (4, -1)})]:
        g = Graph()
        x = g.add_input("x", DType.FLOAT32, (2, 3, 4))
        first = g.op(op, [x], **a1)
        g.outputs += [g.op(op, [first], **a2), g.op("Neg", [first])]
        check_pass(g, FoldIdentityPass(), changed=False)
        assert ops(g) == [op, op, "Neg"]


def test_cancelling_transposes_with_shared_first_drop_the_second() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (2, 3, 4))
    first = g.op("Transpose", [x], perm=(0, 2, 1))
    g.outputs += [g.op("Relu", [g.op("Transpose", [first], perm=(0, 2, 1))]), g.op("Neg", [first])]
    check_pass(g, FoldIdentityPass())
    assert ops(g) == ["Transpose", "Relu", "Neg"]
    assert g.nodes[1].inputs[0] is x


def test_removed_graph_output_passes_its_name_on() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (2, 3))
    relu = g.op("Relu", [x])
    out = g.op("Identity", [g.op("Reshape", [relu], shape=(3, 2))])
    g.rename_value(out, "dense_out")
    g.outputs.append(out)
    check_pass(g, FoldIdentityPass())
    assert ops(g) == ["Relu", "Reshape"]
    assert [v.name for v in g.outputs] == ["dense_out"] and g.outputs[0] is g.nodes[1].output


def test_identity_from_graph_input_to_graph_output_is_kept() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (2, 3))
    g.outputs.append(g.op("Identity", [x]))
    check_pass(g, FoldIdentityPass(), changed=False)
    assert ops(g) == ["Identity"] and [v.name for v in g.outputs] == ["Identity"]


def test_identity_between_two_graph_outputs_is_kept() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (2, 3))
    relu = g.op("Relu", [x])
    g.outputs += [relu, g.op("Identity", [relu])]
    check_pass(g, FoldIdentityPass(), changed=False)
    assert ops(g) == ["Relu", "Identity"]


def test_identity_of_graph_input_feeding_a_node_is_removed() -> None:
    g = Graph()
    x = g.add_input("x", DType.FLOAT32, (2, 3))
    g.outputs.append(g.op("Relu", [g.op("Identity", [x])]))
    check_pass(g, FoldIdentityPass())
    assert ops(g) == ["Relu"] and g.nodes[0].inputs[0] is x and x.name == "x"


def test_requantizing_identity_is_kept() -> None:
    g, _ = chain((2, 3), ("Identity", {}))
    ident = g.nodes[1]
    ident.output.quant = QuantParams(np.array([0.5], np.float32), np.array([0], np.int32), qtype=DType.INT8)
    check_pass(g, FoldIdentityPass(), changed=False)
    assert ops(g) == ["Relu", "Identity", "Tanh"]


def test_cast_of_int_tensor_to_same_dtype() -> None:
    g, _ = chain((2, 3), ("Cast", {"to": DType.INT32}), dtype=DType.INT32)
    check_pass(g, FoldIdentityPass())
    assert ops(g) == ["Abs"]
