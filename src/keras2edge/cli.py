"""The `keras2edge` command line: a thin layer over the Python API.

Errors print one line ``Error: ...`` and exit 1 (2 for usage errors); ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from . import api
from .errors import Keras2EdgeError
from .runtime.limits import ENV_VAR, Limits, parse_size

F = TypeVar("F", bound=Callable[..., Any])

backend_option = click.option(
    "--backend", metavar="theano|tensorflow", default=None,
    help="Keras backend that trained the weights (Theano conv kernels are flipped); default: recorded in the "
         "file, else inferred with a warning (Keras 1).")


def parse_input_shapes(specs: tuple[str, ...]) -> dict[str, list[int | None]]:
    """``NAME:1,224,224,3`` (or ``1,224,224,3`` for a single-input model) -> {name: dims}."""
    out: dict[str, list[int | None]] = {}
    for spec in specs:
        name, sep, dims = spec.rpartition(":")
        key = name if sep else "*"
        try:
            out[key] = [None if d.strip() in ("?", "None", "-1") else int(d) for d in dims.split(",")]
        except ValueError:
            raise click.BadParameter(f"{spec!r}: expected NAME:D0,D1,... with integer dims (e.g. input_1:1,224,224,3)",
                                     param_hint="--input-shape") from None
    return out


def _parse_limits(ctx: click.Context, param: click.Parameter, value: str | None) -> Limits | None:
    """``--max-memory 8G`` -> Limits (None: the default, ``K2E_MAX_MEMORY`` or 4 GiB)."""
    if value is None:
        return None
    try:
        return Limits(max_memory=parse_size(value))
    except ValueError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from None


def max_memory_option(fn: F) -> F:
    """``--max-memory SIZE`` -> the command's ``limits`` argument (a Limits, or None for the default)."""
    return click.option("--max-memory", "limits", metavar="SIZE", callback=_parse_limits,
                        help=f"Refuse models declaring more than SIZE (e.g. 512M, 8G) in any tensor, weight, "
                             f"arena or archive member (default 4G, or ${ENV_VAR}).")(fn)


def allow_nonfinite_option(fn: F) -> F:
    """``--allow-nonfinite`` for the commands that read Keras weights."""
    return click.option("--allow-nonfinite", is_flag=True,
                        help="Convert NaN/Inf weights and negative BatchNorm variances (warned) instead of refusing.")(fn)


#: The pruning options, defined once and shared by `keras2edge prune` and `keras2edge convert --prune`
#: (in this order in --help); :func:`prune_options` hands them to the command as one :class:`PruneArgs`.
PRUNE_OPTIONS: tuple[Callable[[F], F], ...] = (
    click.option("--method", default="magnitude", show_default=True,
                 help="A registered pruning method: magnitude (unstructured), nm (N:M), channel (structured)."),
    click.option("--sparsity", type=float, default=0.5, show_default=True,
                 help="Fraction of weights removed, in [0, 1) (magnitude; channel: of output channels)."),
    click.option("--n", "n", type=int, default=2, show_default=True, help="N:M: weights kept per group."),
    click.option("--m", "m", type=int, default=4, show_default=True, help="N:M: group size along the input dimension."),
    click.option("--schedule", default=None,
                 help="Magnitude: layer (same fraction per layer), global (one threshold), auto (sensitivity scan; "
                      "needs --calibration). Default: auto with --calibration on models of at most 24 prunable "
                      "weights, else global (channel: global)."),
    click.option("--exclude", multiple=True, metavar="GLOB", help="Keras layer names (globs) left dense (repeatable)."),
    click.option("--calibration", type=click.Path(),
                 help="Representative inputs (.npy, .npz keyed by input name, or a folder): recovery, --schedule auto, "
                      "--quantize int8."),
    click.option("--eval", "eval_data", type=click.Path(dir_okay=False),
                 help="Eval inputs as .npz (keys = input names) with labels under 'labels' or 'y' for accuracy; "
                      "without labels the report gives top-1 agreement with the unpruned model."),
    click.option("--recover/--no-recover", default=None,
                 help="OBS reconstruction and bias correction (default: on when --calibration is given)."),
    click.option("--bias-correction/--no-bias-correction", default=True, show_default=True,
                 help="With recovery: restore each output channel's mean on the calibration data."),
    click.option("--criterion", type=click.Choice(["l1", "l2", "activation"]), default=None,
                 help="Channel: which channels go (default: activation with --calibration, else l1)."),
    click.option("--reconstruct/--no-reconstruct", default=None,
                 help="Channel: least-squares reconstruction of the consumers (default: follows --recover)."),
    click.option("--bn-reestimate", is_flag=True, help="Channel: recompute BatchNormalization statistics after pruning."),
    click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write the report (.json or .md)."),
    click.option("--quantize", "scheme", default=None,
                 help="Then quantize the pruned model (int8 needs --calibration; dynamic, float16) before writing it."),
    click.option("--io", type=click.Choice(["float", "int8", "uint8"]), default="float", show_default=True,
                 help="With --quantize int8: type of the model's inputs and outputs."),
    click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Samples run at once."),
)


