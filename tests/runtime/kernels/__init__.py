"""Tests of keras2edge.runtime.kernels: every kernel against LiteRT's reference kernels."""
