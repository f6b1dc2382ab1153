"""The harness itself: it measures a child's own peak memory and tells a Keras2EdgeError from others."""

from __future__ import annotations

from .harness import run_api, run_cli


def test_peak_rss_is_the_childs_own() -> None:
    big = run_api("len(bytearray(300 << 20))")
    small = run_api("len(bytearray(1 << 20))")
    assert big.ok and small.ok
    assert big.peak_rss >= 300 << 20
    assert small.peak_rss < 200 << 20  # not the maximum over every child this process ever had


def test_address_space_limit_turns_a_runaway_allocation_into_a_failure() -> None:
    out = run_api("len(bytearray(4 << 30))", as_limit=1 << 30)
    assert not out.ok and out.cls == "MemoryError" and not out.is_k2e


def test_cli_outcome_carries_exit_code_and_stderr(tmp_path) -> None:
    out = run_cli(["convert", str(tmp_path / "missing.h5"), "-o", str(tmp_path / "m.onnx")])
    assert out.returncode == 1 and out.stderr.startswith("Error: ") and "missing.h5" in out.stderr


def test_peak_rss_does_not_include_this_test_process() -> None:
    """A child's peak is its own even when the test process is large (no fork of our pages)."""
    ballast = bytearray(600 << 20)
    ballast[::4096] = b"\x01" * len(ballast[::4096])  # make the pages resident
    out = run_api("len(bytearray(1 << 20))")
    assert out.ok and out.peak_rss < 200 << 20, out.peak_rss >> 20
    del ballast