@dataclasses.dataclass(frozen=True)
class PruneArgs:
    """The values of :data:`PRUNE_OPTIONS` (click's parameter names) and which were given explicitly."""

    method: str
    sparsity: float
    n: int
    m: int
    schedule: str | None
    exclude: tuple[str, ...]
    calibration: str | None
    eval_data: str | None
    recover: bool | None
    bias_correction: bool
    criterion: str | None
    reconstruct: bool | None
    bn_reestimate: bool
    report_path: str | None
    scheme: str | None
    io: str
    batch_size: int
    given: tuple[str, ...] = ()  # the options set on the command line, as spelled there (e.g. "--sparsity")

    def prune_keywords(self) -> dict[str, Any]:
        """The keywords of ``keras2edge.prune`` (and fields of ``PruneOptions``) these options set."""
        return {"method": self.method, "sparsity": self.sparsity, "n": self.n, "m": self.m,
                "schedule": self.schedule, "exclude": self.exclude, "calibration": self.calibration,
                "eval": self.eval_data, "recover": self.recover, "batch_size": self.batch_size,
                "bias_correction": self.bias_correction, "criterion": self.criterion,
                "reconstruct": self.reconstruct, "bn_reestimate": self.bn_reestimate}


def prune_options(fn: F) -> F:
    """Add :data:`PRUNE_OPTIONS` to a command; it receives them as one ``prune_args`` (:class:`PruneArgs`)."""
    names = [f.name for f in dataclasses.fields(PruneArgs) if f.name != "given"]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from click.core import ParameterSource

        ctx = click.get_current_context()
        given = tuple(p.secondary_opts[0] if p.secondary_opts and kwargs.get(p.name) is False else p.opts[0]
                      for p in ctx.command.params if p.name in names
                      and ctx.get_parameter_source(p.name) not in (ParameterSource.DEFAULT, None))
        values = {name: kwargs.pop(name) for name in names}
        return fn(*args, prune_args=PruneArgs(**values, given=given), **kwargs)

    for option in reversed(PRUNE_OPTIONS):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


def handle_errors(fn: F) -> F:
    """Turn library errors into one line on stderr and exit code 1 (tracebacks with --debug)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return fn(*args, **kwargs)
        except Keras2EdgeError as e:
            if debug:
                raise
            click.echo(f"Error: {e}", err=True)
            sys.exit(1)
        except (KeyboardInterrupt, click.exceptions.Exit, click.ClickException):
            raise
        except BrokenPipeError:
            # The reader went away (`keras2edge inspect m.tflite | head`): not an error of ours. Point
            # stdout at /dev/null so the interpreter's final flush does not raise again, exit quietly.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except Exception as e:  # noqa: BLE001 - the CLI reports every failure on one line
            if debug:
                raise
            click.echo(f"Error: internal error ({type(e).__name__}: {e}); rerun with --debug for the traceback "
                       "and please report it", err=True)
            sys.exit(1)
    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option("-v", "--verbose", is_flag=True, help="Log what each step does.")
@click.version_option(package_name="keras2edge")
def main(debug: bool, verbose: bool) -> None:
    """keras2edge: take a trained Keras model to an edge device, without TensorFlow."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(message)s")


@main.command()
@click.argument("models", nargs=-1, required=True, metavar="MODEL...")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Output file (one model; the format follows the extension, .onnx or .tflite), or an "
                   "output folder (several models, or a path ending in /, or an existing folder with --format).")
@click.option("--format", "fmt", type=click.Choice(["onnx", "tflite"]), default=None,
              help="Output format of a batch (required with an output folder).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Batch: worker processes (1 = convert in this process).")
