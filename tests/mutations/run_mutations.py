"""Apply each deliberate bug of the catalogue to a temporary copy of the repository and check that
the test suite catches it.

Usage (from anywhere; never edits the working tree)::

    python tests/mutations/run_mutations.py                 # every mutant, one at a time
    python tests/mutations/run_mutations.py -k bn- -j 2     # mutants whose id contains 'bn-', 2 at once
    python tests/mutations/run_mutations.py --write docs/testing.md   # also update the table there
    python tests/mutations/run_mutations.py --list          # the catalogue, nothing run

For each mutant: copy src/, tests/, examples/, docs/, pyproject.toml and README.md to a temporary
folder, replace the mutant's ``old`` snippet (it must occur exactly once, so drift in the code is an
error, never a silent skip) and run ``pytest -x -q`` on its test selection with ``PYTHONPATH`` set
to the copy's ``src``. Results: ``caught`` (a test failed), ``broken`` (pytest could not even run
the tests: an import or collection error, or a timeout; counted as caught but flagged) or
``survived``. A mutant that survives its selection is run against the rest of the default suite before
it is called a survivor (``--no-fallback`` skips that). A catch counts only if the failing test
passes once the mutant is taken out and fails again when it is put back: a test that does not
(flaky under load, or broken on this tree) is reported, deselected, and the search goes on
(``unconfirmed`` after three such tests). Tests whose result depends on the machine's speed
(``catalogue.TIMING_DEPENDENT``) are never run. Exit code 1 if any mutant survived or stayed unconfirmed, 2 if the
catalogue does not fit the code.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.mutations.catalogue import MUTANTS, TIMING_DEPENDENT, Mutant  # noqa: E402

PACKAGE = Path("src") / "keras2edge"
COPIED = ("src", "tests", "examples", "docs", "pyproject.toml", "README.md")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
PYTEST = ("-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--ignore=tests/mutations",
          *(f"--deselect={t}" for t in TIMING_DEPENDENT))
BEGIN, END = "<!-- mutations:begin -->", "<!-- mutations:end -->"
CAUGHT, BROKEN, SURVIVED, UNCONFIRMED = "caught", "broken", "survived", "unconfirmed"
MAX_FLAKY = 3  # tests that fail without the mutant, deselected before giving up


class CatalogueError(Exception):
    """A mutant does not fit the code (its snippet is missing or ambiguous), or the catalogue is malformed."""


@dataclass
class Result:
    mutant: Mutant
    outcome: str
    caught_by: str  # the first failing test, or what broke
    outside_selection: bool
    seconds: float
    flaky: tuple[str, ...] = ()  # tests that failed without the mutant too


def mutated_source(m: Mutant, root: Path = ROOT) -> tuple[Path, str]:
    """The mutated text of the mutant's file (relative path, text); the snippet must occur exactly once."""
    path = PACKAGE / m.file
    full = root / path
    if not full.is_file():
        raise CatalogueError(f"mutant {m.id}: file {path} does not exist")
    text = full.read_text()
    count = text.count(m.old)
    if count != 1:
        raise CatalogueError(f"mutant {m.id}: the snippet {m.old!r} occurs {count} times in {path} "
                             "(expected exactly once); update the catalogue to the code")
    return path, text.replace(m.old, m.new, 1)


def check_catalogue(mutants: tuple[Mutant, ...] = MUTANTS, root: Path = ROOT) -> None:
    """Every id unique, every snippet found exactly once, every mutated file still valid Python."""
    seen: set[str] = set()
    for m in mutants:
        if m.id in seen:
            raise CatalogueError(f"mutant id {m.id!r} is used twice")
        seen.add(m.id)
        if m.old == m.new:
            raise CatalogueError(f"mutant {m.id}: old and new are the same")
        if not m.tests:
            raise CatalogueError(f"mutant {m.id}: no test selection")
        path, text = mutated_source(m, root)
        try:
            compile(text, str(path), "exec")
        except SyntaxError as e:
            raise CatalogueError(f"mutant {m.id}: the mutated {path} does not compile: {e}") from e


def _copy_repo(dest: Path) -> None:
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORED)
        elif src.is_file():
            shutil.copy2(src, dest / name)


