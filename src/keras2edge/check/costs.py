"""What each TFLite Micro kernel allocates in the arena, by builtin (64-bit host sizes).

Per operator, in the order TFLite Micro allocates (see :mod:`.arena`):

* ``init``: its parsed options struct (``TfLiteConvParams`` ..., allocated while the interpreter reads
  the flatbuffer) and its OpData (``Init``, 16-aligned), together, rounded up to 16;
* ``prepare``: what ``Prepare`` adds to the tail: per-output-channel multiplier and shift arrays
  (CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, per-channel FULLY_CONNECTED);
* ``scratch``: scratch buffers ``Prepare`` requests (planned with the activations, alive during the op);
* ``fetches``: the tensors ``Prepare`` asks for as temporary TfLiteTensors (repeats included).

The OpData sizes were measured with the ``tflite-micro`` package's recording allocator on one-op
models (``tests/check/test_arena.py`` measures them again and fails when the package changes). An
operator missing from :data:`KERNELS` gets :data:`DEFAULT` (a generous OpData) and is reported as
approximate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..runtime.model import Model, Operator, SubGraph


@dataclass(frozen=True)
class KernelCost:
    """What one operator allocates (bytes; tensor indices for ``fetches``)."""

    init: tuple[int, ...] = ()
    prepare: tuple[int, ...] = ()
    scratch: tuple[int, ...] = ()
    fetches: tuple[int, ...] = ()  # tensor indices Prepare asks for as temporary TfLiteTensors, in order
    approximate: bool = False


@dataclass(frozen=True)
class Kernel:
    """The table entry of one builtin: fixed sizes, and rules for the shape-dependent parts."""

    init: int = 0  # options + OpData bytes (0: none)
    # -> (Prepare's tail allocations, scratch requests), from the operator's tensors
    variable: Callable[[Model, SubGraph, Operator], tuple[tuple[int, ...], tuple[int, ...]]] | None = field(
        default=None, compare=False)
    # -> the operator's tensors Prepare fetches as temporary TfLiteTensors, in order, repeats included
    # (a temp buffer is only reclaimed after the whole Prepare; default: each input, then each output)
    fetches: Callable[[Operator], list[int]] | None = field(default=None, compare=False)
    shape_dependent: bool = False  # init measured on a few shapes only: the estimate is approximate


def _channels(sg: SubGraph, op: Operator, weight_input: int, axis: int) -> int:
    """Output channels: the size of the weight tensor's ``axis`` (0 when there is no such input)."""
    i = op.inputs[weight_input] if len(op.inputs) > weight_input else -1
    if i < 0 or not sg.tensors[i].shape:
        return 0
    return int(sg.tensors[i].shape[axis])


def _per_channel(weight_input: int, axis: int, only_per_axis: bool = False) -> Callable[..., Variable]:
    """Two int32 arrays (output multiplier and shift), one entry per output channel, allocated by
    ``Prepare`` (CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV always; FULLY_CONNECTED only for a
    per-channel quantized filter)."""
    def rule(model: Model, sg: SubGraph, op: Operator) -> Variable:
        if only_per_axis:
            w = sg.tensors[op.inputs[weight_input]] if len(op.inputs) > weight_input and op.inputs[weight_input] >= 0 \
                else None
            if w is None or w.quantization is None or len(w.quantization.scale) <= 1:
                return (), ()
        c = _channels(sg, op, weight_input, axis)
        return ((4 * c, 4 * c) if c else ()), ()
    return rule


def _reduce(accumulator: bool) -> Callable[..., Variable]:
    """MEAN / SUM (int8, int16: an int32 accumulator per output element) and the REDUCE_* ops:
    scratch for the input iterator (one int per input dimension) and the resolved axes (one int per axis)."""
    def rule(model: Model, sg: SubGraph, op: Operator) -> Variable:
        x, axis, out = sg.tensors[op.inputs[0]], sg.tensors[op.inputs[1]], sg.tensors[op.outputs[0]]
        scratch = []
        if accumulator and x.dtype.kind in "iu" and x.dtype.itemsize <= 2:
            scratch.append(4 * math.prod(out.shape))
        scratch += [4 * len(x.shape), 4 * math.prod(axis.shape)]
        return (), tuple(scratch)
    return rule