@click.option("--json", "as_json", is_flag=True,
              help="Batch: print the summary as JSON on stdout (with --prune: the pruning report).")
@click.option("--weights", type=click.Path(dir_okay=False), help="Weights file for an architecture JSON (one model).")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME:D0,D1,...",
              help="Pin an input's shape, e.g. input_1:1,224,224,3 (repeatable).")
@click.option("--opset", type=int, default=None, help="ONNX opset (default: keras2edge's DEFAULT_OPSET).")
@click.option("--nchw-inputs", is_flag=True, help="Expose rank-4 ONNX inputs channels-first (NCHW).")
@click.option("--sparse", is_flag=True, help="TFLite, one model: store float32 weights with zeros (pruned) sparse "
              "where the file gets smaller (LiteRT runs it, TFLite Micro does not; -v lists each weight's choice; "
              "docs/sparsity.md).")
@backend_option
@max_memory_option
@allow_nonfinite_option
@click.option("--prune", "prune", is_flag=True,
              help="One model: prune it first (the options below, as `keras2edge prune`), then quantize it with "
                   "--quantize, and write it with the pruning report.")
@prune_options
@handle_errors
def convert(models: tuple[str, ...], output: str, fmt: str | None, jobs: int, as_json: bool, weights: str | None,
            input_shape: tuple[str, ...], opset: int | None, nchw_inputs: bool, sparse: bool, backend: str | None,
            limits: Limits | None, allow_nonfinite: bool, prune: bool = False,
            prune_args: PruneArgs | None = None) -> None:
    """Convert Keras models (.h5, .keras, or .json with weights) to ONNX or TFLite.

    \b
    One model:   keras2edge convert MODEL -o OUT.onnx|OUT.tflite [--weights W]
    A batch:     keras2edge convert A.h5 B.keras 'zoo/*.h5' C.json:C.weights.h5 -o OUTDIR/ --format onnx [-j N]
    Pruned:      keras2edge convert MODEL --prune --sparsity 0.5 --calibration D --quantize int8 -o OUT.tflite

    --prune chains pruning and quantization in one command: the pruning options (--method, --sparsity,
    --schedule, --exclude, --calibration, --eval, --report, ...) and --quantize/--io are `keras2edge
    prune`'s; --json prints the pruning report as JSON. Without --prune they are refused.

    A batch writes OUTDIR/<model stem>.<format>, shows progress on stderr, prints a summary table
    (or --json) and exits 1 if any model failed; a failure never stops the others. ARCH:WEIGHTS is
    split at the last ':' only when both sides are existing files (a path may itself contain ':').
    Globs (*, ?, [, **) are expanded by keras2edge too.
    """
    from .batch import has_glob

    shapes = parse_input_shapes(input_shape)
    # An existing folder without a trailing '/' is a batch's output only with --format; else it is a
    # single output path, refused as a folder (never written into by surprise).
    is_dir = output.endswith(("/", os.sep)) or (os.path.isdir(output) and fmt is not None)
    single = len(models) == 1 and not is_dir and not (has_glob(models[0]) and not os.path.exists(models[0]))
    if prune_args is not None and prune_args.given and not prune:
        raise click.UsageError(f"{', '.join(prune_args.given)}: pruning options, used with --prune (to quantize "
                               "without pruning: keras2edge quantize)")
    if prune and not single:
        raise click.UsageError("--prune applies to one model written to OUT.tflite or OUT.onnx")
    if single:
        if (as_json and not prune) or jobs != 1:
            raise click.UsageError("--json and -j apply to a batch (several models, or -o OUTDIR/)")
        ext = os.path.splitext(output)[1].lower().lstrip(".")
        if fmt is not None and fmt != ext:
            raise click.UsageError(f"--format {fmt} does not match the output file {output!r}")
        if prune and prune_args is not None:
            _prune_and_write(models[0], output, prune_args, as_json=as_json, weights=weights, input_shapes=shapes,
                             keras_output=False,
                             load_options={"backend": backend, "limits": limits, "allow_nonfinite": allow_nonfinite},
                             save_options={"opset": opset, "nchw_inputs": nchw_inputs, "sparse": sparse})
            return
        t0 = time.perf_counter()
        graph = api.convert_model(models[0], output, weights=weights, input_shapes=shapes, opset=opset,
                                  nchw_inputs=nchw_inputs, backend=backend, limits=limits,
                                  allow_nonfinite=allow_nonfinite, sparse=sparse)
        click.echo(f"Wrote {output} ({len(graph.nodes)} ops, {len(graph.inputs)} input(s), "
                   f"{len(graph.outputs)} output(s)) in {time.perf_counter() - t0:.2f} s")
        return
    if weights is not None:
        raise click.UsageError("--weights names the weights of one model; in a batch write ARCH.json:WEIGHTS.h5")
    if sparse:
        raise click.UsageError("--sparse applies to one model written to .tflite")
    if fmt is None:
        raise click.UsageError("a batch (several models, or -o OUTDIR/) needs --format onnx or --format tflite")
    _convert_batch(models, output, fmt=fmt, jobs=jobs, as_json=as_json, input_shapes=shapes, opset=opset,
                   nchw_inputs=nchw_inputs, backend=backend, limits=limits, allow_nonfinite=allow_nonfinite)


