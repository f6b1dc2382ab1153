"""Post-training quantization (issue 11): calibration data, range observers, the schemes (full int8,
16x8, mixed, dynamic-range, float16), accuracy-preserving algorithms and the per-layer report.

Layout (one role per module):

* ``data`` — calibration data (arrays, iterables of batches, ``.npy``/``.npz`` files and folders),
  validated against the model's inputs and streamed in batches;
* ``observers`` — range observers (``Observer``: ``update`` per batch, ``range`` at the end), one
  registry ``OBSERVERS`` keyed by ``--calibration-method``;
* ``weights_only`` — the schemes that need no calibration: ``dynamic`` (int8 weights) and ``float16``.
"""

from . import weights_only  # noqa: F401 - registers its schemes in schemes.SCHEMES
