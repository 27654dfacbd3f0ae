"""Registries that registration hooks fill with detector, action and notifier types."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from faultmgr.component import Component

T = TypeVar("T", bound=Component)


class RegistryError(ValueError):
    """Two plugins claimed one type name, or a registered class is not of the right kind."""


@dataclass(frozen=True)
class Registered(Generic[T]):
    """One registered type and the plugin that registered it."""

    name: str
    cls: type[T]
    plugin: str


class TypeRegistry(Generic[T]):
    """Type name -> class, for one kind (``detector``, ``action`` or ``notifier``)."""

    def __init__(self, kind: str, base: type[T]) -> None:
        self.kind = kind
        self.base = base
        self._types: dict[str, Registered[T]] = {}
        self.current_plugin = "?"

    def register(self, name: str, cls: type[T]) -> None:
        """Register ``cls`` under ``name`` (the ``type:`` used in rule files)."""
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise RegistryError(
                f"plugin {self.current_plugin!r} registered {self.kind} {name!r} as {cls!r}, "
                f"which is not a subclass of {self.base.__module__}.{self.base.__name__}"
            )
        if name in self._types:
            other = self._types[name].plugin
            raise RegistryError(
                f"{self.kind} type {name!r} is registered by both {other!r} and {self.current_plugin!r}; "
                f"disable one with FAULTMGR_DISABLE_PLUGINS"
            )
        self._types[name] = Registered(name, cls, self.current_plugin)

    def get(self, name: str) -> Registered[T] | None:
        return self._types.get(name)

    def remove(self, name: str) -> None:
        self._types.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._types)

    def suggest(self, name: str) -> str | None:
        """The closest registered name, for a did-you-mean hint."""
        close = difflib.get_close_matches(name, self._types, n=1)
        return close[0] if close else None

    def __iter__(self) -> Iterator[Registered[T]]:
        return iter(self._types[n] for n in sorted(self._types))

    def __len__(self) -> int:
        return len(self._types)
