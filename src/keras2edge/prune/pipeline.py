"""The weight-pruning pipeline shared by the ``magnitude`` and ``nm`` methods: select the targets,
plan each one (how many weights / which N:M pattern), prune, recover, report.

graph -> copy -> :func:`~.targets.select_targets` (``exclude``) -> the method's plan
(:class:`Plan` per target) -> either

* no recovery: the plan applied by magnitude (:func:`~.allocate.magnitude_zero`, :func:`.nm.nm_zero`);
* recovery (``recover``; default: on when calibration data is given), sequentially in graph order:
  the statistics of target t's inputs are taken on the model with the targets before t already
  pruned (:func:`~.stats.collect_paired`: H on the pruned model's inputs, G against the unpruned
  model's, so t's fit also undoes the error of the layers before it; rows whose unpruned output a
  following ReLU/ReLU6 clamps weigh less, :mod:`.saturation`), then t is pruned with the mask and
  weights of least layer error among magnitude + least squares, OBS (:func:`~.obs.obs_prune`) and
  OBC (:func:`~.obc.obc_mask`) + least squares (:func:`~.obs.reconstruct`) when its op has a
  :class:`~.stats.Reduction` (else by magnitude); a recurrent kernel is then
  refitted (:func:`_refit`: its inputs h_{t-1} moved with its own pruning), then **bias correction**:
  each output channel's mean on calibration data is restored to the unpruned model's
  (Δ = E[x₀]·W₀ − E[x]·W, added to the layer's bias, or subtracted from the moving mean of the
  BatchNormalization that alone reads a bias-less layer's output, or for a recurrent kernel (one
  constant read at every unrolled step, no bias of its own) to its Keras layer's ``<layer>/bias``,
  which the input kernel's node adds to the same gate pre-activations; layers with none are left;
  ``bias_correction=False`` switches it off: on the digits fixtures it gains 0.3-1 point on the
  LSTM and GRU, and is within one test sample elsewhere);

-> ``Graph.replace_const`` for every changed weight -> the report (:mod:`.report`, with the
evaluation of :mod:`.evaluation` when ``eval`` data is given).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import PruneError
from ..ir.graph import Graph
from ..ir.ops import op_spec
from .allocate import magnitude_zero
from .methods import PruneResult
from .obs import reconstruct
from .options import PruneOptions
from .report import build_report
from .stats import LayerStats, collect, collect_paired, matrix
from .targets import Target, select_targets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """What to do to one target: remove ``count`` weights, or keep N of every M along its input
    axis (``nm``); ``skip`` (a reason) leaves it dense."""

    count: int = 0
    nm: tuple[int, int] | None = None
    skip: str = ""


#: plan_fn(targets, weights as they ship, options, statistics, recover, end-to-end scan curves)
PlanFn = Callable[[list[Target], dict[str, np.ndarray], PruneOptions, dict[str, LayerStats], bool,
                   dict[str, list[tuple[int, float]]] | None], dict[str, Plan]]


def _magnitude(t: Target, w: np.ndarray, plan: Plan) -> np.ndarray:
    from .nm import nm_zero

    if plan.nm is not None and t.axes.in_axis is not None:
        return nm_zero(w, plan.nm[0], plan.nm[1], t.axes.in_axis)
    return magnitude_zero(w, plan.count)


def _bias_slot(graph: Graph, t: Target) -> tuple[str, object] | None:
    """Where a mean shift of ``t``'s output can go: ("bias", bias value) shared by every node of
    ``t``, ("bn_mean", BatchNorm mean value) for a single bias-less node read only by a
    BatchNorm, or None."""
    spec = op_spec(t.op)
    if "b?" in spec.inputs:
        k = spec.inputs.index("b?")
        biases = {id(n.inputs[k]) if len(n.inputs) > k and n.inputs[k] is not None else None for n in t.nodes}
        b = t.nodes[0].inputs[k] if len(t.nodes[0].inputs) > k else None
        if len(biases) == 1 and b is not None and b.is_const:
            return ("bias", b)
    if len(t.nodes) > 1:                                   # recurrent kernel: the layer's input bias adds to it
        n_out = np.asarray(t.value(graph).const).shape[t.axes.out_axis]
        for node in graph.nodes:
            for v in node.inputs:
                if v is not None and v.is_const and v.name == f"{t.layer}/bias" and v.shape == (n_out,):
                    return ("bias", v)
    if len(t.nodes) == 1:
        out = t.nodes[0].outputs[0]
        users = graph.consumers(out)
        if len(users) == 1 and users[0].op == "BatchNorm" and users[0].inputs[0] is out and users[0].inputs[1].is_const:
            return ("bn_mean", users[0].inputs[1])
    return None


def out_scale(graph: Graph, t: Target) -> np.ndarray | None:
    """|BatchNorm scale| per output channel when ``t``'s single node is read only by a BatchNorm
    (the weight that ships is w·scale once BatchNorm is folded, so that is the magnitude that
    counts), else None."""
    from ..ir.ops.normalization import batchnorm_scale_shift

    if len(t.nodes) != 1:
        return None
    out = t.nodes[0].outputs[0]
    users = graph.consumers(out)
    if len(users) != 1 or users[0].op != "BatchNorm" or users[0].inputs[0] is not out:
        return None
    params = list(users[0].inputs[1:]) + [None] * (5 - len(users[0].inputs))
    if any(v is not None and not v.is_const for v in params) or params[0] is None or params[1] is None:
        return None
    mean, var, gamma, beta = (None if v is None else np.asarray(v.const, np.float64) for v in params)
    scale, _ = batchnorm_scale_shift(mean, var, gamma, beta, users[0].attrs["epsilon"])
    a = np.abs(scale)
    return np.where(a > 0, a, 1.0)


def _along(t: Target, w: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``s`` shaped to multiply ``w`` along the target's output-channel axis."""
    shape = [1] * w.ndim
    shape[t.axes.out_axis] = s.size
    return s.reshape(shape)


