"""The public Python API: load a Keras model, optimize it, save it (ONNX, TFLite), inspect it.

    g = keras2edge.load("model.h5")                 # IR graph, cleanup passes applied
    keras2edge.save(g, "model.onnx")                 # atomic write (.onnx or .tflite)
    q = keras2edge.quantize(g, calibration=x)        # int8 QDQ graph (calibrated in the runtime)
    report = keras2edge.inspect("model.h5")          # per-layer params and MACs
    outs = keras2edge.run_tflite("m.tflite", x)      # NumPy runtime; real values in/out (raw=True: integers)
    keras2edge.bench_tflite("m.tflite", runs=100)    # BenchResult: cold start, latency, arena, peak RSS

The CLI is a thin layer over these functions.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from .arguments import check_input_shapes
from .bench import BenchResult, bench_tflite
from .errors import ModelFormatError, RuntimeModelError
from .fileio import check_output
from .ir import Graph
from .ir.passes import optimize
from .quantio import RunOutputs
from .report import ModelReport, graph_report, tflite_report
from .runtime.limits import Limits

if TYPE_CHECKING:
    from .check import TflmCheck

__all__ = ["BenchResult", "RunOutputs", "bench_tflite", "check_save_path", "check_tflm", "convert_model", "inspect", "inspect_tflite", "load",
           "optimize", "quantize", "run_tflite", "save"]

# Heavy dependencies (h5py, onnx) are imported inside the functions that need them, so that
# `import keras2edge.runtime` (which imports this package first) stays numpy-only.

InputShapes = Mapping[str, Sequence["int | None"]]


def load(model: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None, *,
         input_shapes: InputShapes | None = None, cleanup: bool = True, backend: str | None = None,
         limits: Limits | None = None, allow_nonfinite: bool = False) -> Graph:
    """Import a Keras model file into an IR graph.

    The file is treated as untrusted: nothing in it is executed, nothing outside it is read, and
    nothing it declares is allocated beyond ``limits`` (see docs/security.md).

    Args:
        model: a Keras 1/2/3 HDF5 file, a ``.keras`` archive, or an architecture JSON.
        weights: the weights file, when ``model`` is an architecture JSON.
        input_shapes: pin input shapes by input name, e.g. ``{"input_1": (1, 224, 224, 3)}``
            (needed for recurrent layers whose sequence length is not in the model).
        cleanup: run the cleanup passes (fold BatchNormalization, identities, constants; dead code).
        backend: ``"theano"`` or ``"tensorflow"``: the Keras backend that trained the weights
            (Theano conv kernels are flipped). None reads it from the file, or infers it with a
            logged warning when the file does not record it (Keras 1); ``graph.metadata`` says which.
        limits: memory limits (default ``Limits.default()``: 4 GiB, or ``K2E_MAX_MEMORY``).
        allow_nonfinite: convert NaN/Inf weights and negative BatchNormalization variances with a
            logged warning instead of refusing them.

    Returns:
        The graph (NHWC, every node tagged with its Keras layer name and class).
    """
    from .convert.keras import load_keras

    shapes = check_input_shapes(input_shapes)
    graph = load_keras(os.fspath(model), None if weights is None else os.fspath(weights), shapes, backend,
                       limits=limits, allow_nonfinite=allow_nonfinite)
    if cleanup:
        optimize(graph)
    return graph


def save(graph: Graph, path: str | os.PathLike[str], *, opset: int | None = None,
         nchw_inputs: bool = False, sources: Sequence[str | os.PathLike[str] | None] = ()) -> str:
    """Write ``graph`` to ``path``; the format follows the extension (``.onnx`` or ``.tflite``).

    ``opset`` and ``nchw_inputs`` apply to ONNX only; a ``.tflite`` file is float32 with builtin
    operators only, written at batch 1 with the dynamic batch kept in ``shape_signature``.

    The weights are streamed from the graph into the file (never gathered into one bytes object),
    and the file is written to a temporary name and renamed, so a failure never leaves a partial file.
    ``path`` is checked before the graph is emitted and again when it is written (see
    ``keras2edge.fileio``): never one of ``sources`` (the files the graph was read from), a FIFO,
    a device, a folder or a read-only file. Returns the path written.
    """
    p, ext = _check_save_args(path, opset, sources)
    if ext == ".onnx":
        from .convert.onnx import save_onnx

        save_onnx(graph, p, inputs=sources, opset=opset, nchw_inputs=nchw_inputs)
    else:
        from .convert.tflite import save_tflite

        save_tflite(graph, p, inputs=sources)
    return p


def check_save_path(path: str | os.PathLike[str], sources: Sequence[str | os.PathLike[str] | None] = ()) -> str:
    """Check that ``path`` can be written by :func:`save` (format, not one of ``sources``, ...) before
    any work; returns it."""
    return _check_save_args(path, None, sources)[0]


def _check_save_args(path: str | os.PathLike[str], opset: int | None,
                     inputs: Sequence[str | os.PathLike[str] | None] = ()) -> tuple[str, str]:
    """(path, extension) once the format, the opset and the output path are known to be good."""
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    if ext not in (".onnx", ".tflite"):
        raise ModelFormatError(f"cannot write {p!r}: unknown output format {ext or '(no extension)'!r}; "
                               "supported: .onnx, .tflite")
    if ext == ".onnx" and opset is not None:
        from .convert.onnx import check_opset

        check_opset(opset)
    check_output(p, inputs=inputs)
    return p, ext


def convert_model(model: str | os.PathLike[str], output: str | os.PathLike[str], *,
            weights: str | os.PathLike[str] | None = None, input_shapes: InputShapes | None = None,
            opset: int | None = None, nchw_inputs: bool = False, backend: str | None = None,
            limits: Limits | None = None, allow_nonfinite: bool = False) -> Graph:
    """Load ``model`` and save it to ``output`` in one step; returns the converted graph.

    The arguments and the output path are checked before the model is read: the output may not be
    the model or the weights file (see :func:`save`).
    """
    _check_save_args(output, opset, (model, weights))
    graph = load(model, weights, input_shapes=input_shapes, backend=backend, limits=limits,
                 allow_nonfinite=allow_nonfinite)
    save(graph, output, opset=opset, nchw_inputs=nchw_inputs, sources=(model, weights))
    return graph


def quantize(model: Graph | str | os.PathLike[str], *, calibration: object = None, scheme: str = "int8",
             method: str = "minmax", per_tensor: bool = False, io: str = "float", batch_size: int = 32,
             input_shapes: InputShapes | None = None, cle: bool | None = None, bias_correction: bool | None = None,
             adaround: bool | None = None) -> Graph:
    """Post-training quantization without TensorFlow: a new graph in QDQ form (``model`` untouched)
    that :func:`save` writes as QDQ ONNX (and, with the TFLite integer lowering, as int8 ``.tflite``).

    Args:
        model: an IR graph (from :func:`load`) or a Keras model file (loaded with ``input_shapes``).
        calibration: representative inputs: an array (one input), a dict by input name, an iterable
            of either (batches), or a ``.npy``/``.npz`` path (see ``keras2edge.quantize.data``);
            required by ``"int8"``, not used by the weight-only schemes.
        scheme: ``"int8"``, ``"dynamic"`` (int8 weights, float activations) or ``"float16"`` (float16
            weights): a key of ``keras2edge.quantize.schemes.SCHEMES``.
        method: range observer (a key of ``keras2edge.quantize.observers.OBSERVERS``; ``"minmax"``).
        per_tensor: one weight scale per tensor instead of per output channel.
        io: model inputs and outputs as ``"float"`` (Quantize/Dequantize inside), ``"int8"`` or ``"uint8"``.
        batch_size: calibration samples run at once.
        cle, bias_correction, adaround: the int8 scheme's accuracy-preserving algorithms (cross-layer
            equalization, empirical bias correction, AdaRound-style rounding); None = the scheme's
            default (``keras2edge.quantize.algorithms``), True/False forces. What ran is in the
            graph's ``metadata["quantization_algorithms"]``.

    Raises:
        QuantizationError: unknown scheme/method/io, or calibration data that does not fit the model
            (naming the input and both shapes).
    """
    from .quantize import QuantizeOptions, check_options, quantize_graph

    options = QuantizeOptions(scheme=scheme, calibration=calibration, method=method, per_tensor=per_tensor, io=io,
                              batch_size=batch_size, cle=cle, bias_correction=bias_correction, adaround=adaround)
    check_options(options)
    graph = model if isinstance(model, Graph) else load(model, input_shapes=input_shapes)
    return quantize_graph(graph, options)


def inspect(model: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None, *,
            input_shapes: InputShapes | None = None, backend: str | None = None, limits: Limits | None = None,
            allow_nonfinite: bool = False) -> ModelReport:
    """Per-layer report of a Keras model: Keras name, class, output shape, params, MACs; totals;
    the Keras backend the weights are read as and the rule that decided it."""
    graph = load(model, weights, input_shapes=input_shapes, cleanup=False, backend=backend, limits=limits,
                 allow_nonfinite=allow_nonfinite)
    return graph_report(graph, os.fspath(model))


def inspect_tflite(path: str | os.PathLike[str], *, limits: Limits | None = None) -> dict[str, object]:
    """A ``.tflite`` file's ops (versions, MACs), tensors (dtypes, shapes, quantization), planned
    arena bytes and totals, as a JSON-ready dict (read by keras2edge's own runtime).

    ``limits``: memory limits (default ``Limits.default()``); a tensor or arena beyond them raises
    LimitExceededError naming the tensor and its shape before anything is allocated.
    """
    with _naming_the_file(path):
        return tflite_report(os.fspath(path), limits)


def check_tflm(path: str | os.PathLike[str], *, limits: Limits | None = None) -> TflmCheck:
    """Check a ``.tflite`` file for TensorFlow Lite for Microcontrollers (TFLite Micro).

    Returns a :class:`~keras2edge.check.TflmCheck`: the operators TFLite Micro cannot run (with the
    Keras layer each came from, for files keras2edge wrote), the tensor arena to give
    ``tflite::MicroInterpreter``, the flash the model takes (file and weights), and each input and
    output's dtype, shape, scale and zero point with the C that fills or reads it. ``.runs`` is False
    when an operator is unsupported or computes wrong results. See docs/tflm-check.md.

    ``limits``: memory limits, as for :func:`inspect_tflite`.
    """
    from .check import check_tflm as _check

    with _naming_the_file(path):
        return _check(path, limits)


def run_tflite(path: str | os.PathLike[str], inputs: object, *, raw: bool = False,
               limits: Limits | None = None) -> RunOutputs:
    """Run a ``.tflite`` file with keras2edge's NumPy runtime; returns {output name: array}.

    Args:
        path: the ``.tflite`` file.
        inputs: an array (single-input model), a dict by input name, or a list in input order.
        raw: for quantized (int8/uint8/int16) inputs and outputs: False (default) takes real values
            and quantizes them with each input's own parameters, and dequantizes quantized outputs
            to float32; True passes the integer tensors as they are (an input must then have exactly
            the model's integer dtype). An array of a quantized input's own integer dtype is refused
            without ``raw`` (it could be either); see :mod:`keras2edge.quantio` for every rule.
        limits: memory limits, as for :func:`inspect_tflite`.

    Returns:
        A :class:`keras2edge.quantio.RunOutputs`: a dict output name -> array (in the model's output
        order) whose ``conversions`` list says what was done to each input and output.
    """
    from .quantio import convert_inputs, convert_outputs
    from .runtime import Interpreter

    with _naming_the_file(path):
        interp = Interpreter(os.fspath(path), limits=limits)
        fed, ins = convert_inputs(interp.get_input_details(), inputs, raw=raw)
        out = interp.run(fed)
        values = [out[n] for n in interp.output_names] if isinstance(out, dict) else [out]
        outs, conv = convert_outputs(interp.get_output_details(), values, raw=raw)
    return RunOutputs(outs, ins + conv)


@contextlib.contextmanager
def _naming_the_file(path: str | os.PathLike[str]) -> Iterator[None]:
    """The runtime says what is wrong inside the bytes it was given; name the file they came from."""
    try:
        yield
    except RuntimeModelError as e:
        p = os.fspath(path)
        if p in str(e):
            raise
        raise type(e)(f"{p!r}: {e}") from e
