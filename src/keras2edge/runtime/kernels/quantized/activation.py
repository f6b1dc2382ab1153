"""Quantized activation kernels (int8 / uint8 / int16), bit-exact with TFLite Micro."""

from __future__ import annotations
