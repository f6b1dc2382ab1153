"""The keras2edge IR: values, nodes, graphs, the op vocabulary, and graph passes.

Knows nothing of Keras, ONNX or TFLite.
"""

from __future__ import annotations

from .dtypes import DType
from .graph import Graph, LayerRecord
from .node import Node, Origin
from .ops import OPS, REQUIRED, OpSpec, op_spec
from .registry import OpTable
from .value import QuantParams, Value

__all__ = ["DType", "Graph", "LayerRecord", "Node", "Origin", "OPS", "REQUIRED", "OpSpec", "op_spec",
           "OpTable", "QuantParams", "Value"]
