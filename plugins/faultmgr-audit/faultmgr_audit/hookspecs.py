"""The audit plugin's own hook, added to faultmgr's plugin manager through ``faultmgr_addhooks``.

Other distributions add log formats by implementing :func:`faultmgr_audit_register_parsers` with
faultmgr's ``hookimpl`` marker, exactly as the built-in parsers do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faultmgr.hookspecs import hookspec

if TYPE_CHECKING:
    from faultmgr_audit.parser import ParserRegistry


@hookspec
def faultmgr_audit_register_parsers(registry: ParserRegistry) -> None:
    """Register audit-log parser types: ``registry.register("my-format", MyParser)``.

    Called each time an ``audit`` detector instance starts (or is checked), after every plugin is loaded;
    the name is what a source's ``parser:`` setting selects. Not firstresult: every implementation runs.

    :param registry: the parser registry; names must be unique across plugins. A parser is a subclass of
        :class:`faultmgr_audit.parser.Parser`.
    """
