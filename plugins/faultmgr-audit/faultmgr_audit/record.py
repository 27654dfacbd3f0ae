"""What parsers produce (records) and what the audit pipeline concludes from them (findings).

Both are plain slotted dataclasses: the pipeline handles a hundred thousand lines a second, and pydantic
models would cost more than the parsing itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Normalised field names every parser fills when it can, so that detections and rules do not depend on
#: the log format: ``action`` (login, sudo, access, syscall...), ``outcome`` (success, failure, allow,
#: deny), ``user``, ``source_ip``, ``uid`` (the acting process's uid), ``key`` (an audit watch key).
NORMALISED_FIELDS = ("action", "outcome", "user", "source_ip", "uid", "key")


@dataclass(slots=True)
class Record:
    """One parsed security record (for the Linux audit format: every record of one event, merged).

    :param parser: the registered parser type that produced it (``linux-audit``, ``syslog-auth``, ``dsi``).
    :param type: the record's type within its format (``SYSCALL``, ``ssh.failed``, ``DSI_ACCESS``).
    :param fields: field name -> value, strings only (normalised names: :data:`NORMALISED_FIELDS`).
    :param time: the time the record claims (seconds since the epoch), if it carries one. Detections do
        not trust it for their windows (see docs/plugins/audit.md); it is reported in payloads.
    :param line: the first raw line of the record, for the event payload (already bounded in length).
    :param count: how many occurrences this record stands for (syslog "message repeated N times").
    """

    parser: str
    type: str
    fields: dict[str, str]
    time: float | None = None
    line: str = ""
    count: int = 1


@dataclass(slots=True)
class Finding:
    """An event the audit pipeline wants emitted; the detector turns it into a faultmgr event."""

    kind: str
    subject: str
    severity: str = "warning"
    labels: dict[str, str] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)
    message: str = ""
