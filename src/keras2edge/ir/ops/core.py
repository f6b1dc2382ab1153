"""The core of the op vocabulary: ``OpSpec`` (every per-op fact, declared once), the registry ``OPS``
and the shape helpers the family modules share.

An ``OpSpec`` carries, besides inputs, attributes, ``infer`` and ``evaluate``, the facts its
consumers would otherwise re-derive in lists of their own:

* ``family`` — the module that defines the op here and in every backend (``Family``);
* ``attributes`` — typed :class:`Attr` entries (name, type, default or ``REQUIRED``, a check);
* ``dtypes`` — the element types each input accepts (``DTypes``);
* ``weights`` — for ops with a weight input, which weight axes are the output and input channel
  in the IR's (Keras) layout (:class:`WeightAxes`);
* ``channels`` — how channels flow through the op (:class:`ChannelFlow`), and ``spatial``: a
  window op over H and W of an NHWC tensor (layout-sensitive in channels-first formats);
* ``quant`` — how the op quantizes to int8 (:class:`QuantRule`; ``fixed_output`` holds the
  (scale, zero point) the TFLite kernels require, docs/int8-arithmetic.md §1; ``fixed_output16``
  the same for the 16x8 kernels, where they fix the int16 output's parameters);
* ``clamp`` — (low, high) of a clamping activation (Relu6, ReluN1To1, Relu0To1);
* ``macs`` — multiply-accumulates per sample of one node (``None``: none worth counting);
* ``selects`` — every output element is one of the input elements (moved, repeated or picked, never
  computed), so a value on an input's quantization grid stays on it exactly: a Quantize/Dequantize pair
  after the op, with its input's parameters, changes nothing (what the ONNX QDQ emitter leaves out);
* ``fused_activation`` — the op can clamp its own output (the ``activation`` attribute,
  ir/activation.py; what FuseActivationPass folds a following Relu/Relu6/ReluN1To1 into);
* ``output_quant`` / ``input_quant`` — the quantization parameters the op's output / first input must
  carry, from its attributes (Quantize, Dequantize; the graph sets and verifies them).

Infer functions raise :class:`~keras2edge.errors.ShapeError` (never ``assert``: ``python -O``
strips asserts) naming the op and the shapes; the graph adds the node.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import ShapeError
from ..dtypes import DType
from ..value import Value

if TYPE_CHECKING:
    from ..node import Node
    from ..quant import QuantParams

Shape = tuple["int | None", ...]
REQUIRED: Any = object()
InferFn = Callable[[list["Value | None"], dict[str, Any]], list[tuple[DType, Shape]]]
EvalFn = Callable[[list["np.ndarray | None"], dict[str, Any]], list[np.ndarray]]
MacsFn = Callable[["Node"], int]
#: The quantization parameters a value next to the op must carry, from the node's attributes.
QuantFn = Callable[[dict[str, Any]], "QuantParams | None"]


class Family(str, enum.Enum):
    """The op families: one module per family in ``ir/ops/``, ``convert/onnx/ops_<family>.py``,
    ``convert/tflite/ops_<family>.py`` and ``runtime/kernels/<family>.py``."""

    ELEMENTWISE = "elementwise"
    ACTIVATION = "activation"
    CONV = "conv"
    DENSE = "dense"
    POOL = "pool"
    REDUCE = "reduce"
    SHAPE = "shape"
    RESIZE = "resize"
    NORMALIZATION = "normalization"
    QUANT = "quant"


class ChannelFlow(str, enum.Enum):
    """How the channels (last axis) of the inputs become the channels of the output."""

    ELEMENTWISE = "elementwise"  # output channel c from channel c of every (broadcast) input, same position
    WINDOW = "window"            # output channel c from input channel c over an H x W window (pool, resize)
    WEIGHTS = "weights"          # output channels are the weight's output axis; input channels are summed
    CONCAT = "concat"            # the inputs' channels side by side when the axis is the channel axis
    AXIS = "axis"                # an axis attribute: channels pass unless the axis is the channel axis
    BREAKS = "breaks"            # channel identity is lost (reshape, transpose, matmul, gather)


class QuantRule(str, enum.Enum):
    """How the op is quantized to int8 (docs/int8-arithmetic.md §1)."""

    PER_CHANNEL_WEIGHTS = "per_channel_weights"  # int8 weights per output channel (zp 0), int32 bias
    OWN_SCALE = "own_scale"                      # output scale/zero point from its calibrated range
    SAME_SCALE = "same_scale"                    # output scale/zero point equal the input's
    NEGATED = "negated"                          # output = -input on the raw integers (LiteRT's NEG):
                                                 # the input's scale, zero point -z
    FIXED_OUTPUT = "fixed_output"                # output scale/zero point fixed by the kernels
    INDEX = "index"                              # integer/bool data: not quantized
    FLOAT = "float"                              # must stay float (no int8 kernel with TFLite's semantics)
    BOUNDARY = "boundary"                        # Quantize/Dequantize: float <-> integer by its quant attribute


#: Rules whose ops run as integer kernels (the others stay float, carry indices or are boundaries).
INTEGER_RULES = frozenset({QuantRule.PER_CHANNEL_WEIGHTS, QuantRule.OWN_SCALE, QuantRule.SAME_SCALE,
                           QuantRule.NEGATED, QuantRule.FIXED_OUTPUT})


class DTypes:
    """Groups of element types an op input accepts."""

    FLOAT = frozenset({DType.FLOAT32, DType.FLOAT16})
    INT = frozenset({DType.INT8, DType.UINT8, DType.INT16, DType.INT32, DType.INT64})
    NUMERIC = FLOAT | INT
    BOOL = frozenset({DType.BOOL})
    ANY = NUMERIC | BOOL


@dataclass(frozen=True)
class Attr:
    """One typed attribute: ``check`` returns a problem (or None) for a given value."""

    name: str
    type: type | tuple[type, ...]
    default: Any = REQUIRED
    check: Callable[[Any], str | None] | None = None

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not valid for this attribute, or None."""
        if not isinstance(value, self.type):
            names = self.type.__name__ if isinstance(self.type, type) else "/".join(t.__name__ for t in self.type)
            return f"attribute {self.name!r} must be {names}, got {type(value).__name__} {value!r}"
        problem = self.check(value) if self.check is not None else None
        return None if problem is None else f"attribute {self.name!r} {problem}"


