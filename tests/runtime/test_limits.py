"""Resource limits: size parsing, the environment override, and one error base for the runtime too."""

from __future__ import annotations

import pytest

import keras2edge
from keras2edge.runtime.errors import RuntimeModelError
from keras2edge.runtime.limits import DEFAULT_MAX_MEMORY, Limits, format_size, parse_size


@pytest.mark.parametrize("text,value", [("4096", 4096), ("512M", 512 << 20), ("8G", 8 << 30),
                                        ("1.5g", 3 << 29), ("2GiB", 2 << 30), ("16k", 16 << 10)])
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "lots", "-1G", "0", "8X", "1e9"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_default_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("K2E_MAX_MEMORY", raising=False)
    assert Limits.default().max_memory == DEFAULT_MAX_MEMORY == 4 << 30
    monkeypatch.setenv("K2E_MAX_MEMORY", "1G")
    assert Limits.default().max_memory == 1 << 30
    monkeypatch.setenv("K2E_MAX_MEMORY", "plenty")
    with pytest.raises(keras2edge.LimitExceededError, match="K2E_MAX_MEMORY"):
        Limits.default()


def test_check_names_what_and_the_limit() -> None:
    lim = Limits(max_memory=1 << 20)
    lim.check(1 << 20, "x")  # at the limit is allowed
    with pytest.raises(keras2edge.LimitExceededError, match=r"'m.tflite': tensor 'big' declares 2.0 MiB .*1.0 MiB"):
        lim.check(2 << 20, "'m.tflite': tensor 'big'")
    assert format_size(3 << 30) == "3.0 GiB" and format_size(10) == "10 B"


def test_runtime_errors_are_keras2edge_errors() -> None:
    """One `except keras2edge.Keras2EdgeError` catches what the numpy-only runtime raises."""
    assert issubclass(RuntimeModelError, keras2edge.Keras2EdgeError)
    assert issubclass(keras2edge.LimitExceededError, keras2edge.Keras2EdgeError)
    assert keras2edge.RuntimeModelError is RuntimeModelError
