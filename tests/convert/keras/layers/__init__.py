"""Tests of keras2edge.convert.keras.layers: one file per family of Keras layer handlers."""