@main.command("quantize")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output file: .onnx (QDQ) or .tflite (int8).")
@click.option("--calibration", type=click.Path(),
              help="Representative inputs: .npy (one input, N samples), .npz (keys = input names) or a folder "
                   "of them; required by --scheme int8.")
@click.option("--scheme", default="int8", show_default=True,
              help="int8 (full integer), int16x8 (int16 activations, int8 weights), dynamic (int8 weights) or "
                   "float16 (float16 weights).")
@click.option("--calibration-method", "method", default="minmax", show_default=True,
              help="Range observer for activations.")
@click.option("--per-tensor", is_flag=True, help="One weight scale per tensor (targets without per-channel kernels).")
@click.option("--io", type=click.Choice(["float", "int8", "uint8", "int16"]), default="float", show_default=True,
              help="Type of the model's inputs and outputs.")
@click.option("--keep-float", "keep_float", multiple=True, metavar="LAYER",
              help="Keras layers (name or glob; repeatable) that stay float (int8, int16x8).")
@click.option("--int16", "int16", multiple=True, metavar="LAYER",
              help="Keras layers (name or glob; repeatable) that run 16x8 in an int8 model.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Calibration samples run at once.")
@click.option("--weights", type=click.Path(dir_okay=False), help="Weights file for an architecture JSON.")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME:D0,D1,...", help="Pin an input's shape.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--eval", "eval_path", type=click.Path(),
              help="Eval data for the report and --max-drop: .npz of inputs (keys = input names, or one key) with "
                   "optional labels under 'labels' or 'y' (else top-1 agreement with the float model), or .npy.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Write the per-layer quantization report to this .json or .md file (and print its table).")
@click.option("--max-drop", type=float, default=None, metavar="PT",
              help="Accuracy budget with --eval: at most PT percentage points of top-1 lost; the most damaging "
                   "layers move to int16, then float, until it holds.")
@click.option("--cle/--no-cle", default=None, help="Cross-layer equalization (default: on with --per-tensor).")
@click.option("--bias-correction/--no-bias-correction", "bias_correction", default=None,
              help="Empirical bias correction from the calibration data (default: on for models with convolutions).")
@click.option("--adaround/--no-adaround", default=None, help="AdaRound-style weight rounding (default: off).")
@click.option("--high-bias-absorption/--no-high-bias-absorption", "high_bias_absorption", default=None,
              help="After CLE, move biases a ReLU never clips into the next layer (default: with --cle).")
@click.option("--progress/--no-progress", "progress", default=None,
              help="Progress of calibration and each algorithm on stderr (default: when stderr is a terminal).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors (no progress, no summary).")
@click.option("--preprocess", metavar="SCALE,OFFSET", default=None,
              help="Image calibration data (.png/.jpg folder, RGB, resized to the input): x = pixel * SCALE + OFFSET "
                   "on 0..255, e.g. 1/127.5,-1 (default: 1,0).")
