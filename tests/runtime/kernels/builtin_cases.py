"""TFLite-builtin cases for keras2edge.runtime's kernels, written once: (builtin, inputs, options, outputs).

Each case becomes a one-op ``.tflite`` file (via the project's writer) that is run by
keras2edge.runtime and by LiteRT's reference kernels (BUILTIN_REF); shapes, dtypes and values must
agree. Output shapes are NOT given (unknown rank in the file), so shape inference is checked too.
These are TFLite builtins with their options, one or more per kernel; the IR-level cases that every
backend (and ``test_emitted_ops.py``) runs are in ``tests/op_cases.py``. The two tables stay apart:
these are written against the file format, the runtime's input, and many have no IR op to come from
(ARG_MAX, SPACE_TO_BATCH_ND, MIRROR_PAD, PACK, SELECT_V2, int8 and QUANTIZE cases, older op versions,
files from the official converter's lowering).
"""

from __future__ import annotations

import numpy as np

from ..helpers import OpCase, Out, Sparse, X

R = np.random.default_rng(7)
F = np.float32


def w(*shape: int, scale: float = 0.5) -> np.ndarray:
    return (R.standard_normal(shape) * scale).astype(F)


def i32(*v: int) -> np.ndarray:
    return np.array(v, np.int32)


CASES: list[OpCase] = []


def case(name: str, op: str, inputs: list, options: dict | None = None, outputs: list[Out] | None = None,
         **kw) -> None:
    CASES.append(OpCase(name, op, inputs, options or {}, outputs or [Out()], **kw))


def conv_opts(padding: int, s: tuple[int, int] = (1, 1), d: tuple[int, int] = (1, 1), act: int = 0) -> dict:
    return {"padding": padding, "stride_h": s[0], "stride_w": s[1], "dilation_h_factor": d[0],
            "dilation_w_factor": d[1], "fused_activation_function": act}


# ------------------------------------------------------------------------------------------ CONV_2D
case("conv_same_3x3_relu", "CONV_2D", [X((1, 9, 9, 4)), w(6, 3, 3, 4), w(6)], conv_opts(0, act=1))
case("conv_valid_3x2_s2_relu6", "CONV_2D", [X((2, 11, 10, 3)), w(5, 3, 2, 3), w(5)], conv_opts(1, (2, 2), act=3))
case("conv_same_s2_even", "CONV_2D", [X((1, 8, 8, 3)), w(4, 3, 3, 3), w(4)], conv_opts(0, (2, 2)))
case("conv_same_s2_odd_5x5", "CONV_2D", [X((1, 13, 11, 2)), w(3, 5, 5, 2), w(3)], conv_opts(0, (2, 3)))
case("conv_dilated_same", "CONV_2D", [X((1, 12, 12, 3)), w(4, 3, 3, 3), w(4)], conv_opts(0, d=(2, 3)))
case("conv_dilated_valid", "CONV_2D", [X((1, 12, 12, 3)), w(4, 3, 3, 3), w(4)], conv_opts(1, d=(2, 2)))
case("conv_1x1", "CONV_2D", [X((2, 5, 6, 8)), w(7, 1, 1, 8), w(7)], conv_opts(0, act=2))
case("conv_1x1_s2", "CONV_2D", [X((1, 7, 9, 8)), w(4, 1, 1, 8), w(4)], conv_opts(0, (2, 2)))
_w = w(4, 3, 3, 3)
# LiteRT requires a bias input for convolutions; its oracle gets an explicit zero bias.
case("conv_no_bias", "CONV_2D", [X((1, 6, 6, 3)), _w, None], conv_opts(0),
     oracle_inputs=[X((1, 6, 6, 3)), _w, np.zeros(4, F)])
case("conv_groups", "CONV_2D", [X((1, 7, 7, 6)), w(9, 3, 3, 2), w(9)], conv_opts(0, act=1), version=6)
case("conv_kernel_bigger_than_pad", "CONV_2D", [X((1, 4, 4, 2)), w(3, 5, 5, 2), w(3)], conv_opts(0, (1, 1)))
case("conv_7x7_s2", "CONV_2D", [X((1, 32, 32, 3)), w(8, 7, 7, 3, scale=0.2), w(8)], conv_opts(0, (2, 2), act=1))

