"""TFOpLambda and SlicingOpLambda (tf.keras 2.4-2.15): TF functions applied to Keras tensors.

The config names the TF function (``function``: "math.multiply", "__operators__.add",
"nn.relu6", "reshape", "concat", "compat.v1.transpose", "__operators__.getitem", ...). The first
call argument is the tensor (or, for concat/stack/add_n, the list of tensors) the layer was
called on; tf.keras serializes every other argument as a keyword by the TF function's own
parameter names (``y``, ``axis``, ``shape``, ``perm``, ``keepdims``, ``slice_spec``...). The
builder has already resolved tensor references among them to Values; the rest are constants.

Maps:
- arithmetic (add, subtract, multiply, truediv/divide, maximum, minimum, pow, squared_difference,
  floordiv, floormod, bias_add; ``__operators__.*`` and ``math.*`` spellings) -> the binary op,
  with constant operands as IR constants (pow by 2 -> Square, by 0.5 -> Sqrt);
- unary math (square, sqrt, rsqrt, exp, log, abs, negative, reciprocal, sin, cos, floor, ceil,
  round, sign) and activations (relu, relu6, sigmoid, tanh, softplus, elu, selu, silu/swish, gelu,
  leaky_relu, softmax / log_softmax on any axis) -> their ops;
- reshape, concat, stack, transpose, expand_dims, squeeze, split, tile, pad (constant mode),
  cast, clip_by_value, identity, matmul (BatchMatMul, or FullyConnected for a constant matrix),
  reduce_mean/sum/max/min/prod (axis, keepdims) -> the matching shape/reduction ops;
- ``__operators__.getitem`` with constant bounds (slices, integer indices, None/newaxis,
  Ellipsis) -> StridedSlice, then Squeeze for integer indices and ExpandDims for newaxis.
Any other function is refused by name ("TF function 'image.resize' is not supported").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ....ir import DType, Value
from ..context import KERAS_HANDLERS, LayerContext
from .activations import apply_activation, relu_general

TfFn = Callable[["TfCall"], "list[Value] | Value"]
TF_FUNCTIONS: dict[str, TfFn] = {}


def _tf(*names: str) -> Callable[[TfFn], TfFn]:
    def deco(fn: TfFn) -> TfFn:
        for n in names:
            TF_FUNCTIONS[n] = fn
        return fn
    return deco


def _variants(*names: str) -> tuple[str, ...]:
    """'add' -> 'add', 'math.add'; names already qualified are kept as given."""
    out: list[str] = []
    for n in names:
        out += [n] if "." in n else [n, f"math.{n}"]
    return tuple(out)


class TfCall:
    """The arguments of one TF function call: positional first argument(s) and keywords."""

    def __init__(self, ctx: LayerContext, inputs: list[Value], function: str) -> None:
        self.ctx = ctx
        self.function = function
        self.positional: list[Any] = list(ctx.call_args) if ctx.call_args else list(inputs)
        self.kwargs = {k: v for k, v in ctx.call_kwargs.items() if k != "name"}

    def refuse(self, why: str) -> Exception:
        return self.ctx.refuse(f"TF function {self.function!r}: {why}")

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        if name in self.kwargs:
            return self.kwargs[name]
        if index < len(self.positional):
            return self.positional[index]
        return default

    def tensor(self, index: int = 0, name: str = "x") -> Value:
        v = self.arg(index, name)
        if not isinstance(v, Value):
            raise self.refuse(f"argument {name!r} is {v!r}, not a tensor")
        return v

    def tensors(self) -> list[Value]:
        """The list first argument (concat/stack/add_n)."""
        vals: list[Any] = []
        for p in self.positional:
            vals += p if isinstance(p, list) else [p]
        if not vals or not all(isinstance(v, Value) for v in vals):
            raise self.refuse(f"expects a list of tensors, got {vals!r}")
        return vals

    def operand(self, v: Any, like: Value, what: str) -> Value:
        """A tensor, or a constant (scalar or nested list) converted to ``like``'s dtype."""
        if isinstance(v, Value):
            return v
        if isinstance(v, dict) or v is None:
            raise self.refuse(f"argument {what!r} {v!r} is not a constant or a tensor")
        try:
            arr = np.asarray(v, dtype=like.dtype.np)
        except (TypeError, ValueError):
            raise self.refuse(f"argument {what!r} {v!r} is not a numeric constant") from None
        return self.ctx.const(what, arr)

    def int_list(self, v: Any, what: str) -> list[int] | None:
        if v is None:
            return None
        if isinstance(v, Value):
            raise self.refuse(f"{what} given as a tensor (only constants are supported)")
        vals = v if isinstance(v, (list, tuple)) else [v]
        try:
            return [int(i) for i in vals]
        except (TypeError, ValueError):
            raise self.refuse(f"{what} {v!r} is not a list of integers") from None