# Attribute types (NumPy scalars count: the importer passes values read from files).
T_INT: tuple[type, ...] = (int, np.integer)
T_FLOAT: tuple[type, ...] = (float, int, np.floating, np.integer)
T_BOOL: tuple[type, ...] = (bool, np.bool_)
T_SEQ: tuple[type, ...] = (tuple, list)
T_INTS: tuple[type, ...] = T_SEQ + T_INT  # a window size/stride: one int or one per spatial axis


@dataclass(frozen=True)
class WeightAxes:
    """Where the channels are in a weight input (the IR layout).

    ``out_axis``: the output-channel axis (the axis of per-channel quantization and of a folded
    BatchNorm's scale). ``in_axis``: the input-channel axis, or None when the weight has none
    because each output channel reads one input channel: DepthwiseConv2D's (1, KH, KW, Cin·M),
    whose output channel k = c·M + m reads input channel c = k // M (M = Cout / Cin).
    """

    input: int
    out_axis: int
    in_axis: int | None


@dataclass(frozen=True)
class OpSpec:
    """Definition of one IR op and every fact about it the consumers read."""

    name: str
    family: Family
    inputs: tuple[str, ...]
    attributes: tuple[Attr, ...]
    infer: InferFn
    evaluate: EvalFn
    doc: str = ""
    num_outputs: Callable[[dict[str, Any]], int] = field(default=lambda attrs: 1)
    dtypes: tuple[frozenset[DType], ...] = ()
    weights: WeightAxes | None = None
    channels: ChannelFlow = ChannelFlow.ELEMENTWISE
    spatial: bool = False
    quant: QuantRule = QuantRule.OWN_SCALE
    fixed_output: tuple[float, int] | None = None
    fixed_output16: tuple[float, int] | None = None
    clamp: tuple[float, float] | None = None
    macs: MacsFn | None = None
    output_quant: QuantFn | None = None
    input_quant: QuantFn | None = None
    fused_activation: bool = False
    selects: bool = False

    @property
    def attrs(self) -> dict[str, Any]:
        """Attribute name -> default (``REQUIRED`` when there is none)."""
        return {a.name: a.default for a in self.attributes}

    @property
    def min_inputs(self) -> int:
        return sum(1 for i in self.inputs if not i.endswith(("?", "*")))

    @property
    def variadic(self) -> bool:
        return any(i.endswith("*") for i in self.inputs)

    def input_dtypes(self, index: int) -> frozenset[DType]:
        """The element types input ``index`` accepts (a variadic input's entry covers all of them)."""
        return self.dtypes[min(index, len(self.dtypes) - 1)]

    def dtype_problems(self, inputs: Sequence[Value | None]) -> list[str]:
        """Inputs whose element type the op does not take."""
        return [f"input {i} ({self.inputs[min(i, len(self.inputs) - 1)]}) is {v.dtype.value}; {self.name} takes "
                f"{', '.join(sorted(d.value for d in self.input_dtypes(i)))}"
                for i, v in enumerate(inputs) if v is not None and v.dtype not in self.input_dtypes(i)]

    def attr_problems(self, attrs: dict[str, Any]) -> list[str]:
        """Type/validation problems of the given attribute values (unknown names are not checked here)."""
        return [p for a in self.attributes if a.name in attrs and (p := a.problem(attrs[a.name])) is not None]


