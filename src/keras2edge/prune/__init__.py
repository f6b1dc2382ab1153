"""Post-training pruning (issue 12): magnitude, N:M and structured channel pruning of a float IR
graph, accuracy recovery from calibration data, and a per-Keras-layer report.

Pruning works on the graph *before* BatchNormalization folding (:func:`prune_passes`), so every
weight constant is still the Keras layer's own weight (named ``<keras layer>/<weight>``) and a
pruned graph can be written back as a Keras file; the emitters fold BatchNormalization afterwards
(``optimize``) as for any converted graph.

Layout (one role per module; each method module registers itself in :data:`METHODS`):

* ``options`` — :class:`PruneOptions` (CLI flags and ``keras2edge.prune`` keywords map one to one)
  and their checks (:class:`~keras2edge.errors.PruneError` before any work);
* ``methods`` — the ``--method`` registry :data:`METHODS` (name -> ``fn(graph, options) -> PruneResult``);
* ``targets`` — the prunable weights (found from the op specs' ``WeightAxes``) and ``exclude``;
* ``runner`` — a graph run as ``.tflite`` in the runtime over data, chosen values to a callback;
* ``stats`` — per-layer input statistics (H = XᵀX, mean) on calibration data;
* ``allocate`` — the magnitude schedules (layer, global, auto sensitivity scan);
* ``scan`` — the auto schedule's end-to-end sensitivity curves and :class:`~.scan.EndToEnd` error;
* ``obs`` — OBS layer-wise reconstruction (unstructured and N:M; SparseGPT's blocked form) and the
  choice among the candidate masks; ``obc`` — Optimal Brain Compression's exact greedy elimination
  per output column, the count allocated across columns (the candidate that wins on small layers);
  ``saturation`` — activation-aware row weights for the fits (rows clamped by a following ReLU);
* ``pipeline`` — plan -> prune -> recover (OBS, bias correction) -> report, shared by:
* ``magnitude`` (method "magnitude") and ``nm`` (method "nm");
* ``evaluation`` — eval data (labels) and accuracy / agreement; ``report`` — the report, Markdown;
* ``channels`` — the ``channel`` method (structured channel removal): ``groups`` (channel groups from
  the op specs), ``importance`` + ``selection`` (which channels go), ``surgery`` (the sliced copy),
  ``activations`` + ``recovery`` (reconstruction, bias correction, BatchNorm re-estimation on
  calibration data run through the runtime), ``channel_report``.
"""

from __future__ import annotations

from ..errors import PruneError
from ..ir.passes.base import Pass
from ..ir.passes.constant_fold import ConstantFoldPass
from ..ir.passes.dead_code import DeadCodePass
from ..ir.passes.fold_identity import FoldIdentityPass
from ..ir.passes.recover_hard_swish import RecoverHardSwishPass
from . import channels as _channels  # noqa: F401 - registers "channel"
from . import magnitude as _magnitude  # noqa: F401 - registers "magnitude"
from . import nm as _nm  # noqa: F401 - registers "nm"
from .methods import METHODS, PruneResult, method, register_method
from .options import PruneOptions


def prune_passes() -> tuple[Pass, ...]:
    """The cleanup passes a graph gets before pruning: the common cleanup without BatchNorm folding
    (Keras weights stay the layers' own, so a pruned graph maps back to the Keras file)."""
    return (ConstantFoldPass(), FoldIdentityPass(), RecoverHardSwishPass(), DeadCodePass())


def prune_graph(graph: object, options: PruneOptions) -> PruneResult:
    """``graph`` pruned as ``options`` asks (a new graph; ``graph`` is not modified) and the report.
    Bad options are refused before any work (``PruneOptions.check``)."""
    options.check()
    if options.calibration is not None:
        from .runner import warn_few_samples

        warn_few_samples(graph, options.calibration, options.batch_size)  # type: ignore[arg-type]
    result = method(options.method)(graph, options)  # type: ignore[arg-type]
    if options.eval is not None:  # every method's report: accuracy / agreement before and after
        from .evaluation import evaluate

        result.report["eval"] = evaluate(graph, result.graph, options.eval, options.batch_size)  # type: ignore[arg-type]
    return result


__all__ = ["METHODS", "PruneError", "PruneOptions", "PruneResult", "prune_graph", "prune_passes", "register_method"]
