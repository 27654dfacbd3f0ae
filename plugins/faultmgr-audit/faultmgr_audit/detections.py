"""Stateful detections the shipped security rules need, on the normalised record fields.

Windows are measured on the detector's clock (when a line was read), never on the time a line claims: a
forged or skewed timestamp in a log cannot stretch a brute-force window or hide an attempt. After a
restart the lines missed meanwhile are all read at once, which can only make a window fuller (an alert
too many, never one too few).
"""

from __future__ import annotations

import ipaddress
from collections import deque
from typing import Any

from pydantic import Field, field_validator

from faultmgr.config.settings import PluginSettings
from faultmgr.config.types import Duration, format_duration
from faultmgr_audit.record import Finding, Record


def _labels(record: Record, *names: str) -> dict[str, str]:
    labels = {"parser": record.parser, "type": record.type}
    for name in names:
        value = record.fields.get(name)
        if value:
            labels[name] = value[:256]
    return labels


class BruteForceSettings(PluginSettings):
    """``audit.bruteforce``: many failed logins from one source."""

    enabled: bool = Field(True, description="detect brute force")
    threshold: int = Field(5, ge=1, description="failed logins from one source that fire")
    window: Duration = Field(60.0, description="...within this long")
    actions: list[str] = Field(["login"], description="normalised actions whose failures count")
    max_sources: int = Field(10000, ge=1, description="sources tracked at once (oldest forgotten first)")


class RootLoginSettings(PluginSettings):
    """``audit.root_login``: a successful login as a privileged user from outside the allowed networks."""

    enabled: bool = Field(True, description="detect root logins from unexpected networks")
    users: list[str] = Field(["root"], description="user names that count as root")
    allowed_networks: list[str] = Field(["127.0.0.0/8", "::1/128"], description="CIDR networks root may log "
                                                                                "in from")

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)
        return value


class WatchSettings(PluginSettings):
    """``audit.watch``: a record carrying an audit rule's ``key=`` (``auditctl -w FILE -k KEY``)."""

    enabled: bool = Field(True, description="report watched files")
    keys: list[str] = Field([], description="watch keys reported (all keys when empty)")
    severity: str = Field("warning", description="severity of audit.watch events")


class DeniedSettings(PluginSettings):
    """``audit.denied``: an access a privileged process was refused."""

    enabled: bool = Field(True, description="report denied access by privileged processes")
    privileged_uids: list[str] = Field(["0"], description="uids (audit uid/euid) that count as privileged")
    exits: list[str] = Field(["-13", "-1"], description="syscall exit codes that mean denied (EACCES, EPERM)")


class BruteForce:
    """Counts failures per source in a sliding window; fires once, recovers when the window empties."""

    def __init__(self, settings: BruteForceSettings) -> None:
        self.settings = settings
        self._actions = frozenset(settings.actions)
        # source -> recent (time, count) entries; threshold entries suffice to know if the sum reaches it.
        self._recent: dict[str, deque[tuple[float, int]]] = {}
        self._firing: dict[str, float] = {}

    def observe(self, record: Record, now: float) -> Finding | None:
        """A finding when this failure completes a burst from its source (once per burst), else ``None``."""
        fields = record.fields
        if fields.get("outcome") != "failure" or fields.get("action") not in self._actions:
            return None
        source = fields.get("source_ip")
        if not source:
            return None
        recent = self._recent.pop(source, None)
        if recent is None:
            recent = deque(maxlen=self.settings.threshold)
            while len(self._recent) >= self.settings.max_sources:
                self._recent.pop(next(iter(self._recent)))
        self._recent[source] = recent  # re-inserted last: dict order is least recently seen first
        recent.append((now, record.count))
        start = now - self.settings.window
        total = sum(count for when, count in recent if when > start)
        if source in self._firing:
            self._firing[source] = now
            return None
        if total < self.settings.threshold:
            return None
        self._firing[source] = now
        return Finding("audit.bruteforce", source, "critical", _labels(record, "source_ip", "user"),
                       {"failures": total, "window": self.settings.window,
                        "window_text": format_duration(self.settings.window),
                        "last_user": fields.get("user", ""), "line": record.line},
                       f"{total} failed logins from {source} within {self.settings.window:g}s")

    def tick(self, now: float) -> list[Finding]:
        """Recoveries for sources that stayed quiet for a whole window after firing."""
        quiet = [s for s, last in self._firing.items() if now - last >= self.settings.window]
        for source in quiet:
            del self._firing[source]
            self._recent.pop(source, None)
        return [Finding("audit.bruteforce", s, "ok", {"source_ip": s},
                        message=f"no failed logins from {s} for {self.settings.window:g}s") for s in quiet]


