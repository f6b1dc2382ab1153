"""Range observers against references computed here from the whole data: NumPy min/max and percentiles,
brute-force quantization MSE over candidate clips (a quantizer written out in this file), a plain-loop
transcription of TensorRT's entropy calibration, closed-form cases (uniform keeps the max, a Gaussian
with outliers clips well inside it), and streaming = whole data (any batch order and size)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keras2edge.errors import QuantizationError
from keras2edge.quantize.clipping import kl_divergences, magnitude_bins
from keras2edge.quantize.histogram import Histogram
from keras2edge.quantize.observers import OBSERVERS, make_observer, weight_clip_mse

RNG = np.random.default_rng(11)
N = 200_000


def _gauss_outliers() -> np.ndarray:
    x = RNG.standard_normal(N)
    x[:20] = RNG.uniform(20, 40, 20) * RNG.choice([-1, 1], 20)
    return x.astype(np.float32)


DATA = {
    "gauss_outliers": _gauss_outliers(),
    "laplace": RNG.laplace(0.5, 1.0, N).astype(np.float32),
    "uniform": RNG.uniform(-3, 5, N).astype(np.float32),
    "relu": np.maximum(RNG.standard_normal(N) * 2, 0).astype(np.float32),
    "positive": RNG.uniform(1.5, 6.0, N).astype(np.float32),
}


def _observe(method: str, x: np.ndarray, parts: int = 7, **options: object) -> tuple[float, float]:
    obs = make_observer(method, **options)
    for b in np.array_split(x, parts):
        obs.update(b)
    return obs.range()


# ---- the reference quantizer (TFLite asymmetric int8 activations), written out independently --------

def _qdq_ref(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """scale = (hi - lo) / 255; zero point = round(-128 - lo / scale) in [-128, 127];
    q = clamp(round(x / scale) + zp, -128, 127); back: (q - zp) · scale. Round half away from zero."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0
    rnd = lambda v: np.sign(v) * np.floor(np.abs(v) + 0.5)  # noqa: E731
    zp = float(np.clip(rnd(np.float64(-128 - lo / scale)), -128, 127))
    q = np.clip(rnd(x / scale) + zp, -128, 127)
    return (q - zp) * scale


def _mse(x: np.ndarray, lo: float, hi: float) -> float:
    x = x.astype(np.float64)
    return float(np.mean((_qdq_ref(x, lo, hi) - x) ** 2))


# ---- minmax ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(DATA))
def test_minmax_is_the_extent(name: str) -> None:
    x = DATA[name]
    assert _observe("minmax", x) == (float(x.min()), float(x.max()))


def test_minmax_skips_and_counts_nonfinite() -> None:
    obs = make_observer("minmax")
    obs.update(np.array([1.0, np.nan, -2.0, np.inf], np.float32))
    obs.update(np.array([0.5, -np.inf], np.float32))
    assert obs.range() == (-2.0, 1.0) and obs.nonfinite == 3


@pytest.mark.parametrize("method", sorted(OBSERVERS))
def test_nothing_observed_is_refused(method: str) -> None:
    obs = make_observer(method)
    obs.update(np.zeros((0, 3), np.float32))
    with pytest.raises(QuantizationError, match="no calibration values"):
        obs.range()


def test_registry_and_make_observer_errors() -> None:
    assert set(OBSERVERS) == {"minmax", "percentile", "mse", "entropy"}
    with pytest.raises(QuantizationError, match=r"unknown calibration method 'kl'; supported: entropy, minmax, mse, "
                                                r"percentile"):
        make_observer("kl")
    with pytest.raises(QuantizationError, match="calibration method 'minmax'.*percentile"):
        make_observer("minmax", percentile=99.0)
    with pytest.raises(QuantizationError, match=r"percentile must be in \(0, 100\]"):
        make_observer("percentile", percentile=0)
    with pytest.raises(QuantizationError, match=r"entropy observer: levels must be in \[2, 2048\) \(128 for int8\), "
                                                "not 32768"):
        make_observer("entropy", levels=32768)


