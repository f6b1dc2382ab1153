"""Empirical bias correction (Nagel et al. 2019, "Data-Free Quantization", §4.2, empirical form): the
expected error a quantized weight layer adds to each output channel, measured on calibration data by
running the float and the quantized graphs in keras2edge's runtime, is subtracted from its bias.

Per weight op L (``OpSpec.weights``; output channels on the weight's last axis: Conv2D, DepthwiseConv2D,
FullyConnected — TransposeConv2D, whose output channels are not last, is left alone):

    e_L[c] = E[W_q x_q + b_q][c] - E[W x_f + b][c]        (pre-activation, over samples and positions)

x_f is L's input in the float graph, x_q in the quantized one (dequantized int8), W_q/b_q the int8
weights/int32 bias as real values. The error is measured per sample (the same input through both
graphs) and a channel is corrected only where its mean stands out of the samples' noise (more than
:data:`SIGNIFICANCE` standard errors): with few calibration samples a noisy estimate would add error. The expectations are exact without evaluating the op: a linear op's
output mean over positions is the weights contracted with the *mean patch* of its input — for each
kernel tap, the mean of the input slice that tap multiplies (zero padding included) — so a fused
activation, which hides the pre-activation output from the runtime's observer, does not matter.

The corrected float bias is b_q - e_L (b_q the int32 bias's real value, so that quantizing it again
rounds once). Layers without a bias of their own are left alone: no bias, or
one shared with other ops (an unrolled LSTM/GRU reads one bias at every time step). Modes (``MODES``):

* ``sequential`` — layers in dependency levels (a level's layers do not feed each other): measure,
  correct one level, rebuild and re-run the quantized graph, next level. Each layer then corrects the
  error that remains after every layer before it was corrected (the paper's procedure).
* ``one_pass`` — two quantized runs: the first corrects every layer but the last level by its *local*
  error, what its own int8 weights and bias add to the input it sees, (W_q - W) x_q + b_q - b; the
  second corrects the last level (the layers nearest the outputs) by its total error as above.

Guard: a correction must not make the model worse. The per-channel mean is the best constant for a
layer's pre-activation output, but after a nonlinearity and further quantized layers the model's
outputs can still move away from float. So the quantized model's outputs are compared with the float
model's before and after correcting, on **held-out** samples: the :data:`MAX_SAMPLES` calibration
samples after the ones the corrections are estimated from (``held_out``; their float outputs come
from calibration's own run, ``Calibration.patch_outputs``, and the int8 "before" and "after" runs go
one sample at a time: two int8 runs of 8 samples). An output is worse when its error norm grew by more
than one int8 step of that output (one value rounded the other way moves it by up to one step: less is
rounding, not a worse model). With fewer calibration samples the rule is the strict one on the
estimate's own samples (the first measuring run doubles as "before"): any rise. If an output is worse,
every bias goes back to what it was and the report says so (``BiasCorrection.reverted``).

Why held out: on its own 8 samples the digits CNN's per-tensor correction (without CLE) looks worse
(0.00887 -> 0.0111), on the next 8 it rises by less than a step of its softmax output (0.00341 ->
0.00404, step 1/256), and on the 360 test samples it takes the error 0.0268 -> 0.0158 (on the other
184 calibration samples 0.0337 -> 0.0203): 8 samples of a confident classifier are a poor judge.

Resolution: when no layer's largest correction reaches :data:`MIN_STEPS` of its int8 output step,
every correction is undone (``BiasCorrection.below_resolution``). Such shifts only change which
outputs round which way. The k3-cnn1d fixture (calibration: its 3 recorded inputs and near-copies of
them) has corrections of 0.11 output steps at most; they made its recorded inputs' outputs worse
(third output 0.0199 -> 0.0268) while its held-out near-copies improved (0.024 -> 0.0193), so no guard
on its calibration samples can catch it. Gating each channel at that fraction instead costs accuracy
where many small corrections add up (the tests' synthetic model: 0.0395 -> 0.0444 per channel).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.ops import op_spec
from ..ir.ops.core import pair, same_pads
from .probe import Feeds, bias_const, observe_inputs, weight_const, weight_nodes
from .progress import task

log = logging.getLogger(__name__)

MODES = ("sequential", "one_pass")
#: Samples used at most: each run of the int8 graph costs about 8x the float one (MobileNetV2, batch 16);
#: the means are gated by their noise (SIGNIFICANCE), and the zoo and digits results hold with 8.
MAX_SAMPLES = 8
#: A channel's correction is applied when its mean error exceeds this many standard errors.
SIGNIFICANCE = 2.0
#: Corrections are kept only when some layer's largest reaches this fraction of its int8 output step
#: (module docstring, "Resolution").
MIN_STEPS = 0.25


@dataclass
class BiasCorrection:
    """What bias correction did: per Keras layer, the largest |e_L[c]| removed (in the layer's units and
    in its int8 output steps); the runs it took."""

    mode: str
    corrected: dict[str, float] = field(default_factory=dict)
    runs: int = 0
    #: Per Keras layer, the largest correction in steps of the layer's int8 output (comparable across layers).
    steps: dict[str, float] = field(default_factory=dict)
    #: Per model output, relative L2 error against float on the samples used: before, after correcting.
    before: list[float] = field(default_factory=list)
    after: list[float] = field(default_factory=list)
    #: The corrections made some output worse and were undone (the guard in the module docstring).
    reverted: bool = False
    #: The samples ``before`` / ``after`` were measured on, and whether they were held out (other
    #: calibration samples than the corrections were estimated from).
    samples: int = 0
    held_out: bool = False
    #: Undone because no layer's largest correction reached :data:`MIN_STEPS` of its int8 output step.
    below_resolution: bool = False

    def largest(self, n: int = 3) -> list[tuple[str, float]]:
        """The ``n`` layers with the largest corrections, in output steps: the layers that needed help."""
        return sorted(self.steps.items(), key=lambda kv: -kv[1])[:n]


def supported(node: Node) -> bool:
    """Whether bias correction handles ``node``: a weight op whose output channels are the weight's last axis."""
    axes = op_spec(node.op).weights
    w = weight_const(node)
    return axes is not None and w is not None and axes.out_axis == len(w.shape) - 1


