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
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from .arguments import check_input_shapes
from .bench import BenchResult, bench_tflite
from .errors import ModelFormatError, OptionError, RuntimeModelError
from .fileio import check_output
from .ir import Graph
from .ir.passes import optimize
from .quantio import RunOutputs
from .report import ModelReport, graph_report, tflite_report
from .runtime.limits import Limits

if TYPE_CHECKING:
    from .check import TflmCheck
    from .quantize.report import QuantReport

    from .prune import PruneResult

__all__ = ["BenchResult", "RunOutputs", "bench_tflite", "check_save_path", "check_tflm", "convert_model", "inspect", "inspect_tflite", "load",
           "optimize", "prune", "quantize", "quantize_pruned", "run_tflite", "save", "save_pruned"]

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
         nchw_inputs: bool = False, sources: Sequence[str | os.PathLike[str] | None] = (),
         source: str | os.PathLike[str] | None = None, sparse: bool = False) -> str:
    """Write ``graph`` to ``path``; the format follows the extension (``.onnx`` or ``.tflite``; or
    ``.keras``/``.h5`` for a pruned graph, see below).

    ``opset`` and ``nchw_inputs`` apply to ONNX only; a ``.tflite`` file is float32 with builtin
    operators only, written at batch 1 with the dynamic batch kept in ``shape_signature``.

    The weights are streamed from the graph into the file (never gathered into one bytes object),
    and the file is written to a temporary name and renamed, so a failure never leaves a partial file.
    ``path`` is checked before the graph is emitted and again when it is written (see
    ``keras2edge.fileio``): never one of ``sources`` (the files the graph was read from), a FIFO,
    a device, a folder or a read-only file. Returns the path written.

    ``.keras`` / ``.h5`` / ``.hdf5``: a graph loaded with ``cleanup=False``, given
    ``keras2edge.prune.prune_passes()`` and pruned (weights changed, channels removed) is written
    back into its source Keras file's config and weights, in that file's container, for Keras to load
    (``keras2edge.convert.keras_out.write_keras``); ``source`` is that file (default: the path
    ``load`` recorded in ``graph.metadata["source"]``).

    ``sparse`` (``.tflite`` only): float32 weights with exact zeros (pruned) are stored sparse, read
    through DENSIFY, where that makes the file smaller (LiteRT runs it; TFLite Micro does not:
    ``keras2edge check --target tflm`` says so). See ``docs/sparsity.md``.
    """
    if _is_keras_output(path):
        from .convert.keras_out import write_keras

        _check_sparse(os.fspath(path), os.path.splitext(os.fspath(path))[1].lower(), sparse)
        return write_keras(graph, path, source, inputs=sources)
    p, ext = _check_save_args(path, opset, sources)
    _check_sparse(p, ext, sparse)
    if ext == ".onnx":
        from .convert.onnx import save_onnx

        save_onnx(graph, p, inputs=sources, opset=opset, nchw_inputs=nchw_inputs)
    else:
        from .convert.tflite import save_tflite

        save_tflite(graph, p, inputs=sources, sparse=sparse)
    return p


def check_save_path(path: str | os.PathLike[str], sources: Sequence[str | os.PathLike[str] | None] = (), *,
                    keras: bool = False, opset: int | None = None, sparse: bool = False) -> str:
    """Check that ``path`` can be written by :func:`save` (format, not one of ``sources``, ...) before
    any work; returns it. ``keras=True`` also accepts the Keras outputs of a pruned graph
    (``.keras``, ``.h5``, ``.hdf5``); ``opset`` and ``sparse`` are checked as :func:`save` will."""
    if keras and _is_keras_output(path):
        _check_sparse(os.fspath(path), os.path.splitext(os.fspath(path))[1].lower(), sparse)
        return check_output(os.fspath(path), inputs=sources)
    p, ext = _check_save_args(path, opset, sources)
    _check_sparse(p, ext, sparse)
    return p


