"""Post-training quantization (issue 11): calibration data, range observers, the schemes (full int8,
16x8, mixed, dynamic-range, float16), accuracy-preserving algorithms and the per-layer report.

Layout (one role per module):

* ``data`` — calibration data (arrays, iterables of batches, ``.npy``/``.npz`` files and folders),
  validated against the model's inputs and streamed in batches (``datacheck``: the refusals;
  ``datafiles``: ``.npy``/``.npz`` streaming);
* ``observers`` — range observers (``Observer``: ``update`` per batch, ``range`` at the end), one
  registry ``OBSERVERS`` keyed by ``--calibration-method`` (``histogram``: the streaming histogram;
  ``clipping``: MSE/KL clip searches and ``weight_clip_mse``);
* ``schemes`` — the ``--scheme`` registry ``SCHEMES`` (name -> graph rewrite into QDQ form);
* ``calibrate`` — the float graph's ``.tflite`` run in the runtime, one observer per value;
* ``params`` — int8 parameters from ranges and weights (TFLite converter rules);
* ``qdq`` — the QDQ rewrite (the contract with the emitters);
* ``int8`` — the full-int8 scheme (parameters by each op's ``QuantRule``);
* ``int16x8`` — the 16x8 scheme (int16 activations, int8 weights), the same planner;
* ``precision`` — mixed precision: each node's type from ``keep_float`` / ``int16`` globs and the
  probed 16x8 kernels.
* ``progress`` — the long steps' progress, reported to ``QuantizeOptions.progress`` (the CLI's bar);
* ``algorithms`` — the accuracy-preserving algorithms in the int8 scheme and the rule for their
  defaults: ``cle`` (cross-layer equalization), ``hba`` (high-bias absorption), ``bias_correction`` (empirical, from calibration
  data), ``adaround`` (AdaRound-style rounding); ``probe`` runs a graph's ``.tflite`` in the
  runtime and hands each weight layer's input to them.

``quantize_graph(graph, options)`` runs the scheme ``options.scheme``; ``keras2edge.quantize`` (api.py)
is the public entry point over it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import QuantizationError
from . import int8 as _int8  # noqa: F401 - registers the "int8" scheme
from . import int16x8 as _int16x8  # noqa: F401 - registers the "int16x8" scheme
from . import weights_only  # noqa: F401 - registers "dynamic" and "float16"
from .int8 import IO_TYPES
from .observers import make_observer
from .schemes import QuantizeOptions, scheme

if TYPE_CHECKING:
    from ..ir.graph import Graph

#: Schemes that honour per-layer precision (``keep_float``, ``int16``).
MIXED_SCHEMES = ("int8", "int16x8")


def check_options(options: QuantizeOptions) -> None:
    """QuantizationError for an unknown scheme, calibration method or io type, or a bad batch size."""
    scheme(options.scheme)
    make_observer(options.method)
    if options.io not in IO_TYPES:
        raise QuantizationError(f"unknown io type {options.io!r}; supported: {', '.join(IO_TYPES)}")
    if (options.keep_float or options.int16) and options.scheme not in MIXED_SCHEMES:
        raise QuantizationError(f"--keep-float / --int16 apply to the full-integer schemes ({', '.join(MIXED_SCHEMES)}), "
                                f"not to {options.scheme!r}")
    if isinstance(options.batch_size, bool) or not isinstance(options.batch_size, int) or options.batch_size < 1:
        raise QuantizationError(f"calibration batch size must be a positive int, got {options.batch_size!r}")


def quantize_graph(graph: Graph, options: QuantizeOptions) -> Graph:
    """``graph`` quantized by ``options`` (a new graph in QDQ form; ``graph`` is not modified).
    Bad options are refused before any work (:func:`check_options`)."""
    check_options(options)
    done = next((n for n in graph.nodes if n.op in ("Quantize", "Dequantize")), None)
    if done is not None or any(v.quant is not None for v in graph.inputs):
        where = done.where() if done is not None else "its inputs"
        raise QuantizationError(f"graph {graph.name!r} is already quantized ({where}); quantize a float model")
    from .progress import reporting

    with reporting(options.progress):
        return scheme(options.scheme)(graph, options)


__all__ = ["QuantizeOptions", "check_options", "quantize_graph"]