# -------------------------------------------------------------------------------- DEPTHWISE_CONV_2D
def dw_opts(padding: int, s=(1, 1), d=(1, 1), m: int = 1, act: int = 0) -> dict:
    return {**conv_opts(padding, s, d, act), "depth_multiplier": m}


case("dw_same", "DEPTHWISE_CONV_2D", [X((1, 8, 8, 5)), w(1, 3, 3, 5), w(5)], dw_opts(0, act=3))
case("dw_valid_s2", "DEPTHWISE_CONV_2D", [X((2, 9, 10, 4)), w(1, 3, 3, 4), w(4)], dw_opts(1, (2, 2)))
case("dw_same_s2", "DEPTHWISE_CONV_2D", [X((1, 10, 7, 3)), w(1, 5, 5, 3), w(3)], dw_opts(0, (2, 2), act=1))
case("dw_mult2", "DEPTHWISE_CONV_2D", [X((1, 6, 6, 3)), w(1, 3, 3, 6), w(6)], dw_opts(0, m=2))
case("dw_dilated", "DEPTHWISE_CONV_2D", [X((1, 11, 11, 4)), w(1, 3, 3, 4), w(4)], dw_opts(0, d=(2, 2)), version=2)
# the tap loop's phase planes: horizontal strides 2 and 3 over odd and even widths, with dilation,
# multiplier and SAME padding (taps partly in the padding), and a map too big for the einsum path
case("dw_taps_s3_odd", "DEPTHWISE_CONV_2D", [X((1, 11, 13, 6)), w(1, 3, 3, 6), w(6)], dw_opts(1, (3, 3)))
case("dw_taps_s2_dil2_same", "DEPTHWISE_CONV_2D", [X((2, 12, 11, 4)), w(1, 3, 3, 4), w(4)],
     dw_opts(0, (2, 2), d=(2, 2), act=3), version=2)
case("dw_taps_s1x2_m3", "DEPTHWISE_CONV_2D", [X((1, 7, 10, 2)), w(1, 3, 2, 6), w(6)], dw_opts(0, (1, 2), m=3))
case("dw_taps_big_map", "DEPTHWISE_CONV_2D", [X((1, 40, 36, 64)), w(1, 3, 3, 64), w(64)], dw_opts(0, (2, 2), act=3))
_w = w(1, 2, 2, 2)
case("dw_no_bias", "DEPTHWISE_CONV_2D", [X((1, 5, 5, 2)), _w, None], dw_opts(1),
     oracle_inputs=[X((1, 5, 5, 2)), _w, np.zeros(2, F)])

# ----------------------------------------------------------------------------------- TRANSPOSE_CONV
def tc_opts(padding: int, s=(1, 1), act: int = 0) -> dict:
    return {"padding": padding, "stride_h": s[0], "stride_w": s[1], "fused_activation_function": act}


case("tconv_same_s2", "TRANSPOSE_CONV", [i32(1, 10, 8, 4), w(4, 3, 3, 3), X((1, 5, 4, 3)), w(4)], tc_opts(0, (2, 2)),
     version=3)
case("tconv_valid_s2", "TRANSPOSE_CONV", [i32(2, 11, 9, 2), w(2, 3, 3, 3), X((2, 5, 4, 3)), None], tc_opts(1, (2, 2)))
case("tconv_valid_23_s12", "TRANSPOSE_CONV", [i32(1, 5, 9, 3), w(3, 2, 3, 4), X((1, 4, 4, 4)), w(3)],
     tc_opts(1, (1, 2)), version=3)
case("tconv_same_s1", "TRANSPOSE_CONV", [i32(1, 6, 6, 2), w(2, 3, 3, 2), X((1, 6, 6, 2)), w(2)], tc_opts(0), version=3)
case("tconv_same_odd", "TRANSPOSE_CONV", [i32(1, 9, 6, 2), w(2, 4, 4, 3), X((1, 3, 3, 3)), None], tc_opts(0, (3, 2)))