def _mean_output(t: Target, mean: np.ndarray, w: np.ndarray) -> np.ndarray:
    """E[x·W] per output channel from the inputs' mean row ((F,); depthwise (T, C))."""
    wm = matrix(t, w).astype(np.float64)
    if mean.ndim == 2:                                    # depthwise: channel k reads input channel k // M
        mult = wm.shape[1] // mean.shape[1]
        return np.einsum("tk,tk->k", np.repeat(mean, mult, axis=1), wm)
    return mean @ wm


#: recurrent kernels (one constant read at every unrolled step): least-squares refits on the
#: statistics of the model with the kernel already pruned (its own h_{t-1} moved with it)
REFITS = 5


def _refit(g: Graph, reference: Graph, t: Target, we: np.ndarray, new: np.ndarray, sc: np.ndarray | None,
           options: PruneOptions, st: LayerStats) -> tuple[LayerStats, np.ndarray]:
    """A weight read by several nodes (a recurrent kernel: step t reads h_{t-1}, which the pruned
    kernel itself produced) refitted up to :data:`REFITS` times: its pruned entries kept at zero, the
    rest solved by least squares against the unpruned model on the inputs the pruned model now gives
    it. Each fit is scored end to end (the model's outputs on the calibration data against the
    unpruned model's, :class:`~.scan.EndToEnd`) and the best one stays (the first fit included).
    Returns its statistics and weights (as stored)."""
    from .obs import masked_reconstruct
    from .scan import EndToEnd

    e2e = EndToEnd(reference, options.calibration, options.batch_size)
    pruned = matrix(t, new) == 0
    dtype = np.asarray(t.value(g).const).dtype
    best = (e2e.error(g), st, new)
    for _ in range(REFITS):
        st = collect_paired(g, reference, t, options.calibration, options.batch_size)  # type: ignore[assignment]
        wm = masked_reconstruct(matrix(t, we), pruned, st.h, g=st.g)
        wm[pruned] = 0.0
        cur = matrix(t, np.asarray(new, np.float64) if sc is None else np.asarray(new, np.float64) * sc)
        wm = 0.5 * (wm + cur)                              # damped fixed-point step (no oscillation)
        new = wm.reshape(we.shape) if sc is None else wm.reshape(we.shape) / sc
        new = new.astype(dtype)
        g.replace_const(t.value(g), new, refresh=False)
        err = e2e.error(g)
        if err < best[0]:
            best = (err, st, new)
    g.replace_const(t.value(g), best[2], refresh=False)
    return best[1], best[2]


