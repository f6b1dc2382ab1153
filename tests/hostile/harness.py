"""Run keras2edge on a hostile input in a child process, with an address-space limit, and report.

Every hostile-input test goes through here, so each asserts the same things the same way:
- ``run_cli(args)`` runs ``python -m keras2edge.cli ARGS`` and returns an :class:`Outcome` (exit code,
  stdout, stderr, peak RSS of that child from ``os.wait4``);
- ``run_command(argv)`` runs any command the same way (a long fuzz campaign, say);
- ``run_api(call)`` runs one Python expression against the public API (``keras2edge`` is imported
  as ``k2e``) and reports the exception class (and whether it is a ``Keras2EdgeError``) and message;
- ``assert_clean_cli_failure`` / ``assert_clean_api_failure`` check the contract: exit code 1, one
  ``Error: ...`` line naming the cause, no traceback, no "internal error", nothing left in the output
  folder, peak memory under the stated bound.

The child gets ``RLIMIT_AS`` (a hard stop so a regression cannot exhaust the machine; it shows as a
``MemoryError``, which the contract rejects) and one BLAS thread. Memory is measured, never time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

#: Address-space limit of every child (virtual memory: numpy + onnx + h5py mapped libraries alone
#: take several hundred MB of it, so this is well above the RSS bounds the tests assert).
DEFAULT_AS_LIMIT = 3 << 30
#: Default peak-RSS bound for a hostile input that must be refused early (the interpreter with
#: numpy, h5py and onnx imported takes about 150 MB of RSS).
DEFAULT_RSS_BOUND = 400 << 20

#: argv: AS limit, folder, peak fd, command...; exits as the command did (128 + N for signal N).
_LAUNCHER = """
import os, resource, sys
limit, folder, peak_fd, argv = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4:]
os.chdir(folder)
pid = os.fork()
if pid == 0:
    os.close(peak_fd)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.execv(argv[0], argv)
_, status, usage = os.wait4(pid, 0)
os.write(peak_fd, str(usage.ru_maxrss).encode())
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""
_ENV_KEEP = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class Outcome:
    """What a child process did."""

    returncode: int
    stdout: str
    stderr: str
    peak_rss: int  # bytes

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def run_command(argv: list[str], *, as_limit: int, timeout: float, cwd: str | None = None) -> Outcome:
    """Run ``argv`` with RLIMIT_AS, in ``cwd``, and report its own peak RSS.

    A child's ``ru_maxrss`` includes the memory of the process it was forked or vforked from, so a
    large test process would inflate it. ``argv`` is therefore started by a tiny launcher (the
    ``_LAUNCHER`` program, in a process group of its own) that forks it from its own small image,
    reaps it and reports its ``ru_maxrss`` on a separate pipe.
    """
    env = dict(os.environ, **_ENV_KEEP)
    r_out, w_out = os.pipe()
    r_err, w_err = os.pipe()
    r_peak, w_peak = os.pipe()
    os.set_inheritable(w_peak, True)
    launcher = [sys.executable, "-c", _LAUNCHER, str(as_limit), cwd or os.getcwd(), str(w_peak), *argv]
    actions = [(os.POSIX_SPAWN_DUP2, w_out, 1), (os.POSIX_SPAWN_DUP2, w_err, 2)]
    try:
        pid = os.posix_spawn(sys.executable, launcher, env, file_actions=actions, setpgroup=0)
    finally:
        for fd in (w_out, w_err, w_peak):
            os.close(fd)
    chunks: dict[str, bytes] = {}

    def drain(name: str, fd: int) -> None:
        with os.fdopen(fd, "rb") as stream:
            chunks[name] = stream.read()

    readers = [threading.Thread(target=drain, args=(n, fd), daemon=True)
               for n, fd in (("out", r_out), ("err", r_err), ("peak", r_peak))]
    for t in readers:
        t.start()
    deadline = time.monotonic() + timeout
    while True:
        done, status, _ = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.wait4(pid, 0)
            raise AssertionError(f"{argv!r} did not finish within {timeout} s (a hang)")
        time.sleep(0.02)
    for t in readers:
        t.join()
    peak_kb = int(chunks["peak"] or b"0")
    return Outcome(os.waitstatus_to_exitcode(status), chunks["out"].decode(errors="replace"),
                   chunks["err"].decode(errors="replace"), peak_kb * 1024)


