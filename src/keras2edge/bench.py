"""``keras2edge bench`` / :func:`bench_tflite`: how fast keras2edge's NumPy runtime runs a ``.tflite`` file.

Everything is measured in a **fresh child process** (``python -c`` with a small bootstrap), so that
a cold start counts the imports and so that ``threads`` can set the BLAS/OpenMP thread variables
before NumPy is loaded. The child reports, as one JSON line on its stdout:

- cold start: ``python_start_ms`` (from the parent starting the child to the child's first line:
  the Python interpreter's own start), ``import_ms`` (``import numpy`` and
  ``keras2edge.runtime.interpreter``, i.e. what ``from keras2edge.runtime import Interpreter``
  costs; ``import_numpy_ms`` of it for NumPy alone), ``load_prepare_ms`` (``Interpreter(path)``, and
  preparing the plan of the benchmark's input shapes), ``first_run_ms``;
- ``latency_ms``: min, p50, p90, p99, max and mean over ``runs`` timed runs after ``warmup`` untimed
  ones (percentiles interpolate linearly between the sorted runs, NumPy's default);
- ``arena_bytes`` (the interpreter's planned arena for those shapes), ``peak_rss_bytes`` (the
  child's ``getrusage(RUSAGE_SELF).ru_maxrss``), the Python, NumPy and BLAS it ran with, and the
  thread count the loaded OpenBLAS reports (``blas_threads``, None when it cannot be asked).

Inputs are random, from ``numpy.random.default_rng(seed)``, in input order: float inputs uniform in
[-1, 1), quantized int8/uint8/int16 inputs uniform over their dtype's range, bool inputs fair coins,
and other integer inputs (indices, sizes) zeros, which every gather or slice accepts. Shapes are the
file's, unless ``input_shapes`` pins them (a dynamic batch, for instance).

The JSON written by ``keras2edge bench --json`` is :meth:`BenchResult.to_dict` (schema
``keras2edge.bench/1``, documented in README.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .runtime.limits import Limits, format_size

SCHEMA = "keras2edge.bench/1"
#: The thread-count variables ``threads`` sets in the child (OpenMP and each BLAS NumPy may load).
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
#: The line prefix of the child's report (anything else it might print is ignored).
_MARK = "K2E-BENCH "
#: The child: time the imports from its first line, then hand over to child_main.
_BOOT = ("import time; _w = time.time(); _t0 = time.perf_counter(); import numpy; _t1 = time.perf_counter(); "
         "import keras2edge.runtime.interpreter; _t2 = time.perf_counter(); "
         "from keras2edge.bench import child_main; child_main(_w, _t0, _t1, _t2)")


@dataclass(frozen=True)
class BenchInput:
    """One model input as benchmarked."""

    name: str
    shape: list[int]
    dtype: str
    quantized: bool


@dataclass(frozen=True)
class ColdStart:
    """A fresh process's path to its first result, in milliseconds (``total_ms`` is their sum)."""

    python_start_ms: float
    import_ms: float
    import_numpy_ms: float
    load_prepare_ms: float
    first_run_ms: float
    total_ms: float


@dataclass(frozen=True)
class Latency:
    """Per-run latency over the timed runs, in milliseconds."""

    min_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float


