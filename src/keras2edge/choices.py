"""``Choices``: a registry of named implementations the user picks by name on the command line or in
the API (``--scheme`` -> quantization scheme, ``--method`` -> pruning method). Modules register their
implementation with a decorator; an unknown name raises the caller's error class listing the names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

F = TypeVar("F", bound=Callable[..., object])


class Choices(Generic[F]):
    """Name -> implementation (one per name), iterable over the names like a dict."""

    def __init__(self, what: str, error: type[Exception]) -> None:
        self.what = what      # "quantization scheme", "pruning method": names the thing in errors
        self.error = error
        self._table: dict[str, F] = {}

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator: register ``fn`` as ``name`` (registering a name twice is a programming error)."""
        def deco(fn: F) -> F:
            if name in self._table:
                raise ValueError(f"{self.what} {name!r} registered twice")
            self._table[name] = fn
            return fn
        return deco

    def get(self, name: str) -> F:
        """The implementation of ``name``, or ``self.error`` naming it and listing the choices."""
        try:
            return self._table[name]
        except KeyError:
            raise self.error(f"unknown {self.what} {name!r}; supported: "
                             f"{', '.join(sorted(self._table)) or '(none)'}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)
