"""Batch conversion: many Keras models → one output folder, in this process or in worker processes.

    results = keras2edge.convert_many(["a.h5", "zoo/*.keras", "arch.json:weights.h5"], "out/", fmt="onnx", jobs=2)
    [(r.model, r.status, r.seconds, r.output_bytes) for r in results]

What maps to what:

- a model argument → :class:`ModelInput`: an existing file is a model; else ``ARCH:WEIGHTS`` split at
  the last ``:`` when both sides are existing files (an architecture JSON and its weights); else,
  when it holds ``*``, ``?`` or ``[``, a glob (``**`` recursive), expanded here so that shells that
  do not expand globs (Windows) work the same. The same file named twice is converted once.
- each model → ``OUTDIR/<model stem>.<fmt>``; two models with the same stem are refused before
  anything is converted (:class:`~keras2edge.errors.BatchInputError` names both), never overwritten.
- each conversion → a :class:`ConvertResult` (status ``ok`` or ``failed`` with the error's message
  and class). A failure never stops the others, and never leaves a file: outputs are written
  atomically by :func:`keras2edge.save`, and a worker that dies mid-write has its temporary file
  removed. A worker that dies (killed, out of memory) fails the model it was converting, not the batch.
- ``jobs=1`` converts in this process; ``jobs=N`` uses N worker processes
  (``concurrent.futures.ProcessPoolExecutor``), each importing keras2edge once.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

from .api import InputShapes, convert_model
from .errors import BatchInputError, Keras2EdgeError
from .fileio import remove_leftover_temps
from .runtime.limits import Limits

FORMATS = ("onnx", "tflite")
GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class ModelInput:
    """One model of a batch: the model file and, for an architecture JSON, its weights file."""

    model: str
    weights: str | None = None

    @property
    def label(self) -> str:
        """How the model is named in results: ``model`` or ``model:weights``."""
        return self.model if self.weights is None else f"{self.model}:{self.weights}"

    @property
    def stem(self) -> str:
        return os.path.splitext(os.path.basename(self.model))[0]


@dataclass
class ConvertResult:
    """The outcome of converting one model of a batch.

    Attributes:
        model: the model as named in results (``arch.json:weights.h5`` for a pair).
        output: the file written (None when the conversion failed).
        status: ``"ok"`` or ``"failed"``.
        error: the one-line error message ("" when ok).
        error_class: the exception class name, e.g. ``UnsupportedLayerError`` ("" when ok).
        seconds: wall time of this model's conversion.
        output_bytes: size of the file written (0 when failed).
        ops: IR ops in the converted graph (0 when failed).
        pid: the process that converted it (this one when ``jobs=1``).
    """

    model: str
    output: str | None
    status: str
    error: str = ""
    error_class: str = ""
    seconds: float = 0.0
    output_bytes: int = 0
    ops: int = 0
    pid: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class _Task:
    source: ModelInput
    output: str
    options: dict[str, object]


def has_glob(text: str) -> bool:
    return any(c in GLOB_CHARS for c in text)


def expand_models(specs: Iterable[str | os.PathLike[str] | ModelInput]) -> list[ModelInput]:
    """Model arguments → models (see the module docstring); a glob that matches nothing is refused."""
    out: list[ModelInput] = []
    seen: set[tuple[str, str | None]] = set()

    def add(m: ModelInput) -> None:
        key = (os.path.realpath(m.model), None if m.weights is None else os.path.realpath(m.weights))
        if key not in seen:
            seen.add(key)
            out.append(m)

    for item in specs:
        if isinstance(item, ModelInput):
            add(item)
            continue
        spec = os.fspath(item)
        if os.path.isfile(spec):
            add(ModelInput(spec))
            continue
        arch, sep, weights = spec.rpartition(":")
        if sep and os.path.isfile(arch) and os.path.isfile(weights):
            add(ModelInput(arch, weights))
            continue
        if has_glob(spec):
            matches = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
            if not matches:
                raise BatchInputError(f"cannot convert {spec!r}: the pattern matches no file")
            for p in matches:
                add(ModelInput(p))
            continue
        add(ModelInput(spec))   # missing file: reported as that model's failure
    return out


def plan_outputs(models: Sequence[ModelInput], outdir: str | os.PathLike[str], fmt: str) -> list[str]:
    """``OUTDIR/<stem>.<fmt>`` for each model; refuses two models that would write the same file."""
    if fmt not in FORMATS:
        raise BatchInputError(f"cannot convert to format {fmt!r}; supported: {', '.join(FORMATS)}")
    outs = [os.path.join(os.fspath(outdir), f"{m.stem}.{fmt}") for m in models]
    by_out: dict[str, list[str]] = {}
    for m, o in zip(models, outs):
        by_out.setdefault(os.path.normcase(o), []).append(m.label)
    clashes = {o: labels for o, labels in by_out.items() if len(labels) > 1}
    if clashes:
        text = "; ".join(f"{o} from {', '.join(repr(x) for x in labels)}" for o, labels in sorted(clashes.items()))
        raise BatchInputError(f"cannot convert these models into one folder: {len(clashes)} output name(s) would be "
                              f"written twice: {text}. Rename one model of each pair or convert them in separate calls")
    return outs


def _convert_one(task: _Task) -> ConvertResult:
    """Convert one model (in this process or a worker); every exception becomes a failed result."""
    t0 = time.perf_counter()
    src = task.source
    try:
        graph = convert_model(src.model, task.output, weights=src.weights, **task.options)  # type: ignore[arg-type]
        return ConvertResult(src.label, task.output, "ok", seconds=time.perf_counter() - t0,
                             output_bytes=os.path.getsize(task.output), ops=len(graph.nodes), pid=os.getpid())
    except Exception as e:  # noqa: BLE001 - one model's failure (even a bug) never stops the batch
        msg = str(e) if isinstance(e, Keras2EdgeError) else f"internal error ({type(e).__name__}: {e}); please report it"
        return ConvertResult(src.label, None, "failed", msg.replace("\n", " ") or type(e).__name__, type(e).__name__, time.perf_counter() - t0, pid=os.getpid())


def _preload(fmt: str) -> None:
    """Import the Keras reader and the writer here, so that forked workers start with them loaded."""
    import importlib

    importlib.import_module(".convert.keras", __package__)
    importlib.import_module(f".convert.{fmt}", __package__)


def _run_pool(tasks: Sequence[_Task], jobs: int, report: Callable[[int, ConvertResult], None]) -> list[int]:
    """Run ``tasks`` on ``jobs`` workers; returns the indices whose worker pool broke before they finished."""
    import concurrent.futures   # here, not at the top: it pulls multiprocessing, which one model never needs
    from concurrent.futures.process import BrokenProcessPool

    broken: list[int] = []
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_convert_one, t): i for i, t in enumerate(tasks)}
        for fut in concurrent.futures.as_completed(futures):
            i = futures[fut]
            try:
                report(i, fut.result())
            except BrokenProcessPool:
                broken.append(i)
    return sorted(broken)


def _run_isolated(task: _Task) -> ConvertResult:
    """One task in a worker process of its own, so that a crash is known to be this model's."""
    import concurrent.futures
    from concurrent.futures.process import BrokenProcessPool

    t0 = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(max_workers=1) as pool:
        try:
            return pool.submit(_convert_one, task).result()
        except BrokenProcessPool:
            remove_leftover_temps(task.output)
            return ConvertResult(task.source.label, None, "failed", "the worker process converting this model died "
                                 "(killed by a signal, or out of memory)", "WorkerCrashed", time.perf_counter() - t0)


