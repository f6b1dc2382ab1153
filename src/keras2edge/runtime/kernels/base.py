"""The kernel table and what a kernel sees: ``KERNELS[(op name, dtype)] -> prepare function``.

A kernel is a *prepare* function, registered for one TFLite builtin op name (``"CONV_2D"``) and the
NumPy dtype of the op's main input (input 0 unless ``DTYPE_INPUT`` says otherwise)::

    @register("ADD", "float32")
    def add_float32(ctx: OpContext) -> EvalFn:
        a, b = ctx.inputs[0], ctx.inputs[1]             # TensorSpec: shape, dtype, data (constant or None)
        ctx.set_output(0, np.broadcast_shapes(a.shape, b.shape))
        act = fused_activation(ctx)
        def eval_(ins, outs, tmp):                       # NumPy only; writes into ``outs``
            np.add(ins[0], ins[1], out=outs[0]); act(outs[0])
        return eval_

``prepare`` runs once per input-shape plan: it validates the node (arity, dtypes, shapes, options),
sets every output's shape, asks for scratch buffers (``ctx.scratch``), precomputes what it can
(transposed weights, index tables, padding amounts) and returns ``eval(ins, outs, tmp) -> None``.
``ins`` are the input arrays (None for an omitted optional input), ``outs`` the output arrays (views
of the planned arena, or fresh arrays for graph outputs) and ``tmp`` the scratch arrays, in the order
they were requested. Eval never allocates what it can avoid and never changes shapes.

Kernels whose output is a pure re-view of input 0 (RESHAPE, SQUEEZE, EXPAND_DIMS) call
``ctx.alias_input(0)``: the interpreter then binds the output as a view of the input's memory and
skips the eval step entirely (it still runs it when it cannot alias, e.g. for a graph output).

Errors: ``ctx.fail(msg)`` raises RuntimeModelError naming the op index, op name and tensor names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from keras2edge.runtime.codes import ACT_NONE, ACT_RELU, ACT_RELU6, ACT_RELU_N1_TO_1, ACT_SIGN_BIT, ACT_TANH
from keras2edge.runtime.errors import RuntimeModelError
from keras2edge.runtime.limits import Limits
from keras2edge.runtime.model import Quantization
from keras2edge.runtime.validate import tensor_nbytes

#: eval(ins, outs, tmp): the op's input arrays (None for an omitted optional input), its output arrays
#: (arena views or fresh arrays) and its scratch arrays, in the order prepare asked for them.
EvalFn = Callable[[Sequence["np.ndarray | None"], Sequence[np.ndarray], Sequence[np.ndarray]], None]
#: prepare(ctx) validates the node, shapes its outputs, precomputes and returns the eval function.
PrepareFn = Callable[["OpContext"], EvalFn]
#: An in-place fused activation applied to an output array.
ActivationFn = Callable[[np.ndarray], None]
#: fn(x, out): an elementwise unary function writing into ``out`` (same shape and dtype as ``x``); what it
#: returns (NumPy ufuncs return ``out``) is ignored.
UnaryFn = Callable[[np.ndarray, np.ndarray], object]
#: Kernels' per-op precomputed data shared by all plans of one interpreter: (op index, key) -> (source, value).
Memo = dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]
ScratchSpec = tuple[tuple[int, ...], np.dtype]

#: The one kernel table: (TFLite builtin op name, dtype name of the op's main input) -> prepare function.
KERNELS: dict[tuple[str, str], PrepareFn] = {}

#: Which input's dtype selects the kernel, where it is not input 0.
DTYPE_INPUT: dict[str, int] = {"TRANSPOSE_CONV": 2, "SELECT": 1, "SELECT_V2": 1, "SPLIT": 1}

FLOAT = ("float32",)
INDEX = ("int32", "int64")
#: dtypes for which data-movement kernels (reshape, concat, slicing, ...) are registered. int8/uint8/
#: int16 are left to the quantized kernels, which also check quantization parameters.
MOVE = ("float32", "int32", "int64", "bool")


def register(op: str, *dtypes: str) -> Callable[[PrepareFn], PrepareFn]:
    """Register a prepare function for ``op`` and each of ``dtypes`` (NumPy dtype names)."""
    if not dtypes:
        raise TypeError(f"register({op!r}) needs at least one dtype")

    def deco(fn: PrepareFn) -> PrepareFn:
        for dt in dtypes:
            key = (op, np.dtype(dt).name)
            if key in KERNELS:
                raise RuntimeError(f"kernel {key} registered twice ({KERNELS[key].__module__} and {fn.__module__})")
            KERNELS[key] = fn
        return fn

    return deco


def supported_ops() -> list[str]:
    """Sorted op names that have at least one kernel."""
    return sorted({op for op, _ in KERNELS})


@dataclass
class TensorSpec:
    """What prepare knows about one tensor in the current plan."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    data: np.ndarray | None = None  # constant (from the file, or folded at prepare time)
    quantization: Quantization | None = None
    #: ``(op name, input tensor indices)`` of the operator that wrote this tensor, set once that operator
    #: is prepared (None for graph inputs and constants): lets a kernel recognise a pattern such as
    #: ``MUL(x, LOGISTIC(x))`` and fuse it at prepare time (``kernels/quantized/fused.py``).
    producer: tuple[str, tuple[int, ...]] | None = None

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class OpContext:
    """One operator during prepare: its inputs, options and the outputs it must shape."""

    index: int
    op: str
    version: int
    options: dict[str, Any]
    inputs: list[TensorSpec | None]
    outputs: list[TensorSpec]
    scratch_specs: list[ScratchSpec] = field(default_factory=list)
    alias: int | None = None  # input index whose memory output 0 re-views
    #: input indices the eval never reads (a fused kernel computes them itself from another input): an
    #: op whose outputs only such inputs take is skipped when no observer watches (``prepare.Step.unread``)
    unread: frozenset[int] = frozenset()
    memo: Memo = field(default_factory=dict)  # shared by all plans of one interpreter (see cached)
    limits: Limits = field(default_factory=Limits)  # every output shape and scratch buffer is held to it
    source: str = "the model"  # how errors name the file
    #: the model has hybrid ops (int8 constant weights, float32 activations): their per-image input
    #: quantization turns last-bit differences before them into whole steps, so float kernels that can
    #: reproduce LiteRT's reference arithmetic exactly (at some cost) do so (LOGISTIC: activation.py)
    hybrid_model: bool = False

    # ---------------------------------------------------------------- errors
    def describe(self) -> str:
        ins = ", ".join("-" if t is None else f"'{t.name}' {list(t.shape)} {t.dtype}" for t in self.inputs)
        outs = ", ".join(f"'{t.name}'" for t in self.outputs)
        return f"op #{self.index} {self.op} (inputs: {ins}; outputs: {outs})"

    def fail(self, msg: str) -> RuntimeModelError:
        """Return (to ``raise``) an error that names this op and its tensors."""
        return RuntimeModelError(f"{self.describe()}: {msg}")

    # ---------------------------------------------------------------- checks
    def check_arity(self, min_in: int, max_in: int | None = None, n_out: int | None = 1) -> None:
        n = len(self.inputs)
        hi = min_in if max_in is None else max_in
        if not min_in <= n <= hi:
            want = str(min_in) if hi == min_in else f"{min_in} to {hi}"
            raise self.fail(f"expects {want} inputs, got {n}")
        for i in range(min_in):
            if self.inputs[i] is None:
                raise self.fail(f"input {i} is required but omitted (-1)")
        if n_out is not None and len(self.outputs) != n_out:
            raise self.fail(f"expects {n_out} outputs, got {len(self.outputs)}")

    def input(self, i: int) -> TensorSpec:
        t = self.inputs[i] if i < len(self.inputs) else None
        if t is None:
            raise self.fail(f"input {i} is required but omitted")
        return t

    def opt_input(self, i: int) -> TensorSpec | None:
        return self.inputs[i] if i < len(self.inputs) else None

    def const(self, i: int, what: str) -> np.ndarray:
        """The value of input ``i``, which must be known at prepare time (a constant or foldable)."""
        t = self.input(i)
        if t.data is None:
            raise self.fail(f"input {i} ('{t.name}', the {what}) must be a constant or computable at prepare "
                            "time; this runtime does not support data-dependent shapes or parameters")
        return t.data

    def check_dtype(self, i: int, *dtypes: str) -> None:
        t = self.input(i)
        if t.dtype.name not in dtypes:
            raise self.fail(f"input {i} ('{t.name}') has dtype {t.dtype}, expected {' or '.join(dtypes)}")

    def check_rank(self, i: int, *ranks: int) -> None:
        t = self.input(i)
        if t.rank not in ranks:
            raise self.fail(f"input {i} ('{t.name}') has rank {t.rank} (shape {list(t.shape)}), "
                            f"expected rank {' or '.join(map(str, ranks))}")

    def opt(self, name: str, default: Any = None) -> Any:
        v = self.options.get(name, default)
        return default if v is None else v

    # ---------------------------------------------------------------- outputs and memory
    def set_output(self, i: int, shape: Sequence[int], dtype: DTypeLike | None = None) -> None:
        """Declare output ``i``'s shape; its dtype is the file's unless the kernel checks another."""
        shape = tuple(int(d) for d in shape)
        if any(d < 0 for d in shape):
            raise self.fail(f"computed a negative output shape {list(shape)}")
        out = self.outputs[i]
        tensor_nbytes(shape, out.dtype, self.limits, f"{self.source}: op #{self.index} {self.op}: output "
                      f"'{out.name}' of shape")
        out.shape = shape
        if dtype is not None and np.dtype(dtype) != out.dtype:
            raise self.fail(f"output {i} ('{out.name}') is declared {out.dtype} in the file, but this op "
                            f"produces {np.dtype(dtype)}")

    def set_output_value(self, i: int, value: np.ndarray) -> None:
        """Output ``i`` is known at prepare time (e.g. SHAPE): it becomes a constant of the plan."""
        v = np.asarray(value)
        self.set_output(i, v.shape, v.dtype)
        v = v.copy()
        v.flags.writeable = False
        self.outputs[i].data = v

    def cached(self, key: str, src: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``fn(src)``, computed once per interpreter for this op (not once per input-shape plan), so
        re-planning for another batch does not copy the reshaped weights again."""
        k = (self.index, key)
        hit = self.memo.get(k)
        if hit is not None and hit[0] is src:
            return hit[1]
        value = fn(src)
        self.memo[k] = (src, value)
        return value

    def scratch(self, shape: Sequence[int], dtype: DTypeLike = np.float32) -> int:
        """Ask for a scratch buffer (planned in the arena, live only during this op); its index in ``tmp``."""
        shape, dtype = tuple(int(d) for d in shape), np.dtype(dtype)
        tensor_nbytes(shape, dtype, self.limits, f"{self.source}: op #{self.index} {self.op}: scratch buffer of shape")
        self.scratch_specs.append((shape, dtype))
        return len(self.scratch_specs) - 1

    def alias_input(self, i: int = 0) -> None:
        """Output 0 has input ``i``'s data in another shape: the interpreter may bind it as a view."""
        self.alias = i


# ------------------------------------------------------------------------------ shared helpers

def _noop(a: np.ndarray) -> None:
    return None


def _relu(a: np.ndarray) -> None:
    np.maximum(a, 0, out=a)


def _relu_n1_to_1(a: np.ndarray) -> None:
    np.clip(a, -1, 1, out=a)


def _relu6(a: np.ndarray) -> None:
    np.clip(a, 0, 6, out=a)


#: Fused activation code -> in-place clamp, as TFLite's float kernels apply it (CalculateActivationRange):
#: RELU [0, inf), RELU6 [0, 6], RELU_N1_TO_1 [-1, 1]. TANH and SIGN_BIT give an unbounded range there,
#: i.e. the float conv/add/... kernels ignore them; we do the same.
ACTIVATION_FNS: dict[int, ActivationFn] = {ACT_NONE: _noop, ACT_RELU: _relu, ACT_RELU_N1_TO_1: _relu_n1_to_1,
                                           ACT_RELU6: _relu6, ACT_TANH: _noop, ACT_SIGN_BIT: _noop}


def fused_activation(ctx: OpContext, key: str = "fused_activation_function") -> ActivationFn:
    """The in-place fused activation of the op's ``key`` option (see :data:`ACTIVATION_FNS`)."""
    code = int(ctx.opt(key, ACT_NONE))
    fn = ACTIVATION_FNS.get(code)
    if fn is None:
        raise ctx.fail(f"unknown fused_activation_function {code}")
    return fn


def unary(ctx: OpContext, fn: UnaryFn) -> EvalFn:
    """Prepare a one-input op whose output has the input's shape and dtype, computed by ``fn(x, out)``."""
    ctx.check_arity(1)
    x = ctx.input(0)
    if ctx.outputs[0].dtype != x.dtype:
        raise ctx.fail(f"output is {ctx.outputs[0].dtype}, input is {x.dtype}")
    ctx.set_output(0, x.shape)

    def eval_(ins: Sequence[np.ndarray | None], outs: Sequence[np.ndarray], tmp: Sequence[np.ndarray]) -> None:
        fn(ins[0], outs[0])  # type: ignore[arg-type]  # arity checked: input 0 is present

    return eval_


def unary_kernel(fn: UnaryFn) -> PrepareFn:
    """The prepare function of a :func:`unary` op computed by ``fn`` (to register for several ops)."""
    def prepare(ctx: OpContext) -> EvalFn:
        return unary(ctx, fn)
    prepare.__module__ = fn.__module__  # the kernel belongs to the family module that defines ``fn``
    return prepare


def norm_axis(ctx: OpContext, axis: int, rank: int) -> int:
    a = int(axis) + rank if int(axis) < 0 else int(axis)
    if not 0 <= a < rank:
        raise ctx.fail(f"axis {axis} is out of range for rank {rank}")
    return a


def broadcast(ctx: OpContext, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ctx.fail(f"input shapes {[list(s) for s in shapes]} do not broadcast") from None


def conv_out_size(padding: int, n: int, k: int, stride: int, dilation: int) -> int:
    """TFLite ComputeOutSize: SAME ceil(n / s); VALID (n - eff + s) / s."""
    eff = (k - 1) * dilation + 1
    if padding == 0:
        return (n + stride - 1) // stride
    return (n - eff + stride) // stride


def conv_pad_before(n: int, k: int, stride: int, dilation: int, out: int) -> tuple[int, int]:
    """TFLite ComputePaddingWithOffset: (pad before, pad after) for the given output size."""
    eff = (k - 1) * dilation + 1
    total = max((out - 1) * stride + eff - n, 0)
    return total // 2, total - total // 2
