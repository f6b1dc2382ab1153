"""libhdf5 failing on a corrupt file (issue 6): a crash, a hang or a runaway allocation inside the
library while it decodes a variable-length string attribute must become a ModelFormatError that
names the file and what was being read, with this (the test) process untouched.

The files are the fuzz campaigns' findings, rebuilt at test time from their (seed, format, index)
triples by ``fuzz_keras.make_mutant`` (each is a committed fixture with a few bytes changed).
Without ``h5probe`` each of the SIGSEGV cases kills the process that loads it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import keras2edge as k2e
from keras2edge.convert.keras import h5probe
from keras2edge.errors import LimitExceededError, ModelFormatError

from ..corpus import FIXTURES
from .fuzz_keras import make_mutant
from .harness import assert_clean_cli_failure, run_cli

#: (seed, format, index) -> the libhdf5 failure it triggered in-process, and what it was reading.
CRASHES = {(303, "h5", 7141): "attribute 'model_config' of '/'",
           (303, "h5", 21282): "attribute 'backend' of '/'",
           (303, "h5", 29013): "attribute 'layer_names' of '/model_weights'",
           (303, "h5", 34300): "attribute 'backend' of '/model_weights'",
           (303, "h5", 34892): "attribute 'backend' of '/model_weights'"}
HANGS = {(303, "keras", 94256): "attribute 'name' of '/vars'",
         (303, "keras", 94917): "attribute 'name' of '/vars'",
         (101, "keras", 23406): "attribute 'name' of '/vars'"}
ALLOCATIONS = {(101, "h5", 3497): "attribute 'keras_version' of '/'",
               (303, "h5", 4744): "attribute 'backend' of '/'"}
#: Probe time limit in these tests (a real walk of these files takes milliseconds).
TEST_SECONDS = "3"


def _mutant(folder: Path, key: tuple[int, str, int]) -> Path:
    seed, fmt, index = key
    path = folder / f"m{seed}_{index}.{fmt}"
    make_mutant(seed, fmt, index, path)
    return path


@pytest.fixture(autouse=True)
def _short_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(h5probe.SECONDS_ENV_VAR, TEST_SECONDS)


#: Each finding -> what the message must say after the file's name.
EXPECTED = {**{k: f"the HDF5 library crashed (SIGSEGV) while reading {what}; the file is corrupt"
               for k, what in CRASHES.items()},
            **{k: f"model.weights.h5: the HDF5 library did not finish reading {what} within {TEST_SECONDS} s"
               for k, what in HANGS.items()},
            **{k: f"cannot read the HDF5 file at {what} (corrupt or truncated file?)"
               for k, what in ALLOCATIONS.items()}}


@pytest.mark.parametrize("key", list(EXPECTED), ids=lambda k: f"{k[1]}-{k[0]}-{k[2]}")
def test_library_failure_is_a_format_error(tmp_path: Path, key: tuple[int, str, int]) -> None:
    """Crash, hang or allocation failure inside libhdf5: a ModelFormatError, this process unharmed."""
    path = _mutant(tmp_path, key)
    with pytest.raises(ModelFormatError) as info:
        k2e.load(path)
    message = str(info.value)
    assert message.startswith(repr(str(path))), message
    assert EXPECTED[key] in message, message


def test_cli_reports_the_crash_in_one_line(tmp_path: Path) -> None:
    path = _mutant(tmp_path, (303, "h5", 7141))
    out = tmp_path / "out.onnx"
    result = run_cli(["convert", str(path), "-o", str(out)])
    assert_clean_cli_failure(result, r"crashed \(SIGSEGV\) while reading attribute 'model_config' of '/'")
    assert not out.exists()


@pytest.fixture
def other_thread() -> Iterator[None]:
    """A second thread alive during the test: the probe must not fork then (it spawns a fresh interpreter)."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    yield
    stop.set()
    thread.join()


def test_spawned_probe_when_threads_run(tmp_path: Path, other_thread: None, monkeypatch: pytest.MonkeyPatch) -> None:
    forks: list[int] = []
    monkeypatch.setattr(h5probe, "_run_forked", lambda *a: forks.append(1))
    crash = _mutant(tmp_path, (303, "h5", 29013))
    with pytest.raises(ModelFormatError, match=r"crashed \(SIGSEGV\) while reading attribute 'layer_names'"):
        k2e.load(crash)
    hang = _mutant(tmp_path, (101, "keras", 23406))  # a spooled member: the child gets its descriptor
    with pytest.raises(ModelFormatError, match="did not finish reading attribute 'name' of '/vars'"):
        k2e.load(hang)
    graph = k2e.load(FIXTURES / "k3" / "mlp.keras")
    assert graph.nodes and not forks


def test_good_files_load_through_both_probes(tmp_path: Path, other_thread: None) -> None:
    fixtures = FIXTURES
    spawned = [k2e.load(fixtures / name) for name in ("k2/mlp.h5", "k3/cnn1d.keras")]
    assert [len(g.nodes) for g in spawned] == [len(k2e.load(fixtures / n).nodes) for n in ("k2/mlp.h5", "k3/cnn1d.keras")]


def test_without_fork_the_walk_runs_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(h5probe.os, "fork")
    path = _mutant(tmp_path, (101, "h5", 3497))  # fails cleanly in-process too
    with pytest.raises(ModelFormatError, match="cannot read the HDF5 data"):
        k2e.load(path)
    assert k2e.load(FIXTURES / "k2" / "cnn1d.h5").nodes


@pytest.mark.parametrize("text", ["0", "-1", "soon", "nan"])
def test_bad_time_limit_is_refused(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(h5probe.SECONDS_ENV_VAR, text)
    with pytest.raises(LimitExceededError, match=h5probe.SECONDS_ENV_VAR):
        h5probe.probe_seconds()
