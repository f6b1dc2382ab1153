"""Seeded mutation fuzzing of Keras files: every mutant must load (and emit) or raise a Keras2EdgeError.

Mutant ``i`` of format ``fmt`` under ``seed`` is a pure function of the three (``make_mutant``), so any
finding is reproduced from its triple:

- ``h5``: a committed full-model ``.h5`` fixture with its bytes mutated (bit flips, overwritten runs,
  interesting integers, truncation, insertion, duplicated ranges), or with its ``model_config`` JSON
  mutated (``mutate_json``: deleted keys, swapped types, huge or negative numbers, deep nesting,
  other layer classes);
- ``keras``: a ``.keras`` archive with ``config.json`` mutated as JSON or as bytes, ``model.weights.h5``
  or ``metadata.json`` mutated as bytes, or the archive bytes themselves mutated.

``run_campaign`` feeds indexes to a worker child (``python -m tests.hostile.fuzz_keras worker``) that
builds each mutant, runs ``keras2edge.load`` and, on success, ``tflite_bytes`` in memory, and answers
with the outcome on one line. A worker that dies (a crash in a C library) or stops answering (a hang)
is recorded against the mutant it was on and replaced; the campaign goes on. The child has an
address-space limit and the load a memory limit, so a runaway allocation cannot take the machine.
"""

from __future__ import annotations

import copy
import io
import json
import os
import random
import re
import resource
import select
import subprocess
import sys
import tempfile
import traceback
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..corpus import FIXTURES, REPO

BASES = {
    "h5": [FIXTURES / "k2" / "mlp.h5", FIXTURES / "k2" / "cnn1d.h5", FIXTURES / "k2" / "rnn.h5",
           FIXTURES / "k3" / "mlp.h5", FIXTURES / "k2" / "merge.h5"],
    "keras": [FIXTURES / "k3" / "mlp.keras", FIXTURES / "k3" / "cnn1d.keras", FIXTURES / "k3" / "merge.keras",
              REPO / "examples" / "tiny_cnn.keras", FIXTURES / "k2" / "mlp.keras"],
}
#: Memory limit of each load, and address-space limit of the worker.
LOAD_LIMIT = 256 << 20
WORKER_AS_LIMIT = 3 << 30
#: Seconds a worker may take on one mutant before it is counted as hung (generous: shared machines).
HANG_SECONDS = 60.0
#: The worker's ``K2E_HDF5_SECONDS``.
PROBE_SECONDS = 20.0

INTERESTING_INTS = [0, 1, -1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 40,
                    (1 << 63) - 1, 1 << 63, (1 << 64) - 1]
INTERESTING_JSON: list[Any] = [None, True, False, 0, -1, -5, 28.5, 2**31, 2**63, 10**30, 1e308, float("nan"), "",
                               "x", "float64", [], {}, [None], [0, 0], {"class_name": "Dense"}]
#: A JSON string that _json_bytes replaces by that many nested lists.
DEEP = "@@deep@@"
LAYER_CLASSES = ["Dense", "Conv2D", "Conv1D", "LSTM", "GRU", "Reshape", "Flatten", "Concatenate", "Add",
                 "BatchNormalization", "Embedding", "Lambda", "InputLayer", "Sequential", "Functional",
                 "Bidirectional", "TimeDistributed", "MaxPooling2D", "Permute", "Softmax", "Model", "Nope"]


# ---------------------------------------------------------------------------- mutators


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One to three byte-level changes, half of them in the first 4 KB (headers, superblocks)."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if not buf:
            break
        hi = len(buf) if rng.random() < 0.5 else min(len(buf), 4096)
        pos = rng.randrange(hi)
        kind = rng.randrange(6)
        if kind == 0:  # bit flips
            for _ in range(rng.randint(1, 8)):
                p = rng.randrange(hi)
                buf[p] ^= 1 << rng.randrange(8)
        elif kind == 1:  # an overwritten run
            n = rng.randint(1, 16)
            fill = rng.choice([b"\x00", b"\xff", None])
            buf[pos:pos + n] = fill * n if fill else bytes(rng.randrange(256) for _ in range(n))
        elif kind == 2:  # an interesting integer
            width = rng.choice([1, 2, 4, 8])
            value = rng.choice(INTERESTING_INTS) & ((1 << (8 * width)) - 1)
            buf[pos:pos + width] = value.to_bytes(width, "little")
        elif kind == 3:  # truncation
            del buf[pos:]
        elif kind == 4:  # insertion
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        else:  # a duplicated range
            n = rng.randint(1, 256)
            buf[pos:pos] = buf[rng.randrange(len(buf)):][:n]
    return bytes(buf)


