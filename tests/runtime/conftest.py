"""Runtime test plumbing: print the worst errors against LiteRT (and Keras) at the end of the run."""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    rows = []
    for mod, what in (("tests.runtime.kernels.test_kernels", "single-op cases"),
                      ("tests.runtime.test_converter_models", "converter files")):
        try:
            worst = __import__(mod, fromlist=["WORST"]).WORST
        except Exception:  # noqa: BLE001 - that module did not run
            continue
        if worst:
            name, err = max(worst.items(), key=lambda kv: kv[1])
            rows.append(f"{what}: {len(worst)} compared with LiteRT; worst max|err|/max(1, range) "
                        f"{err:.2e} ({name})")
    try:
        keras = __import__("tests.runtime.test_converter_models", fromlist=["KERAS_WORST"]).KERAS_WORST
    except Exception:  # noqa: BLE001 - that module did not run
        keras = {}
    for name, err in sorted(keras.items(), key=lambda kv: -kv[1]):
        rows.append(f"converter file {name} vs Keras: max|err|/max|Keras| {err:.2e}")
    if rows:
        terminalreporter.section("keras2edge.runtime vs LiteRT")
        for r in rows:
            terminalreporter.write_line(r)
