"""Tolerances of the float value tests against Keras (and the corpus' other oracles), in one place.

Error measure of the tolerances below (``scaled_error``): max |got - want| over all elements, divided by the peak magnitude
max |want| of the reference output. Relative to the output's own scale, so a model whose outputs
stay below 0.3 is held as tightly as one whose outputs reach 1e4 (the former ``1e-4 * max(1,
range)`` let a wrong BatchNorm fold through on small outputs).

Each tolerance is the worst error actually seen for its family (float32 everywhere; measured over
every case of the family, every backend: keras2edge's IR evaluator, onnxruntime, LiteRT default and
reference kernels, keras2edge.runtime, TFLite Micro) times a stated margin for other BLAS builds
and summation orders. A real conversion bug (a wrong BatchNorm epsilon, a flipped kernel, a
swapped gate, a Flatten in the wrong order) is orders of magnitude above these.
"""

from __future__ import annotations

import numpy as np

# tests/fixtures (models saved by make_fixtures.py, outputs recorded by Keras 2 and 3): worst seen
# 6.5e-7 (k3-cnn2d-keras, LiteRT default kernels and keras2edge.runtime; the activations fixtures
# stay below 2e-7). Also the official TFLite converter's files run by keras2edge.runtime against
# the Keras outputs recorded with them (tests/runtime/test_converter_models.py): the 5 committed
# files 3.5e-7 (dense_seq), the 14 zoo models (-m zoo) 8.0e-7 (ResNet50V2). Margin 12x.
KERAS_FIXTURES = 1e-5
# shared/corpus files against their oracle (catalog reference data, recorded Keras outputs or an
# independent NumPy model, tests/corpus_oracles.py): worst seen 1.1e-6 (flatten_3d, LiteRT default
# kernels: a 1000-wide dot product); margin 18x.
CORPUS = 2e-5
# tests/zoo (-m zoo: the 14 Keras applications with random weights and randomised BatchNorm
# statistics, converted on the fly, batch of 2): worst seen 1.7e-5 (ResNet50, keras2edge.runtime;
# onnxruntime 1.5e-5, LiteRT 1.5e-5; the other 13 models 4e-7..8e-6 on every backend, LiteRT
# reference kernels and TFLite Micro, run on the 5 smallest, below 7e-6); margin 6x.
ZOO = 1e-4


def scaled_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max |want| (0 for empty outputs; shapes must match)."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    if not want.size:
        return 0.0
    peak = float(np.abs(want).max())
    err = float(np.abs(got - want).max())
    return err / peak if peak > 0 else err


def rel_err(got: np.ndarray, want: np.ndarray, *, same_dtype: bool = False) -> float:
    """max |got - want| / max(1, range of want), the measure of the single-op, importer and CLI checks.

    Shapes must match; 0 for empty outputs; NaN and infinities must sit at the same places in both
    (else ``inf``). ``same_dtype`` (the runtime-vs-LiteRT checks): the dtypes must match too, and
    integer outputs give their max absolute difference; otherwise both are compared as float64.
    """
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    if same_dtype:
        assert got.dtype == want.dtype, f"dtype {got.dtype} != {want.dtype}"
    if want.size == 0:
        return 0.0
    if same_dtype and want.dtype.kind in "biu":
        return float(np.max(np.abs(got.astype(np.int64) - want.astype(np.int64))))
    g64, w64 = got.astype(np.float64), want.astype(np.float64)
    if not np.array_equal(np.isnan(g64), np.isnan(w64)) or not np.array_equal(np.isinf(g64), np.isinf(w64)):
        return float("inf")
    fin = np.isfinite(w64)
    if not fin.any():
        return 0.0 if np.array_equal(g64, w64) else float("inf")
    if not np.array_equal(g64[~fin], w64[~fin]):
        return float("inf")
    scale = max(1.0, float(w64[fin].max() - w64[fin].min()))
    return float(np.max(np.abs(g64[fin] - w64[fin]))) / scale