# ------------------------------------------------------------------------------- dense / matmul
case("fc", "FULLY_CONNECTED", [X((3, 10)), w(4, 10), w(4)], {"fused_activation_function": 1})
case("fc_no_bias", "FULLY_CONNECTED", [X((2, 6)), w(5, 6), None], {})
case("fc_flatten", "FULLY_CONNECTED", [X((2, 3, 4)), w(5, 12), w(5)], {})
case("fc_keep_num_dims", "FULLY_CONNECTED", [X((2, 3, 4)), w(5, 4), w(5)], {"keep_num_dims": True}, version=5)
case("fc_dynamic_weights", "FULLY_CONNECTED", [X((2, 6)), X((3, 6)), None], {})
case("bmm", "BATCH_MATMUL", [X((2, 3, 4)), X((2, 4, 5))], {})
case("bmm_adj", "BATCH_MATMUL", [X((2, 4, 3)), X((2, 5, 4))], {"adj_x": True, "adj_y": True})
case("bmm_broadcast_const", "BATCH_MATMUL", [X((2, 2, 3, 4)), w(4, 6)], {})

# ------------------------------------------------------------------------------------ elementwise
for op, act in (("ADD", 1), ("SUB", 3), ("MUL", 2), ("DIV", 0)):
    case(f"{op.lower()}_bcast", op, [X((2, 3, 4), low=0.5), X((3, 1), low=0.5)], {"fused_activation_function": act})
    case(f"{op.lower()}_const", op, [X((1, 4, 4, 3), low=0.5), w(3)], {"fused_activation_function": 0})
case("add_int32", "ADD", [X((2, 3), np.int32, -50, 50), i32(1, 2, 3)], {}, [Out(np.int32)])
case("mul_int32", "MUL", [X((4,), np.int32, -50, 50), X((4,), np.int32, -50, 50)], {}, [Out(np.int32)])
case("sub_int32", "SUB", [X((3,), np.int32, -50, 50), i32(7)], {}, [Out(np.int32)])
for op in ("MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE"):
    case(op.lower(), op, [X((2, 3, 4)), X((4,))])
case("pow", "POW", [X((2, 5), low=0.1, high=3.0), X((2, 5), low=-2, high=2)])
case("floor_div", "FLOOR_DIV", [X((2, 5), low=-9, high=9), np.array([2.5, -1.5, 3.0, 0.7, -4.0], F)])
case("floor_mod", "FLOOR_MOD", [X((2, 5), low=-9, high=9), np.array([2.5, -1.5, 3.0, 0.7, -4.0], F)])
case("floor_div_int", "FLOOR_DIV", [X((6,), np.int32, -20, 20), i32(3, -3, 4, -4, 7, 2)], {}, [Out(np.int32)])
case("floor_mod_int", "FLOOR_MOD", [X((6,), np.int32, -20, 20), i32(3, -3, 4, -4, 7, 2)], {}, [Out(np.int32)])
for op in ("EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL"):
    case(f"{op.lower()}", op, [X((2, 3), np.int32, -2, 2), X((3,), np.int32, -2, 2)], {}, [Out(np.bool_)])
case("less_float", "LESS", [X((2, 3)), X((2, 3))], {}, [Out(np.bool_)])
case("logical_and", "LOGICAL_AND", [X((2, 3), np.bool_), X((3,), np.bool_)], {}, [Out(np.bool_)])
case("logical_or", "LOGICAL_OR", [X((2, 3), np.bool_), X((2, 3), np.bool_)], {}, [Out(np.bool_)])
case("logical_not", "LOGICAL_NOT", [X((2, 3), np.bool_)], {}, [Out(np.bool_)])
case("select", "SELECT", [X((2, 3), np.bool_), X((2, 3)), X((2, 3))])
case("select_rank1_cond", "SELECT", [X((2,), np.bool_), X((2, 3)), X((2, 3))])
case("select_v2_bcast", "SELECT_V2", [X((2, 1), np.bool_), X((2, 3)), X((3,))])
case("cast_f2i", "CAST", [X((10,), low=-5, high=5)], {}, [Out(np.int32)])
case("cast_i2f", "CAST", [X((10,), np.int32, -5, 5)], {}, [Out(np.float32)])
case("cast_b2f", "CAST", [X((10,), np.bool_)], {}, [Out(np.float32)])

