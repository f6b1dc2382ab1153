"""OBS-style layer-wise reconstruction (Optimal Brain Surgeon, as Optimal Brain Compression /
SparseGPT apply it to one layer): prune a weight matrix W (F reduction rows × N outputs) given the
second moment H = XᵀX of its calibration inputs, updating the weights that remain so the layer's
output on those inputs changes as little as possible.

Rows are processed in order in blocks of :data:`BLOCK`; with U the upper Cholesky factor of H⁻¹
(dampened: H + λ·mean(diag H)·I), in each block the weights to drop are those with the least
saliency w²/U_ii² (unstructured: the block's share of the layer's count; N:M: the M−N least in
every group of M consecutive rows for each output), and every dropped weight's error is spread
over the rows after it (w_j -= err·U_ij/U_ii). Rows whose input is always zero (diag H = 0) are
dropped first. float64 throughout.
"""

from __future__ import annotations

import numpy as np

from ..errors import PruneError

#: rows per block (the mask of a block is chosen before its weights are updated)
BLOCK = 128
#: dampening λ, relative to the mean of diag(H)
DAMP = 0.01
#: layers with at most this many reduction rows also get the exact least-squares update per column
#: (one F×F solve per output channel); larger ones keep OBS's own sequential updates
LS_MAX_ROWS = 2048


def _inverse_cholesky(h: np.ndarray, damp: float) -> np.ndarray:
    """Upper Cholesky factor of (H + λI)⁻¹, raising λ until H is positive definite."""
    f = h.shape[0]
    lam = damp * float(np.mean(np.diag(h)) or 1.0)
    for _ in range(8):
        try:
            hinv = np.linalg.inv(np.linalg.cholesky(h + lam * np.eye(f)))
            return np.linalg.cholesky(hinv.T @ hinv).T
        except np.linalg.LinAlgError:
            lam *= 10
    raise PruneError("OBS reconstruction: the calibration inputs' second moment is not invertible even "
                     "with strong dampening")


def obs_prune(w: np.ndarray, h: np.ndarray, *, count: int | None = None, nm: tuple[int, int] | None = None,
              damp: float = DAMP) -> np.ndarray:
    """W (F, N) pruned with OBS updates: ``count`` weights removed in all (unstructured), or N:M
    groups along the rows (``nm``: keep N of every M consecutive rows per output; M divides F).
    Returns a new float64 array with exactly that many zeros (those it chose)."""
    if (count is None) == (nm is None):
        raise ValueError("obs_prune: give either count or nm")
    wt = np.array(w, np.float64).T.copy()          # (N, F): outputs × reduction rows
    h = np.array(h, np.float64)
    n_out, f = wt.shape
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0
    u = _inverse_cholesky(h, damp)
    mask = np.zeros_like(wt, bool)                 # True = pruned
    done = 0
    for i1 in range(0, f, BLOCK):
        i2 = min(i1 + BLOCK, f)
        w1 = wt[:, i1:i2].copy()
        u1 = u[i1:i2, i1:i2]
        d = np.diag(u1)
        err1 = np.zeros_like(w1)
        m1 = np.zeros_like(w1, bool)
        if nm is None:
            want = int(round((count or 0) * i2 / f)) - done
            done += want
            sal = w1 ** 2 / d[None, :] ** 2
            sal[:, dead[i1:i2]] = -1.0             # never-active inputs go first
            if want > 0:
                m1.reshape(-1)[np.argsort(sal, axis=None, kind="stable")[:want]] = True
        for i in range(i2 - i1):
            if nm is not None and i % nm[1] == 0:
                g = slice(i, i + nm[1])
                sal = w1[:, g] ** 2 / d[None, g] ** 2
                drop = np.argsort(sal, axis=1, kind="stable")[:, :nm[1] - nm[0]]
                np.put_along_axis(m1[:, g], drop, True, axis=1)
            col = w1[:, i]
            q = np.where(m1[:, i], 0.0, col)
            e = (col - q) / d[i]
            w1[:, i:] -= np.outer(e, u1[i, i:])
            w1[:, i] = q
            err1[:, i] = e
        wt[:, i1:i2] = w1
        mask[:, i1:i2] = m1
        wt[:, i2:] -= err1 @ u[i1:i2, i2:]
    wt[mask] = 0.0
    return wt.T


def masked_reconstruct(w: np.ndarray, pruned: np.ndarray, h: np.ndarray, damp: float = DAMP) -> np.ndarray:
    """The least-squares optimum for a given mask: each output column keeps its unpruned weights K
    and sets them to w_K + H_KK⁻¹·H_KP·w_P (P: its pruned rows), the column's output on the
    calibration inputs then changes least. ``h`` is one (F, F) matrix for every column, or (C, F, F)
    with column k reading ``h[k // M]`` (depthwise kernels, M = columns / C). Dampened as OBS."""
    out = np.array(w, np.float64)
    per_channel = h.ndim == 3
    mult = out.shape[1] // h.shape[0] if per_channel else 1
    shared = None if per_channel else _dampened(h, damp)
    for k in range(out.shape[1]):
        p = pruned[:, k]
        if p.any() and not p.all():
            hc = _dampened(h[k // mult], damp) if per_channel else shared
            keep = ~p
            out[keep, k] += np.linalg.solve(hc[np.ix_(keep, keep)], hc[np.ix_(keep, p)] @ out[p, k])
        out[p, k] = 0.0
    return out


def _dampened(h: np.ndarray, damp: float) -> np.ndarray:
    h = np.array(h, np.float64)
    return h + damp * float(np.mean(np.diag(h)) or 1.0) * np.eye(h.shape[0])


def output_error(dw: np.ndarray, h: np.ndarray) -> float:
    """tr(ΔWᵀ·H·ΔW) (per-channel H: Σ_k Δw_kᵀ·H[k // M]·Δw_k): the summed squared output change."""
    if h.ndim == 3:
        hk = np.repeat(h, dw.shape[1] // h.shape[0], axis=0)
        return float(np.einsum("tk,kts,sk->", dw, hk, dw))
    return float(np.sum((h @ dw) * dw))


def reconstruct(w: np.ndarray, h: np.ndarray, magnitude_mask: np.ndarray, *, count: int | None = None,
                nm: tuple[int, int] | None = None) -> tuple[np.ndarray, str]:
    """The best of the candidates on the calibration statistics (least :func:`output_error`):
    the magnitude mask with the least-squares update, and (shared H) the OBS mask with its own
    updates and, when the layer has at most :data:`LS_MAX_ROWS` rows, the least-squares update on
    the OBS mask. Returns the weights and which candidate won ("magnitude mask + least squares",
    "obs", "obs mask + least squares")."""
    cands = [(masked_reconstruct(w, magnitude_mask, h), "magnitude mask + least squares")] \
        if h.ndim == 3 or w.shape[0] <= LS_MAX_ROWS else []
    if h.ndim == 2:
        q = obs_prune(w, h, count=count, nm=nm)
        cands.append((q, "obs"))
        if w.shape[0] <= LS_MAX_ROWS:
            cands.append((masked_reconstruct(w, q == 0, h), "obs mask + least squares"))
    w64 = np.asarray(w, np.float64)
    return min(cands, key=lambda c: output_error(w64 - c[0], h))


__all__ = ["BLOCK", "DAMP", "LS_MAX_ROWS", "masked_reconstruct", "obs_prune", "output_error", "reconstruct"]
