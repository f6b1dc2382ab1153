"""OpTable: one explicit table per consumer of the IR (Keras handlers, ONNX emitters, ...).

Tables are filled by decorators in modules the package imports explicitly. `lookup` raises
an error naming the table's owner, the key, the node and what is supported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from ..errors import UnsupportedOpError

F = TypeVar("F", bound=Callable[..., object])


class OpTable(Generic[F]):
    """A named mapping from a key (IR op or Keras class name) to a handler."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._table: dict[str, F] = {}

    def register(self, *keys: str) -> Callable[[F], F]:
        def deco(fn: F) -> F:
            for k in keys:
                if k in self._table:
                    raise ValueError(f"{self.owner}: {k!r} registered twice")
                self._table[k] = fn
            return fn
        return deco

    def add(self, key: str, fn: F, *, replace: bool = False) -> None:
        """Register ``fn`` for ``key`` programmatically (the plugin API)."""
        if key in self._table and not replace:
            raise ValueError(f"{self.owner}: {key!r} is already registered (pass replace=True)")
        self._table[key] = fn

    def __contains__(self, key: object) -> bool:
        return key in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._table))

    def __len__(self) -> int:
        return len(self._table)

    def get(self, key: str) -> F | None:
        return self._table.get(key)

    def lookup(self, key: str, where: str = "") -> F:
        try:
            return self._table[key]
        except KeyError:
            raise UnsupportedOpError(self.owner, f"no implementation for {key!r}", op=key, node=where or None,
                                     supported=self._table) from None
