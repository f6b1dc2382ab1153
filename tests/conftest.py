"""pytest plumbing for the whole suite: the ``tmp_out`` fixture and the end-of-run summary. Helpers have
their own homes: paths in ``tests/corpus.py``, error measures in ``tests/tolerances.py``, onnxruntime in
``tests/onnxrt.py``, LiteRT in ``tests/litert.py``, TFLite Micro in ``tests/tflm.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def tmp_out(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="session")
def int8_zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the zoo's int8 files are made once per session (tests/runtime/zoo_int8.py);
    ``K2E_RUNTIME_ZOO_DIR`` keeps them between sessions."""
    raw = os.environ.get("K2E_RUNTIME_ZOO_DIR")
    d = Path(raw) if raw else tmp_path_factory.mktemp("runtime-zoo-int8")
    d.mkdir(parents=True, exist_ok=True)
    return d


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    """Print the worst Keras-vs-onnxruntime error seen over the fixtures (for the release notes)."""
    try:
        from .test_fixtures import WORST
    except Exception:  # noqa: BLE001 - the fixture tests did not run
        return
    if WORST:
        name, err = max(WORST.items(), key=lambda kv: kv[1])
        terminalreporter.write_line(f"keras2edge fixtures: {len(WORST)} compared with Keras; worst error / output peak "
                                    f"{err:.2e} ({name})")