def prune_weights(graph: Graph, options: PruneOptions, plan_fn: PlanFn) -> PruneResult:
    """The pipeline of the module docstring; ``plan_fn`` is the method's planner."""
    g = graph.copy()
    targets = select_targets(g, options.exclude)
    recover = options.recover if options.recover is not None else options.calibration is not None
    if recover and options.calibration is None:
        raise PruneError("recovery (OBS reconstruction, bias correction) needs --calibration data")
    orig = {t.name: np.asarray(t.value(g).const) for t in targets}
    scales = {t.name: out_scale(g, t) for t in targets}
    # the weights as they ship (BatchNorm folded): what magnitudes, schedules and OBS compare
    eff = {n: w if scales[n] is None else w * _along(next(t for t in targets if t.name == n), w, scales[n])
           for n, w in orig.items()}
    reference = graph.copy()
    needs_stats = options.schedule == "auto" and options.method == "magnitude"
    stats0 = collect(g, targets, options.calibration, options.batch_size) if needs_stats and \
        options.calibration is not None else {}
    curves = None
    if stats0:
        from .scan import end_to_end_curves

        def to_stored(t: Target, w: np.ndarray) -> np.ndarray:
            return w if scales[t.name] is None else w / _along(t, w, scales[t.name])

        curves = end_to_end_curves(g, targets, eff, stats0, options.calibration, options.batch_size, to_stored,
                                   recover)
    plans = plan_fn(targets, eff, options, stats0, recover, curves)
    steps: dict[str, list[str]] = {t.name: [] for t in targets}
    for t in targets:
        p = plans[t.name]
        if p.skip:
            steps[t.name].append(f"skipped: {p.skip}")
            log.warning("pruning: %s left dense: %s", t.label, p.skip)
            continue
        w0, we = orig[t.name], eff[t.name]
        sc = None if scales[t.name] is None else _along(t, w0, scales[t.name])
        st = collect_paired(g, reference, t, options.calibration, options.batch_size,
                            weighted=options.activation_aware) if recover else None
        if st is not None:
            mask = matrix(t, _magnitude(t, we, p)) == 0
            wm, how = reconstruct(matrix(t, we), st.h, mask, count=None if p.nm else p.count, nm=p.nm, g=st.g)
            new = wm.reshape(w0.shape)
            steps[t.name].append(f"reconstruct: {how}" + (" (activation-aware)" if st.weighted else ""))
        else:
            new = _magnitude(t, we, p)
            steps[t.name].append("magnitude")
        new = (new if sc is None else new / sc).astype(w0.dtype)
        g.replace_const(t.value(g), new, refresh=False)
        if st is not None and len(t.nodes) > 1:
            st, new = _refit(g, reference, t, we, new, sc, options, st)
            steps[t.name].append("refit")
        if st is not None and options.bias_correction:
            slot = _bias_slot(g, t)
            if slot is not None:
                delta = _mean_output(t, st.mean_ref, w0) - _mean_output(t, st.mean, new)
                kind, v = slot
                old = np.asarray(v.const)  # type: ignore[attr-defined]
                fixed = old + delta.astype(old.dtype) if kind == "bias" else old - delta.astype(old.dtype)
                g.replace_const(v, fixed, refresh=False)  # type: ignore[arg-type]
                steps[t.name].append("bias_correction" if kind == "bias" else "bias_correction(bn_mean)")
    g.refresh_shapes()
    g.verify()
    report = build_report(graph, g, targets, orig, plans, steps, options, recover)
    return PruneResult(g, report)


__all__ = ["Plan", "PlanFn", "prune_weights"]