@handle_errors
def quantize_command(model: str, output: str, calibration: str | None, scheme: str, method: str, per_tensor: bool, io: str,
                     keep_float: tuple[str, ...], int16: tuple[str, ...], batch_size: int, weights: str | None,
                     input_shape: tuple[str, ...], as_json: bool, eval_path: str | None, report_path: str | None,
                     max_drop: float | None, cle: bool | None = None, bias_correction: bool | None = None,
                     adaround: bool | None = None, high_bias_absorption: bool | None = None,
                     progress: bool | None = None, quiet: bool = False, preprocess: str | None = None) -> None:
    """Quantize a Keras model after training (no TensorFlow): calibrate on representative inputs,
    write QDQ ONNX or an int8 .tflite.

    \b
    keras2edge quantize model.h5 -o model_int8.onnx --calibration samples.npz [--io int8]
    keras2edge quantize model.h5 -o model.tflite --calibration samples.npz --keep-float 'lstm*' --int16 dense_1
    """
    from .quantize import QuantizeOptions, check_options
    from .quantize.int8 import summary

    shapes = parse_input_shapes(input_shape)
    check_options(QuantizeOptions(scheme=scheme, method=method, io=io, batch_size=batch_size, keep_float=keep_float,
                                  int16=int16))
    api.check_save_path(output, (model, weights, calibration))
    want_report = bool(report_path or eval_path or max_drop is not None)
    if want_report:
        _check_report_args(report_path, max_drop, eval_path, (model, weights, calibration, eval_path))
    t0 = time.perf_counter()
    graph = api.load(model, weights, input_shapes=shapes)
    rep = None
    line = _progress_line(progress, quiet or as_json)
    source = _image_source(calibration, preprocess)
    if want_report:
        q, rep = api.quantize(graph, calibration=source, scheme=scheme, method=method, per_tensor=per_tensor,
                              io=io, batch_size=batch_size, keep_float=keep_float, int16=int16, eval_data=eval_path,
                              report=True, max_drop=max_drop, cle=cle, bias_correction=bias_correction,
                              adaround=adaround, high_bias_absorption=high_bias_absorption, progress=line)
    else:
        q = api.quantize(graph, calibration=source, scheme=scheme, method=method, per_tensor=per_tensor, io=io,
                         batch_size=batch_size, keep_float=keep_float, int16=int16, cle=cle,
                         bias_correction=bias_correction, adaround=adaround,
                         high_bias_absorption=high_bias_absorption, progress=line)
    if line is not None:
        line.close()
    api.save(q, output, sources=(model, weights, calibration))
    if rep is not None and report_path:
        _write_report(rep, report_path, (model, weights, calibration, eval_path, output))
    if quiet:
        return
    info = {"output": output, "scheme": scheme, "method": method, "per_tensor": per_tensor, "io": io,
            **summary(q), "seconds": round(time.perf_counter() - t0, 3)}
    if as_json:
        if rep is not None:
            info["report"] = rep.to_dict()
        click.echo(json.dumps(info, indent=2))
        return
    if rep is not None:
        click.echo(rep.to_markdown())
    kept = f", kept float: {', '.join(info['kept_float'])}" if info["kept_float"] else ""
    kept += f", int16: {', '.join(info['int16_layers'])}" if info.get("int16_layers") and scheme != "int16x8" else ""
    f16 = f", {info['float16_weights']} float16 weight tensors" if info["float16_weights"] else ""
    click.echo(f"Wrote {output} ({scheme}, {info['quantized_values']} quantized values, {info['int8_weights']} int8 "
               f"weight tensors{f16}{kept}) in {info['seconds']:.2f} s")
    if info.get("algorithms"):
        click.echo(f"Algorithms: {info['algorithms']}")


def _convert_batch(models: tuple[str, ...], outdir: str, *, fmt: str, jobs: int, as_json: bool,
                   **options: Any) -> None:
    """keras2edge.convert_many with progress on stderr (a bar on a terminal, else a line per model),
    then the summary (table or JSON) on stdout; exit 1 if any model failed."""
    from .batch import convert_many, expand_models, summary, summary_table

    inputs = expand_models(models)
    t0 = time.perf_counter()
    if sys.stderr.isatty():
        with click.progressbar(length=len(inputs), label=f"Converting {len(inputs)} models", file=sys.stderr) as bar:
            results = convert_many(inputs, outdir, fmt=fmt, jobs=jobs, on_result=lambda r: bar.update(1), **options)
    else:
        done = [0]

        def line(r: Any) -> None:
            done[0] += 1
            click.echo(f"[{done[0]}/{len(inputs)}] {r.status:6} {r.seconds:6.2f} s  {r.model}", err=True)

        results = convert_many(inputs, outdir, fmt=fmt, jobs=jobs, on_result=line, **options)
    seconds = time.perf_counter() - t0
    if as_json:
        click.echo(json.dumps(summary(results, fmt=fmt, outdir=outdir, jobs=jobs, seconds=seconds), indent=2))
    else:
        click.echo(summary_table(results, seconds=seconds))
    if not all(r.ok for r in results):
        sys.exit(1)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--weights", type=click.Path(dir_okay=False), help="Weights file for an architecture JSON.")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME:D0,D1,...", help="Pin an input's shape.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@backend_option
