"""Optimal Brain Compression (Frantar & Alistarh 2022) for one layer: the exact greedy OBS
elimination, column by column, and the allocation of a layer's pruning count across its output
columns by the errors that elimination measured.

A weight matrix W (F reduction rows × N outputs) with calibration statistics H = XᵀX of its inputs
(and, from a paired run, G = Xᵀ·X₀ against the unpruned model's inputs X₀: the target is then the
unpruned layer's output X₀·W₀, so the errors of the layers pruned before are compensated here).
Each output column k minimises its own error (w − w*)ᵀ·Ĥ·(w − w*), Ĥ = H + λ·mean(diag H)·I and
w* = Ĥ⁻¹·(G + λ·mean(diag H)·I)·w₀ the dense optimum (w₀ itself without G), so the columns are
independent:

* **elimination** (per column, all columns at once): with Ĥ⁻¹ kept up to date, the weight q of least
  saliency w_q² / [Ĥ⁻¹]_qq goes next; the others are updated w −= w_q/[Ĥ⁻¹]_qq·Ĥ⁻¹[:, q] and q is
  eliminated from Ĥ⁻¹ (a rank-one downdate); the saliency is exactly how much the column's error
  grows. N:M: only groups of M consecutive rows that still have more than N weights are candidates,
  so each group loses exactly M − N (a valid pattern, chosen by error rather than magnitude);
* **allocation** (unstructured): every column's error increments, made non-decreasing along its
  elimination order, compete in one pool; the ``count`` smallest are taken (a prefix of each
  column's order), so columns whose weights compensate each other lose more;
* the weights on the chosen mask are then the exact least-squares optimum
  (:func:`~.obs.masked_reconstruct`).

SparseGPT (:func:`~.obs.obs_prune`) fixes a block's mask before updating and sweeps rows in order,
which is what makes it scale; on the small layers where this exact form fits :data:`MAX_FLOPS`
(N·F³ flops and N·F² floats for the elimination) it removes the same count with less output error. float64 throughout.
"""

from __future__ import annotations

import numpy as np

#: the elimination costs about N·F³ flops (F rows, N output columns); larger layers keep SparseGPT
#: (the digits fixtures' largest layer needs 4e6; at 2e9 MobileNetV2's 38 eligible layers took 23 s)
MAX_FLOPS = 3e8
#: and holds one F×F inverse per column (bytes)
MAX_BYTES = 256 << 20


def affordable(w: np.ndarray) -> bool:
    """Whether the exact elimination of the (F, N) matrix ``w`` fits :data:`MAX_FLOPS` and
    :data:`MAX_BYTES`."""
    f, n = w.shape
    return float(n) * f ** 3 <= MAX_FLOPS and 8.0 * n * f * f <= MAX_BYTES


def _dampened_inverse(h: np.ndarray, damp: float) -> np.ndarray:
    lam = damp * float(np.mean(np.diag(h)) or 1.0)
    return np.linalg.inv(np.array(h, np.float64) + lam * np.eye(h.shape[0]))


