"""Top-level rule-file sections that plugins add (``pools:``, say), each with its own pydantic model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel

from faultmgr.plugin.registry import RegistryError  # noqa: I001


@dataclass(frozen=True)
class Section:
    name: str
    model: type[BaseModel]
    description: str
    plugin: str


class SectionRegistry:
    """Section name -> model; names must not clash with the core's sections or each other."""

    #: Sections the core owns.
    RESERVED = frozenset({"include", "plugins", "daemon", "detectors", "actions", "receivers", "rules",
                          "inhibit"})

    def __init__(self) -> None:
        self._sections: dict[str, Section] = {}
        self.current_plugin = "?"

    def register(self, name: str, model: type[BaseModel], description: str = "") -> None:
        if name in self.RESERVED:
            raise RegistryError(f"plugin {self.current_plugin!r} tried to register core section {name!r}")
        if name in self._sections:
            raise RegistryError(f"section {name!r} is registered by both "
                                f"{self._sections[name].plugin!r} and {self.current_plugin!r}")
        self._sections[name] = Section(name, model, description, self.current_plugin)

    def get(self, name: str) -> Section | None:
        return self._sections.get(name)

    def remove(self, name: str) -> None:
        self._sections.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._sections)

    def __iter__(self) -> Iterator[Section]:
        return iter(self._sections[n] for n in sorted(self._sections))
