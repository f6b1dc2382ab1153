"""Shared test helpers: where the fixtures are (the corpus: ``tests/corpus.py``), and running a graph through onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .corpus import CORPUS, REPO, corpus

__all__ = ["CORPUS", "FIXTURES", "REPO", "corpus", "rel_err", "run_onnx"]

FIXTURES = REPO / "tests" / "fixtures"


def run_onnx(graph, feeds: dict[str, np.ndarray], **kw) -> list[np.ndarray]:
    """Export ``graph`` to ONNX in memory and run it in onnxruntime (1 thread); outputs in order."""
    from keras2edge.convert.onnx import to_onnx

    from .ort_session import ort_session

    sess = ort_session(to_onnx(graph, **kw).SerializeToString())
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, {n: feeds[n] for n in names})


def rel_err(got: np.ndarray, want: np.ndarray) -> float:
    """Max abs error relative to the output range (at least 1)."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    scale = max(1.0, float(want.max() - want.min())) if want.size else 1.0
    return float(np.max(np.abs(got - want))) / scale if want.size else 0.0


@pytest.fixture
def tmp_out(tmp_path: Path) -> Path:
    return tmp_path


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    """Print the worst Keras-vs-onnxruntime error seen over the fixtures (for the release notes)."""
    try:
        from tests.test_fixtures import WORST
    except Exception:  # noqa: BLE001 - the fixture tests did not run
        return
    if WORST:
        name, err = max(WORST.items(), key=lambda kv: kv[1])
        terminalreporter.write_line(f"keras2edge fixtures: {len(WORST)} compared with Keras; worst error / output peak "
                                    f"{err:.2e} ({name})")
