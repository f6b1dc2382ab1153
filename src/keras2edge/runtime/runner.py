"""Running: one bound :class:`~.prepare.Plan` and checked input arrays -> the graph's output arrays.

Inputs are copied into their buffers, graph outputs get fresh arrays (handed to the caller, so the
runtime keeps no reference), and each step's eval writes into its planned views. An ``observer``,
if given, is called after every step in execution order (see :data:`Observer`);
``Interpreter(keep_intermediates=True)`` is one such observer (:class:`KeepIntermediates`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import numpy as np

from .errors import RuntimeModelError
from .loader import LoadedGraph, OpInfo
from .prepare import Plan

#: ``observer(op_index, op, outputs)``, called once per operator run, in execution order, right after
#: its eval: ``op`` describes it (builtin name, input/output tensor names and indices) and ``outputs``
#: are its output arrays, in ``op.output_indices`` order. No copy is made for the observer: the arrays
#: are views of the planned arena (or of an input, for a RESHAPE bound as a view), overwritten by later
#: ops, so they are valid only during the call: copy what you keep (``np.array(a)``), never write to
#: them. Ops folded into constants at prepare time are not run, so not observed. An exception raised
#: by the observer stops the run and propagates unchanged.
Observer = Callable[[int, OpInfo, Sequence[np.ndarray]], None]


class KeepIntermediates:
    """The observer behind ``keep_intermediates``: a copy of every op's outputs, by tensor index; then
    passes the call on to ``then`` (the caller's own observer), if any."""

    def __init__(self, then: Observer | None = None) -> None:
        self.arrays: dict[int, np.ndarray] = {}
        self.then = then

    def __call__(self, index: int, op: OpInfo, outputs: Sequence[np.ndarray]) -> None:
        for j, a in zip(op.output_indices, outputs):
            self.arrays[j] = np.array(a)
        if self.then is not None:
            self.then(index, op, outputs)


def run_plan(g: LoadedGraph, plan: Plan, arrays: Sequence[np.ndarray], observer: Observer | None = None
             ) -> list[np.ndarray]:
    """Run every step of ``plan`` on ``arrays`` (one per graph input, already checked); the output arrays."""
    tmps = plan.tmp
    for i in g.outputs:
        if i not in plan.consts and i not in g.inputs:
            plan.bufs[i] = np.empty(plan.shapes[i], g.dtypes[i])
    # Every tensor a step or the graph reads or writes is bound now (by prepare, or just above).
    bufs = cast("list[np.ndarray]", plan.bufs)
    for k, i in enumerate(g.inputs):
        np.copyto(bufs[i], arrays[k], casting="unsafe")
    with np.errstate(all="ignore"):
        for s, st in enumerate(plan.steps):
            if st.unread and observer is None:
                continue  # nothing reads its outputs (fused into their reader): run only when observed
            outs = [bufs[j] for j in st.outputs]
            if not st.alias:
                try:
                    st.eval([bufs[j] if j >= 0 else None for j in st.inputs], outs, tmps[s])
                except RuntimeModelError:
                    raise
                except Exception as e:
                    info = g.ops[st.op]
                    raise RuntimeModelError(f"op #{st.op} {info.name} (inputs {list(info.inputs)}, outputs "
                                            f"{list(info.outputs)}) failed while running: {type(e).__name__}: {e}"
                                            ) from e
            if observer is not None:
                observer(st.op, g.ops[st.op], outs)
    result = []
    for k, i in enumerate(g.outputs):
        if i in plan.consts:
            result.append(np.array(plan.consts[i]))
        elif i in g.inputs or i in g.outputs[:k]:
            result.append(np.array(bufs[i]))
        else:
            result.append(bufs[i])
    for i in g.outputs:
        if i not in g.inputs and i not in plan.consts:
            plan.bufs[i] = None  # the caller owns them now
    return result