# ------------------------------------------------------------------------------------ unary / act
for op, lo, hi in (("RELU", -3, 3), ("RELU6", -3, 9), ("RELU_N1_TO_1", -3, 3), ("RELU_0_TO_1", -3, 3),
                   ("LOGISTIC", -10, 10), ("TANH", -5, 5), ("HARD_SWISH", -5, 5), ("EXP", -5, 5),
                   ("LOG", 0.01, 10), ("ABS", -3, 3), ("NEG", -3, 3), ("SQRT", 0, 10), ("RSQRT", 0.01, 10),
                   ("SQUARE", -3, 3), ("SIN", -6, 6), ("COS", -6, 6), ("FLOOR", -5, 5), ("SIGN", -3, 3),
                   ("ELU", -4, 4), ("CEIL", -5, 5), ("ROUND", -5, 5)):
    case(op.lower(), op, [X((2, 3, 7), low=lo, high=hi)])
TIES = np.array([[0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 3.7, -0.0, 7.5]], F)
case("round_ties", "ROUND", [X((1, 10), value=TIES)])
case("floor_ties", "FLOOR", [X((1, 10), value=TIES)])
case("leaky_relu", "LEAKY_RELU", [X((2, 9))], {"alpha": 0.3})
case("prelu", "PRELU", [X((1, 4, 4, 3)), w(1, 1, 3)])
case("gelu", "GELU", [X((3, 50), low=-6, high=6)], {"approximate": False})
case("gelu_tanh", "GELU", [X((3, 50), low=-6, high=6)], {"approximate": True})
case("softmax", "SOFTMAX", [X((3, 10), low=-5, high=5)], {"beta": 1.0})
case("softmax_beta_4d", "SOFTMAX", [X((2, 2, 3, 6), low=-5, high=5)], {"beta": 0.5})
case("log_softmax", "LOG_SOFTMAX", [X((3, 10), low=-5, high=5)])
case("abs_int", "ABS", [X((6,), np.int32, -9, 9)], {}, [Out(np.int32)])

# ----------------------------------------------------------------------------------------- pooling
def pool_opts(padding: int, f=(2, 2), s=(2, 2), act: int = 0) -> dict:
    return {"padding": padding, "filter_height": f[0], "filter_width": f[1], "stride_h": s[0], "stride_w": s[1],
            "fused_activation_function": act}


case("maxpool_valid", "MAX_POOL_2D", [X((1, 8, 8, 3))], pool_opts(1))
case("maxpool_same_3s2", "MAX_POOL_2D", [X((2, 9, 7, 3))], pool_opts(0, (3, 3), (2, 2), act=1))
case("avgpool_same_3s1", "AVERAGE_POOL_2D", [X((1, 7, 7, 4))], pool_opts(0, (3, 3), (1, 1)))
case("avgpool_same_3s2_odd", "AVERAGE_POOL_2D", [X((1, 9, 8, 2))], pool_opts(0, (3, 3), (2, 2)))
case("avgpool_valid_2", "AVERAGE_POOL_2D", [X((2, 6, 7, 3))], pool_opts(1, (2, 3), (2, 1), act=3))

