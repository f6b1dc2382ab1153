"""Post-training quantization (issue 11): calibration data, range observers, the schemes (full int8,
16x8, mixed, dynamic-range, float16), accuracy-preserving algorithms and the per-layer report.

Layout (one role per module):

* ``data`` — calibration data (arrays, iterables of batches, ``.npy``/``.npz`` files and folders),
  validated against the model's inputs and streamed in batches;
* ``observers`` — range observers (``Observer``: ``update`` per batch, ``range`` at the end), one
  registry ``OBSERVERS`` keyed by ``--calibration-method``;
* ``schemes`` — the ``--scheme`` registry ``SCHEMES`` (name -> graph rewrite into QDQ form);
* ``calibrate`` — the float graph's ``.tflite`` run in the runtime, one observer per value;
* ``params`` — int8 parameters from ranges and weights (TFLite converter rules);
* ``qdq`` — the QDQ rewrite (the contract with the emitters);
* ``int8`` — the full-int8 scheme (parameters by each op's ``QuantRule``).

``quantize_graph(graph, options)`` runs the scheme ``options.scheme``; ``keras2edge.quantize`` (api.py)
is the public entry point over it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import int8 as _int8  # noqa: F401 - registers the "int8" scheme
from .observers import make_observer
from .schemes import QuantizeOptions, scheme

if TYPE_CHECKING:
    from ..ir.graph import Graph


def quantize_graph(graph: Graph, options: QuantizeOptions) -> Graph:
    """``graph`` quantized by ``options`` (a new graph in QDQ form; ``graph`` is not modified).
    Unknown schemes and calibration methods are refused before any work."""
    fn = scheme(options.scheme)
    make_observer(options.method)
    return fn(graph, options)


__all__ = ["QuantizeOptions", "quantize_graph"]