# ---- the streaming histogram -----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(DATA))
def test_histogram_streaming_equals_whole_data(name: str) -> None:
    """Any batch order and size give exactly the histogram of all values at once (exact re-binning)."""
    x = DATA[name]
    whole = Histogram()
    whole.update(x)
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(x))
        cuts = np.sort(np.random.default_rng(seed).choice(len(x), 9, replace=False))
        h = Histogram()
        for b in np.split(x[perm], cuts):
            h.update(b)
        assert h.R == whole.R and h.total == whole.total == len(x)
        np.testing.assert_array_equal(h.counts, whole.counts)
    # reference: NumPy's histogram over the same edges (bins [k·w, (k+1)·w))
    ref, _ = np.histogram(x.astype(np.float64), bins=whole.edges())
    np.testing.assert_array_equal(whole.counts, ref)
    assert whole.R > np.abs(x).max() >= whole.R / 2  # R: the power of two just above max|x|


def test_histogram_grows_from_zeros_and_small_values() -> None:
    h = Histogram(bins=16)
    h.update(np.zeros(5))
    h.update(np.array([1e-3, -1e-3]))
    h.update(np.array([100.0]))
    ref, _ = np.histogram(np.array([0, 0, 0, 0, 0, 1e-3, -1e-3, 100.0]), bins=h.edges())
    np.testing.assert_array_equal(h.counts, ref)
    assert h.R == 128.0 and len(h.counts) == 32


@pytest.mark.parametrize("method", sorted(OBSERVERS))
def test_every_observer_streams_like_whole_data(method: str) -> None:
    x = DATA["gauss_outliers"]
    whole = _observe(method, x, parts=1)
    shuffled = _observe(method, x[np.random.default_rng(5).permutation(len(x))], parts=13)
    assert shuffled == whole


# ---- percentile --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(DATA))
@pytest.mark.parametrize("p", [99.0, 99.9, 99.99])
def test_percentile_of_magnitude_within_one_bin(name: str, p: float) -> None:
    x = DATA[name]
    obs = make_observer("percentile", percentile=p)
    obs.update(x)
    lo, hi = obs.range()
    c = float(np.percentile(np.abs(x.astype(np.float64)), p))
    xmin, xmax = float(x.min()), float(x.max())
    lo_ref = max(xmin, -c) if xmin <= 0 else xmin
    w = obs.hist.width
    assert abs(hi - min(xmax, c)) <= w and abs(lo - lo_ref) <= w


@pytest.mark.parametrize("name", sorted(DATA))
def test_percentile_of_each_tail_within_one_bin(name: str) -> None:
    x = DATA[name]
    lo, hi = _observe("percentile", x, percentile=99.9, tails=True)
    w = Histogram()
    w.update(x)
    ref_lo, ref_hi = np.percentile(x.astype(np.float64), [0.1, 99.9])
    assert abs(lo - ref_lo) <= w.width and abs(hi - ref_hi) <= w.width


# ---- mse ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(DATA))
def test_mse_is_near_the_brute_force_optimum(name: str) -> None:
    """Brute force: the exact int8 MSE on all values for 400 clips c in (0, max|x|], each giving the range
    (max(min, -c), min(max, c)); the observer's range is within 1% of the best of them, and never worse
    than min/max."""
    x = DATA[name]
    lo, hi = _observe("mse", x)
    xmin, xmax = float(x.min()), float(x.max())
    top = max(-xmin, xmax)
    brute = min(_mse(x, max(xmin, -c), min(xmax, c)) for c in np.linspace(top / 400, top, 400))
    ours = _mse(x, lo, hi)
    assert ours <= brute * 1.01
    assert ours <= _mse(x, xmin, xmax) * 1.0001