OPS: dict[str, OpSpec] = {}


def define(name: str, family: Family, inputs: Sequence[str], attributes: Sequence[Attr], infer: InferFn,
           evaluate: EvalFn, doc: str, *, dtypes: Sequence[frozenset[DType]], **traits: Any) -> None:
    """Register one op (called by the family modules at import)."""
    if name in OPS:
        raise ValueError(f"IR op {name!r} defined twice")
    if len(dtypes) != len(inputs):
        raise ValueError(f"IR op {name!r}: {len(dtypes)} dtype groups for {len(inputs)} inputs")
    OPS[name] = OpSpec(name, family, tuple(inputs), tuple(attributes), infer, evaluate, doc,
                       dtypes=tuple(dtypes), **traits)


def op_spec(op: str) -> OpSpec:
    """The OpSpec of ``op``, or a ValueError naming the known ops."""
    try:
        return OPS[op]
    except KeyError:
        raise ValueError(f"unknown IR op {op!r}; the vocabulary has: {', '.join(sorted(OPS))}") from None


def ops_where(**traits: Any) -> frozenset[str]:
    """The ops whose spec has every given trait value, e.g. ``ops_where(spatial=True)``."""
    return frozenset(n for n, s in OPS.items() if all(getattr(s, k) == v for k, v in traits.items()))


# ---------------------------------------------------------------------------- inputs, typed errors

def shapes_of(ins: Sequence[Value | None]) -> list[Shape | None]:
    return [None if v is None else tuple(v.shape) for v in ins]


def need(op: str, ins: Sequence[Value | None], *indices: int) -> list[Value]:
    """The required inputs at ``indices``, or a ShapeError naming the op and the inputs it got."""
    got = [ins[i] if i < len(ins) else None for i in indices]
    missing = [i for i, v in zip(indices, got) if v is None]
    if missing:
        raise ShapeError(op, f"input {missing[0]} is missing", shapes_of(ins))
    return [v for v in got if v is not None]


