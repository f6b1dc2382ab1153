"""Tests of keras2edge.convert.onnx: the ONNX emitter."""