# ---------------------------------------------------------------------------- arithmetic

def _binary(op: str) -> TfFn:
    def run(call: TfCall) -> Value:
        a, b = call.arg(0, "x"), call.arg(1, "y")
        if not isinstance(a, Value) and not isinstance(b, Value):
            raise call.refuse("both operands are constants")
        like = a if isinstance(a, Value) else b
        if op == "Div" and not like.dtype.is_float:
            raise call.refuse(f"true division of {like.dtype.value} tensors (TF returns float64) is not supported")
        return call.ctx.op(op, [call.operand(a, like, "x"), call.operand(b, like, "y")])
    return run


for _op_name, _names in {
    "Add": _variants("add", "__operators__.add", "__operators__.radd"),
    "Sub": _variants("subtract", "__operators__.sub"),
    "Mul": _variants("multiply", "__operators__.mul"),
    "Div": _variants("truediv", "divide", "__operators__.truediv"),
    "Maximum": _variants("maximum"),
    "Minimum": _variants("minimum"),
    "SquaredDifference": _variants("squared_difference"),
    "FloorDiv": _variants("floordiv", "floor_div", "__operators__.floordiv"),
    "FloorMod": _variants("floormod", "mod", "__operators__.mod"),
}.items():
    _tf(*_names)(_binary(_op_name))


@_tf(*_variants("pow", "__operators__.pow"))
def _pow(call: TfCall) -> Value:
    x, y = call.arg(0, "x"), call.arg(1, "y")
    if isinstance(x, Value) and isinstance(y, (int, float)) and not isinstance(y, bool):
        if float(y) == 2.0:
            return call.ctx.op("Square", [x])
        if float(y) == 0.5:
            return call.ctx.op("Sqrt", [x])
    return _binary("Pow")(call)  # type: ignore[return-value]


@_tf("nn.bias_add")
def _bias_add(call: TfCall) -> Value:
    x = call.tensor(0, "value")
    if call.arg(2, "data_format") not in (None, "NHWC", "N...C"):
        raise call.refuse("only channels-last data_format is supported")
    return call.ctx.op("Add", [x, call.operand(call.arg(1, "bias"), x, "bias")])


@_tf(*_variants("add_n"))
def _add_n(call: TfCall) -> Value:
    vals = call.tensors()
    out = vals[0]
    for v in vals[1:]:
        out = call.ctx.op("Add", [out, v])
    return out


_UNARY = {
    "Square": _variants("square"), "Sqrt": _variants("sqrt"), "Rsqrt": _variants("rsqrt"),
    "Exp": _variants("exp"), "Log": _variants("log"), "Abs": _variants("abs", "__operators__.abs"),
    "Neg": _variants("negative", "__operators__.neg"), "Sin": _variants("sin"), "Cos": _variants("cos"),
    "Floor": _variants("floor"), "Ceil": _variants("ceil"), "Round": _variants("round"), "Sign": _variants("sign"),
}


def _unary(op: str) -> TfFn:
    return lambda call: call.ctx.op(op, [call.tensor(0, "x")])


for _op_name, _names in _UNARY.items():
    _tf(*_names)(_unary(_op_name))


@_tf(*_variants("reciprocal"))
def _reciprocal(call: TfCall) -> Value:
    x = call.tensor(0, "x")
    return call.ctx.op("Div", [call.ctx.scalar(1.0, x), x])


# ---------------------------------------------------------------------------- activations

def _activation(name: str, param: str = "features") -> TfFn:
    return lambda call: apply_activation(call.ctx, call.tensor(0, param), name)


for _act_name, _names in {
    "relu": ("nn.relu",), "relu6": ("nn.relu6",), "elu": ("nn.elu",), "selu": ("nn.selu",),
    "softplus": ("nn.softplus", "math.softplus"), "silu": ("nn.silu", "nn.swish", "math.silu"),
    "softsign": ("nn.softsign", "math.softsign"),
}.items():
    _tf(*_names)(_activation(_act_name))
