"""Zoo test plumbing: a per-model results table printed at the end of the run.

Nothing here imports TensorFlow: the default ``pytest`` run collects (and deselects) the zoo tests
in a virtualenv without the zoo extra, so importing this file must stay cheap and dependency-free.

Set ``K2E_ZOO_REPORT=path.json`` to also get the results as JSON (one row per model and format).
"""

from __future__ import annotations

import json
import os

# Every zoo row recorded by the tests: {"model", "format", "status", ...}; see test_zoo.py.
ZOO_RESULTS: list[dict] = []


def _fmt(v, spec: str) -> str:
    width = "".join(c for c in spec.lstrip("<>^") if c.isdigit() or c == ".").split(".")[0]
    if v is None:
        return "-".rjust(int(width) if width else 1)
    try:
        return format(v, spec)
    except (TypeError, ValueError):
        return str(v)


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 - pytest hook signature
    if not ZOO_RESULTS:
        return
    tr = terminalreporter
    tr.section("keras2edge zoo results")
    head = (f"{'model':<17} {'fmt':<6} {'status':<6} {'rel_err':>9} {'range':>8} {'spread':>8} {'T/nodes':>9} {'build':>6} "
            f"{'ref':>5} {'save':>5} {'conv':>6} {'ort':>5} {'test':>6}")
    tr.write_line(head)
    for r in ZOO_RESULTS:
        tr.write_line(
            f"{r['model']:<17} {r['format']:<6} {r['status']:<6} {_fmt(r.get('rel_err'), '9.2e')} "
            f"{_fmt(r.get('out_range'), '8.3g')} {_fmt(r.get('sample_spread'), '8.3g')} "
            f"{_fmt(r.get('transposes'), '>4')}/{_fmt(r.get('onnx_nodes'), '<4')} "
            f"{_fmt(r.get('build_s'), '6.1f')} {_fmt(r.get('ref_s'), '5.1f')} {_fmt(r.get('save_s'), '5.1f')} "
            f"{_fmt(r.get('convert_s'), '6.2f')} {_fmt(r.get('ort_s'), '5.1f')} {_fmt(r.get('test_s'), '6.1f')}")
        if r.get("error"):
            tr.write_line(f"    error: {r['error'].splitlines()[0][:300]}")
    tr.write_line("rel_err = max|onnx - keras| / max|keras| (tolerances.ZOO); range = Keras output max - min; spread = max "
                  "|out[sample 0] - out[sample 1]| (how much the output depends on the input); T = Transpose nodes")
    tr.write_line("times in seconds; build/ref/save (Keras build + BN randomisation, reference outputs, "
                  "save of this format) are counted on the first test of a model that needs them")
    path = os.environ.get("K2E_ZOO_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(ZOO_RESULTS, f, indent=1)
        tr.write_line(f"zoo results written to {path}")
