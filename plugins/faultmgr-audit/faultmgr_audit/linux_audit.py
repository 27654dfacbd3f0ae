"""The ``linux-audit`` parser: auditd's log (``type=X msg=audit(TIME:SERIAL): key=value ...``).

The kernel writes one event as several records sharing a serial (SYSCALL, CWD, PATH..., PROCTITLE, EOE).
They are merged into one :class:`~faultmgr_audit.record.Record`, emitted when the event's EOE record
arrives, when a record of another serial arrives, or when ``group_timeout`` passes (user-space records such
as USER_AUTH have no EOE).
"""

from __future__ import annotations

import re

from pydantic import Field

from faultmgr.config.settings import PluginSettings
from faultmgr.config.types import Duration
from faultmgr_audit.keyvalue import decode_hex, parse_pairs
from faultmgr_audit.parser import Parser
from faultmgr_audit.record import Record

_HEADER = re.compile(r"(?:node=(\S+) )?type=(\w+) msg=audit\((\d+(?:\.\d+)?):(\d+)\):\s?")

#: Fields the kernel writes with ``audit_log_untrustedstring``: quoted text, or hex when the text holds
#: a space, a quote or a control character.
HEX_FIELDS = frozenset({"proctitle", "name", "comm", "exe", "cwd", "acct", "cmd", "data", "key", "path",
                        "old-key", "vm", "terminal", "hostname", "grp"})

# Record types that only describe the event of which another record (SYSCALL, USER_*) is the main one.
_AUXILIARY = frozenset({"CWD", "PATH", "PROCTITLE", "EOE", "EXECVE", "SOCKADDR", "BPRM_FCAPS", "MMAP",
                        "OBJ_PID", "FD_PAIR", "SECCOMP"})
# User-space login-type records and the normalised action they stand for.
# USER_AUTH is the password check (one per attempt); USER_LOGIN/USER_ERR report the session around it, so
# counting them as logins too would count one attempt twice.
_ACTIONS = {"USER_AUTH": "login", "USER_LOGIN": "session", "USER_ERR": "session", "USER_ACCT": "account",
            "USER_CMD": "sudo", "SYSCALL": "syscall", "AVC": "access", "ANOM_ABEND": "crash",
            "USER_AVC": "access", "CONFIG_CHANGE": "audit-config"}


class LinuxAuditSettings(PluginSettings):
    """Options of the ``linux-audit`` parser."""

    group_timeout: Duration = Field(2.0, description="emit an event's records after this long without "
                                                     "its EOE record")
    max_pending: int = Field(64, ge=1, description="events held open at once; the oldest is emitted when "
                                                   "more arrive (bounds memory against a flood of serials)")
    max_records: int = Field(32, ge=1, description="records kept per event (more are counted, not kept)")


class _Group:
    __slots__ = ("serial", "time", "node", "first", "types", "fields", "extra", "line", "started")

    def __init__(self, serial: str, when: float, node: str, first: str, line: str, started: float) -> None:
        self.serial, self.time, self.node, self.first, self.line = serial, when, node, first, line
        self.started = started
        self.types: list[str] = []
        self.fields: dict[str, str] = {}
        self.extra = 0


class LinuxAuditParser(Parser):
    """Parses auditd's log and merges the records of one event."""

    Settings = LinuxAuditSettings
    summary = "Linux audit log (auditd): records of one event merged by serial, hex fields decoded"
    options: LinuxAuditSettings

    def __init__(self, name: str, options: PluginSettings) -> None:
        super().__init__(name, options)
        self._pending: dict[str, _Group] = {}

    def feed(self, line: str, now: float) -> list[Record]:
        header = _HEADER.match(line)
        if header is None:
            self.unparsed += 1
            return []
        node, rtype, when, serial = header.groups()
        out: list[Record] = []
        group = self._pending.get(serial)
        if group is None:
            # A new serial closes the events before it: auditd writes an event's records together.
            if self._pending:
                out = [self._finish(g) for g in self._pending.values()]
                self._pending.clear()
            group = _Group(serial, float(when), node or "", rtype, line[:512], now)
            self._pending[serial] = group
        if rtype == "EOE":
            del self._pending[serial]
            out.append(self._finish(group))
            return out
        if len(group.types) >= self.options.max_records:
            group.extra += 1
            return out
        group.types.append(rtype)
        self._merge(group, rtype, line[header.end():])
        return out

    def flush(self, now: float, force: bool = False) -> list[Record]:
        if not self._pending:
            return []
        due = [s for s, g in self._pending.items() if force or now - g.started >= self.options.group_timeout]
        return [self._finish(self._pending.pop(s)) for s in due]

    @staticmethod
    def _merge(group: _Group, rtype: str, body: str) -> None:
        pairs = parse_pairs(body)
        if rtype.endswith("AVC") and "denied" in body[:64]:
            pairs.setdefault("seresult", "denied")
        inner = pairs.pop("msg", None)
        if inner is not None and "=" in inner:
            # User-space records carry their own key=value list inside msg='...'.
            pairs = parse_pairs(inner) | pairs
        for key in HEX_FIELDS.intersection(pairs):
            value = pairs[key]
            # Hex only when written bare: comm="CAFE" is the text CAFE, comm=43414645 is hex for it.
            if value and value[0] in "0123456789ABCDEF" and f'{key}="' not in body:
                decoded = decode_hex(value)
                if decoded is not None:
                    pairs[key] = decoded
        if rtype == "PATH" and "name" in pairs:
            # Every PATH item is kept: a rename names two files, a watch may be on either.
            pairs[f"name{pairs.get('item', group.types.count('PATH') - 1)}"] = pairs["name"]
        # The first record of an event (SYSCALL, USER_*) wins a field both have.
        group.fields = pairs | group.fields if group.fields else pairs

    def _finish(self, group: _Group) -> Record:
        fields = group.fields
        main = next((t for t in group.types if t not in _AUXILIARY), group.types[0] if group.types
                    else group.first)
        fields["serial"] = group.serial
        fields["types"] = ",".join(group.types)
        if group.node:
            fields["node"] = group.node
        if group.extra:
            fields["records_dropped"] = str(group.extra)
        self._normalise(main, fields)
        return Record("linux-audit", main, fields, group.time, group.line)

    @staticmethod
    def _normalise(main: str, fields: dict[str, str]) -> None:
        fields.setdefault("action", _ACTIONS.get(main, main.lower()))
        res = fields.get("res") or fields.get("success")
        if res is not None:
            fields.setdefault("outcome", "success" if res in ("success", "yes", "1") else "failure")
        if main.endswith("AVC") and fields.get("seresult") == "denied":
            fields["outcome"] = "deny"
        user = fields.get("acct") or fields.get("AUID") or fields.get("id")
        if user:
            fields.setdefault("user", user)
        addr = fields.get("addr") or fields.get("laddr")
        if addr and addr not in ("?", "(null)"):
            fields.setdefault("source_ip", addr)
        key = fields.get("key")
        if key in ("(null)", "?", ""):
            del fields["key"]
        elif key is not None and "\ufffd" in key:
            # Several watch keys are joined by \x01 (decoded as U+FFFD): the first one names the rule.
            fields["keys"] = key.replace("\ufffd", ",")
            fields["key"] = key.split("\ufffd", 1)[0]
