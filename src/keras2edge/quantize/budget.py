"""The accuracy budget (``--max-drop X`` with ``--eval``) and the quantize-with-report entry point.

:func:`quantize_reported` quantizes, then measures the result with the debugger (``debugger``) on the
eval data (or the calibration data). With ``max_drop`` (percentage points of top-1 accuracy with
labels, of top-1 agreement with the float model without) it then raises precision greedily:

1. rank the layers by damage (the report's: layer-local SQNR or its median channel's, lowest first;
   graph inputs and layers already float are not candidates);
2. pass 1: raise the ranked layers to int16 (``QuantizeOptions.int16``) one at a time, cumulatively,
   re-quantizing and re-measuring after each, until the drop is within the budget; pass 2 (budget
   still missed): likewise to float (``QuantizeOptions.keep_float``). Moves accumulate even when one
   alone does not help: a drowned range is often repaired by two neighbours together (the producer
   and the consumer of an activation both at int16);
3. pass 3 (budget met): each move but the last, latest first, is undone when the budget still holds
   without it (float -> its earlier int16, or int8; int16 -> int8), so the result pays no size for a
   move it does not need.

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
from .debugger import debug_quantization, reference_graph
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


def _undo_unneeded(graph: Graph, evald: EvalData, options: QuantizeOptions, budget: BudgetResult, max_drop: float,
                   state: tuple[QuantizeOptions, Graph, QuantReport]) -> tuple[QuantizeOptions, Graph, QuantReport]:
    """Pass 3: the budget holds; each move but the last, latest first, is undone (a float layer back to
    int16 if it was raised to int16 before, else to int8; an int16 layer back to int8) when the
    budget still holds without it, so no size is paid for a move that was not needed."""
    from . import quantize_graph

    cur_opts, cur_q, cur = state
    moves = [(s.layer, s.precision) for s in budget.steps if s.kept]
    for k in range(len(moves) - 2, -1, -1):
        name, precision = moves[k]
        pat = glob.escape(name)
        if precision == "float":
            was_int16 = (name, "int16") in moves[:k]
            trial = dataclasses.replace(
                cur_opts, keep_float=tuple(p for p in cur_opts.keep_float if p != pat or p in options.keep_float),
                int16=(*cur_opts.int16, pat) if was_int16 and pat not in cur_opts.int16 else cur_opts.int16)
            back = "int16" if was_int16 else "int8"
        else:
            if pat in cur_opts.keep_float:
                continue  # raised to float later: that move is tried on its own
            trial = dataclasses.replace(cur_opts, int16=tuple(p for p in cur_opts.int16
                                                              if p != pat or p in options.int16))
            back = "int8"
        if trial == cur_opts:
            continue
        tq = quantize_graph(graph, trial)
        trep = _measure(graph, tq, evald, trial, local=False)
        kept = trep.drop_pt <= max_drop + _EPS
        budget.steps.append(BudgetStep(name, back, _metric(trep), trep.drop_pt, trep.quant_size,
                                       trep.quant_size - cur.quant_size, kept))
        log.info("accuracy budget: %s back to %s: drop %.2f pt, %s", name, back, trep.drop_pt,
                 "kept" if kept else "undone")
        if kept:
            cur_opts, cur_q, cur = trial, tq, trep
    return cur_opts, cur_q, cur


def _measure(graph: Graph, q: Graph, evald: EvalData, options: QuantizeOptions, *, local: bool = True) -> QuantReport:
    """The debugger on ``q`` against the float graph its values stand for (equalized when CLE ran)."""
    return debug_quantization(reference_graph(graph, options), q, evald, options=options,
                              batch_size=options.batch_size, local=local, original=graph)


def _metric(rep: QuantReport) -> float:
    """Top-1 accuracy (labelled) or agreement with the float model."""
    return rep.quant_top1 if rep.labelled and rep.quant_top1 is not None else rep.agreement


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
    report = _measure(graph, q, evald, options)
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
                trep = _measure(graph, tq, evald, trial, local=False)
            except QuantizationError as e:
                log.warning("accuracy budget: layer %s cannot run %s (%s); skipped", name, precision, e)
                continue
            budget.steps.append(BudgetStep(name, precision, _metric(trep), trep.drop_pt, trep.quant_size,
                                           trep.quant_size - cur.quant_size, True))
            log.info("accuracy budget: %s -> %s: drop %.2f pt (budget %.2f), %d B", name, precision, trep.drop_pt,
                     max_drop, trep.quant_size)
            cur_opts, cur_q, cur = trial, tq, trep
    if cur.drop_pt <= max_drop + _EPS:
        cur_opts, cur_q, cur = _undo_unneeded(graph, evald, options, budget, max_drop, (cur_opts, cur_q, cur))
    final = _measure(graph, cur_q, evald, cur_opts) if cur is not report else report
    budget.final_drop_pt = final.drop_pt
    budget.met = final.drop_pt <= max_drop + _EPS
    budget.keep_float = list(cur_opts.keep_float)
    budget.int16 = list(cur_opts.int16)
    final.budget = budget
    return cur_q, final


__all__ = ["check_max_drop", "quantize_reported"]