def _env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy / "src")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # The copy lives outside the repository's parent folder: point the tests at the real corpus.
    env.setdefault("K2E_CORPUS", str(ROOT.parent / "shared" / "corpus"))
    return env


_FAILED = re.compile(r"^(FAILED|ERROR) (\S+)")


def _first_failure(output: str) -> str:
    for line in output.splitlines():
        hit = _FAILED.match(line)
        if hit:
            return hit.group(2)
    errors = [ln.strip() for ln in output.splitlines() if re.match(r"^E?\s*\w*(Error|Exception)\b", ln.strip())]
    return errors[-1][:160] if errors else output.strip().splitlines()[-1][:160] if output.strip() else "?"


def _pytest(copy: Path, selection: tuple[str, ...], timeout: float) -> tuple[str, str]:
    """(outcome, first failing test or what broke) of ``pytest -x -q`` on the copy."""
    try:
        r = subprocess.run([sys.executable, *PYTEST, *selection], cwd=copy, env=_env(copy), capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return BROKEN, f"timeout after {timeout:.0f} s"
    out = r.stdout + r.stderr
    if r.returncode == 0:
        return SURVIVED, ""
    if r.returncode == 1:
        return CAUGHT, _first_failure(out)
    return BROKEN, f"pytest exit {r.returncode}: {_first_failure(out)}"


def check_copy() -> None:
    """The tests of an unmutated copy import the copy's keras2edge (not an installed one) and all
    collect: a missing test dependency must stop the run, not pass for a catch."""
    with tempfile.TemporaryDirectory(prefix="k2e-mut-") as tmp:
        copy = Path(tmp)
        _copy_repo(copy)
        r = subprocess.run([sys.executable, "-c", "import keras2edge; print(keras2edge.__file__)"], cwd=copy,
                           env=_env(copy), capture_output=True, text=True, timeout=120)
        got = r.stdout.strip()
        if r.returncode != 0 or not Path(got).resolve().is_relative_to(copy.resolve()):
            raise CatalogueError(f"a copy imports keras2edge from {got or r.stderr.strip()!r}, not from the copy")
        r = subprocess.run([sys.executable, *PYTEST, "--collect-only"], cwd=copy, env=_env(copy),
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise CatalogueError(f"the unmutated tests do not collect with {sys.executable} "
                                 f"(pytest exit {r.returncode}): {_first_failure(r.stdout + r.stderr)}")


def hunt(copy: Path, path: Path, original: str, mutated: str, selection: tuple[str, ...],
          timeout: float, flaky: list[str]) -> tuple[str, str]:
    """Run ``selection`` on the mutated copy; confirm a catch by rerunning the failing test without the
    mutant (it must pass) and with it (it must fail again). A test that does not is added to ``flaky``
    and deselected."""
    while True:
        outcome, where = _pytest(copy, selection + tuple(f"--deselect={t}" for t in flaky), timeout)
        if outcome != CAUGHT:
            return outcome, where
        (copy / path).write_text(original)
        clean = _pytest(copy, (where,), timeout)[0] == SURVIVED
        (copy / path).write_text(mutated)
        if clean and _pytest(copy, (where,), timeout)[0] == CAUGHT:  # and it fails again with the mutant
            return CAUGHT, where
        if where in flaky:  # deselecting it did not help (a whole file, or the tree is broken)
            return UNCONFIRMED, f"{where} fails without the mutant"
        flaky.append(where)
        if len(flaky) >= MAX_FLAKY:
            return UNCONFIRMED, f"{len(flaky)} failing tests also fail without the mutant"


def run_mutant(m: Mutant, fallback: bool, timeout: float) -> Result:
    start = time.monotonic()
    flaky: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f"k2e-mut-{m.id}-") as tmp:
        copy = Path(tmp)
        _copy_repo(copy)
        path, mutated = mutated_source(m, copy)
        original = (copy / path).read_text()
        (copy / path).write_text(mutated)
        outcome, where = hunt(copy, path, original, mutated, m.tests, timeout, flaky)
        outside = False
        if outcome == SURVIVED and fallback:  # the rest of the default suite (the selection passed)
            rest = tuple(f"--ignore={t}" for t in m.tests if "::" not in t)
            outcome, where = hunt(copy, path, original, mutated, rest, timeout, flaky)
            outside = outcome != SURVIVED
    return Result(m, outcome, where, outside, time.monotonic() - start, tuple(flaky))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(results: list[Result]) -> str:
    lines = ["| mutant | kind | file | result | caught by | s |", "|---|---|---|---|---|---:|"]
    for r in results:
        m = r.mutant
        if r.outcome in (SURVIVED, UNCONFIRMED):
            verdict = f"**{r.outcome.upper()}**"
            by = f"expected: {m.expected}" if m.expected else "no test"
        else:
            verdict = r.outcome + (" (outside its selection)" if r.outside_selection else "")
            by = f"`{r.caught_by}`"
        lines.append(f"| `{m.id}` | {m.kind} | `{m.file}` | {verdict} | {_cell(by)} | {r.seconds:.0f} |")
    return "\n".join(lines)


def summary(results: list[Result], seconds: float, jobs: int) -> str:
    n = {o: sum(r.outcome == o for r in results) for o in (CAUGHT, BROKEN, SURVIVED, UNCONFIRMED)}
    caught = n[CAUGHT] + n[BROKEN]
    pct = 100.0 * caught / len(results) if results else 100.0
    text = (f"{len(results)} mutants: {caught} caught ({pct:.0f}%; {n[BROKEN]} of them broken), "
            f"{n[SURVIVED]} survived" + (f", {n[UNCONFIRMED]} unconfirmed" if n[UNCONFIRMED] else "")
            + f"; {seconds:.0f} s wall time with -j {jobs} ({time.strftime('%Y-%m-%d', time.gmtime())}).")
    flaky = sorted({t for r in results for t in r.flaky})
    if flaky:
        text += "\n\nTests that failed without their mutant too (deselected for that mutant): " + \
            ", ".join(f"`{t}`" for t in flaky) + "."
    return text


def write_table(doc: Path, text: str) -> None:
    """Replace what lies between the markers in ``doc`` with ``text``."""
    content = doc.read_text()
    if content.count(BEGIN) != 1 or content.count(END) != 1 or content.index(BEGIN) > content.index(END):
        raise CatalogueError(f"{doc} must contain the markers {BEGIN} and {END} once each, in that order")
    head, rest = content.split(BEGIN)
    _, tail = rest.split(END)
    doc.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", dest="select", default="", help="run only mutants whose id contains this text")
    ap.add_argument("-j", dest="jobs", type=int, default=1, help="mutants run in parallel (default 1)")
    ap.add_argument("--write", type=Path, help="write the result table into this file, between the markers")
    ap.add_argument("--no-fallback", action="store_true",
                    help="do not run the rest of the suite for a mutant that survives its selection")
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds per pytest run (default 1200)")
    ap.add_argument("--list", action="store_true", help="print the catalogue and exit")
    args = ap.parse_args(argv)
    try:
        check_catalogue()
        mutants = [m for m in MUTANTS if args.select in m.id]
        if args.list:
            for m in mutants:
                print(f"{m.id:40} {m.kind:20} {m.file}: {m.description}")
            return 0
        if not mutants:
            raise CatalogueError(f"no mutant id contains {args.select!r}")
        check_copy()
    except CatalogueError as e:
        print(f"run_mutations: {e}", file=sys.stderr)
        return 2
    start = time.monotonic()
    results: list[Result] = []

    def one(m: Mutant) -> Result:
        r = run_mutant(m, not args.no_fallback, args.timeout)
        note = f"  (failed without the mutant too: {', '.join(r.flaky)})" if r.flaky else ""
        print(f"{r.outcome:11} {m.id:40} {r.seconds:5.0f} s  {r.caught_by}{note}", flush=True)
        return r

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, mutants))
    text = table(results) + "\n\n" + summary(results, time.monotonic() - start, args.jobs)
    print()
    print(text)
    if args.write:
        write_table(args.write, text)
    return 1 if any(r.outcome in (SURVIVED, UNCONFIRMED) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
