"""Import a Keras model file (any era, any container) into an IR Graph."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...errors import LimitExceededError, ModelFormatError
from ...ir import Graph
from ...runtime.limits import Limits, resolve
from . import layers as _layers  # noqa: F401  (fills KERAS_HANDLERS)
from .backend import check_option, report_backend, resolve_backend
from .builder import GraphBuilder
from .config import parse_model
from .context import ImportOptions
from .h5guard import raised_by_h5py
from .sources import open_source


def load_keras(path: str, weights: str | None = None,
               input_shapes: Mapping[str, Sequence[int | None]] | None = None, backend: str | None = None, *,
               limits: Limits | None = None, allow_nonfinite: bool = False) -> Graph:
    """Read ``path`` (HDF5 from Keras 1/2/3, a ``.keras`` archive, or an architecture JSON with
    ``weights``) into an IR graph in NHWC with Keras layer names on every node.

    ``backend`` ('theano' or 'tensorflow') overrides the backend the weights are read as (see
    ``backend.py`` for the rule otherwise; ``graph.metadata`` records the choice and its rule).
    Nothing outside ``path`` and ``weights`` is ever read, and nothing the files declare is
    allocated beyond ``limits`` (default: ``Limits.default()``).

    Raises:
        ModelFormatError: the file is not a Keras model, or weights do not match the architecture.
        InvalidWeightsError: NaN/Inf weights or a negative variance (unless ``allow_nonfinite``).
        UnsupportedLayerError: some layer classes cannot be converted (all listed at once).
        UnsafeContentError: the file holds content that is never executed or followed (pickles, bad
            archives, external links, external or virtual HDF5 storage).
        LimitExceededError: the file declares more than ``limits`` allow.
        OptionError: ``backend`` is not one of 'theano', 'tensorflow' or None.
    """
    check_option(backend)
    limits = resolve(limits)
    try:
        with open_source(path, weights, limits) as src:
            model = parse_model(src.config, repr(path))
            choice = resolve_backend(src, model, backend)
            report_backend(choice, path, model)
            opts = ImportOptions(src.keras_version, choice.backend, path, allow_nonfinite, limits)
            assert src.weights is not None  # open_source refuses a model without weights
            graph = GraphBuilder(src.weights, opts, input_shapes).build(model)
    except RecursionError:
        raise ModelFormatError(f"{path!r}: the model nests too deeply to import (nested models or "
                               "configs deeper than Python's recursion limit)") from None
    except MemoryError:
        raise LimitExceededError(f"{path!r}: ran out of memory while importing the model (memory limit "
                                 f"{limits.max_memory} bytes); the file declares more than fits") from None
    except Exception as e:
        if raised_by_h5py(e):
            files = repr(path) if weights is None else f"{path!r} / {weights!r}"
            raise ModelFormatError(f"{files}: cannot read the HDF5 data (corrupt or truncated file?): "
                                   f"{type(e).__name__}: {e}") from e
        raise
    graph.metadata.update(choice.metadata())
    graph.verify()
    return graph