# -------------------------------------------------------------------------------------- reductions
case("mean_hw", "MEAN", [X((2, 5, 6, 4)), i32(1, 2)], {"keep_dims": False})
case("mean_keep", "MEAN", [X((2, 5, 6, 4)), i32(1, 2)], {"keep_dims": True})
case("mean_last_neg", "MEAN", [X((2, 5, 6)), i32(-1)], {"keep_dims": True})
case("sum", "SUM", [X((2, 5, 6)), i32(0, 2)], {"keep_dims": False})
case("reduce_max", "REDUCE_MAX", [X((2, 5, 6)), i32(1)], {"keep_dims": False})
case("reduce_min", "REDUCE_MIN", [X((2, 5, 6)), i32(0, 1, 2)], {"keep_dims": True})
case("reduce_prod", "REDUCE_PROD", [X((2, 3, 4), low=0.5, high=1.5), i32(2)], {"keep_dims": False})
case("reduce_any", "REDUCE_ANY", [X((2, 3, 4), np.bool_), i32(1)], {"keep_dims": False}, [Out(np.bool_)])
case("arg_min", "ARG_MIN", [X((3, 7)), i32(0)], {"output_type": 2}, [Out(np.int32)])
case("arg_max", "ARG_MAX", [X((3, 7)), i32(1)], {"output_type": 2}, [Out(np.int32)])

# ------------------------------------------------------------------------------------ data movement
case("concat_axis3", "CONCATENATION", [X((1, 2, 3, 4)), X((1, 2, 3, 2)), w(1, 2, 3, 1)], {"axis": 3})
case("concat_neg_axis", "CONCATENATION", [X((2, 3)), X((4, 3))], {"axis": -2})
case("reshape_shape_tensor", "RESHAPE", [X((2, 3, 4)), i32(4, -1)])
case("reshape_new_shape", "RESHAPE", [X((2, 3, 4))], {"new_shape": [2, 12]})
case("transpose", "TRANSPOSE", [X((2, 3, 4)), i32(2, 0, 1)])
case("transpose_5d", "TRANSPOSE", [X((2, 3, 1, 4, 2)), i32(0, 3, 1, 4, 2)])
case("pad", "PAD", [X((1, 3, 4, 2)), np.array([[0, 0], [1, 2], [2, 0], [0, 1]], np.int32)])
case("padv2", "PADV2", [X((2, 3)), np.array([[1, 1], [0, 2]], np.int32), np.array([-7.5], F)])
case("mirror_pad", "MIRROR_PAD", [X((1, 4, 4, 1)), np.array([[0, 0], [2, 1], [1, 2], [0, 0]], np.int32)],
     {"mode": 0})
case("strided_slice_basic", "STRIDED_SLICE", [X((4, 6, 5)), i32(1, 0, 1), i32(3, 6, 5), i32(1, 2, 2)])
case("strided_slice_masks", "STRIDED_SLICE", [X((4, 6, 5)), i32(1, -1, 0), i32(0, 0, 3), i32(1, -1, 1)],
     {"begin_mask": 1, "end_mask": 2, "shrink_axis_mask": 4})
case("strided_slice_shrink0", "STRIDED_SLICE", [X((3, 4)), i32(-1, 0), i32(0, 4), i32(1, 1)],
     {"shrink_axis_mask": 1})
case("strided_slice_neg_stride", "STRIDED_SLICE", [X((5, 6)), i32(4, 5), i32(0, 0), i32(-2, -1)],
     {"end_mask": 3})