@dataclass(frozen=True)
class BenchResult:
    """What :func:`bench_tflite` measured (see the module docstring for each figure)."""

    model: str
    model_bytes: int
    runs: int
    warmup: int
    seed: int
    threads: int | None
    thread_env: dict[str, str | None]
    inputs: list[BenchInput]
    cold: ColdStart
    latency: Latency
    arena_bytes: int
    peak_rss_bytes: int
    python: str
    numpy: str
    blas: str
    blas_threads: int | None
    pid: int
    schema: str = field(default=SCHEMA)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document (schema ``keras2edge.bench/1``, its name first)."""
        d = asdict(self)
        return {"schema": d.pop("schema"), **d}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        """The table ``keras2edge bench`` prints."""
        c, lat = self.cold, self.latency
        if self.threads is None:
            threads = "inherited (" + (", ".join(f"{k}={v}" for k, v in self.thread_env.items() if v is not None)
                                       or "no thread variable set") + ")"
        else:
            threads = f"{self.threads} (set in {len(self.thread_env)} variables: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, ...)"
        ins = "; ".join(f"{i.name} {i.dtype}{' (quantized)' if i.quantized else ''} {i.shape}" for i in self.inputs)
        rows = [
            f"model           {self.model} ({format_size(self.model_bytes)})",
            f"inputs          {ins or '(none)'} (random, seed {self.seed})",
            f"threads         {threads}; BLAS reports {self.blas_threads or 'unknown'}",
            f"versions        Python {self.python}, numpy {self.numpy}, BLAS {self.blas}",
            "cold start      (a fresh process)",
            f"  python start  {c.python_start_ms:10.2f} ms",
            f"  import        {c.import_ms:10.2f} ms  (numpy {c.import_numpy_ms:.2f} ms)",
            f"  load+prepare  {c.load_prepare_ms:10.2f} ms",
            f"  first run     {c.first_run_ms:10.2f} ms",
            f"  total         {c.total_ms:10.2f} ms",
            f"latency         {self.runs} runs after {self.warmup} warm-up",
            *(f"  {k:<12}  {getattr(lat, k + '_ms'):10.3f} ms" for k in ("min", "p50", "p90", "p99", "max", "mean")),
            f"arena           {self.arena_bytes:,} bytes ({format_size(self.arena_bytes)})",
            f"peak RSS        {self.peak_rss_bytes:,} bytes ({format_size(self.peak_rss_bytes)})",
        ]
        return "\n".join(rows)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BenchResult:
        fields = dict(d)
        fields["inputs"] = [BenchInput(**i) for i in d["inputs"]]
        fields["cold"] = ColdStart(**d["cold"])
        fields["latency"] = Latency(**d["latency"])
        return cls(**fields)


# ------------------------------------------------------------------------------ the parent
def _check_int(name: str, value: object, low: int, allow_none: bool = False) -> int | None:
    from .errors import OptionError

    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise OptionError(f"{name}={value!r}: expected an integer >= {low}")
    return value


def _check_shapes(input_shapes: object) -> dict[str, list[int]]:
    from .arguments import check_input_shapes
    from .errors import OptionError

    shapes = check_input_shapes(input_shapes)
    for name, dims in shapes.items():
        if any(d is None for d in dims):
            raise OptionError(f"input_shapes / --input-shape {name!r}: {dims}: a benchmark runs one shape, "
                              "so every dim must be given")
    return {k: [int(d) for d in v if d is not None] for k, v in shapes.items()}


def child_env(threads: int | None) -> dict[str, str]:
    """The child's environment: ours, keras2edge importable from where this one was imported, and
    with ``threads`` every variable of :data:`THREAD_ENV` set to it.

    The folder holding this keras2edge goes first on ``PYTHONPATH`` unless it is a site-packages
    folder (the child finds it there anyway, and a site-packages folder ahead of the standard
    library could shadow it)."""
    import site

    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sites = {os.path.abspath(p) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if root not in sites:
        rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.abspath(p) != root]
        env["PYTHONPATH"] = os.pathsep.join([root, *rest])
    if threads is not None:
        env.update({k: str(threads) for k in THREAD_ENV})
    return env


def bench_tflite(path: str | os.PathLike[str], *, runs: int = 50, warmup: int = 5, threads: int | None = None,
                 input_shapes: Mapping[str, Sequence[int]] | None = None, seed: int = 0,
                 limits: Limits | None = None, timeout: float | None = None) -> BenchResult:
    """Benchmark a ``.tflite`` file in keras2edge's NumPy runtime, in a fresh child process.

    Args:
        path: the model.
        runs: timed runs (>= 1); warmup: untimed runs before them (>= 0), after the first run.
        threads: the BLAS/OpenMP thread count set in the child's environment before NumPy loads
            (None: inherit this process's environment).
        input_shapes: input name (or ``"*"`` for the only input) -> shape, every dim given; default
            the file's shapes.
        seed: the seed of the random inputs.
        limits: memory limits (:class:`keras2edge.Limits`) the child loads the model with.
        timeout: seconds before the child is killed (None: no limit).

    Returns:
        A :class:`BenchResult`.

    Raises:
        OptionError: a bad argument (checked before the child starts).
        ModelFormatError: ``path`` is missing or not a file.
        RuntimeModelError, LimitExceededError, ...: as the runtime raises them in the child (same class
            and message); an unexpected failure or death of the child is a Keras2EdgeError with its
            last stderr lines.
    """
    from .errors import Keras2EdgeError, ModelFormatError
    from .runtime.limits import resolve

    runs = _check_int("runs", runs, 1)  # type: ignore[assignment]
    warmup = _check_int("warmup", warmup, 0)  # type: ignore[assignment]
    threads = _check_int("threads", threads, 1, allow_none=True)
    seed = _check_int("seed", seed, 0)  # type: ignore[assignment]
    shapes = _check_shapes(input_shapes)
    p = os.fspath(path)
    if not os.path.exists(p):
        raise ModelFormatError(f"{p!r}: no such file")
    if not os.path.isfile(p):
        raise ModelFormatError(f"{p!r} is not a file; expected a .tflite model")
    args = {"path": p, "runs": runs, "warmup": warmup, "seed": seed, "input_shapes": shapes,
            "max_memory": resolve(limits).max_memory}
    start = time.time()
    try:
        proc = subprocess.run([sys.executable, "-c", _BOOT, json.dumps(args)], env=child_env(threads),
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise Keras2EdgeError(f"{p!r}: the benchmark did not finish within {timeout} s") from None
    report = _report(proc)
    if report is None:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        how = f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exited with {proc.returncode}"
        raise Keras2EdgeError(f"{p!r}: the benchmark process {how} without a result" + (f":\n{tail}" if tail else ""))
    if "error" in report:
        raise _error(report, p)
    report["cold"]["python_start_ms"] = max(0.0, (report.pop("started") - start) * 1e3)
    report["cold"]["total_ms"] = sum(v for k, v in report["cold"].items() if k not in ("import_numpy_ms", "total_ms"))
    report.update(threads=threads, model_bytes=os.path.getsize(p))
    return BenchResult.from_dict(report)


def _report(proc: subprocess.CompletedProcess[str]) -> dict[str, Any] | None:
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(_MARK)]
    return json.loads(lines[-1][len(_MARK):]) if lines else None


def _error(report: Mapping[str, Any], path: str) -> Exception:
    """The child's error as the same keras2edge error class (the base class for one that cannot be
    rebuilt from its message, or for an unexpected failure: then with the child's traceback)."""
    from . import errors

    msg = str(report["error"])
    cls = getattr(errors, str(report.get("error_class")), None)
    if isinstance(cls, type) and issubclass(cls, errors.Keras2EdgeError):
        if issubclass(cls, errors.RuntimeModelError) and path not in msg:
            msg = f"{path!r}: {msg}"  # as run_tflite names the file the runtime read
        try:
            return cls(msg)
        except TypeError:  # an error class built from fields, not a message
            return errors.Keras2EdgeError(msg)
    err = errors.Keras2EdgeError(f"{path!r}: internal error in the benchmark process ({msg}); rerun with --debug "
                                 "for its traceback and please report it")
    if report.get("traceback"):
        err.child_traceback = report["traceback"]  # type: ignore[attr-defined]
        if hasattr(err, "add_note"):  # Python 3.11+: shown under the parent's traceback (--debug)
            err.add_note("The benchmark process's traceback:\n" + report["traceback"])
    return err


# ------------------------------------------------------------------------------ the child
def child_main(started: float, t0: float, t1: float, t2: float) -> None:
    """Run by the child's bootstrap after its imports: benchmark, print one report line, exit."""
    try:
        report = _measure(json.loads(sys.argv[1]))
        report["cold"].update(import_ms=(t2 - t0) * 1e3, import_numpy_ms=(t1 - t0) * 1e3)
        report["started"] = started
    except Exception as e:  # noqa: BLE001 - everything goes back to the parent, which raises it
        import traceback

        from .errors import Keras2EdgeError

        report = {"error": str(e), "error_class": type(e).__name__}
        if not isinstance(e, Keras2EdgeError):
            report["error"] = f"{type(e).__name__}: {e}"
            report["traceback"] = traceback.format_exc()
    sys.stdout.write(_MARK + json.dumps(report) + "\n")
    sys.stdout.flush()


def random_inputs(details: Sequence[Mapping[str, Any]], shapes: Sequence[Sequence[int]], seed: int) -> list[Any]:
    """The benchmark's inputs (see the module docstring), in input order."""
    import numpy as np

    from .quantio import tensor_quant

    rng = np.random.default_rng(seed)
    out = []
    for d, shape in zip(details, shapes):
        dt = np.dtype(d["dtype"])
        shape = tuple(int(s) for s in shape)
        if dt.kind == "f":
            out.append(rng.uniform(-1, 1, shape).astype(dt))
        elif dt.kind == "b":
            out.append(rng.random(shape) < 0.5)
        elif tensor_quant(d, "input") is not None:
            info = np.iinfo(dt)
            out.append(rng.integers(info.min, info.max, shape, dtype=dt, endpoint=True))
        else:
            out.append(np.zeros(shape, dt))
    return out


def _bench_shapes(details: Sequence[Mapping[str, Any]], pinned: Mapping[str, list[int]]) -> list[list[int]]:
    from .errors import OptionError

    names = [str(d["name"]) for d in details]
    keys = {str(d["name"]): k for k, d in enumerate(details)}
    keys.update({str(d["tensor_name"]): k for k, d in enumerate(details) if str(d["tensor_name"]) not in keys})
    shapes = [[int(s) for s in d["shape"]] for d in details]
    for name, dims in pinned.items():
        if name == "*" and len(details) == 1:
            k = 0
        elif name in keys:
            k = keys[name]
        else:
            need = " (name it: the model has several inputs)" if name == "*" else ""
            raise OptionError(f"--input-shape / input_shapes: no input named {name!r}{need}; the model's inputs "
                              f"are {names}")
        shapes[k] = list(dims)
    return shapes


def _measure(args: Mapping[str, Any]) -> dict[str, Any]:
    """Load, prepare, run once, warm up and time; the report without the import times."""
    import numpy as np

    from .quantio import tensor_quant
    from .runtime.interpreter import Interpreter

    clock = time.perf_counter
    a = clock()
    interp = Interpreter(args["path"], limits=Limits(max_memory=int(args["max_memory"])))
    details = interp.get_input_details()
    shapes = _bench_shapes(details, args["input_shapes"])
    interp.prepare(shapes)
    b = clock()
    feeds = random_inputs(details, shapes, int(args["seed"]))
    feed: Any = feeds[0] if len(feeds) == 1 else feeds
    c = clock()
    interp.run(feed)
    d = clock()
    for _ in range(int(args["warmup"])):
        interp.run(feed)
    times = np.empty(int(args["runs"]), np.float64)
    for k in range(times.size):
        t = clock()
        interp.run(feed)
        times[k] = clock() - t
    times *= 1e3
    p50, p90, p99 = (float(v) for v in np.percentile(times, [50, 90, 99]))
    rss = _peak_rss_bytes()
    return {
        "model": args["path"], "runs": int(args["runs"]), "warmup": int(args["warmup"]), "seed": int(args["seed"]),
        "thread_env": {k: os.environ.get(k) for k in THREAD_ENV},
        "inputs": [{"name": str(dt["name"]), "shape": list(s), "dtype": np.dtype(dt["dtype"]).name,
                    "quantized": tensor_quant(dt, "input") is not None} for dt, s in zip(details, shapes)],
        "cold": {"load_prepare_ms": (b - a) * 1e3, "first_run_ms": (d - c) * 1e3},
        "latency": {"min_ms": float(times.min()), "p50_ms": p50, "p90_ms": p90, "p99_ms": p99,
                    "max_ms": float(times.max()), "mean_ms": float(times.mean())},
        "arena_bytes": int(interp.arena_bytes),
        "peak_rss_bytes": rss,
        "python": sys.version.split()[0], "numpy": np.__version__, "blas": _blas_name(np), "blas_threads": _blas_threads(),
        "pid": os.getpid(),
    }


def _peak_rss_bytes() -> int:
    """This process's peak resident set size (0 where ``resource`` does not exist: Windows)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss) * (1 if sys.platform == "darwin" else 1024)  # KiB on Linux, bytes on macOS


def _blas_threads() -> int | None:
    """The thread count the loaded OpenBLAS will use, asked from the library itself (so ``threads``
    is seen applied); None when it cannot be told (not Linux, another BLAS, no such symbol)."""
    from .runtime.blas import get_blas_threads

    return get_blas_threads()


def _blas_name(np: Any) -> str:
    """The BLAS NumPy was built with, from its build configuration ("unknown" if it does not say)."""
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - informative only, and the layout differs between NumPy versions
        return "unknown"
