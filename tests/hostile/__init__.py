"""Hostile and broken inputs: generated at test time, each asserted to fail cleanly with bounded memory."""
