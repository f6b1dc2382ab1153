"""The `keras2edge` command line: a thin layer over the Python API.

Errors print one line ``Error: ...`` and exit 1 (2 for usage errors); ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from . import api
from .errors import Keras2EdgeError
from .runtime.limits import Limits, parse_size

F = TypeVar("F", bound=Callable[..., Any])


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


def parse_limits(ctx: click.Context, param: click.Parameter, value: str | None) -> Limits | None:
    """``--max-memory 8G`` -> Limits (None: the default, ``K2E_MAX_MEMORY`` or 4 GiB)."""
    if value is None:
        return None
    try:
        return Limits(max_memory=parse_size(value))
    except ValueError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from None


def limit_options(fn: F) -> F:
    """``--max-memory`` and ``--allow-nonfinite``, shared by the commands that read Keras files."""
    fn = click.option("--allow-nonfinite", is_flag=True,
                      help="Convert NaN/Inf weights and negative BatchNorm variances (warned) instead of refusing.")(fn)
    return click.option("--max-memory", "limits", metavar="SIZE", callback=parse_limits,
                        help="Refuse models declaring more than SIZE (e.g. 8G) in any tensor, weight or "
                             "member (default 4G, or K2E_MAX_MEMORY).")(fn)


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
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output file; the format follows the extension (.onnx or .tflite).")
@click.option("--weights", type=click.Path(dir_okay=False), help="Weights file for an architecture JSON.")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME:D0,D1,...",
              help="Pin an input's shape, e.g. input_1:1,224,224,3 (repeatable).")
@click.option("--opset", type=int, default=None, help="ONNX opset (default: keras2edge's DEFAULT_OPSET).")
@click.option("--nchw-inputs", is_flag=True, help="Expose rank-4 ONNX inputs channels-first (NCHW).")
@limit_options
@handle_errors
def convert(model: str, output: str, weights: str | None, input_shape: tuple[str, ...], opset: int | None,
            nchw_inputs: bool, limits: Limits | None, allow_nonfinite: bool) -> None:
    """Convert a Keras MODEL (.h5, .keras, or .json with --weights) to ONNX or TFLite."""
    t0 = time.perf_counter()
    graph = api.convert_model(model, output, weights=weights, input_shapes=parse_input_shapes(input_shape),
                        opset=opset, nchw_inputs=nchw_inputs, limits=limits, allow_nonfinite=allow_nonfinite)
    click.echo(f"Wrote {output} ({len(graph.nodes)} ops, {len(graph.inputs)} input(s), "
               f"{len(graph.outputs)} output(s)) in {time.perf_counter() - t0:.2f} s")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--weights", type=click.Path(dir_okay=False), help="Weights file for an architecture JSON.")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME:D0,D1,...", help="Pin an input's shape.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@limit_options
@handle_errors
def inspect(model: str, weights: str | None, input_shape: tuple[str, ...], as_json: bool, limits: Limits | None,
            allow_nonfinite: bool) -> None:
    """A Keras model: per layer Keras name, class, output shape, params, MACs; and totals.
    A .tflite file: ops with versions and MACs, tensors, dtypes, quantization, arena bytes."""
    from .convert.keras.sniff import FileKind, sniff
    from .report import tflite_report_text

    if sniff(model) == FileKind.TFLITE:
        rep = api.inspect_tflite(model)
        click.echo(json.dumps(rep, indent=2) if as_json else tflite_report_text(rep))
        return
    report = api.inspect(model, weights, input_shapes=parse_input_shapes(input_shape), limits=limits,
                         allow_nonfinite=allow_nonfinite)
    click.echo(report.to_json() if as_json else report.to_text())


def _load_inputs(path: str) -> object:
    """An .npy array (single-input model) or an .npz archive of arrays by input name (never unpickled)."""
    import numpy as np

    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise click.BadParameter(f"{path!r}: not a readable .npy/.npz file without pickles ({e})",
                                 param_hint="--input") from None
    if isinstance(data, np.ndarray):
        return data
    with data:
        return {k: data[k] for k in data.files}


@main.command()
@click.argument("model", type=click.Path(dir_okay=False, exists=True))
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, exists=True),
              help="x.npy (single-input model) or x.npz with one array per input name.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the outputs to this .npz (by name).")
@handle_errors
def run(model: str, input_path: str, output: str | None) -> None:
    """Run a .tflite MODEL with keras2edge's NumPy runtime."""
    import io

    import numpy as np

    from .fileio import write_atomic

    outs = api.run_tflite(model, _load_inputs(input_path))
    for name, arr in outs.items():
        a = np.asarray(arr)
        stats = f"min {a.min():.6g} max {a.max():.6g} mean {a.astype(np.float64).mean():.6g}" if a.size else "empty"
        click.echo(f"{name}: {a.dtype} {tuple(a.shape)} {stats}")
    if output:
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in outs.items()})
        write_atomic(output, buf.getvalue())
        click.echo(f"Wrote {output}")


if __name__ == "__main__":  # pragma: no cover
    main()
