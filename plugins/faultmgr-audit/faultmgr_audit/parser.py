"""The parser protocol and the registry that ``faultmgr_audit_register_parsers`` fills.

A parser turns decoded lines of one log format into :class:`~faultmgr_audit.record.Record` objects. It may
hold records back (the Linux audit format spreads one event over several lines) and hand them out later
from :meth:`Parser.flush`.
"""

from __future__ import annotations

import abc
import difflib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pluggy

from faultmgr.config.settings import PluginSettings
from faultmgr_audit.record import Record


class Parser(abc.ABC):
    """Base class of every audit-log parser type.

    Subclasses set :attr:`Settings` to their own options model (validated from a source's
    ``parser_options``) and implement :meth:`feed`. Parsers are called from one task only.
    """

    #: Options model for ``parser_options``; unknown keys are refused.
    Settings: ClassVar[type[PluginSettings]] = PluginSettings
    #: One line for the docs.
    summary: ClassVar[str] = ""

    def __init__(self, name: str, options: PluginSettings) -> None:
        self.name = name
        self.options = options
        #: lines this parser did not recognise (counted, not raised: a log holds lines of other formats).
        self.unparsed = 0

    @abc.abstractmethod
    def feed(self, line: str, now: float) -> list[Record]:
        """Parse one line (without its newline); return the records now complete (often one, maybe none)."""

    def flush(self, now: float, force: bool = False) -> list[Record]:
        """Records held back that are due at ``now`` (or all of them with ``force``, at stop or rotation)."""
        return []


class ParserRegistryError(ValueError):
    """Two plugins claimed one parser name, or a registered class is not a :class:`Parser`."""


class ParserRegistry:
    """Parser type name -> class."""

    def __init__(self) -> None:
        self._types: dict[str, type[Parser]] = {}

    def register(self, name: str, cls: type[Parser]) -> None:
        """Register ``cls`` under ``name`` (what a source's ``parser:`` selects)."""
        if not (isinstance(cls, type) and issubclass(cls, Parser)):
            raise ParserRegistryError(f"parser {name!r}: {cls!r} is not a subclass of faultmgr_audit.Parser")
        if name in self._types and self._types[name] is not cls:
            raise ParserRegistryError(f"parser type {name!r} is registered twice "
                                      f"({self._types[name].__module__} and {cls.__module__})")
        self._types[name] = cls

    def names(self) -> list[str]:
        """Registered parser type names, sorted."""
        return sorted(self._types)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def create(self, name: str, options: Mapping[str, Any] | None = None) -> Parser:
        """A new parser of type ``name``; ``ValueError`` with a did-you-mean hint for an unknown name or
        for options its model refuses."""
        cls = self._types.get(name)
        if cls is None:
            close = difflib.get_close_matches(name, self._types, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown parser {name!r}{hint}; known: {', '.join(self.names())}")
        try:
            settings = cls.Settings(**dict(options or {}))
        except Exception as exc:  # pydantic's ValidationError, reworded to name the parser
            raise ValueError(f"parser {name!r} options: {exc}") from None
        return cls(name, settings)


def build_registry(pluginmanager: pluggy.PluginManager | None) -> ParserRegistry:
    """A registry filled by every ``faultmgr_audit_register_parsers`` implementation.

    Without a plugin manager (an instance built by hand, as tests and the benchmark do) only the built-in
    parsers are registered, through the same hook implementation the plugin manager would call.
    """
    registry = ParserRegistry()
    if pluginmanager is not None and hasattr(pluginmanager.hook, "faultmgr_audit_register_parsers"):
        pluginmanager.hook.faultmgr_audit_register_parsers(registry=registry)
    if not registry.names():
        from faultmgr_audit import plugin

        plugin.faultmgr_audit_register_parsers(registry)
    return registry
