"""The accuracy-preserving algorithms in the int8 scheme: which run, in which order, and the rule for
``None`` (= "on where it helps") in :class:`QuantizeOptions` ``cle`` / ``bias_correction`` / ``adaround``.

Order: cross-layer equalization (``cle``) rewrites the float graph before calibration (the ranges are
the equalized graph's); bias correction and AdaRound run after calibration on the lowered graph, each
measuring the quantized graph in keras2edge's runtime.

What ran is recorded as one line in the quantized graph's ``metadata["quantization_algorithms"]``
(``int8.summary`` reports it), e.g. ``cle: off; bias_correction: sequential, 52 layers; adaround: off``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import QuantizationError
from .bias_correction import MAX_SAMPLES, correct_biases
from .probe import read_feeds
from .schemes import QuantizeOptions

if TYPE_CHECKING:
    from ..ir.graph import Graph

log = logging.getLogger(__name__)

#: Order of the report line.
NAMES = ("cle", "bias_correction", "adaround")


def _reusable(source: object) -> bool:
    """Whether the calibration source can be read twice (not a one-shot iterator)."""
    try:
        return iter(source) is not source  # type: ignore[call-overload]
    except TypeError:
        return True  # a path or an array-like


def before_calibration(graph: Graph, options: QuantizeOptions, ran: dict[str, str]) -> Graph:
    """Algorithms on the float graph before calibration: cross-layer equalization."""
    ran["cle"] = "off"
    if options.cle:
        from .cle import equalize

        graph, result = equalize(graph)
        ran["cle"] = f"{len(result.pairs)} pairs, {len(result.declined)} declined"
    return graph


def after_calibration(graph: Graph, build: Callable[[], Graph], options: QuantizeOptions,
                      ran: dict[str, str]) -> None:
    """Algorithms on the calibrated float graph (changed in place): bias correction, AdaRound."""
    ran["bias_correction"] = "off"
    ran["adaround"] = "off"
    want_bc = options.bias_correction is not False
    want_ar = bool(options.adaround)
    if not (want_bc or want_ar):
        return
    if not _reusable(options.calibration):
        if options.bias_correction or options.adaround:
            raise QuantizationError("bias correction and AdaRound read the calibration data again: pass an array, "
                                    "a file or a list of batches, not a one-shot iterator")
        ran["bias_correction"] = "skipped (one-shot calibration iterator)"
        return
    feeds = read_feeds(graph, options.calibration, options.batch_size, MAX_SAMPLES)
    reference = None
    if want_ar:
        from .adaround import round_weights

        reference = graph.copy()  # the float weights, which bias correction must match
        t = time.perf_counter()
        rounded = round_weights(graph, feeds, options.per_tensor)
        ran["adaround"] = f"{len(rounded.layers)} layers, {time.perf_counter() - t:.1f} s"
    if not want_bc:
        return
    saved = [(n, list(n.inputs)) for n in graph.nodes]
    try:
        result = correct_biases(graph, build, feeds, reference=reference)
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
    ran["bias_correction"] = f"{result.mode}, {len(result.corrected)} layers, {feeds.samples} samples"


def report_line(ran: dict[str, str]) -> str:
    """``name: what`` for each algorithm, in :data:`NAMES` order."""
    return "; ".join(f"{n}: {ran.get(n, 'off')}" for n in NAMES)


__all__ = ["NAMES", "after_calibration", "before_calibration", "report_line"]