case("slice", "SLICE", [X((4, 5, 6)), i32(1, 0, 2), i32(2, -1, 3)])
case("gather", "GATHER", [X((5, 4)), i32(4, 0, 2, 2)], {"axis": 0})
case("gather_axis1_2d_idx", "GATHER", [X((2, 5, 3)), np.array([[1, 4], [0, 0]], np.int32)], {"axis": 1})
case("gather_dynamic_idx", "GATHER", [w(10, 3), X((2, 4), np.int32, 0, 9)], {"axis": 0})
case("split", "SPLIT", [i32(1), X((2, 6, 3))], {"num_splits": 3}, [Out(), Out(), Out()])
case("split_v", "SPLIT_V", [X((2, 7)), i32(2, -1, 1), i32(-1)], {"num_splits": 3}, [Out(), Out(), Out()])
case("squeeze", "SQUEEZE", [X((1, 3, 1, 2))], {"squeeze_dims": [2]})
case("squeeze_all", "SQUEEZE", [X((1, 3, 1, 2))], {})
case("expand_dims", "EXPAND_DIMS", [X((3, 2)), i32(-1)])
case("tile", "TILE", [X((2, 1, 3)), i32(2, 3, 1)])
case("broadcast_to", "BROADCAST_TO", [X((3, 1)), i32(2, 3, 4)], version=2)
case("pack", "PACK", [X((2, 3)), X((2, 3)), X((2, 3))], {"values_count": 3, "axis": 1})
case("unpack", "UNPACK", [X((2, 3, 4))], {"num": 3, "axis": 1}, [Out(), Out(), Out()])
case("shape", "SHAPE", [X((2, 3, 4))], {"out_type": 2}, [Out(np.int32)])
case("depth_to_space", "DEPTH_TO_SPACE", [X((1, 2, 3, 8))], {"block_size": 2})
case("space_to_depth", "SPACE_TO_DEPTH", [X((1, 4, 6, 2))], {"block_size": 2})
case("reshape_int32", "RESHAPE", [X((2, 3), np.int32, -9, 9), i32(-1)], {}, [Out(np.int32)])
case("concat_int32", "CONCATENATION", [X((2,), np.int32, 0, 9), i32(5, 6)], {"axis": 0}, [Out(np.int32)])
case("strided_slice_int32", "STRIDED_SLICE", [X((4,), np.int32, 0, 9), i32(0), i32(1), i32(1)],
     {"shrink_axis_mask": 1}, [Out(np.int32)])

# ------------------------------------------------------------------------------------------- resize
for align, half in ((False, False), (True, False), (False, True)):
    tag = "align" if align else "half" if half else "plain"
    opts = {"align_corners": align, "half_pixel_centers": half}
    case(f"bilinear_up_{tag}", "RESIZE_BILINEAR", [X((1, 4, 5, 2)), i32(9, 7)], opts, rtol=5e-6)
    case(f"bilinear_down_{tag}", "RESIZE_BILINEAR", [X((2, 9, 8, 3)), i32(4, 3)], opts, rtol=5e-6)
    case(f"nearest_up_{tag}", "RESIZE_NEAREST_NEIGHBOR", [X((1, 4, 5, 2)), i32(9, 11)], opts, version=3)
    case(f"nearest_down_{tag}", "RESIZE_NEAREST_NEIGHBOR", [X((1, 9, 8, 2)), i32(4, 3)], opts, version=3)
case("bilinear_x2", "RESIZE_BILINEAR", [X((1, 3, 3, 1)), i32(6, 6)], {"half_pixel_centers": True}, version=3)

# ------------------------------------------------------------------------------------- (de)quantize
case("quantize_int8", "QUANTIZE", [X((4, 25), low=-3, high=3)], {}, [Out(np.int8, quant=(0.02, -3))])
case("quantize_uint8", "QUANTIZE", [X((4, 25), low=-1, high=3)], {}, [Out(np.uint8, quant=(0.015, 100))])
case("quantize_ties", "QUANTIZE", [X((1, 10), value=TIES * np.float32(0.02))], {}, [Out(np.int8, quant=(0.02, 1))])
case("quantize_clamp", "QUANTIZE", [X((2, 10), low=-10, high=10)], {}, [Out(np.int8, quant=(0.01, 0))])
case("quantize_int16", "QUANTIZE", [X((4, 25), low=-3, high=3)], {}, [Out(np.int16, quant=(0.0001, 0))])
case("dequantize_int8", "DEQUANTIZE", [X((4, 25), np.int8, -128, 127, quant=(0.037, 5))], {}, [Out(np.float32)],
     version=2)
