"""Where the test data is: the repository, its committed fixtures (``FIXTURES``) and the third-party corpus
(the one place that says so), and what tests do when the corpus is absent.

The corpus (``shared/corpus/``, described by its ``CATALOG.md``) lives beside the repository, never
in it. Its location is ``$K2E_CORPUS``, by default ``../shared/corpus`` next to the clone.

- Corpus folder absent: every test that needs it is skipped, with a reason naming the variable
  and the path tried (so ``pip install -e .[test] && pytest`` passes on a fresh clone).
- ``K2E_REQUIRE_CORPUS=1`` (set by ``.ci/run``): absence is a failure instead, so CI never skips
  these tests silently.
- Corpus folder present but a listed file missing: always a failure (a changed corpus must not
  shrink the tests).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
CORPUS = Path(os.environ.get("K2E_CORPUS", REPO.parent / "shared" / "corpus"))
REQUIRE_CORPUS = os.environ.get("K2E_REQUIRE_CORPUS", "0") == "1"


def corpus_missing_reason() -> str:
    return (f"third-party corpus not found at {CORPUS} (set K2E_CORPUS to the shared/corpus folder; "
            "K2E_REQUIRE_CORPUS=1 makes this a failure)")


def require_corpus() -> None:
    """Skip the calling test when the corpus folder is absent (fail instead under K2E_REQUIRE_CORPUS=1)."""
    if CORPUS.is_dir():
        return
    if REQUIRE_CORPUS:
        pytest.fail(corpus_missing_reason())
    pytest.skip(corpus_missing_reason())


def corpus(rel: str) -> str:
    """Path of a file in the corpus; skips (or fails) when the corpus is absent, fails when the file is."""
    require_corpus()
    p = CORPUS / rel
    if not p.exists():
        pytest.fail(f"corpus file {p} is missing (the corpus at {CORPUS} is incomplete; see its CATALOG.md)")
    return str(p)


class CorpusFile(os.PathLike):  # type: ignore[type-arg]
    """A corpus path for module-level constants: resolved (and skipped when the corpus is absent)
    only when a test uses it, never at import time (a module-level skip is a collection error)."""

    def __init__(self, rel: str) -> None:
        self.rel = rel

    def __fspath__(self) -> str:
        return corpus(self.rel)

    def __str__(self) -> str:
        return self.__fspath__()


def corpus_paths(rels: Iterable[str]) -> list[str]:
    """Paths of ``rels`` for tests that also run without the corpus: empty when the corpus is absent
    (unless K2E_REQUIRE_CORPUS=1), a failure when the corpus is there but a file is missing."""
    rels = list(rels)
    if not CORPUS.is_dir() and not REQUIRE_CORPUS:
        return []
    return [corpus(r) for r in rels]
