"""Keras importer: HDF5 (Keras 1/2/3), .keras archives and JSON + weights -> IR.

Uses h5py, zipfile and json only; never runs code from a model file.
"""

from __future__ import annotations

from .context import KERAS_HANDLERS, LayerContext, LayerRefusal
from .loader import load_keras

__all__ = ["KERAS_HANDLERS", "LayerContext", "LayerRefusal", "load_keras"]