def _paths(doc: Any) -> list[tuple[Any, ...]]:
    """Every place in ``doc`` (paths of keys and indexes), without recursion."""
    out: list[tuple[Any, ...]] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(doc, ())]
    while stack:
        obj, prefix = stack.pop()
        out.append(prefix)
        items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
        stack.extend((v, prefix + (k,)) for k, v in items)
    return out


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        obj = obj[p]
    return obj


def _new_value(rng: random.Random, old: Any) -> Any:
    kind = rng.randrange(6)
    if kind == 0:
        return copy.deepcopy(rng.choice(INTERESTING_JSON))
    if kind == 1:
        return rng.choice(LAYER_CLASSES)
    if kind == 2 and isinstance(old, (int, float)) and not isinstance(old, bool):
        return rng.choice([-old, old * 1000003, old + 1, 0, -1])
    if kind == 3:  # deep nesting, spliced into the text by _json_bytes (json.dumps would recurse)
        return f"{DEEP}{rng.choice([5, 150, 2000, 100_000])}"
    if kind == 4 and isinstance(old, list):
        return old * rng.choice([0, 2, 50])
    return rng.choice([str(old), [old], {"config": old}, None])


def mutate_json(doc: Any, rng: random.Random) -> Any:
    """One to three structural changes at random places of a parsed JSON document."""
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        paths = _paths(doc)
        path = rng.choice(paths)
        if not path:
            doc = _new_value(rng, doc) if rng.random() < 0.1 else doc
            continue
        parent, key = _get(doc, path[:-1]), path[-1]
        op = rng.randrange(4)
        if op == 0:  # delete
            del parent[key]
        elif op == 1 and isinstance(parent, dict):  # rename a key
            parent[rng.choice(["class_name", "config", "name", "layers", "inbound_nodes", "x"])] = parent.pop(key)
        elif op == 2:  # copy another value here
            parent[key] = copy.deepcopy(_get(doc, rng.choice(paths)))
        else:
            parent[key] = _new_value(rng, parent[key])
    return doc


def _json_bytes(doc: Any) -> bytes:
    text = json.dumps(doc, allow_nan=True)
    return re.sub(f'"{DEEP}(\\d+)"', lambda m: "[" * int(m.group(1)) + "]" * int(m.group(1)), text).encode()


def make_mutant(seed: int, fmt: str, index: int, dst: Path) -> str:
    """Write mutant ``index`` of ``fmt`` to ``dst``; returns a one-line description of what changed."""
    rng = random.Random(f"{seed}/{fmt}/{index}")
    base = rng.choice(BASES[fmt])
    data = base.read_bytes()
    if fmt == "h5":
        if rng.random() < 0.5:
            dst.write_bytes(mutate_bytes(data, rng))
            return f"{base.name}: bytes"
        import h5py

        dst.write_bytes(data)
        with h5py.File(dst, "r+") as f:
            f.attrs["model_config"] = _json_bytes(mutate_json(json.loads(f.attrs["model_config"]), rng))
        return f"{base.name}: model_config"
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    r = rng.random()
    if r < 0.55:
        members["config.json"] = _json_bytes(mutate_json(json.loads(members["config.json"]), rng))
        what = "config.json"
    elif r < 0.65:
        members["config.json"] = mutate_bytes(members["config.json"], rng)
        what = "config.json bytes"
    elif r < 0.85:
        members["model.weights.h5"] = mutate_bytes(members["model.weights.h5"], rng)
        what = "model.weights.h5 bytes"
    elif r < 0.9:
        members["metadata.json"] = _json_bytes(mutate_json(json.loads(members["metadata.json"]), rng))
        what = "metadata.json"
    else:
        what = "archive bytes"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])) as z:
        for name, raw in members.items():
            z.writestr(name, raw)
    out = buf.getvalue()
    dst.write_bytes(mutate_bytes(out, rng) if what == "archive bytes" else out)
    return f"{base.name}: {what}"


# ---------------------------------------------------------------------------- worker (child process)


