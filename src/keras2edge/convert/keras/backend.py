"""Which Keras backend trained a file's weights: decides whether conv kernels get Theano's flip.

Theano convolves (it flips the kernel), TensorFlow, ONNX and TFLite correlate: a conv kernel
trained under Theano gives the same outputs here only once flipped spatially. Keras 1 files never
record their backend (Keras 2 writes a ``backend`` attribute), and their dim ordering does not
tell it: Theano-trained files with 'tf' ordering and TensorFlow-trained files with 'th' ordering
both exist. ``resolve_backend`` applies this rule; the first step that applies decides, and
``BackendChoice.rule`` names it:

1. ``option`` — the ``backend=`` argument (CLI ``--backend theano|tensorflow``).
2. ``recorded`` — the ``backend`` attribute the file records: the weights file's HDF5 root or
   ``model_weights`` group first (those are the arrays that get flipped), then the model file's
   (HDF5 root, or the ``backend`` key ``to_json()`` writes from Keras 2.0).
3. ``keras3`` — a Keras 3 container (``.keras``, ``.weights.h5``) or ``keras_version`` 3.x:
   Keras 3 has no Theano backend.
4. ``weight-names`` — the dataset names Keras 1 writes are the backend's variable names
   (``save_weights_to_hdf5_group``: ``weight_names`` = each ``w.name``, or ``param_<i>`` for an
   unnamed one). A TensorFlow variable's name ends in ``:<output index>``
   (``convolution2d_1_W:0``); a Theano shared variable's name is the bare name Keras gave it
   (``lstm_1_W_i``). Any ``:N`` name -> tensorflow; names present and none with ``:N`` ->
   theano; ``param_<i>`` names are no evidence.
5. ``keras-version`` — the default backend of the Keras release that wrote the file
   (``keras/backend/__init__.py`` at each tag of keras-team/keras): ``_BACKEND = 'theano'`` in
   0.x and 1.0.0 (2016-04-11) to 1.0.8 (2016-08-27); ``'tensorflow'`` from 1.1.0 (2016-09-19;
   1.1.1–1.1.2 kept Theano on Windows only) and in every 2.x. ``to_json()`` records ``keras_version`` from 1.0.4 and ``model.save()``
   from 1.0.7, so a Keras 1 architecture JSON without it comes from 1.0.0–1.0.3 (Theano).
   Weak evidence: the default only applied to a fresh install, ``~/.keras/keras.json`` kept
   whatever backend the user first had.
6. ``default`` — nothing in the files tells: assume tensorflow, Keras' default since 1.1.0.

Keras 2's own loader reads an unrecorded backend as "no conversion" (``_need_convert_kernel(None)``
is False in keras/engine/saving.py), so it loads Theano-trained Keras 1 files unflipped.

Steps 4–6 are inferences: the loader logs a warning that names the rule, the evidence, the
layers it affects and the ``--backend`` override, so a conversion is never silently wrong.

Which layers depend on it follows Keras 2's own loader (``preprocess_weights_for_loading`` in
keras/engine/saving.py, 2.2.4: ``convert_kernel`` on Conv1D, Conv2D, Conv3D, Conv2DTranspose and
ConvLSTM2D): of those keras2edge imports Conv1D, Conv2D and Conv2DTranspose (``legacy.CONV_KERNELS``:
Keras 1 Convolution1D/2D, AtrousConvolution1D/2D, Deconvolution2D), also inside TimeDistributed.
Separable and depthwise convolutions are not flipped (Keras 1's SeparableConvolution2D refuses
any backend but TensorFlow; Keras 2 does not list them); recurrent layers do not convolve.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ...errors import OptionError
from .config import LayerSpec, ModelSpec
from .legacy import CONV_KERNELS, translate_layer
from .sources import KerasSource
from .weights import Keras3Weights, LegacyH5Weights, decode_str, read_str_list_attr

log = logging.getLogger(__name__)

BACKENDS = ("theano", "tensorflow")
INFERRED_RULES = ("weight-names", "keras-version", "default")
_TF_NAME = re.compile(r":\d+$")
_UNNAMED = re.compile(r"param_\d+$")
_VERSION = re.compile(r"(\d+)\.(\d+)")


@dataclass(frozen=True)
class BackendChoice:
    """The backend a file's weights are read as, which rule decided it and on what evidence."""

    backend: str
    rule: str
    evidence: str

    @property
    def inferred(self) -> bool:
        """True when the files do not say: the choice is an inference the user should confirm."""
        return self.rule in INFERRED_RULES

    @property
    def theano(self) -> bool:
        return self.backend == "theano"

    def metadata(self) -> dict[str, str]:
        """What ``Graph.metadata`` (and so ONNX ``metadata_props`` and ``inspect``) records."""
        return {"keras_backend": self.backend, "keras_backend_rule": self.rule,
                "keras_backend_evidence": self.evidence}

    def warning(self, path: str, layers: list[str]) -> str:
        """One line: the assumption, the rule and evidence, what it changes, how to override it."""
        if not layers:
            effect = "no layer of this model depends on it"
        elif self.theano:
            effect = f"conv kernels flipped for Theano's true convolution in {', '.join(layers)}"
        else:
            effect = f"conv kernels kept as stored (TensorFlow correlation) in {', '.join(layers)}"
        other = BACKENDS[1 - BACKENDS.index(self.backend)] if self.backend in BACKENDS else "theano"
        return (f"{path!r} does not record the Keras backend that trained it; assuming {self.backend} "
                f"(rule {self.rule}: {self.evidence}); {effect}. If that is wrong, pass --backend {other} "
                f"(API: backend={other!r})")


