"""BatchNorm: inference batch normalization over the last axis (per channel); FoldBatchNormPass folds
it into the conv/dense op before it (using that op's ``WeightAxes``) or into Mul + Add."""

from __future__ import annotations

from typing import Any

import numpy as np

from .core import T_FLOAT, Attr, DTypes, Family, QuantRule, define, need_arrays, same_infer

F = DTypes.FLOAT


def batchnorm_scale_shift(mean: np.ndarray, var: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
                          epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """BatchNorm as ``x * scale + shift`` in float64: scale = gamma / sqrt(var + epsilon),
    shift = beta - mean * scale (gamma 1 and beta 0 when absent). The one formula the op's
    semantics, FoldBatchNormPass and both emitters' constant folding use."""
    scale = 1.0 / np.sqrt(np.asarray(var, np.float64) + float(epsilon))
    if gamma is not None:
        scale = scale * gamma
    shift = -mean * scale
    if beta is not None:
        shift = shift + beta
    return scale, shift


def _bn_eval(ins: list[np.ndarray | None], attrs: dict[str, Any]) -> list[np.ndarray]:
    x, mean, var = need_arrays("BatchNorm", ins, 0, 1, 2)
    gamma, beta = (ins[i] if len(ins) > i else None for i in (3, 4))
    scale, shift = batchnorm_scale_shift(mean, var, gamma, beta, attrs["epsilon"])
    return [(x * scale + shift).astype(x.dtype)]


define("BatchNorm", Family.NORMALIZATION, ["x", "mean", "variance", "gamma?", "beta?"],
       (Attr("epsilon", T_FLOAT, 1e-3),), same_infer("BatchNorm"), _bn_eval,
       "inference batch normalization over the last axis; folded into a conv/FC or Mul+Add by cleanup",
       dtypes=[F] * 5, quant=QuantRule.OWN_SCALE, fused_activation=True)
