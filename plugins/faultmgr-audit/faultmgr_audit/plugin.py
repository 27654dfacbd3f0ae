"""The ``audit`` plugin's hook implementations (entry point ``faultmgr = audit = faultmgr_audit.plugin``).

It adds its own hookspec module through ``faultmgr_addhooks`` and registers the built-in parsers through
``faultmgr_audit_register_parsers``, the same hook a third-party parser distribution implements.
"""

from __future__ import annotations

import weakref

import pluggy

from faultmgr.component import Detector
from faultmgr.hookspecs import hookimpl
from faultmgr.plugin.registry import TypeRegistry
from faultmgr_audit import hookspecs
from faultmgr_audit.detector import AuditDetector
from faultmgr_audit.dsi import DsiParser
from faultmgr_audit.linux_audit import LinuxAuditParser
from faultmgr_audit.parser import ParserRegistry
from faultmgr_audit.syslog_auth import SyslogAuthParser

# The plugin manager that loaded this plugin, so detector instances can ask it for parser types. A weak
# reference: each test builds its own manager and this must not keep an old one alive.
_manager: weakref.ref[pluggy.PluginManager] | None = None


def loading_pluginmanager() -> pluggy.PluginManager | None:
    """The plugin manager that last registered this plugin, if it is still alive."""
    return _manager() if _manager is not None else None


@hookimpl
def faultmgr_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    global _manager
    caller = getattr(pluginmanager.hook, "faultmgr_audit_register_parsers", None)
    if caller is None or not caller.has_spec():  # a second historic call must not add the spec twice
        pluginmanager.add_hookspecs(hookspecs)
    _manager = weakref.ref(pluginmanager)


@hookimpl
def faultmgr_register_detectors(registry: TypeRegistry[Detector]) -> None:
    registry.register("audit", AuditDetector)


# optionalhook: a core that does not call faultmgr_addhooks yet must not drop this plugin as misspelled.
@hookimpl(optionalhook=True)
def faultmgr_audit_register_parsers(registry: ParserRegistry) -> None:
    registry.register("linux-audit", LinuxAuditParser)
    registry.register("syslog-auth", SyslogAuthParser)
    registry.register("dsi", DsiParser)