case("dequantize_uint8", "DEQUANTIZE", [X((4, 25), np.uint8, 0, 255, quant=(0.05, 128))], {}, [Out(np.float32)])
case("dequantize_float16", "DEQUANTIZE", [w(3, 4).astype(np.float16)], {}, [Out(np.float32)], version=3)
case("space_to_batch", "SPACE_TO_BATCH_ND", [X((2, 5, 6, 3)), i32(2, 3), np.array([[1, 0], [2, 1]], np.int32)])
case("batch_to_space", "BATCH_TO_SPACE_ND", [X((12, 3, 3, 2)), i32(2, 3), np.array([[1, 0], [2, 1]], np.int32)])
case("space_to_batch_1d", "SPACE_TO_BATCH_ND", [X((1, 6, 4)), i32(2), np.array([[1, 1]], np.int32)])
case("batch_to_space_1d", "BATCH_TO_SPACE_ND", [X((4, 3, 2)), i32(2), np.array([[0, 1]], np.int32)])
case("conv_groups_depthwise", "CONV_2D", [X((1, 9, 9, 6)), w(6, 7, 7, 1), w(6)], conv_opts(0), version=6)
case("conv_groups_depthwise_m2_s2", "CONV_2D", [X((1, 9, 8, 3)), w(6, 3, 3, 1), w(6)], conv_opts(1, (2, 2), act=1),
     version=6)
# wide enough for the einsum path of the depthwise kernel (>= 48 channels), both paddings, M = 2
case("dw_einsum_same_5x5", "DEPTHWISE_CONV_2D", [X((1, 9, 8, 64)), w(1, 5, 5, 64), w(64)], dw_opts(0, act=1))
case("dw_einsum_valid_s2_m2", "DEPTHWISE_CONV_2D", [X((2, 9, 9, 32)), w(1, 3, 3, 64), w(64)], dw_opts(1, (2, 2), m=2))
case("dw_einsum_dilated", "DEPTHWISE_CONV_2D", [X((1, 10, 10, 48)), w(1, 3, 3, 48), w(48)], dw_opts(0, d=(2, 2)),
     version=2, oracle_inputs=None)



# ------------------------------------------------------------------------------------------ DENSIFY
def sparse_csr(a: np.ndarray, k: int, order: tuple[int, ...] | None = None) -> Sparse:
    """``a`` traversed in ``order`` with level ``k`` SPARSE_CSR (the TFLite emitter's encoding,
    convert/tflite/sparse.py)."""
    from keras2edge.convert.tflite.sparse import encode

    return Sparse(a, *encode(a, k, order))


def sparse_blocks(a: np.ndarray, block: int) -> Sparse:
    """A rank-2 ``a`` stored in 1 x ``block`` blocks, as the TFLite converter stores pruned FULLY_CONNECTED
    weights: traversal (row, block column, in-block column), ``block_map`` [1], the block columns
    SPARSE_CSR (written here independently of the emitter's encoder)."""
    from keras2edge.runtime.model import DimensionMetadata, Sparsity

    rows, cols = a.shape
    blocks = a.reshape(rows, cols // block, block)
    keep = (blocks != 0).any(axis=-1)
    segments = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int32)
    indices = np.nonzero(keep)[1].astype(np.uint16)
    dims = [DimensionMetadata(0, rows), DimensionMetadata(1, 0, segments, indices), DimensionMetadata(0, block)]
    return Sparse(a, np.ascontiguousarray(blocks[keep]).ravel(), Sparsity((0, 1, 2), (1,), dims))


_sp = w(6, 3, 3, 5)
_sp[R.random(_sp.shape) < 0.7] = 0
case("densify_conv_csr_last", "DENSIFY", [sparse_csr(_sp, 3)])
case("densify_conv_csr_first", "DENSIFY", [sparse_csr(_sp, 0)])
case("densify_conv_input_channels_first", "DENSIFY", [sparse_csr(_sp, 0, (3, 0, 1, 2))])
case("densify_conv_order_2013", "DENSIFY", [sparse_csr(_sp, 1, (2, 0, 1, 3))])
_fc = w(8, 16)
_fc[:, 4:12] = 0
_fc[3] = 0
case("densify_fc_csr", "DENSIFY", [sparse_csr(_fc, 1)])
case("densify_fc_columns_first", "DENSIFY", [sparse_csr(_fc, 0, (1, 0))])
case("densify_fc_blocks_1x4", "DENSIFY", [sparse_blocks(_fc, 4)])
