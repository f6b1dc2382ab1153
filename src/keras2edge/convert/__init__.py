"""Converters: Keras files -> IR (`convert.keras`), IR -> ONNX (`convert.onnx`)."""