@max_memory_option
@allow_nonfinite_option
@handle_errors
def inspect(model: str, weights: str | None, input_shape: tuple[str, ...], as_json: bool,
            backend: str | None, limits: Limits | None, allow_nonfinite: bool) -> None:
    """A Keras model: per layer Keras name, class, output shape, params, MACs; and totals.
    A .tflite file: ops with versions and MACs, tensors, dtypes, quantization, arena bytes."""
    from .convert.keras.sniff import FileKind, sniff
    from .report import tflite_report_text

    if sniff(model) == FileKind.TFLITE:
        rep = api.inspect_tflite(model, limits=limits)
        click.echo(json.dumps(rep, indent=2) if as_json else tflite_report_text(rep))
        return
    report = api.inspect(model, weights, input_shapes=parse_input_shapes(input_shape), backend=backend,
                         limits=limits, allow_nonfinite=allow_nonfinite)
    click.echo(report.to_json() if as_json else report.to_text())


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--target", type=click.Choice(["tflm"]), default="tflm", show_default=True,
              help="Deployment target: tflm = TensorFlow Lite for Microcontrollers (tflite::MicroInterpreter).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (schema in docs/tflm-check.md).")
@max_memory_option
@handle_errors
def check(model: str, target: str, as_json: bool, limits: Limits | None) -> None:
    """Pre-flight a .tflite MODEL for a microcontroller: operators TFLite Micro cannot run (with their
    Keras layers), the tensor arena to allocate, flash size, and the C that fills each input and
    reads each output.

    Exit status: 0 when the model can run on the target, 1 when an operator is unsupported or would
    compute wrong results (the report is still printed), 1 with one 'Error:' line when the file
    cannot be read.
    """
    from .convert.keras.sniff import FileKind, sniff
    from .errors import ModelFormatError

    kind = sniff(model)
    if kind != FileKind.TFLITE:
        what = "not a .tflite file" if kind == FileKind.UNKNOWN else f"a {kind.value} file, not a .tflite file"
        raise ModelFormatError(f"cannot check {model!r}: {what} (a Keras model converts first: "
                               f"keras2edge convert {model} -o model.tflite)")
    rep = api.check_tflm(model, limits=limits)
    click.echo(rep.to_json() if as_json else rep.to_text())
    if not rep.runs:
        sys.exit(1)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False, exists=True))
@click.option("-i", "--input", "input_path", required=True, type=click.Path(dir_okay=False, exists=True),
              help="x.npy (single-input model) or x.npz with one array per input name.")
@click.option("-o", "--output", type=click.Path(),
              help="Write the outputs to this .npz (by name); '-' writes the .npz bytes to stdout.")
@click.option("--raw", is_flag=True,
              help="Quantized (int8/uint8/int16) inputs and outputs as the integer tensors themselves; by default "
                   "real values are quantized with each input's parameters and outputs dequantized to float32.")
@max_memory_option
@handle_errors
def run(model: str, input_path: str, output: str | None, raw: bool, limits: Limits | None) -> None:
    """Run a .tflite MODEL with keras2edge's NumPy runtime.

    \b
    Quantized inputs take real values (float arrays, quantized with the model's own scale and zero
    point, as its QUANTIZE op would) and quantized outputs are dequantized to float32; --raw feeds
    and returns the integer tensors instead. An array of a quantized input's own integer dtype is
    refused without --raw (it could be either). Each conversion is printed.
    """
    import io

    import numpy as np

    from .fileio import STDOUT, check_output, write_atomic
    from .npyio import load_inputs

    reads = (model, input_path)
    if output:
        check_output(output, inputs=reads)
    to_stdout = output == STDOUT  # then stdout carries the .npz alone and the summary goes to stderr
    outs = api.run_tflite(model, load_inputs(input_path, limits=limits), raw=raw, limits=limits)
    for c in outs.conversions:
        if c.action != "none":
            click.echo(c.describe(), err=to_stdout)
    for name, arr in outs.items():
        a = np.asarray(arr)
        stats = f"min {a.min():.6g} max {a.max():.6g} mean {a.astype(np.float64).mean():.6g}" if a.size else "empty"
        click.echo(f"{name}: {a.dtype} {tuple(a.shape)} {stats}", err=to_stdout)
    if output:
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in outs.items()})
        write_atomic(output, buf.getvalue(), inputs=reads)
        click.echo(f"Wrote {'the outputs to stdout' if to_stdout else output}", err=to_stdout)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--runs", type=click.IntRange(min=1), default=50, show_default=True, help="Timed runs.")