@pytest.mark.parametrize("b", [1.0, 2.0])
def test_mse_clip_of_a_laplace_is_the_closed_form_one(b: float) -> None:
    """Laplace(0, b) at 8 bits: the MSE-optimal clip is 9.89·b (Banner et al. 2019, "Post-training 4-bit
    quantization...", the ACIQ table), well inside max|x| (about 14·b for a million samples)."""
    x = np.random.default_rng(3).laplace(0, b, 1_000_000).astype(np.float32)
    lo, hi = _observe("mse", x)
    assert lo == -hi and hi / b == pytest.approx(9.89, rel=0.04) and hi < 0.8 * np.abs(x).max()


# ---- entropy -----------------------------------------------------------------------------------------

def _kl_reference(h: np.ndarray, levels: int, eps: float) -> np.ndarray:
    """TensorRT's loop (GTC 2017 slides), transcribed with plain Python loops; smoothing as documented
    in clipping.py (Q mixed with eps of the uniform distribution on P's support)."""
    out = []
    for i in range(levels, len(h)):
        p = [float(v) for v in h[:i]]
        p[i - 1] += float(sum(h[i:]))
        g = i // levels
        q = [0.0] * i
        for j in range(levels):
            start, stop = j * g, (j + 1) * g if j < levels - 1 else i
            total = sum(float(v) for v in h[start:stop])
            nonzero = [b for b in range(start, stop) if p[b] > 0]
            for b in nonzero:
                q[b] = total / len(nonzero)
        sp, sq = sum(p), sum(q)
        support = [b for b in range(i) if p[b] > 0]
        kl = 0.0
        for b in support:
            pb = p[b] / sp
            qb = (1 - eps) * (q[b] / sq if sq else 0.0) + eps / len(support)
            kl += pb * math.log(pb / qb)
        out.append(kl)
    return np.array(out)


def test_kl_divergences_match_a_plain_transcription() -> None:
    h = np.abs(RNG.standard_normal(700)) * (RNG.random(700) > 0.2) * np.exp(-np.arange(700) / 150)
    h = np.round(h * 1000)
    np.testing.assert_allclose(kl_divergences(h, 128), _kl_reference(h, 128, 1e-4), rtol=1e-9, atol=1e-12)


def test_magnitude_bins_keep_every_value() -> None:
    x = DATA["laplace"]
    h = Histogram()
    h.update(x)
    counts, width = magnitude_bins(h, 2048)
    assert counts.sum() == pytest.approx(len(x)) and width == pytest.approx(np.abs(x).max() / 2048)
    ref, _ = np.histogram(np.abs(x.astype(np.float64)), bins=np.linspace(0, np.abs(x).max(), 2049))
    # the re-binning spreads each fine bin's count uniformly: the cumulative counts are off by at most
    # one fine bin's count at any edge
    fine, _ = h.magnitude()
    assert np.abs(np.cumsum(counts) - np.cumsum(ref)).max() <= fine.max()


def test_entropy_clips_a_gaussian_with_outliers_well_inside_the_max() -> None:
    x = DATA["gauss_outliers"]
    lo, hi = _observe("entropy", x)
    c = max(-lo, hi)
    top = float(np.abs(x).max())
    assert 2.5 < c < 0.25 * top  # beyond most of N(0, 1), far below the outliers (20..40)
    bulk = x[np.abs(x) <= 4]  # the Gaussian: resolved ~8x finer than with the min/max range
    assert _mse(bulk, lo, hi) < _mse(bulk, float(x.min()), float(x.max())) / 20


def test_entropy_keeps_about_the_max_of_a_uniform() -> None:
    x = DATA["uniform"]
    lo, hi = _observe("entropy", x)
    assert hi >= 0.97 * float(x.max()) and lo == pytest.approx(float(x.min()), rel=0.05)


def test_clipping_observers_keep_one_sided_tensors_one_sided() -> None:
    for method in ("percentile", "mse", "entropy"):
        lo, hi = _observe(method, DATA["relu"])
        assert lo == 0.0 and 0 < hi <= DATA["relu"].max()
        lo, hi = _observe(method, DATA["positive"])
        assert lo == float(DATA["positive"].min()) and lo <= hi <= DATA["positive"].max()


