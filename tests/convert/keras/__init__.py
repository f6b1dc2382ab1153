"""Tests of keras2edge.convert.keras: reading Keras files into the IR."""