def _worker(seed: int, fmt: str) -> None:
    import logging
    import warnings

    import keras2edge as k2e
    from keras2edge.convert.tflite import tflite_bytes
    from keras2edge.runtime.limits import Limits

    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    limits = Limits(max_memory=LOAD_LIMIT)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"mutant.{fmt}"
        for line in sys.stdin:
            index = int(line)
            how = make_mutant(seed, fmt, index, path)
            report: dict[str, Any] = {"i": index, "how": how}
            try:
                graph = k2e.load(path, limits=limits)
                tflite_bytes(graph)
                report["outcome"] = "ok"
            except k2e.Keras2EdgeError as e:
                report.update(outcome="refused", cls=type(e).__name__)
            except BaseException as e:  # noqa: BLE001 - the finding this fuzzer exists for
                tb = traceback.extract_tb(e.__traceback__)[-1]
                report.update(outcome="other", cls=type(e).__name__, msg=str(e)[:300],
                              where=f"{Path(tb.filename).name}:{tb.lineno}")
            report["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            print(json.dumps(report), flush=True)


# ---------------------------------------------------------------------------- campaign (parent)


@dataclass
class Finding:
    index: int
    kind: str  # "other" (a non-Keras2EdgeError exception), "crash", "hang"
    detail: str


@dataclass
class Campaign:
    seed: int
    fmt: str
    outcomes: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    peak_rss: int = 0

    @property
    def count(self) -> int:
        return sum(self.outcomes.values())

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        return (f"fuzz {self.fmt} seed {self.seed}: {self.count} mutants ({kinds}); worker peak RSS "
                f"{self.peak_rss >> 20} MB; refusals {dict(self.refusals.most_common())}")

    def distinct(self) -> dict[str, Finding]:
        """One finding per (kind, detail) signature, the first seen."""
        out: dict[str, Finding] = {}
        for f in self.findings:
            out.setdefault(f"{f.kind}: {f.detail}", f)
        return out


def _spawn(seed: int, fmt: str) -> subprocess.Popen[str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (WORKER_AS_LIMIT, WORKER_AS_LIMIT))

    # The HDF5 probe's own time limit (h5probe) stays below HANG_SECONDS, so a libhdf5 loop shows
    # as the probe's ModelFormatError, as it would for a user, and a hang is one of ours.
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", K2E_HDF5_SECONDS=str(PROBE_SECONDS),
               PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-m", "tests.hostile.fuzz_keras", "worker", str(seed), fmt],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=REPO, env=env, preexec_fn=limit)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def run_campaign(seed: int, fmt: str, count: int, start: int = 0, progress: int = 0) -> Campaign:
    """Mutants ``start .. start+count-1`` of ``fmt`` under ``seed``, through restartable workers
    (with ``progress``: a summary on stderr every ``progress`` mutants, and each finding as it comes)."""
    camp = Campaign(seed, fmt)
    proc = _spawn(seed, fmt)
    try:
        for index in range(start, start + count):
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(f"{index}\n")
                proc.stdin.flush()
            except BrokenPipeError:
                pass
            ready, _, _ = select.select([proc.stdout], [], [], HANG_SECONDS)
            line = proc.stdout.readline() if ready else None
            if not line:
                hung = line is None
                _stop(proc)
                kind = "hang" if hung else "crash"
                camp.outcomes[kind] += 1
                camp.findings.append(Finding(index, kind, f"exit {proc.returncode}" if not hung else "no answer"))
                if progress:
                    print(f"mutant {index}: {kind}", file=sys.stderr, flush=True)
                proc = _spawn(seed, fmt)
                continue
            rep = json.loads(line)
            if progress and (rep["outcome"] == "other" or rep["rss"] > camp.peak_rss + (32 << 20)):
                print(f"mutant {index}: {rep}", file=sys.stderr, flush=True)  # a finding or a jump in memory
            camp.outcomes[rep["outcome"]] += 1
            camp.peak_rss = max(camp.peak_rss, rep["rss"])
            if progress and (index + 1 - start) % progress == 0:
                print(camp.summary(), file=sys.stderr, flush=True)
            if rep["outcome"] == "refused":
                camp.refusals[rep["cls"]] += 1
            elif rep["outcome"] == "other":
                camp.findings.append(Finding(index, "other", f"{rep['cls']} at {rep['where']} ({rep['how']}): "
                                                            f"{rep['msg']}"))
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        _stop(proc)
    return camp


def main(argv: list[str]) -> int:
    """``worker SEED FMT`` (the child), or ``FMT COUNT [SEED [START]]``: a campaign, printed."""
    if argv[0] == "worker":
        _worker(int(argv[1]), argv[2])
        return 0
    fmt, count = argv[0], int(argv[1])
    seed = int(argv[2]) if len(argv) > 2 else 0
    start = int(argv[3]) if len(argv) > 3 else 0
    camp = run_campaign(seed, fmt, count, start, progress=1000)
    print(camp.summary())
    for sig, f in camp.distinct().items():
        print(f"  mutant {f.index}: {sig}")
    return 1 if camp.findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