def check_option(backend: str | None) -> str | None:
    """Validate the ``backend`` argument (None, 'theano' or 'tensorflow')."""
    if backend is not None and backend not in BACKENDS:
        raise OptionError(f"unknown Keras backend {backend!r} (--backend / backend=); supported: "
                          f"{', '.join(BACKENDS)}, or none to read it from the file")
    return backend


def _recorded(src: KerasSource) -> tuple[str, str]:
    store = src.weights
    if isinstance(store, LegacyH5Weights):
        for attrs in (store.group.attrs, store.group.file.attrs):
            if "backend" in attrs:
                return decode_str(attrs["backend"]), f"the 'backend' attribute of {store.description}"
    if src.backend:
        return src.backend, f"the backend {src.path!r} records"
    return "", ""


def _weight_names(store: LegacyH5Weights) -> Iterator[str]:
    for layer in store.layer_names:
        if layer in store.group:
            yield from read_str_list_attr(store.group[layer].attrs, "weight_names")


def _by_names(src: KerasSource) -> BackendChoice | None:
    if not isinstance(src.weights, LegacyH5Weights):
        return None
    names = [n for n in _weight_names(src.weights) if not _UNNAMED.match(n.rsplit("/", 1)[-1])]
    tf = [n for n in names if _TF_NAME.search(n)]
    if tf:
        return BackendChoice("tensorflow", "weight-names",
                             f"{len(tf)} of {len(names)} weight names carry TensorFlow's ':N' suffix ({tf[0]})")
    if names:
        return BackendChoice("theano", "weight-names",
                             f"none of its {len(names)} weight names carries TensorFlow's ':N' suffix "
                             f"({names[0]}): Theano variable names")
    return None


def _is_keras1_config(model: ModelSpec) -> bool:
    return any(translate_layer(ly.cls, ly.config)[1].get("_keras1") for ly in _all_layers(model))


def _by_version(src: KerasSource, model: ModelSpec) -> BackendChoice | None:
    m = _VERSION.match(src.keras_version)
    if m:
        major, minor = int(m.group(1)), int(m.group(2))
        if major == 0 or (major, minor) == (1, 0):
            return BackendChoice("theano", "keras-version",
                                 f"Keras {src.keras_version} wrote it, whose default backend was Theano (until 1.0.8)")
        return BackendChoice("tensorflow", "keras-version",
                             f"Keras {src.keras_version} wrote it, whose default backend was TensorFlow (from 1.1.0)")
    if src.container == "JSON" and _is_keras1_config(model):
        return BackendChoice("theano", "keras-version",
                             "a Keras 1 architecture JSON without keras_version comes from Keras 1.0.0-1.0.3 "
                             "(to_json() records it from 1.0.4), whose default backend was Theano")
    return None


def resolve_backend(src: KerasSource, model: ModelSpec, option: str | None = None) -> BackendChoice:
    """Apply the rule of the module docstring to an opened source and its parsed config."""
    if check_option(option) is not None:
        return BackendChoice(str(option), "option", "given explicitly")
    recorded, where = _recorded(src)
    if recorded:
        return BackendChoice(recorded, "recorded", where)
    if src.container == ".keras" or isinstance(src.weights, Keras3Weights) or src.keras_version.startswith("3."):
        return BackendChoice("tensorflow", "keras3", "a Keras 3 file: Keras 3 has no Theano backend, its kernels "
                             "are for correlation")
    return (_by_names(src) or _by_version(src, model)
            or BackendChoice("tensorflow", "default", "no backend attribute, no backend-specific weight names and "
                             "no keras_version: TensorFlow is Keras' default backend since 1.1.0"))


def _all_layers(model: ModelSpec) -> Iterator[LayerSpec]:
    for ly in model.layers:
        if ly.model is not None:
            yield from _all_layers(ly.model)
        else:
            yield ly


def backend_dependent_layers(model: ModelSpec) -> list[str]:
    """Names of the layers whose weights the backend changes (conv kernels, also inside wrappers)."""
    out = []
    for ly in _all_layers(model):
        cls, cfg = translate_layer(ly.cls, ly.config)
        inner = cfg.get("layer") if isinstance(cfg.get("layer"), dict) else None
        if inner is not None and isinstance(inner.get("config"), dict):
            cls = translate_layer(str(inner.get("class_name")), inner["config"])[0]
        if cls in CONV_KERNELS:
            out.append(ly.name)
    return out


def report_backend(choice: BackendChoice, path: str, model: ModelSpec) -> None:
    """Log the choice: a warning when it is an inference, a debug line otherwise."""
    if choice.inferred:
        log.warning(choice.warning(path, backend_dependent_layers(model)))
    else:
        log.debug("%r: Keras backend %s (rule %s: %s)", path, choice.backend, choice.rule, choice.evidence)
