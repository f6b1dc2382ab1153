"""How many weights each layer loses for a global target sparsity: the ``schedule`` of magnitude
pruning. Target sparsity s, prunable weights P -> K = round(s·P) weights removed in all, as
``{target name: count}``:

* ``layer`` — every layer loses round(s·size) (the same fraction everywhere);
* ``global`` — one threshold over all prunable weights, each layer's magnitudes divided by the
  layer's RMS first (so a layer with small weights, as conv kernels next to Dense kernels usually
  are, is not wiped out by a threshold set by the large ones), and no layer pruned beyond
  :data:`GLOBAL_CAP` of its weights (further weights come from the next-smallest in other layers);
* ``auto`` — a sensitivity scan: each layer's output error (:meth:`~.stats.LayerStats.output_error`:
  ‖X·ΔW‖² on calibration data, relative to ‖X·W‖²) at sparsities 0, 5%, ..., 95% (magnitude pruned;
  with recovery on, after the least-squares update of the weights left, as recovery will leave them,
  where that update fits ``obs.LS_MAX_FLOPS``),
  or, as the pipeline runs it, the end-to-end curves of :mod:`.scan` (each layer pruned alone, the
  whole model's output change on calibration data; on the digits CNN per-layer errors rank the
  stem and depthwise layers as cheap while they cost the most end to end),
  then a greedy allocation: repeatedly take the step (one layer one grid point further) with the
  least added error per removed weight until K weights are removed; the last step is cut to hit K
  exactly. Layers without statistics (no :class:`~.stats.Reduction`) keep the target fraction.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

import numpy as np

from ..errors import PruneError
from .stats import LayerStats, matrix
from .targets import Target

SCHEDULES = ("layer", "global", "auto")
#: the default schedule is "auto" (with calibration data) up to this many prunable weights: its scan
#: runs the model len(scan.SCAN_GRID) - 1 times per weight on the calibration data (MobileNetV2 has 53)
AUTO_DEFAULT_TARGETS = 24
#: a layer keeps at least 1 - GLOBAL_CAP of its weights under the global schedule
GLOBAL_CAP = 0.95
#: sparsity grid of the sensitivity scan
AUTO_GRID = tuple(np.round(np.arange(0.0, 0.951, 0.05), 2))


def magnitude_zero(w: np.ndarray, count: int) -> np.ndarray:
    """``w`` with its ``count`` smallest-magnitude weights set to 0 (ties: the first in C order)."""
    out = np.array(w, copy=True)
    if count > 0:
        idx = np.argsort(np.abs(w), axis=None, kind="stable")[:count]
        out.reshape(-1)[idx] = 0
    return out


def default_schedule(calibrated: bool, targets: int) -> str:
    """The magnitude schedule when none is asked for: ``auto`` when calibration data is given and the
    model has at most :data:`AUTO_DEFAULT_TARGETS` prunable weights, else ``global``. On the digits
    fixtures at 50% (points lost, with recovery) auto / global: CNN 0.56 / 2.78, MLP 0.28 / 0.00,
    LSTM 0.00 / 0.28, GRU -0.56 / 0.00: global prunes the convolutional stem and the depthwise
    kernels (9 weights a channel) as deep as the 1x1 convolutions, which costs the CNN most."""
    return "auto" if calibrated and targets <= AUTO_DEFAULT_TARGETS else "global"


def allocate(schedule: str, targets: list[Target], weights: dict[str, np.ndarray], sparsity: float,
             stats: dict[str, LayerStats] | None = None, *, recover: bool = False,
             curves: dict[str, list[tuple[int, float]]] | None = None) -> dict[str, int]:
    """Weights to remove per target (see the module docstring); ``auto`` spends ``curves``
    ([(weights removed, error)] per target, e.g. :func:`~.scan.end_to_end_curves`) when given,
    else the per-layer :func:`sensitivity` curves."""
    sizes = {t.name: int(weights[t.name].size) for t in targets}
    total = int(round(sparsity * sum(sizes.values())))
    if schedule == "layer":
        return {n: int(round(sparsity * s)) for n, s in sizes.items()}
    if schedule == "global":
        return _global(targets, weights, total)
    if schedule == "auto":
        if not stats:
            raise PruneError("--schedule auto needs calibration data (the sensitivity scan measures each "
                             "layer's output error on it)")
        return _auto(targets, weights, sparsity, total,
                     curves if curves is not None else sensitivity(targets, weights, stats, recover=recover))
    raise PruneError(f"unknown schedule {schedule!r}; supported: {', '.join(SCHEDULES)}")


def _global(targets: list[Target], weights: dict[str, np.ndarray], total: int) -> dict[str, int]:
    scores, owner, caps = [], [], []
    for k, t in enumerate(targets):
        a = np.abs(weights[t.name]).ravel().astype(np.float64)
        rms = float(np.sqrt(np.mean(a * a))) or 1.0
        scores.append(a / rms)
        owner.append(np.full(a.size, k))
        caps.append(int(np.floor(GLOBAL_CAP * a.size)))
    s, o = np.concatenate(scores), np.concatenate(owner)
    order = np.argsort(s, kind="stable")
    o = o[order]
    rank = np.empty(o.size, np.int64)                     # rank of each weight inside its layer
    for k in range(len(targets)):
        pos = np.flatnonzero(o == k)
        rank[pos] = np.arange(pos.size)
    ok = rank < np.asarray(caps)[o]
    chosen = o[ok][:total]
    counts = np.bincount(chosen, minlength=len(targets))
    return {t.name: int(counts[k]) for k, t in enumerate(targets)}


def candidate(t: Target, w: np.ndarray, st: LayerStats, sparsity: float, recover: bool) -> tuple[int, np.ndarray]:
    """(weights removed, the weight) for ``t`` pruned by magnitude to ``sparsity``; with ``recover``
    the kept weights are refitted by least squares on the layer's statistics (when affordable)."""
    from .obc import affordable, obc_mask
    from .obs import ls_affordable, masked_reconstruct

    c = int(round(sparsity * w.size))
    wz = magnitude_zero(w, c)
    wm = matrix(t, w)
    if recover and 0 < c < w.size and ls_affordable(wm, st.h):
        mask = obc_mask(wm, st.h, count=c) if affordable(wm) else matrix(t, wz) == 0
        wz = masked_reconstruct(wm, mask, st.h).reshape(w.shape)
    return c, wz


