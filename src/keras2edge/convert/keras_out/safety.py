"""What a written Keras file may reference: the source's model config -> refused if it would carry code
or a custom object into the output.

keras2edge copies the source's config into the file it writes (only the fields pruning changes are
edited). The importer only needs what it maps to IR ops, so a config can hold references it never
looks at (an initializer, a regularizer, a constraint, a layer's or the model's own ``module``) that
Keras would resolve when the *written* file is loaded. Refused with an
:class:`~keras2edge.errors.UnsafeContentError` naming the Keras layer (name and class) and the field:

* a ``module`` outside Keras (``keras``, ``keras.*``, ``tf_keras``, ``tf_keras.*``): Keras imports the
  module a serialized object names;
* a serialized Python function or layer holding code: ``class_name`` ``__lambda__``, ``Lambda``,
  ``TensorFlowOpLayer``;
* a ``registered_name`` of Keras' custom-object registry (``package>Name``): a user's class.

Layer names are written as HDF5 attribute strings and, in an HDF5 full model laid out anew
(``formats.write_h5_layers``), as group names: :func:`check_layer_names` refuses a name with a NUL
character (HDF5 strings cannot hold it) and, for group names, one that is empty, ``.``/``..`` or holds
``/`` (an HDF5 path: ``/x`` would put the layer's weights outside ``model_weights``). A ``.keras``
archive's member names are fixed (``metadata.json``, ``config.json``, ``model.weights.h5``): no name
from the source becomes a path in the archive or on disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...errors import UnsafeContentError

#: Modules whose objects a written file may reference (Keras' own).
KERAS_MODULES = ("keras", "tf_keras")
#: Serialized classes that hold code.
CODE_CLASSES = frozenset({"__lambda__", "Lambda", "TensorFlowOpLayer"})


def _keras_module(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in KERAS_MODULES)


def check_no_code(config: Any, where: str) -> None:
    """Refuse ``config`` (a Keras model config, as JSON values) if it references code or a custom
    object (see the module); ``where`` names the source file."""
    _walk(config, where, ("the model", "Model"), "")


def _walk(node: Any, where: str, layer: tuple[str, str], field: str) -> None:
    if isinstance(node, list):
        for i, v in enumerate(node):
            _walk(v, where, layer, f"{field}[{i}]")
        return
    if not isinstance(node, dict):
        return
    cls = node.get("class_name")
    cfg = node.get("config")
    if isinstance(cls, str) and isinstance(cfg, dict) and isinstance(node.get("name", cfg.get("name")), str) \
            and not field.rsplit(".", 1)[-1].endswith(("initializer", "regularizer", "constraint", "dtype")):
        layer, field = (str(node.get("name", cfg.get("name"))), cls), ""
    module, registered = node.get("module"), node.get("registered_name")
    what = f"{where}: Keras layer {layer[0]!r} ({layer[1]})" + (f", field {field.lstrip('.')!r}" if field else "")
    tail = ("; keras2edge never carries code or custom objects into a file it writes (only Keras' own objects, "
            "module keras.*): replace it in the source model with a built-in one")
    if isinstance(module, str) and module and not _keras_module(module):
        raise UnsafeContentError(f"{what}: references module {module!r}, which Keras would import when loading "
                                 f"the written file{tail}")
    if cls in CODE_CLASSES:
        raise UnsafeContentError(f"{what}: is a serialized {cls!r}, which holds code{tail}")
    if isinstance(registered, str) and ">" in registered:
        raise UnsafeContentError(f"{what}: is the custom object {registered!r}{tail}")
    for k, v in node.items():
        if k not in ("module", "registered_name", "class_name"):
            _walk(v, where, layer, f"{field}.{k}")


def check_layer_names(layers: Iterable[tuple[str, str]], where: str, group_names: bool) -> None:
    """Refuse a layer name (``(name, class)`` pairs) HDF5 cannot hold as written (see the module);
    ``group_names``: the names become HDF5 group names."""
    for name, cls in layers:
        bad = "\x00" in name or (group_names and (name in ("", ".", "..") or "/" in name))
        if bad:
            raise UnsafeContentError(
                f"{where}: Keras layer {name!r} ({cls}): a layer name written to an HDF5 file "
                + ("must be one HDF5 link name (not empty, '.' or '..', no '/' or NUL)" if group_names
                   else "cannot hold a NUL character") + "; rename the layer in the source model")


__all__ = ["CODE_CLASSES", "KERAS_MODULES", "check_layer_names", "check_no_code"]
