"""Tests of keras2edge.convert: the Keras importer, the ONNX and the TFLite emitters."""
