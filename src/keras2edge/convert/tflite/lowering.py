"""IR graph → the IR graph the TFLite emitter writes: a copy with the TFLite lowering passes run.

The lowering passes are target-neutral rewrites that TFLite wants and ONNX does not:
``FuseActivationPass`` folds Relu/Relu6/ReluN1To1 into the ``activation`` attribute of the op
before it, which the emitter maps to ``fused_activation_function``. They run here, on a copy,
not in the common cleanup: ONNX has no fused activations, and folding there would rename the
conv outputs in every ONNX file. Calibration must run on ``lower(graph)``, the graph that ships.
"""

from __future__ import annotations

from ...ir.graph import Graph
from ...ir.passes import FuseActivationPass, Pass, PassManager


def TFLITE_PASSES() -> tuple[Pass, ...]:  # noqa: N802 - reads as the pipeline constant it stands for
    """A fresh tuple of the TFLite lowering passes, in order."""
    return (FuseActivationPass(),)


def lower(graph: Graph) -> Graph:
    """A lowered copy of ``graph`` (``graph`` is not modified; the weights' arrays are shared).

    Lowering a lowered graph changes nothing, so ``lower(lower(g))`` emits the same bytes as ``g``.
    """
    lowered = graph.copy()
    PassManager(TFLITE_PASSES(), verify=False).run(lowered)
    return lowered


__all__ = ["TFLITE_PASSES", "lower"]