def convert_many(models: Iterable[str | os.PathLike[str] | ModelInput], outdir: str | os.PathLike[str], *, fmt: str,
                 jobs: int = 1, input_shapes: InputShapes | None = None, opset: int | None = None, nchw_inputs: bool = False,
                 backend: str | None = None, limits: Limits | None = None, allow_nonfinite: bool = False,
                 on_result: Callable[[ConvertResult], None] | None = None) -> list[ConvertResult]:
    """Convert every model to ``OUTDIR/<stem>.<fmt>``; one failure never stops the others.

    Args:
        models: model files, ``arch.json:weights.h5`` pairs, or globs (see the module docstring).
        outdir: the output folder (created if missing).
        fmt: ``"onnx"`` or ``"tflite"``.
        jobs: worker processes; 1 converts in this process.
        input_shapes, opset, nchw_inputs, backend, limits, allow_nonfinite: as for :func:`keras2edge.convert_model`, for every model.
        on_result: called in this process with each result as it finishes (for progress).

    Returns:
        One :class:`ConvertResult` per model, in the order of ``models``.

    Raises:
        BatchInputError: before anything is converted: an unknown format, ``jobs`` < 1, a glob that
            matches nothing, no models, two models that would write the same output file, or an
            output folder that cannot be created (e.g. an existing file).
    """
    if jobs < 1:
        raise BatchInputError(f"cannot run {jobs} jobs; use 1 (in this process) or more worker processes")
    inputs = expand_models(models)
    if not inputs:
        raise BatchInputError("no models to convert")
    outs = plan_outputs(inputs, outdir, fmt)
    try:
        os.makedirs(os.fspath(outdir), exist_ok=True)
    except OSError as e:
        raise BatchInputError(f"cannot write into {os.fspath(outdir)!r}: {e.strerror or e} (the output of a batch "
                              "is a folder)") from None
    options = {"input_shapes": input_shapes, "opset": opset, "nchw_inputs": nchw_inputs, "backend": backend,
               "limits": limits, "allow_nonfinite": allow_nonfinite}
    tasks = [_Task(m, o, options) for m, o in zip(inputs, outs)]
    results: list[ConvertResult | None] = [None] * len(tasks)

    def report(i: int, r: ConvertResult) -> None:
        results[i] = r
        if on_result is not None:
            on_result(r)

    if jobs == 1:
        for i, t in enumerate(tasks):
            report(i, _convert_one(t))
    else:
        _preload(fmt)
        broken = _run_pool(tasks, min(jobs, len(tasks)), report)
        # The pool broke (a worker died): rerun what it did not finish, each model in a process of its
        # own (still ``jobs`` at a time), so that only the model that kills its worker fails.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=jobs) as threads:
            for i, r in zip(broken, threads.map(lambda i: _run_isolated(tasks[i]), broken)):
                report(i, r)
    return [r for r in results if r is not None]


