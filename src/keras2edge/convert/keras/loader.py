"""Import a Keras model file (any era, any container) into an IR Graph."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...ir import Graph
from . import layers as _layers  # noqa: F401  (fills KERAS_HANDLERS)
from .builder import GraphBuilder
from .config import parse_model
from .context import ImportOptions
from .sources import open_source


def load_keras(path: str, weights: str | None = None,
               input_shapes: Mapping[str, Sequence[int | None]] | None = None) -> Graph:
    """Read ``path`` (HDF5 from Keras 1/2/3, a ``.keras`` archive, or an architecture JSON with
    ``weights``) into an IR graph in NHWC with Keras layer names on every node.

    Raises:
        ModelFormatError: the file is not a Keras model, or weights do not match the architecture.
        UnsupportedLayerError: some layer classes cannot be converted (all listed at once).
        UnsafeContentError: the file holds content that is never executed (pickles, bad archives).
    """
    with open_source(path, weights) as src:
        model = parse_model(src.config, repr(path))
        opts = ImportOptions(src.keras_version, src.backend, path)
        assert src.weights is not None
        graph = GraphBuilder(src.weights, opts, input_shapes).build(model)
    graph.verify()
    return graph