@click.option("--warmup", type=click.IntRange(min=0), default=5, show_default=True,
              help="Untimed runs after the first one, before the timed runs.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="BLAS/OpenMP threads (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, ... set in the benchmark process "
                   "before NumPy loads); default: inherited.")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME:D0,D1,...",
              help="Run this input shape instead of the file's (e.g. a batch of 8: x:8,28,28,1); repeatable.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (schema keras2edge.bench/1).")
@max_memory_option
@handle_errors
def bench(model: str, runs: int, warmup: int, threads: int | None, input_shape: tuple[str, ...], seed: int,
          as_json: bool, limits: Limits | None) -> None:
    """Benchmark a .tflite MODEL in keras2edge's NumPy runtime.

    \b
    Runs in a fresh process with random inputs of the model's dtypes (seeded): cold start (Python
    start, imports, load + prepare, first run), latency percentiles over --runs, the planned arena,
    the model's size and the process's peak RSS. A table, or --json.
    """
    result = api.bench_tflite(model, runs=runs, warmup=warmup, threads=threads,
                              input_shapes=parse_input_shapes(input_shape), seed=seed, limits=limits)
    click.echo(result.to_json() if as_json else result.to_text())


#: --report file suffix -> QuantReport rendering.
REPORT_FORMATS = (".json", ".md")


def _check_report_args(report_path: str | None, max_drop: float | None, eval_path: str | None,
                       inputs: tuple[str | None, ...]) -> None:
    """Usage errors for --report/--max-drop/--eval before any work (the report file is checked too)."""
    from .fileio import check_output

    if max_drop is not None and not eval_path:
        raise click.UsageError("--max-drop is measured on eval data: add --eval PATH")
    if report_path:
        if os.path.splitext(report_path)[1].lower() not in REPORT_FORMATS:
            raise click.UsageError(f"--report {report_path!r}: write a .json or .md file")
        check_output(report_path, inputs=inputs)


def _write_report(rep: Any, path: str, inputs: tuple[str | None, ...]) -> None:
    """The report as JSON or markdown (by suffix), written atomically."""
    from .fileio import write_atomic

    text = json.dumps(rep.to_dict(), indent=2) + "\n" if path.lower().endswith(".json") else rep.to_markdown()
    write_atomic(path, text.encode(), inputs=inputs)


REPORT_FORMATS = (".json", ".md")


@main.command("prune")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output file: .tflite or .onnx (BatchNormalization folded after pruning); .h5/.keras when "
                   "keras2edge.save writes them.")
@prune_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--weights", type=click.Path(dir_okay=False), help="Weights file for an architecture JSON.")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME:D0,D1,...", help="Pin an input's shape.")
@handle_errors
def prune_command(model: str, output: str, prune_args: PruneArgs, as_json: bool, weights: str | None,
                  input_shape: tuple[str, ...]) -> None:
    """Prune a trained Keras model without TensorFlow and write it with a per-layer report.

    \b
    keras2edge prune model.keras --sparsity 0.5 -o pruned.tflite --calibration calib.npz --eval test.npz
    keras2edge prune model.keras --method nm --n 2 --m 4 -o pruned.onnx --exclude 'stem*'
    keras2edge prune model.keras --sparsity 0.5 --calibration calib.npy --quantize int8 -o pruned_int8.tflite
    """
    _prune_and_write(model, output, prune_args, as_json=as_json, weights=weights,
                     input_shapes=parse_input_shapes(input_shape), keras_output=True)