def _column_inverses(h: np.ndarray, n: int, damp: float) -> np.ndarray:
    """(N, F, F): Ĥ⁻¹ for every output column (shared H, or per-channel (C, F, F) with column k
    reading ``h[k // M]``)."""
    if h.ndim == 3:
        inv = np.stack([_dampened_inverse(hc, damp) for hc in h])
        return np.repeat(inv, n // h.shape[0], axis=0)
    return np.broadcast_to(_dampened_inverse(h, damp), (n, *h.shape)).copy()


def eliminate(w_star: np.ndarray, h: np.ndarray, damp: float, *, steps: int | None = None,
              nm: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy OBS elimination of every column of ``w_star`` (F, N) (the dense optimum): returns
    (order, loss), both (N, S): the row eliminated at step s of column k and how much the column's
    error grew with it. S = ``steps`` (default F; N:M: F·(M−N)/M, candidates restricted to groups
    of M consecutive rows that still hold more than N weights)."""
    f, n = w_star.shape
    if nm is not None:
        steps = f * (nm[1] - nm[0]) // nm[1]
    steps = f if steps is None else steps
    wt = np.array(w_star, np.float64).T.copy()               # (N, F)
    hinv = _column_inverses(h, n, damp)
    removed = np.zeros((n, f), bool)
    order = np.zeros((n, steps), np.int64)
    loss = np.zeros((n, steps))
    cols = np.arange(n)
    for s in range(steps):
        d = np.diagonal(hinv, axis1=1, axis2=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(removed, np.inf, wt ** 2 / np.maximum(d, 1e-300))
        if nm is not None:
            full = removed.reshape(n, -1, nm[1]).sum(axis=2) >= nm[1] - nm[0]
            score[np.repeat(full, nm[1], axis=1)] = np.inf
        q = np.argmin(score, axis=1)
        dq = np.maximum(d[cols, q], 1e-300)
        hq = hinv[cols, :, q]                                  # (N, F): column q of each Ĥ⁻¹
        wt -= (wt[cols, q] / dq)[:, None] * hq
        hinv -= hq[:, :, None] * hq[:, None, :] / dq[:, None, None]
        wt[cols, q] = 0.0
        removed[cols, q] = True
        order[:, s] = q
        loss[:, s] = score[cols, q]
    return order, loss


def allocate_columns(loss: np.ndarray, count: int) -> np.ndarray:
    """Steps taken per column (N,) so that ``count`` in all have the least summed error: each
    column's increments made non-decreasing (so the pick is a prefix of its order), then the
    ``count`` smallest of the pool (ties: earlier steps first)."""
    n, s = loss.shape
    inc = np.maximum.accumulate(np.where(np.isfinite(loss), loss, np.inf), axis=1)
    step = np.broadcast_to(np.arange(s), (n, s))
    pick = np.lexsort((step.ravel(), inc.ravel()))[:count]
    return np.bincount(pick // s, minlength=n)


def obc_mask(w: np.ndarray, h: np.ndarray, *, count: int | None = None, nm: tuple[int, int] | None = None,
             g: np.ndarray | None = None, damp: float = 0.01) -> np.ndarray:
    """The pruning mask (True = removed) of the (F, N) matrix ``w`` chosen by OBC: ``count`` weights
    in all (unstructured, allocated across columns) or the N:M pattern along the rows (``nm``).
    ``h`` is shared (F, F) or per-channel (C, F, F); ``g`` the paired cross moment (module
    docstring)."""
    from .obs import _rhs

    if (count is None) == (nm is None):
        raise ValueError("obc_mask: give either count or nm")
    w0 = np.asarray(w, np.float64)
    f, n = w0.shape
    w_star = _dense_optimum(w0, h, g, damp, _rhs)
    order, loss = eliminate(w_star, h, damp, nm=nm)
    mask = np.zeros((n, f), bool)
    if nm is not None:
        np.put_along_axis(mask, order, True, axis=1)
        return mask.T
    per = allocate_columns(loss, int(count or 0))
    taken = np.arange(order.shape[1])[None, :] < per[:, None]
    rows = np.broadcast_to(np.arange(n)[:, None], order.shape)
    mask[rows[taken], order[taken]] = True
    return mask.T


def _dense_optimum(w0: np.ndarray, h: np.ndarray, g: np.ndarray | None, damp: float, rhs) -> np.ndarray:
    """w* = Ĥ⁻¹·(G + λI)·w₀ per column (w₀ itself without ``g``)."""
    if g is None:
        return w0
    b = rhs(w0, h, g, damp)
    inv = _column_inverses(h, w0.shape[1], damp)
    return np.einsum("kfs,sk->fk", inv, b)


__all__ = ["MAX_FLOPS", "affordable", "allocate_columns", "eliminate", "obc_mask"]
