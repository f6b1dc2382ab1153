"""The mutant catalogue fits the code: every snippet occurs exactly once and every mutant compiles.

The mutation run itself is slow and runs by hand and in CI's zoo step (tests/mutations/run_mutations.py);
this test only makes drift between the catalogue and the code fail at once, in the default suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpus import REPO
from tests.mutations.catalogue import MUTANTS, Mutant
from tests.mutations.run_mutations import (BEGIN, CAUGHT, END, CatalogueError, hunt, check_catalogue, mutated_source,
                                          write_table)

KINDS = {"gate order", "kernel orientation", "kernel flip", "padding", "epsilon", "layout permutation",
         "softmax axis", "flatten order", "bias sign"}


def test_catalogue_fits_the_code() -> None:
    check_catalogue()


def test_catalogue_covers_the_issue_kinds() -> None:
    assert len(MUTANTS) >= 14
    assert KINDS <= {m.kind for m in MUTANTS}


def test_selections_exist() -> None:
    root = REPO
    for m in MUTANTS:
        for sel in m.tests:
            assert (root / sel.split("::")[0]).exists(), f"{m.id}: no such test path {sel}"


def test_a_missing_or_repeated_snippet_is_an_error(tmp_path: Path) -> None:
    pkg = tmp_path / "src" / "keras2edge"
    pkg.mkdir(parents=True)
    (pkg / "m.py").write_text("x = 1\nx = 1\n")
    missing = Mutant("missing", "padding", "m.py", "y = 2", "y = 3", "", ("tests",))
    repeated = Mutant("repeated", "padding", "m.py", "x = 1", "x = 2", "", ("tests",))
    with pytest.raises(CatalogueError, match="occurs 0 times"):
        mutated_source(missing, tmp_path)
    with pytest.raises(CatalogueError, match="occurs 2 times"):
        mutated_source(repeated, tmp_path)
    (pkg / "m.py").write_text("x = 1\n")
    broken = Mutant("broken", "padding", "m.py", "x = 1", "x = (", "", ("tests",))
    with pytest.raises(CatalogueError, match="does not compile"):
        check_catalogue((broken,), tmp_path)
    assert mutated_source(repeated, tmp_path)[1] == "x = 2\n"


def test_write_table_replaces_between_markers(tmp_path: Path) -> None:
    doc = tmp_path / "t.md"
    doc.write_text(f"intro\n{BEGIN}\nold table\n{END}\noutro\n")
    write_table(doc, "new table")
    assert doc.read_text() == f"intro\n{BEGIN}\nnew table\n{END}\noutro\n"
    doc.write_text("no markers\n")
    with pytest.raises(CatalogueError, match="markers"):
        write_table(doc, "x")


def test_a_catch_counts_only_if_the_test_passes_without_the_mutant(tmp_path: Path) -> None:
    """A tiny repository: one test always fails (a flaky test), one checks the mutated value."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.py").write_text("VALUE = 1\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_m.py").write_text(
        "import m\n\n\ndef test_always_fails():\n    assert False\n\n\ndef test_value():\n    assert m.VALUE == 1\n")
    path = Path("src") / "m.py"
    flaky: list[str] = []
    (tmp_path / path).write_text("VALUE = 2\n")
    outcome, where = hunt(tmp_path, path, "VALUE = 1\n", "VALUE = 2\n", ("tests",), 120, flaky)
    assert (outcome, where, flaky) == (CAUGHT, "tests/test_m.py::test_value", ["tests/test_m.py::test_always_fails"])
    assert (tmp_path / path).read_text() == "VALUE = 2\n"