def _prune_and_write(model: str, output: str, args: PruneArgs, *, as_json: bool, weights: str | None,
                     input_shapes: dict[str, list[int | None]], keras_output: bool,
                     load_options: dict[str, Any] | None = None, save_options: dict[str, Any] | None = None) -> None:
    """What `keras2edge prune` and `keras2edge convert --prune` do: every option checked before any
    work, then :func:`keras2edge.prune`, then the pruned graph written (with ``--quantize``: quantized
    by :func:`keras2edge.quantize_pruned` first) and the report printed (and written with --report).

    ``keras_output``: ``.keras``/``.h5`` outputs are accepted (the prune command); ``load_options``
    go to :func:`keras2edge.prune`'s loader, ``save_options`` (opset, nchw_inputs, sparse) to the writer.
    """
    from .errors import PruneError
    from .fileio import check_output, write_atomic
    from .prune import PruneOptions
    from .prune.methods import method as lookup_method
    from .prune.report import to_markdown

    load_options, save_options = dict(load_options or {}), dict(save_options or {})
    scheme, calibration = args.scheme, args.calibration
    PruneOptions(**args.prune_keywords()).check()
    lookup_method(args.method)
    if scheme is not None:
        from .quantize import QuantizeOptions, check_options

        check_options(QuantizeOptions(scheme=scheme, io=args.io, batch_size=args.batch_size))
        if scheme == "int8" and calibration is None:
            raise PruneError("--quantize int8 needs --calibration data")
        if save_options.get("sparse"):
            raise PruneError("--sparse stores float32 weights sparse; a --quantize'd model has none to store (write "
                             "the pruned float model with --sparse, or the quantized one without it)")
    sources = (model, weights, calibration, args.eval_data)
    from .convert.keras_out import KERAS_OUTPUTS

    if keras_output and scheme is not None and os.path.splitext(output)[1].lower() in KERAS_OUTPUTS:
        raise PruneError(f"cannot write {output!r}: a --quantize'd model is written as .tflite or .onnx, not as a "
                         "Keras file")
    api.check_save_path(output, sources, keras=keras_output and scheme is None, opset=save_options.get("opset"),
                        sparse=bool(save_options.get("sparse")))
    report_path = args.report_path
    if report_path is not None:
        if os.path.splitext(report_path)[1].lower() not in REPORT_FORMATS:
            raise PruneError(f"--report {report_path!r}: the report is written as .json or .md")
        if os.path.abspath(report_path) == os.path.abspath(output):
            raise PruneError(f"--report {report_path!r} is the output model file")
        check_output(report_path, inputs=sources)
    for what, path in (("--calibration", calibration), ("--eval", args.eval_data)):
        if path is not None and not os.path.exists(path):
            raise PruneError(f"{what} {path!r}: no such file or folder")
    t0 = time.perf_counter()
    result = api.prune(model, weights=weights, input_shapes=input_shapes, **args.prune_keywords(), **load_options)
    if scheme is None:
        api.save_pruned(result.graph, output, sources=sources, source=model, **save_options)
    else:
        api.save(api.quantize_pruned(result.graph, scheme=scheme, calibration=calibration, io=args.io,
                                     batch_size=args.batch_size), output, sources=sources, **save_options)
    report = dict(result.report, output=output, quantize=scheme, seconds=round(time.perf_counter() - t0, 3))
    if report_path is not None:
        text = json.dumps(report, indent=2) if report_path.lower().endswith(".json") else to_markdown(report)
        write_atomic(report_path, text.encode(), inputs=sources)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(to_markdown(report), nl=False)
    click.echo(f"Wrote {output} in {report['seconds']:.2f} s")


def _progress_line(progress: bool | None, silent: bool) -> Any:
    """The quantize command's progress display on stderr (cli_progress.ProgressLine), or None: shown
    with --progress, or by default when stderr is a terminal; never under --quiet or --json."""
    from .cli_progress import ProgressLine

    if silent or not (progress if progress is not None else sys.stderr.isatty()):
        return None
    return ProgressLine(sys.stderr, sys.stderr.isatty())


def _image_source(calibration: str | None, preprocess: str | None) -> Any:
    """The quantize command's calibration source: with --preprocess, the image folder and its
    preprocessing (keras2edge.quantize.images.ImageFolder); else the path as given."""
    if preprocess is None:
        return calibration
    from .quantize.images import ImageFolder, holds_images, parse_preprocess

    if calibration is None or not holds_images(calibration):
        raise click.UsageError("--preprocess applies to image calibration data: --calibration a .png/.jpg file or a "
                               "folder of them")
    return ImageFolder(calibration, *parse_preprocess(preprocess))


if __name__ == "__main__":  # pragma: no cover
    main()