def _is_keras_output(path: str | os.PathLike[str]) -> bool:
    """Whether :func:`save` writes ``path`` as a Keras model (the writer, which brings h5py, is
    imported only for an extension that is not ONNX or TFLite)."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext in (".onnx", ".tflite"):
        return False
    from .convert.keras_out import KERAS_OUTPUTS

    return ext in KERAS_OUTPUTS


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
            limits: Limits | None = None, allow_nonfinite: bool = False, sparse: bool = False) -> Graph:
    """Load ``model`` and save it to ``output`` in one step; returns the converted graph
    (``sparse``: see :func:`save`).

    The arguments and the output path are checked before the model is read: the output may not be
    the model or the weights file (see :func:`save`).
    """
    _check_sparse(os.fspath(output), _check_save_args(output, opset, (model, weights))[1], sparse)
    graph = load(model, weights, input_shapes=input_shapes, backend=backend, limits=limits,
                 allow_nonfinite=allow_nonfinite)
    save(graph, output, opset=opset, nchw_inputs=nchw_inputs, sources=(model, weights), sparse=sparse)
    return graph


def quantize(model: Graph | str | os.PathLike[str], *, calibration: object = None, scheme: str = "int8",
             method: str = "minmax", per_tensor: bool = False, io: str = "float", batch_size: int = 32,
             input_shapes: InputShapes | None = None, keep_float: Sequence[str] = (),
             int16: Sequence[str] = (), eval_data: object = None, report: bool = False,
             max_drop: float | None = None, cle: bool | None = None, bias_correction: bool | None = None,
             adaround: bool | None = None,
             high_bias_absorption: bool | None = None,
             progress: Callable[[str, int, int | None], None] | None = None) -> Graph | tuple[Graph, QuantReport]:
    """Post-training quantization without TensorFlow: a new graph in QDQ form (``model`` untouched)
    that :func:`save` writes as QDQ ONNX (and, with the TFLite integer lowering, as int8 ``.tflite``).

    Args:
        model: an IR graph (from :func:`load`) or a Keras model file (loaded with ``input_shapes``).
        calibration: representative inputs: an array (one input), a dict by input name, an iterable
            of either (batches), or a ``.npy``/``.npz`` path (see ``keras2edge.quantize.data``);
            required by ``"int8"``, not used by the weight-only schemes.
        scheme: ``"int8"``, ``"int16x8"`` (int16 activations, int8 weights), ``"dynamic"`` (int8
            weights, float activations) or ``"float16"`` (float16 weights): a key of
            ``keras2edge.quantize.schemes.SCHEMES``.
        method: range observer (a key of ``keras2edge.quantize.observers.OBSERVERS``; ``"minmax"``).
        per_tensor: one weight scale per tensor instead of per output channel.
        io: model inputs and outputs as ``"float"`` (Quantize/Dequantize inside), ``"int8"``, ``"uint8"``
            or ``"int16"``.
        batch_size: calibration samples run at once.
        keep_float: globs on Keras layer names whose layers stay float (``"int8"``, ``"int16x8"``),
            joined to their quantized neighbours by QUANTIZE/DEQUANTIZE.
        int16: globs on Keras layer names whose layers run 16x8 in an ``"int8"`` model (int16
            activations, requantized to and from their int8 neighbours).
        eval_data: inputs to measure the quantized model on (as ``calibration``; an ``.npz`` or dict may
            add labels under ``labels``/``y``): the per-layer report and the accuracy budget use it
            (``keras2edge.quantize.evaldata``). Without it the report uses the calibration data.
        report: also return the per-layer :class:`~keras2edge.quantize.report.QuantReport`
            (``keras2edge.quantize.debugger``): the result is then ``(graph, report)``.
        max_drop: accuracy budget, in percentage points of top-1 accuracy (labelled ``eval_data``) or of
            top-1 agreement with the float model (unlabelled): layers are raised to int16, then float,
            most damaging first, until the drop is within it (``keras2edge.quantize.budget``; the
            report's ``budget`` says which layers moved and what each cost). Needs ``eval_data``.
        cle, bias_correction, adaround: the int8 scheme's accuracy-preserving algorithms (cross-layer
            equalization, empirical bias correction, AdaRound-style rounding); None = the scheme's
            default (``keras2edge.quantize.algorithms``), True/False forces. What ran is in the
            graph's ``metadata["quantization_algorithms"]``.
        high_bias_absorption: after CLE, move each ReLU layer's always-positive part of its bias into
            the next layer's bias (``keras2edge.quantize.hba``, from calibration statistics); None =
            wherever CLE runs, True/False forces. Reported on the ``cle`` part of that line.
        progress: ``progress(task, samples done, total or None)`` after every batch of calibration and
            of each algorithm's runs (``keras2edge.quantize.progress``; the CLI draws it on stderr).

    Raises:
        QuantizationError: unknown scheme/method/io, calibration data that does not fit the model
            (naming the input and both shapes), a ``keep_float``/``int16`` glob matching no layer; bad
            eval data; ``max_drop`` without ``eval_data``.
    """
    from .quantize import QuantizeOptions, check_options, quantize_graph

    options = QuantizeOptions(scheme=scheme, calibration=calibration, method=method, per_tensor=per_tensor, io=io,
                              batch_size=batch_size, keep_float=_globs(keep_float, "keep_float"),
                              int16=_globs(int16, "int16"), cle=cle, bias_correction=bias_correction, adaround=adaround,
                              high_bias_absorption=high_bias_absorption, progress=progress)
    check_options(options)
    graph = model if isinstance(model, Graph) else load(model, input_shapes=input_shapes)
    if max_drop is None and not report:
        return quantize_graph(graph, options)
    from .quantize.budget import quantize_reported

    q, rep = quantize_reported(graph, options, eval_data, max_drop)
    return (q, rep) if report else q


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


def _globs(value: Sequence[str] | str, what: str) -> tuple[str, ...]:
    """A ``keep_float``/``int16`` argument as a tuple of globs (one string is one glob)."""
    from .errors import QuantizationError

    items = (value,) if isinstance(value, str) else tuple(value)
    bad = [g for g in items if not isinstance(g, str) or not g]
    if bad:
        raise QuantizationError(f"{what}= takes Keras layer name globs (non-empty strings), got {bad[:3]!r}")
    return items

def prune(model: Graph | str | os.PathLike[str], *, method: str = "magnitude", sparsity: float = 0.5, n: int = 2,
          m: int = 4, schedule: str | None = None, exclude: Sequence[str] = (), calibration: object = None,
          eval: object = None, recover: bool | None = None, batch_size: int = 32,
          input_shapes: InputShapes | None = None, bias_correction: bool = True, criterion: str | None = None,
          reconstruct: bool | None = None, bn_reestimate: bool = False,
          weights: str | os.PathLike[str] | None = None, backend: str | None = None, limits: Limits | None = None,
          allow_nonfinite: bool = False) -> PruneResult:
    """Post-training pruning without TensorFlow: a new pruned float graph (``model`` untouched) and
    its report. Save it with :func:`save_pruned` (``.tflite``/``.onnx``: BatchNormalization folded
    after pruning).

    Args:
        model: an IR graph or a Keras model file (loaded with the pruning cleanup, BatchNorm not
            folded, so every weight is still its Keras layer's own).
        method: a key of ``keras2edge.prune.METHODS``: ``"magnitude"`` (unstructured), ``"nm"``
            (N:M along the input dimension), ``"channel"`` when registered.
        sparsity: fraction of weights removed, in [0, 1) (not used by ``"nm"``: 1 - n/m).
        n, m: keep ``n`` of every ``m`` consecutive input-channel weights (``"nm"``; 1 <= n < m).
        schedule: magnitude: ``"layer"`` (same fraction per layer), ``"global"`` (one threshold on
            RMS-normalized magnitudes, at most 95% of a layer), ``"auto"`` (sensitivity scan on
            ``calibration``); None: ``"auto"`` with ``calibration`` on models of at most
            ``prune.allocate.AUTO_DEFAULT_TARGETS`` prunable weights, else ``"global"``
            (``"channel"``: ``"global"``).
        exclude: globs on Keras layer names left dense.
        calibration: representative inputs (as for :func:`quantize`): recovery and ``"auto"`` use them.
        eval: data for the report's accuracy (labels: a ``.npz`` with ``labels`` or ``y``, or
            ``(inputs, labels)``) or top-1 agreement with the unpruned model (no labels).
        recover: OBS reconstruction and bias correction; None = on when ``calibration`` is given.
        batch_size: samples run at once.
        input_shapes: pin input shapes when ``model`` is a file.
        bias_correction: with recovery, restore each output channel's mean (False: reconstruction only).
        criterion: ``"channel"``: which channels go: ``"l1"``/``"l2"`` filter norms (scaled by the
            BatchNormalization after them) or ``"activation"`` (greedy least-squares reconstruction
            cost on ``calibration``); None: ``"activation"`` with calibration data, else ``"l1"``.
        reconstruct: ``"channel"``: least-squares reconstruction of the consumers (None: follows ``recover``).
        bn_reestimate: ``"channel"``: recompute BatchNormalization moving statistics after pruning.
        weights: the weights file, when ``model`` is an architecture JSON.
        backend, limits, allow_nonfinite: as for :func:`load`, when ``model`` is a file.

    Raises:
        PruneError: bad options (sparsity outside [0, 1), N >= M, M not dividing a layer's input
            dimension, an exclude glob matching nothing or everything, ...) or data that does not fit.
    """
    from .ir.passes import PassManager
    from .prune import PruneOptions, prune_graph, prune_passes

    options = PruneOptions(method=method, sparsity=sparsity, n=n, m=m, schedule=schedule,
                           exclude=tuple(exclude), calibration=calibration, eval=eval, recover=recover,
                           batch_size=batch_size, bias_correction=bias_correction, criterion=criterion,
                           reconstruct=reconstruct, bn_reestimate=bn_reestimate)
    options.check()
    from .prune.methods import method as _method

    _method(method)
    if isinstance(model, Graph):
        graph = model
    else:
        graph = load(model, weights, input_shapes=input_shapes, cleanup=False, backend=backend, limits=limits,
                     allow_nonfinite=allow_nonfinite)
        PassManager(prune_passes()).run(graph)
    return prune_graph(graph, options)


def save_pruned(graph: Graph, path: str | os.PathLike[str], *,
                sources: Sequence[str | os.PathLike[str] | None] = (),
                source: str | os.PathLike[str] | None = None, opset: int | None = None,
                nchw_inputs: bool = False, sparse: bool = False) -> str:
    """Write a pruned graph: ``.tflite``/``.onnx`` get BatchNormalization folded first (on a copy,
    with :func:`optimize`); ``.keras``/``.h5`` are written back into the source Keras file's model
    (``source``, default the path the importer recorded) by :func:`save`. ``opset``,
    ``nchw_inputs`` and ``sparse`` are :func:`save`'s. Returns the path."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    out = graph
    if ext in (".tflite", ".onnx"):
        out = graph.copy()
        optimize(out)
        return save(out, path, sources=sources, opset=opset, nchw_inputs=nchw_inputs, sparse=sparse)
    return save(out, path, sources=sources, source=source, sparse=sparse)


def quantize_pruned(graph: Graph, *, scheme: str = "int8", calibration: object = None, io: str = "float",
                    batch_size: int = 32) -> Graph:
    """A pruned graph (from :func:`prune`) quantized: BatchNormalization folded (on a copy), then
    :func:`quantize`. The zeros stay zeros: a zero weight quantizes to 0 with any scale."""
    folded = graph.copy()
    optimize(folded)
    return quantize(folded, calibration=calibration, scheme=scheme, io=io, batch_size=batch_size)

def _check_sparse(path: str, ext: str, sparse: bool) -> None:
    """``sparse`` is for ``.tflite`` outputs only (checked before any work)."""
    if sparse and ext != ".tflite":
        raise OptionError(f"cannot write {path!r} with sparse weights: they are written to .tflite only (onnx's "
                          "full checker rejects a sparse_initializer read by Conv/Gemm/MatMul; docs/sparsity.md)")
