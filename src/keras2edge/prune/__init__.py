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
* ``obs`` — OBS layer-wise reconstruction (unstructured and N:M);
* ``pipeline`` — plan -> prune -> recover (OBS, bias correction) -> report, shared by:
* ``magnitude`` (method "magnitude") and ``nm`` (method "nm");
* ``evaluation`` — eval data (labels) and accuracy / agreement; ``report`` — the report, Markdown.
"""

from __future__ import annotations

from ..errors import PruneError
from ..ir.passes.base import Pass
from ..ir.passes.constant_fold import ConstantFoldPass
from ..ir.passes.dead_code import DeadCodePass
from ..ir.passes.fold_identity import FoldIdentityPass
from ..ir.passes.recover_hard_swish import RecoverHardSwishPass
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
    return method(options.method)(graph, options)  # type: ignore[arg-type]


__all__ = ["METHODS", "PruneError", "PruneOptions", "PruneResult", "prune_graph", "prune_passes", "register_method"]