def summary(results: Sequence[ConvertResult], *, fmt: str, outdir: str, jobs: int, seconds: float) -> dict[str, object]:
    """The JSON summary of a batch (schema in the README: ``keras2edge convert ... --json``)."""
    return {"format": fmt, "outdir": outdir, "jobs": jobs, "seconds": round(seconds, 3),
            "ok": sum(r.ok for r in results), "failed": sum(not r.ok for r in results),
            "results": [r.to_dict() for r in results]}


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def summary_table(results: Sequence[ConvertResult], *, seconds: float) -> str:
    """The batch summary as a text table (model, status, seconds, output size, ops), then each error."""
    rows = [("model", "status", "seconds", "size", "ops")]
    rows += [(r.model, r.status, f"{r.seconds:.2f}", _size(r.output_bytes) if r.ok else "-", str(r.ops) if r.ok else "-")
             for r in results]
    widths = [max(len(row[k]) for row in rows) for k in range(5)]
    lines = ["  ".join(c.ljust(w) if k < 2 else c.rjust(w) for k, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    failed = [r for r in results if not r.ok]
    lines += [f"{r.model}: {r.error_class}: {r.error}" for r in failed]
    lines.append(f"{len(results) - len(failed)} converted, {len(failed)} failed in {seconds:.2f} s")
    return "\n".join(lines)
