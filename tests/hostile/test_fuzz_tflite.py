"""Fuzz the whole ``.tflite`` path (reader, interpreter, kernels, run, inspect) with seeded mutants.

The campaign (``fuzz_tflite.py``) runs in a child process with an address-space limit, so a runaway
allocation shows as a failure instead of exhausting the machine; every outcome must be a result or a
Keras2EdgeError, two runs must agree, and nothing may hang. ``K2E_FUZZ_ITERATIONS`` sets the count
(default 2,000 per CI run); ``python -m tests.hostile.fuzz_tflite --iterations 100000`` is the long
campaign.
"""

from __future__ import annotations

import json
import os
import sys

from ..corpus import REPO, corpus_paths
from .fuzz_tflite import CORPUS_SEEDS
from .harness import run_command

ITERATIONS = int(os.environ.get("K2E_FUZZ_ITERATIONS", "2000"))
AS_LIMIT = 2 << 30
#: The campaign holds each model to 256 MiB (arena + I/O + folded constants); with the outputs the
#: caller owns and the interpreter itself, the child's peak stays under this (100,000 mutants: 792 MB
#: when two interpreters were alive at once, before the first was dropped ahead of the report).
RSS_BOUND = 1 << 30


def test_tflite_mutants_end_in_a_result_or_a_keras2edge_error() -> None:
    corpus_paths(f"tflite-micro/{n}" for n in CORPUS_SEEDS)  # absent corpus: fewer seeds, or a failure in CI
    out = run_command([sys.executable, "-m", "tests.hostile.fuzz_tflite", "--iterations", str(ITERATIONS), "--seed", "1"],
               as_limit=AS_LIMIT, timeout=max(600.0, ITERATIONS * 0.5), cwd=str(REPO))
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("@@")]
    assert out.returncode == 0 and lines, f"the campaign crashed (exit {out.returncode}): {out.stderr[-3000:]}"
    rep = json.loads(lines[-1][2:])
    print(f"fuzz .tflite: {json.dumps(rep['outcomes'])} {json.dumps(rep['kinds'])}, "
          f"peak RSS {rep['peak_rss'] >> 20} MB")
    assert rep["failures"] == {}, json.dumps(rep["failures"], indent=2)
    outcomes = rep["outcomes"]
    tried = ITERATIONS - outcomes.get("unwritable", 0)
    assert sum(n for k, n in outcomes.items() if k == "ran" or k.startswith("refused:")) == tried
    assert outcomes.get("ran", 0) > tried // 20 and outcomes.get("refused:RuntimeModelError", 0) > tried // 10
    assert rep["kinds"]["bytes"] > tried // 4 and rep["kinds"]["semantic"] > tried // 4
    assert out.peak_rss <= RSS_BOUND, f"peak RSS {out.peak_rss >> 20} MB"
