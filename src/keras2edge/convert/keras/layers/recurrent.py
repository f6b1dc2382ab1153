"""Recurrent layers: SimpleRNN, LSTM and GRU, unrolled over a fixed sequence length T.

Maps each layer to primitive ops (no loop op):
- ``x @ kernel + bias`` for every step at once: one FullyConnected on the (B, T, F) input,
  then Split along axis 1 into T steps (Squeeze drops the length-1 time axis);
- per step, the recurrence with FullyConnected on ``recurrent_kernel``, Add, Mul, Split (gates)
  and the config's ``activation`` / ``recurrent_activation`` (via apply_activation, so Keras 1/2
  hard_sigmoid is 0.2x+0.5 and Keras 3's is x/6+0.5);
- the first step with zero initial state skips the recurrent terms (they are zero).

Gate orders are Keras 2's (Keras 1 split arrays are fused by legacy.fix_weights): LSTM
i, f, c, o with ``c = f*c + i*act(zc)``, ``h = o*act(c)``; GRU z, r, h with ``h = z*h + (1-z)*hh``
where ``hh = act(x Wh + bh + r*(h Uh + rbh))`` if ``reset_after`` (bias (2, 3u): input and
recurrent biases) and ``hh = act(x Wh + (r*h) Uh + bh)`` otherwise (bias (3u,)).

RNN(cell=SimpleRNNCell / LSTMCell / GRUCell) maps like the layer of that cell.

Options: return_sequences (steps stacked with ExpandDims + Concatenation on axis 1),
return_state (extra outputs h / h, c), go_backwards (steps processed in reverse; the sequence
is returned in processed order, as Keras does), initial_state (extra call inputs), use_bias.
Keras masks (from Masking, Embedding(mask_zero=True) or a ``mask`` call argument) are
implemented as Keras does: at a masked step the states keep their previous value and the
output repeats the previous output (zeros if ``zero_output_for_mask``); the mask is passed on
when sequences are returned. Refused: unknown T, stateful, time_major, constants, stacked cells, a
mask that may arrive through layers whose mask propagation is not modelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ....ir import DType, Value
from ..context import KERAS_HANDLERS, LayerContext
from .activations import apply_activation
from .embedding import mask_of, set_mask, unaccounted_mask

GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}
DEFAULT_RECURRENT_ACTIVATION = {"LSTM": "sigmoid", "GRU": "sigmoid"}
#: The longest sequence a recurrent layer is unrolled over (about a dozen IR nodes per step; a file
#: declaring millions of steps would otherwise build millions of nodes before anything else fails).
MAX_UNROLLED_STEPS = 10_000


@dataclass
class RnnWeights:
    kernel: Value
    recurrent: np.ndarray  # (units, gates*units)
    bias: Value | None  # added to x @ kernel
    recurrent_bias: np.ndarray | None  # GRU reset_after only: added to h @ recurrent_kernel


def sequence_length(ctx: LayerContext, x: Value) -> int:
    """The static T of a (batch, T, features) input, or a refusal telling how to pin it."""
    if x.rank != 3:
        raise ctx.refuse(f"expects a (batch, time, features) input, got shape {x.shape}")
    t = x.shape[1]
    if t is None:
        names = ", ".join(v.name for v in ctx.graph.inputs) or "NAME"
        raise ctx.refuse(
            f"the sequence length of its input {tuple('?' if d is None else d for d in x.shape)} is unknown; "
            f"recurrent layers are unrolled over a fixed length: pin it with --input-shape NAME:1,T,F "
            f"(model inputs: {names})")
    if x.shape[2] is None:
        raise ctx.refuse(f"the feature dimension of its input {x.shape} is unknown")
    if t > MAX_UNROLLED_STEPS:
        raise ctx.refuse(f"its input has {t} time steps; recurrent layers are unrolled, over at most "
                         f"{MAX_UNROLLED_STEPS} steps")
    return int(t)


def split_steps(ctx: LayerContext, x: Value, steps: int, squeeze: bool = True) -> list[Value]:
    """(B, T, ...) -> T values (B, ...) (or (B, 1, ...) without squeeze)."""
    parts = [x] if steps == 1 else ctx.node("Split", [x], axis=1, sizes=(1,) * steps).outputs
    return [ctx.op("Squeeze", [p], axes=(1,)) for p in parts] if squeeze else list(parts)


def stack_steps(ctx: LayerContext, steps: Sequence[Value]) -> Value:
    """T values (B, ...) -> (B, T, ...) with ExpandDims + Concatenation on axis 1."""
    parts = [ctx.op("ExpandDims", [s], axis=1) for s in steps]
    return parts[0] if len(parts) == 1 else ctx.op("Concatenation", parts, axis=1)


def _read_weights(ctx: LayerContext, cls: str, cfg: dict[str, Any], units: int, features: int,
                  reset_after: bool) -> RnnWeights:
    gates = GATES[cls]
    use_bias = bool(cfg.get("use_bias", True))
    arrs = ctx.arrays(3 if use_bias else 2, "kernel, recurrent_kernel" + (", bias" if use_bias else ""))
    kernel = ctx.check_shape(arrs[0], (features, gates * units), "kernel")
    rec = ctx.check_shape(arrs[1], (units, gates * units), "recurrent_kernel")
    bias = rbias = None
    if use_bias:
        if cls == "GRU" and reset_after:
            b = ctx.check_shape(arrs[2], (2, gates * units), "bias (input and recurrent biases, reset_after=True)")
            bias, rbias = b[0], b[1]
        else:
            what = "bias (reset_after=False)" if cls == "GRU" else "bias"
            bias = ctx.check_shape(arrs[2], (gates * units,), what)
    return RnnWeights(ctx.const("kernel", kernel), rec, None if bias is None else ctx.const("bias", bias), rbias)


def _gate_split(ctx: LayerContext, v: Value, n: int, units: int) -> list[Value]:
    return [v] if n == 1 else list(ctx.node("Split", [v], axis=-1, sizes=(units,) * n).outputs)


def _add(ctx: LayerContext, a: Value, b: Value | None) -> Value:
    return a if b is None else ctx.op("Add", [a, b])


class Cell:
    """One recurrence step of a Keras RNN cell on precomputed ``x @ kernel + bias``."""

    def __init__(self, ctx: LayerContext, cls: str, cfg: dict[str, Any], units: int, w: RnnWeights,
                 reset_after: bool) -> None:
        self.ctx, self.cls, self.units, self.w, self.reset_after = ctx, cls, units, w, reset_after
        self.act = cfg.get("activation", "tanh")
        self.ract = cfg.get("recurrent_activation", DEFAULT_RECURRENT_ACTIVATION.get(cls, "sigmoid"))
        u = units
        if cls == "GRU" and not reset_after:
            self.rec_zr = ctx.const("recurrent_kernel_zr", w.recurrent[:, :2 * u])
            self.rec_h = ctx.const("recurrent_kernel_h", w.recurrent[:, 2 * u:])
        else:
            self.rec = ctx.const("recurrent_kernel", w.recurrent)
        if w.recurrent_bias is not None:
            self.rbias = ctx.const("recurrent_bias", w.recurrent_bias)
            self.rbias_parts = [ctx.const(f"recurrent_bias_{g}", w.recurrent_bias[k * u:(k + 1) * u])
                                for k, g in enumerate("zrh")]

    @property
    def num_states(self) -> int:
        return 2 if self.cls == "LSTM" else 1

    def a(self, x: Value) -> Value:
        return apply_activation(self.ctx, x, self.act)

    def ra(self, x: Value) -> Value:
        return apply_activation(self.ctx, x, self.ract)

    def step(self, xw: Value, states: list[Value | None]) -> list[Value]:
        """New states from this step's ``x @ kernel + bias`` and the previous states (None = zeros).
        The output of every Keras RNN cell here is its first state, h."""
        ctx, u = self.ctx, self.units
        h = states[0]
        if self.cls == "SimpleRNN":
            pre = xw if h is None else ctx.op("Add", [xw, ctx.op("FullyConnected", [h, self.rec])])
            return [self.a(pre)]
        if self.cls == "LSTM":
            c = states[1]
            z = xw if h is None else ctx.op("Add", [xw, ctx.op("FullyConnected", [h, self.rec])])
            zi, zf, zc, zo = _gate_split(ctx, z, 4, u)
            ig = ctx.op("Mul", [self.ra(zi), self.a(zc)])
            c_new = ig if c is None else ctx.op("Add", [ctx.op("Mul", [self.ra(zf), c]), ig])
            h_new = ctx.op("Mul", [self.ra(zo), self.a(c_new)])
            return [h_new, c_new]
        # GRU
        xz, xr, xh = _gate_split(ctx, xw, 3, u)
        if self.reset_after:
            if h is None:
                rz, rr, rh = self.rbias_parts if self.w.recurrent_bias is not None else (None, None, None)
            else:
                rec = ctx.op("FullyConnected", [h, self.rec] + ([self.rbias] if self.w.recurrent_bias is not None
                                                                else []))
                rz, rr, rh = _gate_split(ctx, rec, 3, u)
            z = self.ra(_add(ctx, xz, rz))
            if rh is None:
                hh = self.a(xh)
            else:
                r = self.ra(_add(ctx, xr, rr))
                hh = self.a(ctx.op("Add", [xh, ctx.op("Mul", [r, rh])]))
        else:
            if h is None:
                z = self.ra(xz)
                hh = self.a(xh)
            else:
                rz, rr = _gate_split(ctx, ctx.op("FullyConnected", [h, self.rec_zr]), 2, u)
                z = self.ra(ctx.op("Add", [xz, rz]))
                r = self.ra(ctx.op("Add", [xr, rr]))
                rh = ctx.op("FullyConnected", [ctx.op("Mul", [r, h]), self.rec_h])
                hh = self.a(ctx.op("Add", [xh, rh]))
        if h is None:  # h = (1 - z) * hh
            return [ctx.op("Sub", [hh, ctx.op("Mul", [z, hh])])]
        # h = z * h + (1 - z) * hh = hh + z * (h - hh)
        return [ctx.op("Add", [hh, ctx.op("Mul", [z, ctx.op("Sub", [h, hh])])])]


def _initial_states(ctx: LayerContext, inputs: list[Value], n: int, units: int) -> list[Value | None]:
    given: Any = inputs[1:] if len(inputs) > 1 else ctx.call_kwargs.get("initial_state")
    if given is None or (isinstance(given, list) and not given):
        return [None] * n
    if isinstance(given, Value):
        given = [given]
    if not isinstance(given, (list, tuple)) or not all(isinstance(g, Value) for g in given):
        raise ctx.refuse(f"initial_state {given!r} is not a list of tensors")
    if len(given) != n:
        raise ctx.refuse(f"expects {n} initial state tensor(s), got {len(given)}")
    for g in given:
        if g.rank != 2 or g.shape[1] != units:
            raise ctx.refuse(f"initial state of shape {g.shape} does not match units={units}")
    return list(given)


def _call_mask(ctx: LayerContext, x: Value) -> tuple[Value | None, str]:
    """The Keras mask reaching this call (bool (B, T)) and where it comes from."""
    kw = ctx.call_kwargs.get("mask")
    if isinstance(kw, list):
        kw = kw[0] if kw else None
    if isinstance(kw, Value):
        m = kw if kw.dtype == DType.BOOL else ctx.op("NotEqual", [kw, ctx.const("zero", np.zeros((), kw.dtype.np))])
        return m, "the mask call argument"
    if kw is not None:
        raise ctx.refuse(f"mask call argument {kw!r} is not a tensor")
    entry = mask_of(ctx, x)
    if entry is not None:
        return entry.mask, entry.source
    src = unaccounted_mask(ctx, x)
    if src is not None:
        raise ctx.refuse(
            f"the Keras mask made by layer {src!r} (Masking or Embedding(mask_zero=True)) may reach this layer "
            "through layers whose mask propagation keras2edge does not model; refusing rather than dropping the mask")
    return None, ""


def run_rnn(ctx: LayerContext, inputs: list[Value], cls: str | None = None,
            config: dict[str, Any] | None = None) -> list[Value]:
    """Unroll the recurrent layer of ``ctx`` (or of the given cell class and config); outputs as Keras
    returns them."""
    cfg = dict(ctx.config if config is None else config)
    cls = cls or ctx.cls
    if cfg.get("stateful"):
        raise ctx.refuse("stateful=True keeps state between batches, which a converted model cannot do; "
                         "re-save the model with stateful=False")
    if cfg.get("time_major"):
        raise ctx.refuse("time_major=True is not supported")
    if ctx.call_kwargs.get("constants") is not None:
        raise ctx.refuse("constants passed to the cell are not supported")
    x = inputs[0]
    steps = sequence_length(ctx, x)
    units = int(cfg["units"])
    features = int(x.shape[2])  # type: ignore[arg-type]
    reset_after = bool(cfg.get("reset_after", False)) if cls == "GRU" else False
    w = _read_weights(ctx, cls, cfg, units, features, reset_after)
    cell = Cell(ctx, cls, cfg, units, w, reset_after)
    states = _initial_states(ctx, inputs, cell.num_states, units)
    mask, mask_src = _call_mask(ctx, x)
    if mask is not None and (mask.rank != 2 or mask.shape[1] not in (None, steps)):
        raise ctx.refuse(f"mask of shape {mask.shape} does not fit the input {x.shape}")

    xw = ctx.op("FullyConnected", [x, w.kernel] + ([w.bias] if w.bias is not None else []))
    xs = split_steps(ctx, xw, steps)
    ms: list[Value | None] = split_steps(ctx, mask, steps, squeeze=False) if mask is not None else [None] * steps
    order = list(range(steps))[::-1] if cfg.get("go_backwards") else list(range(steps))
    zero_out = bool(cfg.get("zero_output_for_mask", False))
    separate_output = mask is not None and (zero_out or any(s is not None for s in states))
    zero = ctx.scalar(0.0, x)
    outputs: list[Value] = []
    prev_out: Value | None = None
    for t in order:
        new = cell.step(xs[t], states)
        m = ms[t]
        if m is None:
            states = list(new)
            outputs.append(new[0])
            continue
        states = [ctx.op("Select", [m, n, zero if s is None else s]) for n, s in zip(new, states)]
        if not separate_output:
            outputs.append(states[0])  # equals where(m, h_new, previous output)
        else:
            other = zero if zero_out or prev_out is None else prev_out
            prev_out = ctx.op("Select", [m, new[0], other])
            outputs.append(prev_out)

    final_states = [s for s in states]
    if any(s is None for s in final_states):  # T == 0 cannot happen; keep mypy happy
        raise ctx.refuse("empty sequence")
    result = stack_steps(ctx, outputs) if cfg.get("return_sequences") else outputs[-1]
    if mask is not None:
        set_mask(ctx, result, mask if cfg.get("return_sequences") else None, mask_src)
    outs: list[Value] = [result]
    if cfg.get("return_state"):
        outs += [s for s in final_states if s is not None]
    return outs


@KERAS_HANDLERS.register("SimpleRNN", "LSTM", "GRU")
def import_recurrent(ctx: LayerContext, inputs: list[Value]) -> list[Value]:
    """SimpleRNN / LSTM / GRU -> the unrolled recurrence (see the module docstring)."""
    return run_rnn(ctx, inputs)


CELLS = {"SimpleRNNCell": "SimpleRNN", "LSTMCell": "LSTM", "GRUCell": "GRU"}
RNN_FLAGS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "time_major",
             "zero_output_for_mask")


@KERAS_HANDLERS.register("RNN")
def import_rnn_wrapper(ctx: LayerContext, inputs: list[Value]) -> list[Value]:
    """RNN(cell=SimpleRNNCell / LSTMCell / GRUCell) -> the same unrolled recurrence as the layer
    of that cell (the cell's weights are kernel, recurrent_kernel, bias in the same order)."""
    cell = ctx.get("cell")
    if isinstance(cell, list) or (isinstance(cell, dict) and cell.get("class_name") == "StackedRNNCells"):
        raise ctx.refuse("RNN over stacked cells is not supported; use one recurrent layer per cell")
    if not isinstance(cell, dict) or cell.get("class_name") not in CELLS:
        name = cell.get("class_name") if isinstance(cell, dict) else cell
        raise ctx.refuse(f"RNN with cell {name!r} is not supported (supported cells: {', '.join(CELLS)})")
    cfg = dict(cell.get("config") or {})
    cfg.update({k: ctx.config[k] for k in RNN_FLAGS if k in ctx.config})
    return run_rnn(ctx, inputs, CELLS[cell["class_name"]], cfg)
