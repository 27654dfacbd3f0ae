"""faultmgr's ``snmp`` notifier: SNMP traps and informs carrying FAULTMGR-MIB notifications."""

from __future__ import annotations

from faultmgr import hookimpl
from faultmgr.component import Notifier
from faultmgr.plugin.registry import TypeRegistry
from faultmgr_snmp.mib import mib_dir
from faultmgr_snmp.notifier import SnmpNotifier
from faultmgr_snmp.settings import SnmpSettings, Station

__all__ = ["SnmpNotifier", "SnmpSettings", "Station", "faultmgr_register_notifiers", "mib_dir"]


@hookimpl
def faultmgr_register_notifiers(registry: TypeRegistry[Notifier]) -> None:
    """Register the ``snmp`` notifier type."""
    registry.register("snmp", SnmpNotifier)