def _transpose_conv(model: Model, sg: SubGraph, op: Operator) -> Variable:
    """Per-channel arrays over the filter's output channels, and (int8, int16 inputs) an accumulator
    scratch buffer of one int32 / int64 per output element."""
    arrays, _ = _per_channel(1, 0)(model, sg, op)
    x, out = sg.tensors[op.inputs[2]], sg.tensors[op.outputs[0]]
    size = {1: 4, 2: 8}.get(x.dtype.itemsize, 0) if x.dtype.kind == "i" else 0
    return arrays, ((size * math.prod(out.shape),) if size else ())


def _mirror_pad(model: Model, sg: SubGraph, op: Operator) -> Variable:
    rank = len(sg.tensors[op.inputs[0]].shape)
    return (), (4 * rank, 4 * rank)


Variable = tuple[tuple[int, ...], tuple[int, ...]]


#: int16 SOFTMAX's two lookup tables (exp and 1 / (1 + x)), kInt16LUTArraySize = 513 int16 entries each,
#: allocated persistent in Prepare (TFLite Micro softmax_common.cc).
INT16_SOFTMAX_LUTS = (513 * 2, 513 * 2)


def _softmax(model: Model, sg: SubGraph, op: Operator) -> Variable:
    """int16 SOFTMAX keeps its two lookup tables in the tail; the other types nothing."""
    return (INT16_SOFTMAX_LUTS if sg.tensors[op.inputs[0]].dtype == np.int16 else ()), ()


def _conv_fetches(op: Operator) -> list[int]:
    """ConvPrepare / DepthwiseConvPrepare take output, input, filter; CalculateOpData* takes input,
    filter, bias, output again (conv_common.cc, depthwise_conv_common.cc)."""
    i = list(op.inputs) + [-1] * 3
    return [op.outputs[0], i[0], i[1], i[0], i[1], i[2], op.outputs[0]]


def _input_twice(op: Operator) -> list[int]:
    """TanhPrepare takes the input, then CalculateArithmeticOpData input and output (tanh.cc)."""
    return [op.inputs[0], op.inputs[0], op.outputs[0]]


def _reduce_fetches(op: Operator) -> list[int]:
    """MEAN, SUM, REDUCE_MAX/MIN: PrepareSimple takes input, axis, output; the helper takes input,
    output, axis again (reduce_common.cc)."""
    x, axis, out = op.inputs[0], op.inputs[1], op.outputs[0]
    return [x, axis, out, x, out, axis]


def _nothing(op: Operator) -> list[int]:
    """ARG_MAX / ARG_MIN have no Prepare (arg_min_max.cc)."""
    return []


def _split_v_fetches(op: Operator) -> list[int]:
    """SplitVPrepare takes the axis (input 2) only (split_v.cc)."""
    return [op.inputs[2]]


def _first_in_out(op: Operator) -> list[int]:
    """SpaceToBatchNDPrepare takes input 0 and the output (space_to_batch_nd.cc)."""
    return [op.inputs[0], op.outputs[0]]


def _concat_fetches(op: Operator) -> list[int]:
    """ConcatenationPrepare takes input 0 and the output, then every input (concatenation.cc)."""
    return [op.inputs[0], op.outputs[0], *op.inputs]