_tf("math.sigmoid", "nn.sigmoid", "sigmoid")(_activation("sigmoid", "x"))
_tf("math.tanh", "nn.tanh", "tanh")(_activation("tanh", "x"))


@_tf("nn.gelu", "math.gelu")
def _gelu(call: TfCall) -> Value:
    return call.ctx.op("Gelu", [call.tensor(0, "features")], approximate=bool(call.arg(1, "approximate", False)))


@_tf("nn.leaky_relu")
def _leaky_relu(call: TfCall) -> Value:
    return relu_general(call.ctx, call.tensor(0, "features"), negative_slope=float(call.arg(1, "alpha", 0.2)))


def _last_axis_op(call: TfCall, op: str, x: Value, axis: Any) -> Value:
    """Apply a last-axis op (Softmax/LogSoftmax) along ``axis`` (Transpose around it otherwise)."""
    ax = -1 if axis is None else int(axis)
    ax = ax + x.rank if ax < 0 else ax
    if ax == x.rank - 1:
        return call.ctx.op(op, [x])
    perm = list(range(x.rank))
    perm[ax], perm[-1] = perm[-1], perm[ax]
    t = call.ctx.op("Transpose", [x], perm=tuple(perm))
    return call.ctx.op("Transpose", [call.ctx.op(op, [t])], perm=tuple(perm))


@_tf("nn.softmax", "math.softmax")
def _softmax(call: TfCall) -> Value:
    return _last_axis_op(call, "Softmax", call.tensor(0, "logits"), call.arg(1, "axis"))


@_tf("nn.log_softmax", "math.log_softmax")
def _log_softmax(call: TfCall) -> Value:
    return _last_axis_op(call, "LogSoftmax", call.tensor(0, "logits"), call.arg(1, "axis"))


@_tf("clip_by_value")
def _clip(call: TfCall) -> Value:
    x = call.tensor(0, "t")
    lo, hi = call.arg(1, "clip_value_min"), call.arg(2, "clip_value_max")
    if lo == 0 and hi == 6:
        return call.ctx.op("Relu6", [x])
    y = call.ctx.op("Maximum", [x, call.operand(lo, x, "clip_value_min")])
    return call.ctx.op("Minimum", [y, call.operand(hi, x, "clip_value_max")])


@_tf("identity")
def _identity(call: TfCall) -> Value:
    return call.tensor(0, "input")


@_tf("cast", "dtypes.cast")
def _cast(call: TfCall) -> Value:
    x = call.tensor(0, "x")
    dt = call.arg(1, "dtype")
    name = str((dt.get("config") or {}).get("name", dt)) if isinstance(dt, dict) else str(dt)
    if name not in {d.value for d in DType}:
        raise call.refuse(f"cast to {name!r} is not supported")
    return x if x.dtype.value == name else call.ctx.op("Cast", [x], to=name)


# ---------------------------------------------------------------------------- shapes

@_tf("reshape")
def _reshape(call: TfCall) -> Value:
    x = call.tensor(0, "tensor")
    shape = call.int_list(call.arg(1, "shape"), "shape")
    if shape is None:
        raise call.refuse("no target shape")
    return call.ctx.op("Reshape", [x], shape=tuple(shape))


@_tf("concat")
def _concat(call: TfCall) -> Value:
    vals = call.tensors()
    axis = int(call.kwargs.get("axis", 0))
    return vals[0] if len(vals) == 1 else call.ctx.op("Concatenation", vals, axis=axis)


@_tf("stack")
def _stack(call: TfCall) -> Value:
    vals = call.tensors()
    axis = int(call.kwargs.get("axis", 0))
    parts = [call.ctx.op("ExpandDims", [v], axis=axis) for v in vals]
    return parts[0] if len(parts) == 1 else call.ctx.op("Concatenation", parts, axis=axis)


@_tf("transpose", "compat.v1.transpose", "linalg.transpose")
def _transpose(call: TfCall) -> Value:
    x = call.tensor(0, "a")
    if call.arg(2, "conjugate", False):
        raise call.refuse("conjugate=True is not supported")
    perm = call.int_list(call.arg(1, "perm"), "perm")
    if perm is None:
        perm = list(range(x.rank))[::-1]
    return call.ctx.op("Transpose", [x], perm=tuple(perm))