def kernel_size(node: Node) -> tuple[int, int]:
    """(KH, KW) of a window op's weight: its last two axes that are neither channel axis (``WeightAxes``)."""
    axes = op_spec(node.op).weights
    w = weight_const(node)
    dims = [int(w.shape[a]) for a in range(len(w.shape)) if a not in (axes.out_axis, axes.in_axis)]  # type: ignore[union-attr]
    return dims[-2], dims[-1]


def _taps(n: int, k: int, stride: int, dilation: int, out: int, pad: int) -> list[slice]:
    """For each kernel tap along one axis, the slice of the unpadded input it reads at some output
    position (zero padding reads nothing: it adds 0 to the sum)."""
    found = []
    for t in range(k):
        first = t * dilation - pad  # input index read at output position 0
        lo = (-first + stride - 1) // stride if first < 0 else 0  # first output position inside the input
        hi = min(out - 1, (n - 1 - first) // stride)
        found.append(slice(first + lo * stride, first + hi * stride + 1, stride) if hi >= lo else slice(0, 0))
    return found


def mean_patch(node: Node, x: np.ndarray, affine: tuple[float, float] | None = None) -> np.ndarray:
    """Each sample's mean input patch of ``node``: (N, KH, KW, Cin) for a window op (``spatial``),
    (N, K) for FullyConnected (the mean over every axis but the first and the last).

    ``affine`` (scale, zero point): ``x`` holds integers whose real value is scale * (x - zero point);
    padding is real 0. Sums run on ``x`` as it is (no padded or dequantized copy)."""
    n = x.shape[0]
    scale, zero = affine if affine is not None else (1.0, 0.0)
    if not op_spec(node.op).spatial:
        m = x.reshape(n, -1, x.shape[-1]).mean(axis=1, dtype=np.float64)
        return scale * (m - zero)
    kh, kw = kernel_size(node)
    (sh, sw), (dh, dw) = pair(node.attrs["strides"]), pair(node.attrs["dilations"])
    oh, ow = int(node.outputs[0].shape[1]), int(node.outputs[0].shape[2])  # type: ignore[index,arg-type]
    same = node.attrs["padding"] == "same"
    ph = same_pads(x.shape[1], kh, sh, dh)[0] if same else 0
    pw = same_pads(x.shape[2], kw, sw, dw)[0] if same else 0
    rows, cols = _taps(x.shape[1], kh, sh, dh, oh, ph), _taps(x.shape[2], kw, sw, dw, ow, pw)
    out = np.zeros((n, kh, kw, x.shape[-1]))
    # One pass over the input per distinct column slice (its sum over those columns, per row), then
    # each tap's rows of that: KW passes instead of KH*KW (a 1x1 conv: one).
    by_cols: dict[tuple[int, int, int], np.ndarray] = {}
    for j, c in enumerate(cols):
        key = (c.start, c.stop, c.step or 1)
        if key not in by_cols:
            by_cols[key] = x[:, :, c, :].sum(axis=2, dtype=np.float64)  # (N, H, C)
        width = len(range(x.shape[2])[c])
        for i, r in enumerate(rows):
            height = len(range(x.shape[1])[r])
            out[:, i, j] = scale * (by_cols[key][:, r].sum(axis=1) - zero * height * width)
    return out / (oh * ow)


def expected_output(node: Node, w: np.ndarray, m: np.ndarray) -> np.ndarray:
    """E[op(x; w)] per output channel (no bias) from mean patches ``m`` (:func:`mean_patch`; leading
    axes, such as the sample axis, are kept).

    The weight's input-channel axis (``WeightAxes.in_axis``) is contracted with the patch's channels;
    with none (depthwise), output channel k reads input channel k // M."""
    axes = op_spec(node.op).weights
    w = np.asarray(w, np.float64)
    if not op_spec(node.op).spatial:
        return m @ w.reshape(w.shape[0], -1)
    kh, kw = m.shape[-3], m.shape[-2]
    if axes.in_axis is None:  # type: ignore[union-attr]  # one input channel per output channel: k // M
        mult = w.shape[-1] // m.shape[-1]
        return np.einsum("...ijk,ijk->...k", np.repeat(m, mult, axis=-1), w.reshape(kh, kw, -1))
    _, _, cin_g, cout = w.shape  # HWIO, groups = Cin / cin_g
    groups = m.shape[-1] // cin_g
    mg = m.reshape(*m.shape[:-3], kh, kw, groups, cin_g)
    wg = w.reshape(kh, kw, cin_g, groups, cout // groups)
    return np.einsum("...ijgc,ijcgo->...go", mg, wg).reshape(*m.shape[:-3], cout)


def _real_weight(v_int: object, node: Node) -> np.ndarray:
    """A quantized constant as real values (per-channel scales on its axis)."""
    c = v_int.const.astype(np.float64)  # type: ignore[attr-defined]
    q = v_int.quant  # type: ignore[attr-defined]
    if q is None:
        return c
    shape = [1] * c.ndim
    if q.axis is not None:
        shape[q.axis] = -1
    return (c - q.zero_point.reshape(shape)) * q.scale.astype(np.float64).reshape(shape)


def _means(graph: Graph, feeds: Feeds, names: set[str], outputs: list[list[np.ndarray]] | None = None,
           runs_of: int = 0) -> dict[str, np.ndarray]:
    """Per weight layer of ``names``: every calibration sample's mean input patch, in sample order
    (``outputs``: the model's outputs are collected too; ``runs_of``: see :func:`~.probe.observe_inputs`)."""
    nodes = [n for n in weight_nodes(graph) if n.name in names]
    parts: dict[str, list[np.ndarray]] = {}
    observe_inputs(graph, feeds, nodes,
                   lambda node, x, affine: parts.setdefault(node.name, []).append(mean_patch(node, x, affine)),
                   outputs, runs_of)
    return {k: np.concatenate(v) for k, v in parts.items()}


def _significant(e: np.ndarray) -> np.ndarray:
    """Per channel, the mean of the per-sample errors ``e`` (N, C) where it stands out of their noise
    (|mean| > :data:`SIGNIFICANCE` standard errors), else 0: a correction estimated from a few samples
    must not add more noise than it removes."""
    mean = e.mean(axis=0)
    if e.shape[0] < 2:
        return mean
    se = e.std(axis=0, ddof=1) / np.sqrt(e.shape[0])
    return np.where(np.abs(mean) > SIGNIFICANCE * se, mean, 0.0)


def _expected(node: Node, m: np.ndarray) -> np.ndarray:
    w = weight_const(node)
    b = bias_const(node)
    y = expected_output(node, _real_weight(w, node), m)
    return y + (_real_weight(b, node).reshape(-1) if b is not None else 0.0)


def _levels(graph: Graph, names: set[str]) -> list[list[str]]:
    """Weight layers grouped so that no layer of a level depends on another of the same level."""
    depth: dict[int, int] = {}
    level: dict[str, int] = {}
    for node in graph.nodes:
        d = max((depth.get(id(v), 0) for v in node.inputs if v is not None), default=0)
        if node.name in names:
            level[node.name] = d
            d += 1
        for v in node.outputs:
            depth[id(v)] = d
    out: dict[int, list[str]] = {}
    for name, lv in level.items():
        out.setdefault(lv, []).append(name)
    return [out[k] for k in sorted(out)]


def _output_step(node: Node) -> float | None:
    """The int8 scale of a QDQ graph node's output (its Quantize's), or None."""
    for user, _ in node.outputs[0].uses:
        if user.op == "Quantize":
            return float(user.attrs["quant"].scale[0])
    return None


def _own_bias(node: Node) -> bool:
    """A bias constant read by this op alone (an unrolled recurrent layer shares one across time steps:
    a per-step correction cannot be written into it)."""
    b = bias_const(node)
    return b is not None and b.is_const and len(b.uses) == 1 and b.dtype.np == np.float32


def _output_steps(graph: Graph) -> list[float]:
    """Per model output of a QDQ graph, the int8 step of the value its Dequantize reads (0 if none)."""
    steps = []
    for v in graph.outputs:
        p = v.producer
        q = p.inputs[0].quant if p is not None and p.op == "Dequantize" and p.inputs[0] is not None else None
        steps.append(float(q.scale.max()) if q is not None else 0.0)
    return steps


def _worse(got: list[list[np.ndarray]], before: list[list[np.ndarray]], want: list[list[np.ndarray]],
           steps: list[float]) -> list[bool]:
    """Per model output: whether the error norm ||got - want|| exceeds ||before - want|| by more than one
    int8 step of that output (``steps``): one output value rounded one step the other way changes the
    norm by up to one step, so less is rounding, not a worse model."""
    out = []
    for k in range(len(want[0])):
        w = np.concatenate([b[k].reshape(-1) for b in want])
        now = float(np.linalg.norm(np.concatenate([b[k].reshape(-1) for b in got]) - w))
        was = float(np.linalg.norm(np.concatenate([b[k].reshape(-1) for b in before]) - w))
        out.append(now > was + steps[k])
    return out


def _rel_errors(got: list[list[np.ndarray]], want: list[list[np.ndarray]]) -> list[float]:
    """Per model output: ||got - want|| / ||want|| over every batch."""
    errs = []
    for k in range(len(want[0])):
        g = np.concatenate([b[k].reshape(-1) for b in got])
        w = np.concatenate([b[k].reshape(-1) for b in want])
        errs.append(float(np.linalg.norm(g - w) / max(float(np.linalg.norm(w)), 1e-30)))
    return errs


def _count(outputs: list[list[np.ndarray]] | None) -> int:
    """Samples covered by ``outputs`` (one list of model outputs per run)."""
    return sum(len(r[0]) for r in outputs or [] if r)


def _slice(outputs: list[list[np.ndarray]], start: int, stop: int) -> list[list[np.ndarray]]:
    """Samples ``start:stop`` of ``outputs`` (one list of model outputs per run) as one run."""
    return [[np.concatenate([r[k] for r in outputs if r])[start:stop] for k in range(len(outputs[0]))]]


def _outputs(graph: Graph, feeds: Feeds, label: str, runs_of: int = 0) -> list[list[np.ndarray]]:
    """``graph``'s model outputs on ``feeds`` (one list per run), no layer observed."""
    got: list[list[np.ndarray]] = []
    with task(label):
        observe_inputs(graph, feeds, [], lambda *_: None, got, runs_of)
    return got


def split_feeds(feeds: Feeds, n: int) -> tuple[Feeds, Feeds | None]:
    """``feeds``' first ``n`` samples and the rest (None when there is none), in sample order."""
    first: list[dict[str, np.ndarray]] = []
    rest: list[dict[str, np.ndarray]] = []
    taken = 0
    for b in feeds.batches:
        size = next(iter(b.values())).shape[0]
        k = min(size, max(0, n - taken))
        if k:
            first.append(b if k == size else {name: a[:k] for name, a in b.items()})
        if k < size:
            rest.append(b if k == 0 else {name: a[k:] for name, a in b.items()})
        taken += size
    return Feeds(first), (Feeds(rest) if rest else None)


def correct_biases(float_graph: Graph, build: Callable[[], Graph], feeds: Feeds,
                   mode: str = "one_pass", reference: Graph | None = None, guard: bool = True,
                   float_means: Mapping[str, np.ndarray] | None = None,
                   float_outputs: list[list[np.ndarray]] | None = None,
                   held_out: Feeds | None = None) -> BiasCorrection:
    """Correct ``float_graph``'s biases in place (constants replaced, never mutated) so that the
    quantized graph ``build()`` makes from it has the float graph's per-channel output means.

    ``build`` quantizes the current ``float_graph`` into QDQ form (float inputs and outputs; node
    names kept). ``reference``: the float graph whose means to match, when ``float_graph``'s weights
    were already changed (AdaRound's snapped weights); default ``float_graph`` itself. ``guard``: undo
    every correction if one made a model output worse (module docstring) on ``held_out`` (other
    calibration samples than ``feeds``), or on ``feeds`` when there is none.
    ``float_means`` / ``float_outputs``: the reference's mean patches (node name -> [samples, ...])
    on ``feeds`` and its outputs on ``feeds`` then ``held_out``, as calibration keeps them
    (``Calibration.patch_means`` / ``patch_outputs``); used when they cover every layer and sample
    (and the outputs, with the guard), else the float graph is run again. Returns what was corrected."""
    if mode not in MODES:
        raise ValueError(f"bias correction mode {mode!r}; one of {MODES}")
    report = BiasCorrection(mode)
    fnodes = {n.name: n for n in weight_nodes(float_graph) if supported(n) and _own_bias(n)}
    names = set(fnodes)
    levels = _levels(float_graph, names)
    if not levels:
        return report
    ref = reference if reference is not None else float_graph
    held = held_out if guard and held_out is not None and held_out.samples else None
    n_est = feeds.samples
    want: list[list[np.ndarray]] = []  # the reference's outputs on the samples the guard judges on
    have = float_means or {}
    judged = n_est + (held.samples if held else 0)  # kept outputs the guard needs
    if all(k in have and have[k].shape[0] == n_est for k in names) and (
            not guard or _count(float_outputs) >= judged):
        mf = {k: have[k] for k in names}  # calibration's own run: no float run here
        if guard:
            want = _slice(float_outputs, n_est, judged) if held else _slice(float_outputs, 0, n_est)  # type: ignore[arg-type]
    else:
        with task("bias correction, run 1"):
            mf = _means(ref, feeds, names, want if guard and not held else None)
        if held:
            want = _outputs(ref, held, "bias correction, run 1")
    rnodes = {n.name: n for n in weight_nodes(ref) if n.name in names}
    report.runs += 1
    original = {name: bias_const(n).const for name, n in fnodes.items()}  # type: ignore[union-attr]
    first: list[list[np.ndarray]] = []  # the uncorrected int8 model's outputs on the judged samples
    if held:
        # one sample at a time, as every int8 run (the plan the interpreter loaded with)
        first = _outputs(build(), held, f"bias correction, run {report.runs + 1}", runs_of=1)
        report.runs += 1

    def correct(group: list[str], local: bool) -> None:
        """Measure ``group`` in a fresh quantized graph and correct each layer: the total error, or
        (``local``) only the error its own weights and bias add to its quantized input."""
        qgraph = build()
        qnodes = {n.name: n for n in weight_nodes(qgraph) if n.name in group}
        with task(f"bias correction, run {report.runs + 1}"):
            # one sample at a time: the int8 model runs on the plan it loaded with (no second plan);
            # without held-out samples the first run's outputs are the guard's "before"
            before = guard and not held and not first
            mq = _means(qgraph, feeds, set(group), first if before else None, runs_of=1)
        report.runs += 1
        for name in group:
            fn, qn = fnodes[name], qnodes[name]
            if local:
                e = _significant(_expected(qn, mq[name]) - _expected(fn, mq[name]))
            else:
                e = _significant(_expected(qn, mq[name]) - _expected(rnodes[name], mf[name]))
            step = _output_step(qn)
            b = bias_const(fn)
            # From the int32 bias's real value, so the new bias is rounded once (error <= half a step).
            bq = _real_weight(bias_const(qn), qn).reshape(-1)
            float_graph.replace_const(b, (bq - e).astype(np.float32), refresh=False)  # type: ignore[arg-type]
            key = fn.origin.layer if fn.origin else name
            report.corrected[key] = report.corrected.get(key, 0.0) + (float(np.abs(e).max()) if e.size else 0.0)
            if step and e.size:
                report.steps[key] = report.steps.get(key, 0.0) + float(np.abs(e).max()) / step

    if mode == "sequential":
        for group in levels:
            correct(group, local=False)
    else:
        inner = [n for group in levels[:-1] for n in group]
        if inner:
            correct(inner, local=True)
        correct(levels[-1], local=False)
    if guard and report.steps and len(report.steps) == len(report.corrected) and max(report.steps.values()) < MIN_STEPS:
        # every correction below the int8 outputs' resolution (module docstring, "Resolution")
        report.below_resolution = True
    elif guard and want and first:
        report.samples = held.samples if held else n_est
        report.held_out = held is not None
        report.before = _rel_errors(first, want)
        qgraph = build()
        now = _outputs(qgraph, held or feeds, f"bias correction, run {report.runs + 1}", runs_of=1)
        report.runs += 1
        report.after = _rel_errors(now, want)
        # held-out samples: a change within one output step is rounding (_worse); on the estimate's
        # own samples, any rise counts (the strict rule of the module docstring)
        steps = _output_steps(qgraph) if held else [0.0] * len(want[0])
        report.reverted = any(_worse(now, first, want, steps))
    if report.reverted or report.below_resolution:
        for name, n in fnodes.items():
            float_graph.replace_const(bias_const(n), original[name], refresh=False)  # type: ignore[arg-type]
        report.reverted = True
    return report


__all__ = ["MODES", "BiasCorrection", "correct_biases", "expected_output", "mean_patch", "split_feeds", "supported"]
