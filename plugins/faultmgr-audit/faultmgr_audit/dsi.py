"""The ``dsi`` parser: process-level security decisions in the style of Ericsson's Distributed Security
Infrastructure, as HA-OSCAR clusters recorded them.

The line format (documented in docs/plugins/audit.md) is one record per line of ``key=value`` pairs,
values bare or double-quoted with ``\\"`` and ``\\\\`` escapes::

    type=DSI_ACCESS time=1700000000.25 node=n1 subject=httpd subject_uid=48 subject_sid=0x2a
        object=/etc/shadow permission=read verdict=deny reason="no rule"

``type`` must start with ``DSI_``. A ``DSI_ACCESS`` record needs ``subject``, ``object``, ``permission``
and ``verdict`` (``allow`` or ``deny``); other DSI types (``DSI_AUTH``, ``DSI_INTEGRITY``...) pass through
with whatever fields they carry. A subject is privileged when its ``subject_uid`` is in
``privileged_uids``, it is named in ``privileged_subjects``, or the record says ``privileged=yes``.
"""

from __future__ import annotations

from pydantic import Field

from faultmgr.config.settings import PluginSettings
from faultmgr_audit.keyvalue import parse_pairs
from faultmgr_audit.parser import Parser
from faultmgr_audit.record import Record

ACCESS_FIELDS = ("subject", "object", "permission", "verdict")


class DsiSettings(PluginSettings):
    """Options of the ``dsi`` parser."""

    privileged_uids: list[int] = Field([0], description="subject uids that count as privileged")
    privileged_subjects: list[str] = Field([], description="subject names (or security ids) that count as "
                                                          "privileged whatever their uid")


class DsiParser(Parser):
    """Parses DSI-style access decision records."""

    Settings = DsiSettings
    summary = "DSI-style security records: subject, object, permission, verdict"
    options: DsiSettings

    def __init__(self, name: str, options: PluginSettings) -> None:
        super().__init__(name, options)
        self._uids = {str(uid) for uid in self.options.privileged_uids}
        self._subjects = set(self.options.privileged_subjects)

    def feed(self, line: str, now: float) -> list[Record]:
        if not line.startswith("type=DSI_"):
            self.unparsed += 1
            return []
        fields = parse_pairs(line, escapes=True)
        rtype = fields.pop("type")
        when: float | None = None
        claimed = fields.pop("time", None)
        if claimed is not None:
            # Not contextlib.suppress: this runs once a line, and suppress builds an object each time.
            try:
                when = float(claimed)
            except ValueError:
                when = None
        if rtype == "DSI_ACCESS":
            verdict = fields.get("verdict", "")
            if any(not fields.get(name) for name in ACCESS_FIELDS) or verdict not in ("allow", "deny"):
                self.unparsed += 1
                return []
            fields.setdefault("action", "access")
            fields["outcome"] = verdict
        uid = fields.get("subject_uid")
        if uid is not None:
            fields.setdefault("uid", uid)
        privileged = (uid in self._uids or fields.get("subject", "") in self._subjects
                      or fields.get("subject_sid", "") in self._subjects or fields.get("privileged") == "yes")
        fields["privileged"] = "yes" if privileged else "no"
        return [Record("dsi", rtype, fields, when, line[:512])]
