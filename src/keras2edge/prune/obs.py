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
from .obc import affordable as obc_affordable
from .obc import obc_mask

#: rows per block (the mask of a block is chosen before its weights are updated)
BLOCK = 128
#: dampening λ, relative to the mean of diag(H)
DAMP = 0.01
#: the exact least-squares update solves one system of up to F rows per output channel (about F³·N/3
#: flops for F rows, N outputs); layers above this budget keep OBS's own sequential updates
LS_MAX_FLOPS = 3e9


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


def _per_column(h: np.ndarray, k: int, mult: int) -> np.ndarray:
    return h[k // mult] if h.ndim == 3 else h


def _rhs(w0: np.ndarray, h: np.ndarray, g: np.ndarray | None, damp: float) -> np.ndarray:
    """b = (G + λI)·w₀ per column (G = H when there is no reference run): the right-hand side of
    the normal equations of min ‖X₀w₀ − Xw‖² + λ‖w − w₀‖² (λ as in :func:`_dampened`)."""
    gg = h if g is None else g
    mult = w0.shape[1] // h.shape[0] if h.ndim == 3 else 1
    out = np.empty_like(w0, dtype=np.float64)
    for k in range(w0.shape[1]):
        hk = _per_column(h, k, mult)
        lam = damp * float(np.mean(np.diag(hk)) or 1.0)
        out[:, k] = _per_column(gg, k, mult) @ w0[:, k] + lam * w0[:, k]
    return out


def masked_reconstruct(w: np.ndarray, pruned: np.ndarray, h: np.ndarray, damp: float = DAMP,
                       g: np.ndarray | None = None) -> np.ndarray:
    """The least-squares optimum for a given mask: each output column keeps its unpruned weights K
    and solves (H + λI)_KK·w_K = b_K with b = (G + λI)·w (:func:`_rhs`), so its output on the
    calibration inputs moves least from the unpruned model's (with G = H: from this layer's own
    unpruned output, w_K + H_KK⁻¹·H_KP·w_P). ``h`` (and ``g``) is one (F, F) matrix for every
    column, or (C, F, F) with column k reading ``h[k // M]`` (depthwise kernels, M = columns / C)."""
    w0 = np.array(w, np.float64)
    b = _rhs(w0, h, g, damp)
    out = np.zeros_like(w0)
    mult = w0.shape[1] // h.shape[0] if h.ndim == 3 else 1
    shared = None if h.ndim == 3 else _dampened(h, damp)
    for k in range(w0.shape[1]):
        keep = ~pruned[:, k]
        if keep.any():
            hc = _dampened(h[k // mult], damp) if shared is None else shared
            out[keep, k] = np.linalg.solve(hc[np.ix_(keep, keep)], b[keep, k])
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


def paired_error(w: np.ndarray, w0: np.ndarray, h: np.ndarray, g: np.ndarray | None) -> float:
    """‖X₀w₀ − Xw‖² up to a constant: tr(WᵀHW) − 2·tr(WᵀGW₀) (G = H without a reference)."""
    if g is None:
        return output_error(w0 - w, h)
    if h.ndim == 3:
        mult = w.shape[1] // h.shape[0]
        hk, gk = np.repeat(h, mult, axis=0), np.repeat(g, mult, axis=0)
        return float(np.einsum("tk,kts,sk->", w, hk, w) - 2 * np.einsum("tk,kts,sk->", w, gk, w0))
    return float(np.sum((h @ w) * w) - 2 * np.sum((g @ w0) * w))


def ls_affordable(w: np.ndarray, h: np.ndarray) -> bool:
    """Whether the per-column least-squares update of the (F, N) matrix ``w`` fits :data:`LS_MAX_FLOPS`
    (always for per-channel H: depthwise columns have KH·KW rows)."""
    return h.ndim == 3 or w.shape[0] ** 3 * w.shape[1] / 3 <= LS_MAX_FLOPS


def reconstruct(w: np.ndarray, h: np.ndarray, magnitude_mask: np.ndarray, *, count: int | None = None,
                nm: tuple[int, int] | None = None, g: np.ndarray | None = None,
                damp: float | None = None) -> tuple[np.ndarray, str]:
    """The best of the candidates on the calibration statistics (least :func:`paired_error`):
    the magnitude mask with the least-squares update, and (shared H) OBS on the dense optimum
    (H⁻¹G·W₀; W₀ itself without ``g``) with its own updates and, when the layer is within
    :data:`LS_MAX_FLOPS`, the least-squares update on the OBS mask, and, when the layer also fits
    :func:`.obc.affordable`, the least-squares update on OBC's mask (:func:`.obc.obc_mask`: on the
    digits fixtures it wins on every layer). ``h`` (and ``g``) may be per column ((N, F, F), the
    activation-aware statistics of :mod:`.saturation`). Returns the weights and which candidate won
    ("magnitude mask + least squares", "obs", "obs mask + least squares", "obc mask + least squares")."""
    lam = DAMP if damp is None else damp
    w0 = np.asarray(w, np.float64)
    small = ls_affordable(w, h)
    cands = [(masked_reconstruct(w0, magnitude_mask, h, lam, g=g), "magnitude mask + least squares")] if small else []
    if h.ndim == 2:
        dense = w0 if g is None else np.linalg.solve(_dampened(h, lam), _rhs(w0, h, g, lam))
        q = obs_prune(dense, h, count=count, nm=nm, damp=lam)
        cands.append((q, "obs"))
        if small:
            cands.append((masked_reconstruct(w0, q == 0, h, lam, g=g), "obs mask + least squares"))
    if small and obc_affordable(w0):
        mask = obc_mask(w0, h, count=count, nm=nm, g=g, damp=lam)
        cands.append((masked_reconstruct(w0, mask, h, lam, g=g), "obc mask + least squares"))
    return min(cands, key=lambda c: paired_error(c[0], w0, h, g))


__all__ = ["BLOCK", "DAMP", "LS_MAX_FLOPS", "ls_affordable", "masked_reconstruct", "obs_prune", "output_error", "paired_error", "reconstruct"]