def need_arrays(op: str, ins: Sequence[np.ndarray | None], *indices: int) -> list[np.ndarray]:
    """The required input arrays at ``indices`` (for ``evaluate``), or a ShapeError."""
    got = [ins[i] if i < len(ins) else None for i in indices]
    missing = [i for i, a in zip(indices, got) if a is None]
    if missing:
        raise ShapeError(op, f"input {missing[0]} is missing",
                         [None if a is None else tuple(a.shape) for a in ins])
    return [a for a in got if a is not None]


def optional_array(ins: Sequence[np.ndarray | None], index: int) -> np.ndarray | None:
    return ins[index] if len(ins) > index else None


def known_dims(op: str, ins: Sequence[Value | None], what: str, dims: Sequence[int | None]) -> list[int]:
    """``dims`` as ints, or a ShapeError: ``what`` (e.g. "kernel") must have known dimensions."""
    if any(d is None for d in dims):
        raise ShapeError(op, f"the {what} dimensions {tuple(dims)} must be known", shapes_of(ins))
    return [int(d) for d in dims if d is not None]


# ---------------------------------------------------------------------------- shape helpers

def broadcast_shapes(*shapes: Shape) -> Shape:
    """NumPy broadcasting on shapes that may hold None (unknown) dimensions."""
    rank = max(len(s) for s in shapes)
    out: list[int | None] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"shapes {shapes} do not broadcast")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def conv_out_dim(n: int | None, k: int, stride: int, dilation: int, padding: str) -> int | None:
    """Output length of a convolution/pool window along one axis (TF 'same'/'valid' rules)."""
    if n is None:
        return None
    if padding == "same":
        return -(-n // stride)
    eff = (k - 1) * dilation + 1
    return max(0, (n - eff) // stride + 1)


def same_pads(n: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """TF 'same' padding (before, after): the odd extra pixel goes after."""
    eff = (k - 1) * dilation + 1
    out = -(-n // stride)
    total = max((out - 1) * stride + eff - n, 0)
    return total // 2, total - total // 2


def norm_axis(axis: int, rank: int) -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return a


def pair(v: Any) -> tuple[int, int]:
    t = tuple(int(i) for i in (v if isinstance(v, (tuple, list)) else (v, v)))
    return (t[0], t[1])


def per_sample(shape: Shape) -> int:
    """Elements per sample (the batch axis excluded; unknown dimensions count 1)."""
    n = 1
    for d in shape[1:]:
        n *= 1 if d is None else int(d)
    return n


def same_infer(op: str) -> InferFn:
    """Output = the first input's dtype and shape."""
    def infer(ins: list[Value | None], attrs: dict[str, Any]) -> list[tuple[DType, Shape]]:
        (x,) = need(op, ins, 0)
        return [(x.dtype, x.shape)]
    return infer


def one_of(*allowed: object) -> Callable[[Any], str | None]:
    return lambda v: None if v in allowed else f"must be one of {allowed}, got {v!r}"


# ---------------------------------------------------------------------------- window helpers (evaluate)

def pad_same_nhwc(x: np.ndarray, kh: int, kw: int, s: tuple[int, int], d: tuple[int, int],
                  padding: str, value: float = 0.0) -> np.ndarray:
    """``x`` padded for a TF 'same' window (unchanged for 'valid')."""
    if padding != "same":
        return x
    ph = same_pads(x.shape[1], kh, s[0], d[0])
    pw = same_pads(x.shape[2], kw, s[1], d[1])
    return np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=value)


def windows(x: np.ndarray, kh: int, kw: int, s: tuple[int, int], d: tuple[int, int],
            oh: int, ow: int) -> list[tuple[int, int, np.ndarray]]:
    """Every kernel tap (i, j) with the strided input slice it multiplies."""
    taps = []
    for i in range(kh):
        for j in range(kw):
            sl = x[:, i * d[0]: i * d[0] + (oh - 1) * s[0] + 1: s[0],
                   j * d[1]: j * d[1] + (ow - 1) * s[1] + 1: s[1], :]
            taps.append((i, j, sl))
    return taps
