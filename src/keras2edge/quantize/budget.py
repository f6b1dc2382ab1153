"""The accuracy budget (``--max-drop X`` with ``--eval``) and the quantize-with-report entry point.

:func:`quantize_reported` quantizes, then measures the result with the debugger (``debugger``) on the
eval data (or the calibration data). With ``max_drop`` (percentage points of top-1 accuracy with
labels, of top-1 agreement with the float model without) it then raises precision greedily:

1. rank the layers by damage (the report's layer-local SQNR, lowest first; graph inputs and layers
   already float are not candidates);
2. pass 1: move each ranked layer to int16 (``QuantizeOptions.int16``), one at a time, re-quantize and
   re-measure; pass 2: likewise to float (``QuantizeOptions.keep_float``);
3. a move is kept when it lowers the drop, or leaves it equal and raises the SQNR at the model's
   output (top-1 on a small eval set moves in whole samples; the output SQNR shows progress between);
   otherwise it is undone (its size cost is not paid);
4. stop as soon as the drop is within the budget;
5. pass 3: each earlier move that the budget no longer needs (latest first) goes back to int8, so the
   result pays no size for a move that only helped along the way.

Every move tried is a :class:`~keras2edge.quantize.report.BudgetStep` (layer, precision, drop after,
file size, size cost, kept) in the final report's ``budget``; the final report is measured afresh on
the final model (layer-local errors included). The layer switches themselves are the int8 scheme's
(``keep_float`` / ``int16`` globs on Keras layer names); layer names are escaped as globs.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import math
from typing import TYPE_CHECKING

from ..errors import QuantizationError
from .debugger import debug_quantization
from .evaldata import EvalData
from .report import BudgetResult, BudgetStep, QuantReport

if TYPE_CHECKING:
    from ..ir.graph import Graph
    from .schemes import QuantizeOptions

log = logging.getLogger(__name__)

#: Drops are compared with this slack (percentage points), so 1/360 steps compare exactly.
_EPS = 1e-9


def _moved(options: QuantizeOptions, layer: str, precision: str) -> QuantizeOptions:
    """``options`` with Keras layer ``layer`` raised to ``precision`` ("int16" or "float")."""
    pat = glob.escape(layer)
    int16 = tuple(p for p in options.int16 if p != pat)
    if precision == "int16":
        return dataclasses.replace(options, int16=(*int16, pat))
    return dataclasses.replace(options, int16=int16, keep_float=(*options.keep_float, pat))


def _better(new: QuantReport, old: QuantReport) -> bool:
    if new.drop_pt < old.drop_pt - _EPS:
        return True
    return abs(new.drop_pt - old.drop_pt) <= _EPS and new.output_sqnr_db > old.output_sqnr_db


def _undo_unneeded(graph: Graph, evald: EvalData, options: QuantizeOptions, budget: BudgetResult, max_drop: float,
                   state: tuple[QuantizeOptions, Graph, QuantReport]) -> tuple[QuantizeOptions, Graph, QuantReport]:
    """Pass 3: the budget holds; each layer moved (latest first, the one that got there excepted) goes
    back to int8 if the budget still holds without it (a step to ``int8``), so no size is paid for a
    move that only helped on the way."""
    from . import quantize_graph

    cur_opts, cur_q, cur = state
    moved = [s.layer for s in budget.steps if s.kept]
    for name in list(dict.fromkeys(reversed(moved[:-1]))):
        pat = glob.escape(name)
        trial = dataclasses.replace(cur_opts, int16=tuple(p for p in cur_opts.int16 if p != pat or p in options.int16),
                                    keep_float=tuple(p for p in cur_opts.keep_float
                                                     if p != pat or p in options.keep_float))
        if trial == cur_opts:
            continue
        tq = quantize_graph(graph, trial)
        trep = debug_quantization(graph, tq, evald, options=trial, batch_size=options.batch_size, local=False)
        kept = trep.drop_pt <= max_drop + _EPS
        budget.steps.append(BudgetStep(name, "int8", trep.quant_top1 if trep.labelled else trep.agreement,
                                       trep.drop_pt, trep.quant_size, trep.quant_size - cur.quant_size, kept))
        if kept:
            cur_opts, cur_q, cur = trial, tq, trep
    return cur_opts, cur_q, cur


def check_max_drop(max_drop: object) -> float:
    """``max_drop`` as a float in [0, 100], else a QuantizationError."""
    if isinstance(max_drop, bool) or not isinstance(max_drop, (int, float)) or not math.isfinite(max_drop) \
            or not 0 <= max_drop <= 100:
        raise QuantizationError(f"max_drop (--max-drop) is percentage points of top-1 between 0 and 100, "
                                f"got {max_drop!r}")
    return float(max_drop)


def quantize_reported(graph: Graph, options: QuantizeOptions, eval_data: object = None,
                      max_drop: float | None = None) -> tuple[Graph, QuantReport]:
    """Quantize ``graph`` by ``options`` and report it (see the module); with ``max_drop``, within that
    budget on ``eval_data`` if the layer switches can get there (the report's ``budget.met`` says).

    Raises:
        QuantizationError: ``max_drop`` without eval data, out of range, or with a scheme other than int8;
            bad eval data (naming the file or input); whatever quantization raises.
    """
    from . import quantize_graph

    if max_drop is not None:
        max_drop = check_max_drop(max_drop)
        if eval_data is None:
            raise QuantizationError("the accuracy budget (max_drop / --max-drop) is measured on eval data: give "
                                    "eval_data= / --eval PATH (.npz of inputs, optionally with labels)")
        if options.scheme != "int8":
            raise QuantizationError(f"the accuracy budget moves layers of the int8 scheme to int16 or float; "
                                    f"scheme {options.scheme!r} has no such switches")
    source = eval_data if eval_data is not None else options.calibration
    if source is None:
        raise QuantizationError("the quantization report needs data: give eval_data= / --eval PATH, or "
                                "calibration data")
    evald = EvalData(source, [(v.name, v.shape) for v in graph.inputs], options.batch_size)  # type: ignore[arg-type]
    q = quantize_graph(graph, options)
    report = debug_quantization(graph, q, evald, options=options, batch_size=options.batch_size)
    if max_drop is None:
        return q, report
    budget = BudgetResult(max_drop, report.metric, report.drop_pt, report.drop_pt, report.drop_pt <= max_drop + _EPS,
                          keep_float=list(options.keep_float), int16=list(options.int16))
    if budget.met:
        report.budget = budget
        return q, report
    candidates = [r.name for r in report.ranked() if r.cls != "InputLayer" and r.precision != "float"]
    cur_opts, cur_q, cur = options, q, report
    for precision in ("int16", "float"):
        for name in candidates:
            if cur.drop_pt <= max_drop + _EPS:
                break
            trial = _moved(cur_opts, name, precision)
            if trial == cur_opts:
                continue
            try:
                tq = quantize_graph(graph, trial)
                trep = debug_quantization(graph, tq, evald, options=trial, batch_size=options.batch_size, local=False)
            except QuantizationError as e:
                log.warning("accuracy budget: layer %s cannot run %s (%s); skipped", name, precision, e)
                continue
            kept = _better(trep, cur)
            budget.steps.append(BudgetStep(name, precision, trep.quant_top1 if trep.labelled else trep.agreement,
                                           trep.drop_pt, trep.quant_size, trep.quant_size - cur.quant_size, kept))
            if kept:
                cur_opts, cur_q, cur = trial, tq, trep
    if cur.drop_pt <= max_drop + _EPS:
        cur_opts, cur_q, cur = _undo_unneeded(graph, evald, options, budget, max_drop, (cur_opts, cur_q, cur))
    final = debug_quantization(graph, cur_q, evald, options=cur_opts, batch_size=options.batch_size) \
        if cur is not report else report
    budget.final_drop_pt = final.drop_pt
    budget.met = final.drop_pt <= max_drop + _EPS
    budget.keep_float = list(cur_opts.keep_float)
    budget.int16 = list(cur_opts.int16)
    final.budget = budget
    return cur_q, final


__all__ = ["check_max_drop", "quantize_reported"]
