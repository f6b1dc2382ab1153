"""``write_keras``: a (pruned) IR graph written back as the Keras model file it was imported from.

The source file is read again through the importer's hostile-input readers (``open_source``: h5guard,
bounded JSON and zip members; nothing outside the file is read, nothing in it is executed) and
imported again into the *reference* graph, the same way the graph was (the constants of every
Keras layer as its import made them). Then:

1. structure: the graph must keep every Keras layer and its ops (``compare.check_structure``);
2. weights: ``plan.plan_changes`` (unchanged layers keep the file's arrays; changed ones go
   through the class's exporter, checked on the reference first);
3. config: the model config as the file holds it, with the fields the new shapes imply
   (``filters``, ``units``...) and, for Keras 3, each layer's ``build_config`` input shape and
   ``__keras_tensor__`` shapes (``configedit``); compile settings and optimizer state are dropped
   (the optimizer's slots have the unpruned shapes): compile the loaded model again to fine-tune;
4. file (``formats.py``): an HDF5 full model (Keras 1/2/3 ``.h5``: ``model_config`` +
   ``model_weights``) or a Keras 3 ``.keras`` zip (``metadata.json``, ``config.json``,
   ``model.weights.h5``), written atomically (``fileio.open_atomic``); in the source's container
   (its weights file copied), or, for a Keras 3 source, in the other one (``crossformat.py``); a
   Keras 1 source written as ``.keras`` becomes a Keras 3 model (``keras1.py``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ...errors import ModelFormatError
from ...fileio import check_output
from ...ir import Graph
from ...runtime.limits import Limits, resolve
from ..keras.config import parse_model
from ..keras.h5guard import WeightReader
from ..keras.sniff import FileKind, sniff
from ..keras.sources import open_source
from ..keras.weights import keras3_keys
from .compare import check_structure, layer_constants, layer_output_shapes, structure_difference
from .configedit import ShapeMap, layer_entries, set_fields, update_shapes
from .crossformat import h5_model_config, keras3_config, layer_arrays
from .formats import (KERAS_OUTPUTS, output_kind, write_h5_layers, write_h5_model, write_keras_zip,
                      write_keras_zip_layers)
from .plan import plan_changes, walk_layers


def source_of(graph: Graph, source: str | os.PathLike[str] | None) -> str:
    """The Keras file ``graph`` was imported from: ``source``, or the path ``load`` recorded."""
    if source is not None:
        return os.fspath(source)
    recorded = graph.metadata.get("source")
    if not recorded:
        raise ModelFormatError("writing a Keras model needs the Keras file the graph was loaded from: pass "
                               "source='model.h5' (the graph records none)")
    return str(recorded)


def reference_graph(graph: Graph, path: str, limits: Limits | None) -> Graph:
    """``path`` imported again as ``graph`` was (same input shapes and backend), before pruning:
    with the pruning cleanup (``prune.prune_passes``) when that gives ``graph``'s structure, else as
    imported (a graph saved without any pass)."""
    from ...ir.passes import optimize
    from ...prune import prune_passes
    from ..keras.loader import load_keras

    pins = {v.name: tuple(v.shape) for v in graph.inputs}
    backend = graph.metadata.get("keras_backend") or None
    raw = load_keras(path, None, pins, backend, limits=limits)
    cleaned = raw.copy()
    optimize(cleaned, prune_passes())
    if structure_difference(graph, cleaned) is None or structure_difference(graph, raw) is not None:
        return cleaned
    return raw


def write_keras(graph: Graph, out: str | os.PathLike[str], source: str | os.PathLike[str] | None = None, *,
                limits: Limits | None = None, inputs: Sequence[str | os.PathLike[str] | None] = ()) -> str:
    """Write ``graph`` (imported from the Keras file ``source``, then pruned) as a Keras model file
    that Keras itself loads: ``.keras`` (Keras 3 zip) or ``.h5``/``.hdf5`` (an HDF5 full model in the
    source's own era: Keras 1/2 legacy or Keras 3). A Keras 2 source is written in its own
    container; a Keras 3 one in either; a Keras 1 one as ``.h5`` (Keras 1) or as ``.keras`` in
    Keras 3's form (config and layouts of Keras 3, what Keras 3 loads: ``keras1.py``).

    Args:
        graph: the graph ``keras2edge.load(source, cleanup=False)`` gave, after ``prune.prune_passes``
            and weight changes (``Graph.replace_const``: zeros, removed channels).
        out: the output path; its extension picks the container.
        source: the Keras file the graph came from (default: ``graph.metadata["source"]``).
        limits: memory limits for reading the source again (default ``Limits.default()``).
        inputs: other files of the same run the output may not overwrite.

    Returns:
        The path written.

    Raises:
        ModelFormatError: no source, a source that is not a full Keras model, an output format other
            than the source's, a graph whose layers or ops differ from the source's, a changed layer
            keras2edge cannot write back (each naming the Keras layer and its class).
        OutputPathError: ``out`` may not be written (it is the source, a folder, read-only...).
    """
    path = source_of(graph, source)
    dest = os.fspath(out)
    kind = output_kind(dest)
    check_output(dest, inputs=(path, *inputs))
    limits = resolve(limits)
    where = repr(path)
    if sniff(path) not in (FileKind.HDF5, FileKind.ZIP):
        raise ModelFormatError(
            f"cannot write {dest!r}: the source {where} is not a Keras model file holding its weights (an "
            "HDF5 .h5 or a .keras archive; an architecture JSON with a separate weights file cannot be written "
            "back); convert the model to .keras or .h5 first")
    reference = reference_graph(graph, path, limits)
    check_structure(graph, reference, where)
    with open_source(path, None, limits) as src:
        if kind == ".keras" and src.weights is not None:
            from .keras1 import is_keras1, write_keras1

            model = parse_model(src.config, where)
            if is_keras1(src, model):  # written in Keras 3's form (keras1.py)
                write_keras1(dest, src, model, graph, reference, reference.metadata.get("keras_backend") == "theano",
                             where, (path, *inputs))
                return dest
        same = src.container == KERAS_OUTPUTS[kind]
        if not same and not (src.container in KERAS_OUTPUTS.values() and src.keras_version.startswith("3.")):
            raise ModelFormatError(
                f"cannot write {dest!r} from {where}: the source is a {src.container or 'JSON'} Keras "
                f"{src.keras_version or '(unknown version)'} file; keras2edge writes a pruned model back in the "
                f"source's own container ({'.keras' if src.container == '.keras' else '.h5'}), or in the other one "
                "for a Keras 3 .keras / .h5 source")
        assert src.weights is not None  # open_source refuses a model without weights
        model = parse_model(src.config, where)
        layers = {ly.name for _, _, ly in walk_layers(model)}
        graph_consts = layer_constants(graph, layers)
        plan = plan_changes(model, src.weights, graph_consts, layer_constants(reference, layers),
                            where, reference.metadata.get("keras_backend") == "theano")
        config: dict[str, Any] = src.config
        entries = layer_entries(config)
        for change in plan.changes:
            if change.reshaped and change.name in entries:
                set_fields(entries[change.name], change.updates, where)
        specs = {ly.name: ly for _, ly in model.walk()}
        shapes = ShapeMap(specs, layer_output_shapes(reference), layer_output_shapes(graph),
                          {v.name: tuple(v.shape) for v in graph.inputs})
        update_shapes(entries, shapes)
        reader = WeightReader(limits)
        outputs_to = (path, *inputs)
        if same and kind == ".keras":
            write_keras_zip(dest, config, src.weights, plan.replace, src.keras_version, reader, where, outputs_to)
        elif same:
            write_h5_model(dest, config, src.weights, plan.replace, reader, where, outputs_to)
        else:
            arrays = layer_arrays(model, src.weights, plan.replace, graph_consts, where)
            if kind == ".keras":
                inputs_keys = [(k, ly.name) for ly, k in zip(model.layers, keras3_keys([ly.cls for ly in model.layers]))
                               if ly.cls == "InputLayer" and model.cls != "Sequential"]
                write_keras_zip_layers(dest, keras3_config(config, where), arrays, inputs_keys, src.keras_version,
                                       outputs_to)
            else:
                write_h5_layers(dest, h5_model_config(config), arrays, src.keras_version, "tensorflow", outputs_to)
    return dest