def run_cli(args: list[str], *, as_limit: int = DEFAULT_AS_LIMIT, timeout: float = 120.0,
            cwd: str | None = None) -> Outcome:
    """``keras2edge ARGS`` in a child process with an address-space limit."""
    return run_command([sys.executable, "-m", "keras2edge.cli", *args], as_limit=as_limit, timeout=timeout, cwd=cwd)


_API_DRIVER = """
import json, sys, resource
import keras2edge as k2e
try:
    result = {call}
    report = {{"ok": True, "repr": repr(result)[:500]}}
except BaseException as e:
    report = {{"ok": False, "cls": type(e).__name__, "k2e": isinstance(e, k2e.Keras2EdgeError), "msg": str(e)}}
report["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("@@" + json.dumps(report))
"""


@dataclass
class ApiOutcome:
    """What one API call did in a child process."""

    ok: bool
    cls: str
    is_k2e: bool
    msg: str
    peak_rss: int
    raw: Outcome


def run_api(call: str, *, as_limit: int = DEFAULT_AS_LIMIT, timeout: float = 120.0) -> ApiOutcome:
    """Evaluate ``call`` (a Python expression using ``k2e``) in a child; report how it ended."""
    code = textwrap.dedent(_API_DRIVER).format(call=call)
    raw = run_command([sys.executable, "-c", code], as_limit=as_limit, timeout=timeout)
    lines = [ln for ln in raw.stdout.splitlines() if ln.startswith("@@")]
    if not lines:
        raise AssertionError(f"the child crashed (exit {raw.returncode}) on {call!r}: {raw.stderr[-2000:]}")
    rep = json.loads(lines[-1][2:])
    return ApiOutcome(rep["ok"], rep.get("cls", ""), rep.get("k2e", False), rep.get("msg", ""),
                      rep["peak_rss"], raw)


def assert_no_leftovers(folder: Path, keep: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Nothing but ``keep`` in ``folder``: no output file, no temp file."""
    left = sorted(p.name for p in folder.iterdir() if p.name not in keep)
    assert not left, f"files left behind in {folder}: {left}"


def assert_clean_cli_failure(out: Outcome, pattern: str, *, rss_bound: int = DEFAULT_RSS_BOUND) -> None:
    """Exit 1, one ``Error:`` line matching ``pattern`` (regex), no traceback, bounded memory."""
    assert out.returncode == 1, f"exit {out.returncode}, expected 1: {out.text[-2000:]}"
    assert "Traceback" not in out.text, out.text[-2000:]
    assert "internal error" not in out.text, out.text[-2000:]
    assert out.stderr.startswith("Error: "), out.stderr[-2000:]
    assert re.search(pattern, out.stderr), f"{pattern!r} not in {out.stderr!r}"
    assert out.peak_rss <= rss_bound, f"peak RSS {out.peak_rss >> 20} MB > bound {rss_bound >> 20} MB"


def assert_clean_api_failure(out: ApiOutcome, cls: str, pattern: str, *,
                             rss_bound: int = DEFAULT_RSS_BOUND) -> None:
    """The call raised the Keras2EdgeError subclass ``cls`` with a message matching ``pattern``."""
    assert not out.ok, f"expected {cls}, but the call succeeded: {out}"
    assert out.is_k2e, f"{out.cls} is not a Keras2EdgeError: {out.msg}"
    assert out.cls == cls, f"expected {cls}, got {out.cls}: {out.msg}"
    assert re.search(pattern, out.msg), f"{pattern!r} not in {out.msg!r}"
    assert out.peak_rss <= rss_bound, f"peak RSS {out.peak_rss >> 20} MB > bound {rss_bound >> 20} MB"
