"""Keras layer handlers, one module per layer family; importing this package fills KERAS_HANDLERS."""

from __future__ import annotations

from . import (  # noqa: F401  (each module registers its handlers)
    activations,
    advanced_activations,
    applications,
    attention,
    conv,
    core,
    embedding,
    keras_ops,
    merge,
    normalization,
    pooling,
    recurrent,
    reshaping,
    tfop,
    wrappers,
)