# Bytes each kernel adds to the tail besides its per-channel arrays: the parsed options and the OpData,
# each rounded up to 16 (measured; see the module docstring). Dtype-independent where measured.
# Bytes each kernel adds to the tail besides what ``variable`` gives: its parsed options and its OpData,
# the largest residual measured over the probe models of tests/check/support_cases.py (float32 and
# int8 alike: no kernel measured differently by dtype; ARG_MAX, ARG_MIN and the RESIZE ops get 16 for
# their few bytes of options, which the measurement hides in alignment slack). BATCH_MATMUL's depends on its shapes (it keeps
# transposed-operand tensors): the largest seen, and the operator is reported as approximate.
KERNELS: dict[str, Kernel] = {
    "ABS": Kernel(init=48),
    "ADD": Kernel(init=80),
    "ARG_MAX": Kernel(init=16, fetches=_nothing),
    "ARG_MIN": Kernel(init=16, fetches=_nothing),
    "AVERAGE_POOL_2D": Kernel(init=80),
    "BATCH_MATMUL": Kernel(init=272, shape_dependent=True),
    "BATCH_TO_SPACE_ND": Kernel(),
    "BROADCAST_TO": Kernel(),
    "CAST": Kernel(init=16),
    "CEIL": Kernel(),
    "CONCATENATION": Kernel(init=96, fetches=_concat_fetches),
    "CONV_2D": Kernel(init=128, variable=_per_channel(1, 0), fetches=_conv_fetches),
    "COS": Kernel(),
    "DEPTHWISE_CONV_2D": Kernel(init=128, variable=_per_channel(1, 3), fetches=_conv_fetches),
    "DEPTH_TO_SPACE": Kernel(init=32),
    "DEQUANTIZE": Kernel(init=48),
    "DIV": Kernel(init=32),
    "ELU": Kernel(init=272),
    "EQUAL": Kernel(init=32),
    "EXP": Kernel(),
    "EXPAND_DIMS": Kernel(),
    "FLOOR": Kernel(),
    "FLOOR_DIV": Kernel(),
    "FLOOR_MOD": Kernel(),
    "FULLY_CONNECTED": Kernel(init=112, variable=_per_channel(1, 0, only_per_axis=True)),
    "GATHER": Kernel(init=32),
    "GREATER": Kernel(init=32),
    "GREATER_EQUAL": Kernel(init=32),
    "HARD_SWISH": Kernel(init=32),
    "LEAKY_RELU": Kernel(init=48),
    "LESS": Kernel(init=32),
    "LESS_EQUAL": Kernel(init=32),
    "LOG": Kernel(),
    "LOGICAL_AND": Kernel(),
    "LOGICAL_NOT": Kernel(),
    "LOGICAL_OR": Kernel(),
    "LOGISTIC": Kernel(init=32),
    "LOG_SOFTMAX": Kernel(),
    "MAXIMUM": Kernel(),
    "MAX_POOL_2D": Kernel(init=80),
    "MEAN": Kernel(init=48, variable=_reduce(True), fetches=_reduce_fetches),
    "MINIMUM": Kernel(),
    "MIRROR_PAD": Kernel(init=32, variable=_mirror_pad),
    "MUL": Kernel(init=48),
    "NEG": Kernel(),
    "NOT_EQUAL": Kernel(init=32),
    "PACK": Kernel(init=16),
    "PAD": Kernel(init=64),
    "PADV2": Kernel(init=64),
    "PRELU": Kernel(init=32),
    "QUANTIZE": Kernel(init=48),
    "REDUCE_MAX": Kernel(init=48, variable=_reduce(False), fetches=_reduce_fetches),
    "REDUCE_MIN": Kernel(init=48, variable=_reduce(False), fetches=_reduce_fetches),
    "RELU": Kernel(init=48),
    "RELU6": Kernel(init=16),
    "RESHAPE": Kernel(init=48),
    "RESIZE_BILINEAR": Kernel(init=16),
    "RESIZE_NEAREST_NEIGHBOR": Kernel(init=16),
    "ROUND": Kernel(),
    "RSQRT": Kernel(init=48),
    "SELECT_V2": Kernel(init=16),
    "SHAPE": Kernel(init=16),
    "SIN": Kernel(),
    "SLICE": Kernel(),
    "SOFTMAX": Kernel(init=96, variable=_softmax),
    "SPACE_TO_BATCH_ND": Kernel(init=16, fetches=_first_in_out),
    "SPACE_TO_DEPTH": Kernel(init=32),
    "SPLIT": Kernel(),
    "SPLIT_V": Kernel(init=16, fetches=_split_v_fetches),
    "SQRT": Kernel(),
    "SQUARE": Kernel(),
    "SQUARED_DIFFERENCE": Kernel(init=112),
    "SQUEEZE": Kernel(init=48),
    "STRIDED_SLICE": Kernel(init=112),
    "SUB": Kernel(init=64),
    "SUM": Kernel(init=48, variable=_reduce(True), fetches=_reduce_fetches),
    "TANH": Kernel(init=32, fetches=_input_twice),
    "TRANSPOSE": Kernel(),
    "TRANSPOSE_CONV": Kernel(init=128, variable=_transpose_conv),
    "UNPACK": Kernel(init=16),
}

# An operator missing from KERNELS: a generous OpData (about the largest measured); reported as approximate.
DEFAULT = Kernel(init=288)


def kernel_cost(name: str, model: Model, sg: SubGraph, op: Operator) -> KernelCost:
    """The arena allocations of one operator (``name``: its builtin name)."""
    k = KERNELS.get(name)
    approximate = k is None or k.shape_dependent
    if k is None:
        k = DEFAULT
    prepare: tuple[int, ...] = ()
    scratch: tuple[int, ...] = ()
    if k.variable is not None:
        prepare, scratch = k.variable(model, sg, op)
    fetches = k.fetches(op) if k.fetches is not None else [*op.inputs, *op.outputs]
    return KernelCost((k.init,) if k.init else (), prepare, scratch, tuple(i for i in fetches if i >= 0),
                      approximate)
