"""Run the CLI in the test process (click's CliRunner) and report it as a harness ``Outcome``.

For hostile cases refused before anything of their size is read (a bad argument, a bad output path,
a malformed input file), where a child process per case would only add its start-up time; the
``assert_clean_cli_failure`` contract is checked the same way. Its peak RSS is reported as 0: cases
whose point is bounded memory run in a child with ``harness.run_cli`` instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from keras2edge.cli import main

from .harness import Outcome


def run_cli_here(args: list[str], *, cwd: Path | None = None) -> Outcome:
    """``keras2edge ARGS`` through CliRunner (in ``cwd`` if given); exit code, stdout and stderr."""
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        res = CliRunner().invoke(main, args)
    finally:
        os.chdir(old)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception  # an escaped exception is a failure of the contract: show its traceback
    return Outcome(res.exit_code, res.stdout, res.stderr, 0)
