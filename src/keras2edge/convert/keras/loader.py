"""Import a Keras model file (any era, any container) into an IR Graph."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...ir import Graph
from . import layers as _layers  # noqa: F401  (fills KERAS_HANDLERS)
from .backend import check_option, report_backend, resolve_backend
from .builder import GraphBuilder
from .config import parse_model
from .context import ImportOptions
from .sources import open_source


def load_keras(path: str, weights: str | None = None,
               input_shapes: Mapping[str, Sequence[int | None]] | None = None, backend: str | None = None) -> Graph:
    """Read ``path`` (HDF5 from Keras 1/2/3, a ``.keras`` archive, or an architecture JSON with
    ``weights``) into an IR graph in NHWC with Keras layer names on every node.

    ``backend`` ('theano' or 'tensorflow') overrides the backend the weights are read as (see
    ``backend.py`` for the rule otherwise; ``graph.metadata`` records the choice and its rule).

    Raises:
        ModelFormatError: the file is not a Keras model, or weights do not match the architecture.
        UnsupportedLayerError: some layer classes cannot be converted (all listed at once).
        UnsafeContentError: the file holds content that is never executed (pickles, bad archives).
        OptionError: ``backend`` is not one of 'theano', 'tensorflow' or None.
    """
    check_option(backend)
    with open_source(path, weights) as src:
        model = parse_model(src.config, repr(path))
        choice = resolve_backend(src, model, backend)
        report_backend(choice, path, model)
        opts = ImportOptions(src.keras_version, choice.backend, path)
        assert src.weights is not None
        graph = GraphBuilder(src.weights, opts, input_shapes).build(model)
    graph.metadata.update(choice.metadata())
    graph.verify()
    return graph
