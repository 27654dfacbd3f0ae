"""FAULTMGR-MIB in code: the OIDs of its notifications and objects, and the varbinds of one alert.

The MIB itself (``mibs/FAULTMGR-MIB.txt``) is shipped with this package for management stations to load;
the sender uses numeric OIDs, so pysnmp never has to compile it. Keep both in step.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pysnmp.proto.rfc1902 import Integer32, OctetString, Unsigned32

from faultmgr.alert import AlertState, AlertView

#: 1.3.6.1.4.1.64000: an enterprise number NOT registered with IANA (see the MIB's DESCRIPTION).
FAULTMGR_MIB = "1.3.6.1.4.1.64000"
NOTIFICATIONS = f"{FAULTMGR_MIB}.0"
OBJECTS = f"{FAULTMGR_MIB}.1"

ALERT_RAISED = f"{NOTIFICATIONS}.1"
ALERT_CLEARED = f"{NOTIFICATIONS}.2"
ALERT_ACKNOWLEDGED = f"{NOTIFICATIONS}.3"

# Scalar instances (".0") of the accessible-for-notify objects, in the order of the OBJECTS clause.
ALERT_ID = f"{OBJECTS}.1.0"
ALERT_SEVERITY = f"{OBJECTS}.2.0"
ALERT_SUBJECT = f"{OBJECTS}.3.0"
ALERT_RULE = f"{OBJECTS}.4.0"
ALERT_DESCRIPTION = f"{OBJECTS}.5.0"

#: FaultmgrSeverity's enumeration.
SEVERITY = {"ok": 1, "info": 2, "warning": 3, "critical": 4}

#: SnmpAdminString is at most 255 octets.
ADMIN_STRING_MAX = 255

Varbind = tuple[str, Integer32 | Unsigned32 | OctetString]


def mib_dir() -> Path:
    """The folder holding ``FAULTMGR-MIB.txt`` (for ``snmptrapd -M`` or a management station)."""
    return Path(str(resources.files("faultmgr_snmp").joinpath("mibs")))


def admin_string(text: str) -> OctetString:
    """UTF-8 octets cut to 255 without splitting a character."""
    data = text.encode("utf-8")[:ADMIN_STRING_MAX]
    return OctetString(data.decode("utf-8", errors="ignore").encode("utf-8"))


def notification_oid(alert: AlertView) -> str:
    """Cleared for a resolved alert, acknowledged for a firing one someone acknowledged, else raised."""
    if alert.state == AlertState.RESOLVED.value:
        return ALERT_CLEARED
    if alert.acknowledged_by:
        return ALERT_ACKNOWLEDGED
    return ALERT_RAISED


def alert_varbinds(alert: AlertView) -> list[Varbind]:
    """The five objects of FAULTMGR-MIB's notifications for ``alert``."""
    return [
        (ALERT_ID, Unsigned32(alert.id % 2**32)),
        (ALERT_SEVERITY, Integer32(SEVERITY.get(alert.severity.lower(), SEVERITY["info"]))),
        (ALERT_SUBJECT, admin_string(alert.subject)),
        (ALERT_RULE, admin_string(alert.rule)),
        (ALERT_DESCRIPTION, admin_string(alert.summary)),
    ]
