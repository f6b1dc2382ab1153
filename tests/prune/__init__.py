"""Tests of keras2edge.prune."""
