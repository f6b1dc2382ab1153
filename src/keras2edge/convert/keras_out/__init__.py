"""Write a (pruned) IR graph back as a Keras model file that Keras itself loads (issue 12 item 5).

    g = keras2edge.load("model.keras", cleanup=False)
    keras2edge.optimize(g, keras2edge.prune.prune_passes())
    ... prune: g.replace_const(...) (zeros, removed channels) ...
    write_keras(g, "pruned.keras")       # or keras2edge.save(g, "pruned.keras", source="model.keras")

One role per module:

* ``writer`` — :func:`write_keras`, the whole path (read the source again, check, plan, write);
* ``compare`` — the graph against the reference (the source imported again): structure, each
  Keras layer's constants and output shapes;
* ``exporters`` — :data:`KERAS_EXPORTERS`, Keras class -> the inverse of its importer handler;
* ``plan`` — which arrays and config fields change;
* ``configedit`` — the config edits (fields, Keras 3 build/tensor shapes);
* ``h5copy`` / ``formats`` — the HDF5 copy and the two containers (HDF5 full model, ``.keras``);
* ``safety`` — what the written file may reference (refusals of code and custom objects, layer names).

Nothing read from the source file is executed: the writer only copies JSON values and arrays; and
nothing executable is carried into the written file (``safety``: non-Keras modules, serialized
lambdas and custom objects in the source's config are refused, as are layer names HDF5 cannot hold).
"""

from __future__ import annotations

from .exporters import KERAS_EXPORTERS, LayerExport
from .formats import KERAS_OUTPUTS
from .writer import write_keras

__all__ = ["KERAS_EXPORTERS", "KERAS_OUTPUTS", "LayerExport", "write_keras"]