@_tf("expand_dims", "compat.v1.expand_dims")
def _expand_dims(call: TfCall) -> Value:
    x = call.tensor(0, "input")
    axis = call.arg(1, "axis", call.kwargs.get("dim"))
    if axis is None:
        raise call.refuse("no axis")
    return call.ctx.op("ExpandDims", [x], axis=int(axis))


@_tf("squeeze", "compat.v1.squeeze")
def _squeeze(call: TfCall) -> Value:
    x = call.tensor(0, "input")
    axes = call.int_list(call.arg(1, "axis", call.kwargs.get("squeeze_dims")), "axis")
    if not axes:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
        if any(d is None for d in x.shape) or not axes:
            raise call.refuse(f"squeeze without axis on shape {x.shape} (unknown or no length-1 axes)")
    return call.ctx.op("Squeeze", [x], axes=tuple(axes))


@_tf("split")
def _split(call: TfCall) -> list[Value]:
    x = call.tensor(0, "value")
    n = call.arg(1, "num_or_size_splits")
    axis = int(call.arg(2, "axis", 0))
    dim = x.shape[axis]
    if isinstance(n, int):
        if dim is None or dim % n:
            raise call.refuse(f"cannot split axis {axis} of {x.shape} into {n} equal parts")
        sizes = [dim // n] * n
    else:
        sizes = call.int_list(n, "num_or_size_splits") or []
        if -1 in sizes:
            if dim is None:
                raise call.refuse(f"size -1 on the unknown axis {axis} of {x.shape}")
            sizes[sizes.index(-1)] = dim - (sum(sizes) + 1)
    return list(call.ctx.node("Split", [x], axis=axis, sizes=tuple(sizes)).outputs)


@_tf("tile")
def _tile(call: TfCall) -> Value:
    x = call.tensor(0, "input")
    mult = call.int_list(call.arg(1, "multiples"), "multiples")
    if mult is None or len(mult) != x.rank:
        raise call.refuse(f"multiples {mult} do not fit rank {x.rank}")
    return call.ctx.op("Tile", [x], multiples=tuple(mult))


@_tf("pad", "compat.v1.pad")
def _pad(call: TfCall) -> Value:
    x = call.tensor(0, "tensor")
    if str(call.arg(2, "mode", "CONSTANT")).upper() != "CONSTANT":
        raise call.refuse(f"mode {call.arg(2, 'mode')!r} is not supported (only CONSTANT)")
    pads = call.arg(1, "paddings")
    if isinstance(pads, Value) or not isinstance(pads, list) or len(pads) != x.rank:
        raise call.refuse(f"paddings {pads!r} must be constant pairs, one per axis")
    return call.ctx.op("Pad", [x], pads=tuple((int(a), int(b)) for a, b in pads),
                       value=float(call.arg(3, "constant_values", 0.0)))


@_tf("linalg.matmul", "matmul", "__operators__.matmul")
def _matmul(call: TfCall) -> Value:
    a, b = call.arg(0, "a"), call.arg(1, "b")
    ta = bool(call.arg(2, "transpose_a", False)) or bool(call.kwargs.get("adjoint_a", False))
    tb = bool(call.arg(3, "transpose_b", False)) or bool(call.kwargs.get("adjoint_b", False))
    if not isinstance(a, Value):
        raise call.refuse("a constant first matrix is not supported")
    if not isinstance(b, Value):
        w = np.asarray(b, dtype=a.dtype.np)
        if w.ndim == 2 and not ta and a.rank >= 2:
            return call.ctx.op("FullyConnected", [a, call.ctx.const("b", w.T if tb else w)])
        b = call.ctx.const("b", w)
    return call.ctx.op("BatchMatMul", [a, b], adj_x=ta, adj_y=tb)


# ---------------------------------------------------------------------------- reductions

def _reduce(op: str) -> TfFn:
    def run(call: TfCall) -> Value:
        x = call.tensor(0, "input_tensor")
        axes = call.int_list(call.arg(1, "axis", call.kwargs.get("reduction_indices")), "axis")
        keep = call.kwargs.get("keepdims")
        if keep is None:
            keep = call.kwargs.get("keep_dims", False)
        if axes is None:
            axes = list(range(x.rank))
        return call.ctx.op(op, [x], axes=tuple(axes), keepdims=bool(keep))
    return run


for _op_name, _fn in {"Mean": "reduce_mean", "Sum": "reduce_sum", "ReduceMax": "reduce_max",
                      "ReduceMin": "reduce_min", "ReduceProd": "reduce_prod"}.items():
    _tf(_fn, f"math.{_fn}", f"compat.v1.{_fn}", f"compat.v1.math.{_fn}")(_reduce(_op_name))


# ---------------------------------------------------------------------------- slicing

def _is_ellipsis(item: Any) -> bool:
    return item is Ellipsis or item == "..." or (isinstance(item, dict) and item.get("class_name") == "__ellipsis__")


@_tf("__operators__.getitem")
def _getitem(call: TfCall) -> Value:
    """x[spec]: constant slices, integer indices, None (newaxis) and one Ellipsis."""
    x = call.tensor(0, "tensor")
    spec = call.kwargs.get("slice_spec")
    items: list[Any] = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    ellipses = [i for i, it in enumerate(items) if _is_ellipsis(it)]
    if len(ellipses) > 1:
        raise call.refuse("more than one Ellipsis in the slice")
    consuming = sum(1 for it in items if it is not None and not _is_ellipsis(it))
    if consuming > x.rank:
        raise call.refuse(f"too many indices {spec!r} for shape {x.shape}")
    full = {"start": None, "stop": None, "step": None}
    if ellipses:
        k = ellipses[0]
        items = items[:k] + [full] * (x.rank - consuming) + items[k + 1:]
    else:
        items = items + [full] * (x.rank - consuming)
    begin: list[int] = []
    end: list[int | None] = []
    strides: list[int] = []
    squeeze: list[int] = []
    newaxis: list[int] = []
    out_pos = 0
    for it in items:
        if it is None:
            newaxis.append(out_pos)
            out_pos += 1
            continue
        if isinstance(it, bool) or isinstance(it, Value):
            raise call.refuse(f"slice index {it!r} is not supported (only constant slices and integers)")
        if isinstance(it, int):
            begin.append(it)
            end.append(None if it == -1 else it + 1)
            strides.append(1)
            squeeze.append(len(begin) - 1)
            continue
        if not isinstance(it, dict) or set(it) - {"start", "stop", "step"}:
            raise call.refuse(f"slice element {it!r} is not supported")
        vals = [it.get("start"), it.get("stop"), it.get("step")]
        if any(v is not None and (isinstance(v, bool) or not isinstance(v, int)) for v in vals):
            raise call.refuse(f"slice bounds {it!r} must be constant integers")
        step = 1 if vals[2] is None else int(vals[2])
        if step == 0:
            raise call.refuse("slice step 0")
        start = vals[0] if vals[0] is not None else (0 if step > 0 else -1)
        begin.append(int(start))
        end.append(vals[1])
        strides.append(step)
        out_pos += 1
    y = x
    trivial = all(b == 0 and e is None and s == 1 for b, e, s in zip(begin, end, strides))
    if not trivial:
        y = call.ctx.op("StridedSlice", [x], begin=tuple(begin), end=tuple(end), strides=tuple(strides))
    if squeeze:
        y = call.ctx.op("Squeeze", [y], axes=tuple(squeeze))
    for pos in newaxis:
        y = call.ctx.op("ExpandDims", [y], axis=pos)
    return y


# ---------------------------------------------------------------------------- the layers

@KERAS_HANDLERS.register("TFOpLambda", "SlicingOpLambda")
def import_tf_op_lambda(ctx: LayerContext, inputs: list[Value]) -> list[Value]:
    """TFOpLambda / SlicingOpLambda(function) -> the ops of that TF function (see the module docstring)."""
    function = str(ctx.get("function", ""))
    fn = TF_FUNCTIONS.get(function)
    if fn is None:
        raise ctx.refuse(f"TF function {function!r} is not supported")
    out = fn(TfCall(ctx, inputs, function))
    return [out] if isinstance(out, Value) else list(out)


def supported_functions() -> Sequence[str]:
    """The TF function names TFOpLambda/SlicingOpLambda can be converted for."""
    return sorted(TF_FUNCTIONS)
