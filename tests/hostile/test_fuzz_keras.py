"""Fuzz the Keras reader: seeded mutants of real .h5 and .keras files load or raise a Keras2EdgeError.

Every CI run checks ``K2E_FUZZ_ITERATIONS`` mutants per format (default 750) under seed
``K2E_FUZZ_SEED`` (default 0; a fixed seed, so a failure reproduces). A long campaign::

    K2E_FUZZ_ITERATIONS=100000 K2E_FUZZ_SEED=7 pytest -q tests/hostile/test_fuzz_keras.py
    python -m tests.hostile.fuzz_keras keras 100000 7        # the same, printing every distinct finding

A finding is a mutant that raised anything but a Keras2EdgeError, killed its worker (a crash) or
stopped answering (a hang); each is listed with the index that rebuilds it
(``make_mutant(seed, fmt, index, path)``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import keras2edge as k2e
from keras2edge.convert.keras.layers.recurrent import MAX_UNROLLED_STEPS
from keras2edge.errors import UnsupportedLayerError

from .fuzz_keras import make_mutant, run_campaign

ITERATIONS = int(os.environ.get("K2E_FUZZ_ITERATIONS", "750"))
SEED = int(os.environ.get("K2E_FUZZ_SEED", "0"))


@pytest.mark.parametrize("fmt", ["h5", "keras"])
def test_every_mutant_loads_or_raises_a_keras2edge_error(fmt: str) -> None:
    camp = run_campaign(SEED, fmt, ITERATIONS)
    print(camp.summary())
    assert camp.count == ITERATIONS
    findings = "\n".join(f"mutant {f.index}: {sig}" for sig, f in camp.distinct().items())
    assert not camp.findings, f"{len(camp.findings)} of {camp.count} mutants ({fmt}, seed {SEED}):\n{findings}"
    # the mutants exercise both paths: some still convert, most are refused with a clean error
    assert camp.outcomes["ok"] > ITERATIONS // 20 and camp.outcomes["refused"] > ITERATIONS // 4
    assert camp.peak_rss < 512 << 20, f"a worker reached {camp.peak_rss >> 20} MB"


def test_a_huge_declared_sequence_is_refused_before_unrolling(tmp_path: Path) -> None:
    """Finding of the long campaign (h5 seed 404, mutant 3070): rnn.h5 with its input's time axis
    mutated to 6,000,018 steps was unrolled node by node (a hang); refused by the step limit now."""
    path = tmp_path / "long.h5"
    make_mutant(404, "h5", 3070, path)
    with pytest.raises(UnsupportedLayerError, match=r"6000018 time steps; recurrent layers are unrolled, over at "
                                                    rf"most {MAX_UNROLLED_STEPS} steps"):
        k2e.load(path)