class RootLogin:
    """Fires on a successful privileged login whose source is outside the allow-list."""

    def __init__(self, settings: RootLoginSettings) -> None:
        self.users = frozenset(settings.users)
        self.networks = [ipaddress.ip_network(n, strict=False) for n in settings.allowed_networks]

    def observe(self, record: Record) -> Finding | None:
        """A finding for a privileged login from outside the allowed networks, else ``None``."""
        fields = record.fields
        if fields.get("action") != "login" or fields.get("outcome") != "success":
            return None
        if fields.get("user") not in self.users:
            return None
        source = fields.get("source_ip", "")
        if not source:
            return None  # a local login (console, su): not from any network
        try:
            address = ipaddress.ip_address(source)
            if any(address in network for network in self.networks):
                return None
            reason = "outside the allowed networks"
        except ValueError:
            reason = "from an address that is not an IP address"
        return Finding("audit.root_login", source, "critical", _labels(record, "source_ip", "user", "host"),
                       {"reason": reason, "line": record.line, "fields": dict(fields)},
                       f"login as {fields['user']} from {source} ({reason})")


class Watch:
    """Reports records that carry an audit watch key."""

    def __init__(self, settings: WatchSettings) -> None:
        self.keys = frozenset(settings.keys)
        self.severity = settings.severity

    def observe(self, record: Record) -> Finding | None:
        """A finding for a record carrying a (selected) watch key, else ``None``."""
        key = record.fields.get("key")
        if not key or (self.keys and key not in self.keys) or record.type == "CONFIG_CHANGE":
            return None  # CONFIG_CHANGE names the key of a rule being changed, not a watched file touched
        name = record.fields.get("name") or record.fields.get("object") or key
        return Finding("audit.watch", name, self.severity, _labels(record, "key", "user", "uid", "exe"),
                       {"fields": dict(record.fields), "line": record.line},
                       f"watched {name} touched (key {key}) by {record.fields.get('exe', '?')}")


class Denied:
    """Reports an access refused to a privileged process (audit syscall or DSI verdict)."""

    def __init__(self, settings: DeniedSettings) -> None:
        self.uids = frozenset(settings.privileged_uids)
        self.exits = frozenset(settings.exits)

    def observe(self, record: Record) -> Finding | None:
        """A finding for an access refused to a privileged process, else ``None``."""
        fields = record.fields
        if record.parser == "dsi":
            if fields.get("outcome") != "deny" or fields.get("privileged") != "yes":
                return None
            subject, target = fields.get("subject", "?"), fields.get("object", "?")
        elif record.type == "SYSCALL" or record.type.endswith("AVC"):
            denied = fields.get("outcome") == "deny" or (
                fields.get("success") == "no" and fields.get("exit") in self.exits)
            if not denied or not (fields.get("uid") in self.uids or fields.get("euid") in self.uids):
                return None
            subject = fields.get("exe") or fields.get("comm") or "?"
            target = fields.get("name") or fields.get("path") or "?"
        else:
            return None
        labels = _labels(record, "uid", "key", "user")
        labels["object"] = target[:256]
        return Finding("audit.denied", subject[:256], "critical", labels,
                       {"fields": dict(fields), "line": record.line},
                       f"privileged {subject} was denied {fields.get('permission', 'access')} on {target}")


class Detections:
    """The four stateful detections of one detector instance."""

    def __init__(self, brute: BruteForceSettings, root: RootLoginSettings, watch: WatchSettings,
                 denied: DeniedSettings) -> None:
        self.brute = BruteForce(brute) if brute.enabled else None
        self.root = RootLogin(root) if root.enabled else None
        self.watch = Watch(watch) if watch.enabled else None
        self.denied = Denied(denied) if denied.enabled else None

    def observe(self, record: Record, now: float) -> list[Finding]:
        """What every enabled detection concludes from ``record`` read at ``now`` (detector clock)."""
        fields = record.fields
        if "outcome" not in fields and "key" not in fields:
            return []  # most records: nothing any detection looks at
        found: list[Finding] = []
        for finding in (self.brute.observe(record, now) if self.brute else None,
                        self.root.observe(record) if self.root else None,
                        self.watch.observe(record) if self.watch else None,
                        self.denied.observe(record) if self.denied else None):
            if finding is not None:
                found.append(finding)
        return found

    def tick(self, now: float) -> list[Finding]:
        """Time-driven findings (brute-force recoveries)."""
        return self.brute.tick(now) if self.brute else []

    def status(self) -> dict[str, Any]:
        """Sources currently reported as brute-forcing."""
        return {"bruteforce_firing": sorted(self.brute._firing) if self.brute else []}