# ---- weights -----------------------------------------------------------------------------------------

def _wmse(row: np.ndarray, c: float) -> float:
    """Symmetric int8 weights: scale = c / 127, q = clamp(round(w / scale), -127, 127)."""
    if c == 0:
        return float(np.sum(row ** 2))
    s = c / 127
    q = np.clip(np.sign(row / s) * np.floor(np.abs(row / s) + 0.5), -127, 127)
    return float(np.sum((q * s - row) ** 2))


@pytest.mark.parametrize("axis", [3, 0])
def test_weight_clip_mse_per_channel_against_brute_force(axis: int) -> None:
    w = RNG.standard_normal((3, 3, 64, 12))
    w[0, 0, 0, 1] = 12.0          # an outlier in channel 1 (axis 3) / channel 0 (axis 0)
    np.moveaxis(w, axis, 0)[2] = 0.0  # an all-zero channel
    clips = weight_clip_mse(w, axis)
    rows = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    assert clips.shape == (w.shape[axis],) and clips[2] == 0
    for row, c in zip(rows, clips):
        amax = np.abs(row).max()
        if amax == 0:
            continue
        brute = min(_wmse(row, r * amax) for r in np.linspace(0.001, 1, 2000))
        assert c <= amax and _wmse(row, c) <= brute * 1.01
        assert _wmse(row, c) <= _wmse(row, amax)


def test_weight_clip_mse_per_tensor_and_int4_closed_form() -> None:
    """Laplace(0, 1) weights: the MSE-optimal clips are about 9.89 at 8 bits and 5.03 at 4 bits (ACIQ)."""
    w = np.random.default_rng(4).laplace(0, 1, (20_000, 8))
    (c,) = weight_clip_mse(w, None)
    assert c == pytest.approx(9.89, rel=0.05) and c < np.abs(w).max()
    c4 = weight_clip_mse(w, 1, bits=4)
    assert c4.shape == (8,) and np.all(np.abs(c4 / 5.03 - 1) < 0.08)


def test_kl_divergences_with_the_unclipped_candidate() -> None:
    """``last=True`` adds ``i = len(h)`` (no clip: P = Q merged from all bins) to the transcription's."""
    h = np.round(np.abs(RNG.standard_normal(600)) * 1000)
    got = kl_divergences(h, 128, last=True)
    np.testing.assert_allclose(got[:-1], _kl_reference(h, 128, 1e-4), rtol=1e-9, atol=1e-12)
    ref_last = _kl_reference(np.concatenate([h, [0.0]]), 128, 1e-4)[-1]  # i = 600 of a 601-bin histogram
    assert got[-1] == pytest.approx(ref_last, rel=1e-9, abs=1e-12)


def test_entropy_ignores_the_spike_of_zeros_of_a_relu_output() -> None:
    """A ReLU output, 70% exact zeros: the clip keeps beyond the 99th percentile of the positive values
    (before the zero bin was replaced by its neighbour and one-sided tensors got 256 levels, it fell to
    0.48, below their median)."""
    x = np.maximum(np.random.default_rng(3).standard_normal(N).astype(np.float32) - 0.5, 0)
    lo, hi = _observe("entropy", x)
    assert lo == 0.0 and float(np.percentile(x[x > 0], 99)) < hi <= float(x.max())


def test_entropy_keeps_the_max_of_a_discrete_input() -> None:
    """An 8x8-digits-like input (values k/16, half of them 0): every level is a spike; the unclipped
    range is the one whose Q equals P (before: 0.94, clipping the brightest pixels)."""
    rng = np.random.default_rng(4)
    d = (rng.integers(0, 17, N) / 16).astype(np.float32)
    d[rng.random(N) < 0.5] = 0
    assert _observe("entropy", d) == (0.0, 1.0)
