"""The accuracy-preserving algorithms in the int8 scheme: which run, in which order, and the rule for
``None`` (= "on where it helps") in :class:`QuantizeOptions` ``cle`` / ``bias_correction`` / ``adaround``.

Order: cross-layer equalization (``cle``), then high-bias absorption (``hba``; option
``high_bias_absorption``, None = wherever CLE runs, reported on CLE's part of the line) rewrite the
float graph before calibration (the ranges are the rewritten graph's); AdaRound, then bias
correction run after calibration on the lowered graph, each measuring in keras2edge's runtime (bias
correction matches the float weights from before AdaRound; its guard undoes corrections that make an
output worse on the next calibration samples, held out from the estimate, or on its own when there
are no others).

The default rule, decided by measurement (relative L2 of the output against float; digits: top-1 on
the 360 test samples; the slice's report and the tests hold the numbers):

* ``cle``: on with per-tensor weights (``per_tensor``), off per channel. It is exact in float at the
  model's outputs (not at the equalized layers' outputs, whose channels it rescales: the per-layer
  report compares those with the original float layers, so it is only on where it pays) and needs no
  data; per tensor it cut the tests' synthetic model's error by a third, per channel it did not
  change the zoo results (MobileNetV3Small 0.0095 either way). Through ReLU6 it is exact by a bound
  over every input (``cle``), so on MobileNetV2 it equalizes 15 pairs (was 2 when ReLU6 pairs were
  declined); per tensor, CLE alone moved MobileNetV2 0.01295 -> 0.0134 (its scaled-up depthwise
  channels carry larger biases), CLE + high-bias absorption 0.0125, + bias correction 0.00899.
* ``high_bias_absorption``: with CLE. Per-tensor MobileNetV2 with CLE: 0.0134 -> 0.0125 (with bias
  correction 0.00909 -> 0.00899); the tests' high-bias model 0.0398 -> 0.0088; on ``mobilenet_like``
  per tensor it helped two of three seeds without bias correction (seed 0: 0.047 -> 0.057) and all
  three with it.
* ``bias_correction``: on for graphs with a convolution (a weight op that is ``spatial``). It cut
  MobileNetV3Small's error 0.0167 -> 0.0096 (top-1 agreement with float 14% -> 92%) and
  MobileNetV2's 0.0118 -> 0.0091; on dense/recurrent graphs it did not help (the digits MLP and LSTM
  unchanged, the GRU one test sample lower), so there it stays off unless asked. It needs the
  calibration data twice (a one-shot iterator skips it) and a quantized model the runtime runs
  (else it is skipped with a warning).
* ``adaround``: off. It helps conv layers with spread weight ranges (the tests' synthetic model:
  0.050 -> 0.037 per channel) but costs a solve per layer and cost a test sample on the digits
  LSTM/GRU per tensor.

What ran is recorded as one line in the quantized graph's ``metadata["quantization_algorithms"]``
(``int8.summary`` reports it), e.g. for the digits CNN per tensor ``cle: 4 pairs, 5 declined,
high-bias absorption: 0 layers; bias_correction: one_pass, 9 layers, 8 samples, output error on 8 held-out
samples 0.00382 -> 0.00341 (largest, in output steps: probs 1.4, dw1 0.66, pw2 0.64); adaround: off``:
the largest are the layers whose int8 outputs were furthest off in mean, the ones that needed help.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import QuantizationError
from ..ir.ops import op_spec
from .bias_correction import MAX_SAMPLES, MIN_STEPS, correct_biases, split_feeds
from .probe import read_feeds
from .progress import task
from .schemes import QuantizeOptions

if TYPE_CHECKING:
    from ..ir.graph import Graph
    from .calibrate import Calibration

log = logging.getLogger(__name__)

#: Order of the report line.
NAMES = ("cle", "bias_correction", "adaround")
#: Calibration samples after bias correction's own that its guard judges the corrections on (held
#: out: the estimate never saw them); with fewer, the guard judges on the estimate's samples.
HELD_OUT = MAX_SAMPLES


def _reusable(source: object) -> bool:
    """Whether the calibration source can be read twice (not a one-shot iterator)."""
    try:
        return iter(source) is not source  # type: ignore[call-overload]
    except TypeError:
        return True  # a path or an array-like


def has_convolution(graph: Graph) -> bool:
    """Whether the graph has a window op with weights (``OpSpec.weights`` and ``spatial``: a convolution)."""
    return any(op_spec(n.op).weights is not None and op_spec(n.op).spatial for n in graph.nodes)


def before_calibration(graph: Graph, options: QuantizeOptions, ran: dict[str, str]) -> Graph:
    """Algorithms on the float graph before calibration: cross-layer equalization, then high-bias
    absorption (``high_bias_absorption``; None: wherever CLE runs)."""
    ran["cle"] = "off"
    cle = bool(options.cle or (options.cle is None and options.per_tensor))
    if cle:
        from .cle import equalize

        graph, result = equalize(graph)
        ran["cle"] = f"{len(result.pairs)} pairs, {len(result.declined)} declined"
    hba = options.high_bias_absorption if options.high_bias_absorption is not None else cle
    if not hba:
        return graph
    graph, line = absorb(graph if cle else graph.copy(), options)  # equalize returned a copy already
    ran["cle"] = f"{ran['cle']}, {line}" if cle else f"off, {line}"
    return graph


def absorb(graph: Graph, options: QuantizeOptions) -> tuple[Graph, str]:
    """High-bias absorption on ``graph`` (changed in place: pass a copy of the caller's graph), from
    :data:`~keras2edge.quantize.hba.HBA_SAMPLES` calibration samples; the report's words for it."""
    from .hba import HBA_SAMPLES, absorb_high_biases

    if not _reusable(options.calibration):
        if options.high_bias_absorption:
            raise QuantizationError("high-bias absorption reads the calibration data before calibration: pass an "
                                    "array, a file or a list of batches, not a one-shot iterator")
        return graph, "high-bias absorption: skipped (one-shot calibration iterator)"
    if options.calibration is None:
        return graph, "high-bias absorption: skipped (no calibration data)"
    feeds = read_feeds(graph, options.calibration, options.batch_size, HBA_SAMPLES)
    with task("high-bias absorption"):
        return graph, absorb_high_biases(graph, feeds).line()


def patch_samples(graph: Graph, options: QuantizeOptions) -> int:
    """Samples whose mean input patches (and outputs) calibration should keep for bias correction
    (``calibrate(patches=...)``): its sample count when it will run on the calibration data and
    compare with the float graph itself (no AdaRound), else 0."""
    want_bc = options.bias_correction or (options.bias_correction is None and has_convolution(graph))
    return MAX_SAMPLES if want_bc and not options.adaround and _reusable(options.calibration) else 0


def output_samples(graph: Graph, options: QuantizeOptions) -> int:
    """Samples whose float outputs calibration should keep (``calibrate(outputs=...)``): those of
    :func:`patch_samples`, then the :data:`HELD_OUT` samples bias correction's guard judges on."""
    n = patch_samples(graph, options)
    return n + HELD_OUT if n else 0


def after_calibration(graph: Graph, build: Callable[[], Graph], options: QuantizeOptions,
                      ran: dict[str, str], calibration: Calibration | None = None) -> None:
    """Algorithms on the calibrated float graph (changed in place): bias correction, AdaRound.
    ``calibration``: its ``patch_means`` / ``patch_outputs`` (:func:`patch_samples`) spare bias
    correction a float run."""
    ran["bias_correction"] = "off"
    ran["adaround"] = "off"
    want_bc = options.bias_correction or (options.bias_correction is None and has_convolution(graph))
    want_ar = bool(options.adaround)
    if not (want_bc or want_ar):
        return
    if not _reusable(options.calibration):
        if options.bias_correction or options.adaround:
            raise QuantizationError("bias correction and AdaRound read the calibration data again: pass an array, "
                                    "a file or a list of batches, not a one-shot iterator")
        ran["bias_correction"] = "skipped (one-shot calibration iterator)"
        return
    feeds, held = split_feeds(read_feeds(graph, options.calibration, options.batch_size, MAX_SAMPLES + HELD_OUT),
                              MAX_SAMPLES)
    if held is not None and held.samples < HELD_OUT:
        held = None  # too few to judge on: the guard judges on the estimate's own samples
    reference = None
    if want_ar:
        from .adaround import round_weights

        reference = graph.copy()  # the float weights, which bias correction must match
        t = time.perf_counter()
        with task("adaround"):
            rounded = round_weights(graph, feeds, options.per_tensor)
        ran["adaround"] = f"{len(rounded.layers)} layers, {time.perf_counter() - t:.1f} s"
    if not want_bc:
        return
    saved = [(n, list(n.inputs)) for n in graph.nodes]
    try:
        kept = calibration if calibration is not None and reference is None else None
        result = correct_biases(graph, build, feeds, reference=reference,
                                float_means=kept.patch_means if kept else None,
                                float_outputs=kept.patch_outputs if kept else None, held_out=held)
    except QuantizationError as e:
        if options.bias_correction:
            raise
        for node, inputs in saved:  # undo: the biases the graph had
            for k, v in enumerate(inputs):
                if node.inputs[k] is not v:
                    graph.set_input(node, k, v)
        log.warning("bias correction skipped: %s", e)
        ran["bias_correction"] = "skipped (the quantized model does not run in keras2edge's runtime)"
        return
    judged = f"{result.samples} held-out samples" if result.held_out else f"its {result.samples} samples"
    if result.below_resolution:
        top = ", ".join(f"{k} {v:.2g}" for k, v in result.largest())
        ran["bias_correction"] = (f"reverted ({len(result.corrected)} layers corrected by less than "
                                  f"{MIN_STEPS:g} of an output step, below int8 resolution: {top})")
        return
    if result.reverted:
        worse = ", ".join(f"{b:.3g} -> {a:.3g}" for b, a in zip(result.before, result.after))
        ran["bias_correction"] = (f"reverted ({len(result.corrected)} layers corrected made the output error on "
                                  f"{judged} worse: {worse})")
        return
    top = ", ".join(f"{k} {v:.2g}" for k, v in result.largest() if v >= 0.05)
    errors = ", ".join(f"{b:.3g} -> {a:.3g}" for b, a in zip(result.before, result.after))
    ran["bias_correction"] = (f"{result.mode}, {len(result.corrected)} layers, {feeds.samples} samples"
                              + (f", output error on {judged} {errors}" if errors else "")
                              + (f" (largest, in output steps: {top})" if top else ""))


def report_line(ran: dict[str, str]) -> str:
    """``name: what`` for each algorithm, in :data:`NAMES` order."""
    return "; ".join(f"{n}: {ran.get(n, 'off')}" for n in NAMES)


__all__ = ["HELD_OUT", "NAMES", "after_calibration", "before_calibration", "output_samples", "patch_samples",
           "report_line"]
