"""Tests of keras2edge.quantize."""