def scan_candidates(targets: list[Target], weights: dict[str, np.ndarray], stats: dict[str, LayerStats],
                    grid: tuple[float, ...], recover: bool
                    ) -> Iterator[tuple[Target, LayerStats, list[tuple[int, np.ndarray]]]]:
    """Per target with statistics: (target, its statistics, [:func:`candidate` at each sparsity of
    ``grid``]) — what the layer-local and the end-to-end sensitivity scans both measure."""
    for t in targets:
        st = stats.get(t.name)
        if st is not None:
            yield t, st, [candidate(t, weights[t.name], st, s, recover) for s in grid]


def sensitivity(targets: list[Target], weights: dict[str, np.ndarray], stats: dict[str, LayerStats],
                grid: tuple[float, ...] = AUTO_GRID, recover: bool = False) -> dict[str, list[tuple[int, float]]]:
    """Per target with statistics: [(weights removed, relative output error)] along ``grid``, the
    weights removed by magnitude (``recover``: and the rest updated by least squares,
    :func:`~.obs.masked_reconstruct`)."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for t, st, cands in scan_candidates(targets, weights, stats, grid, recover):
        w = weights[t.name]
        base = st.output_error(matrix(t, w)) or 1.0
        curves[t.name] = [(c, st.output_error(matrix(t, w - wz)) / base) for c, wz in cands]
    return curves


def _auto(targets: list[Target], weights: dict[str, np.ndarray], sparsity: float, total: int,
          curves: dict[str, list[tuple[int, float]]]) -> dict[str, int]:
    counts = {t.name: 0 for t in targets}
    fixed = [t for t in targets if t.name not in curves]
    for t in fixed:
        counts[t.name] = int(round(sparsity * weights[t.name].size))
    counts.update(greedy_allocate(curves, total - sum(counts.values())))
    return counts


def greedy_allocate(curves: dict[str, list[tuple[int, float]]], total: int) -> dict[str, int]:
    """The auto schedules' allocation (magnitude weights here, channel-pruning layer channels in
    :mod:`.channel_auto`): per curve key, the amount removed, starting from 0 everywhere and
    repeatedly taking the step (one key one curve point further) with the least added error per
    amount removed until ``total`` is removed (the last step cut to hit it exactly) or every curve
    is spent. ``curves``: key -> [(amount removed, error)], starting at (0, 0), amounts increasing."""
    counts = {n: 0 for n in curves}
    remaining = total
    step = {n: 0 for n in curves}
    heap: list[tuple[float, str]] = []

    def push(name: str) -> None:
        pts, i = curves[name], step[name]
        if i + 1 < len(pts):
            dc = pts[i + 1][0] - pts[i][0]
            heapq.heappush(heap, ((pts[i + 1][1] - pts[i][1]) / max(dc, 1), name))

    for n in curves:
        push(n)
    while remaining > 0 and heap:
        _, name = heapq.heappop(heap)
        pts, i = curves[name], step[name]
        add = min(pts[i + 1][0] - pts[i][0], remaining)
        counts[name] += add
        remaining -= add
        step[name] = i + 1
        push(name)
    return counts


__all__ = ["AUTO_DEFAULT_TARGETS", "AUTO_GRID", "GLOBAL_CAP", "SCHEDULES", "allocate", "candidate", "default_schedule",
           "greedy_allocate", "magnitude_zero", "scan_candidates", "sensitivity"]
