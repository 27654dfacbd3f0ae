"""Alerts as the engine keeps them: opened by a rule firing, deduplicated by fingerprint, journalled."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from faultmgr.alert import FIRING, PENDING, RESOLVED, AlertView
from faultmgr.engine.journal import Journal
from faultmgr.event import Event

_FIELD = re.compile(r"\{(subject|rule|severity|source|kind|message|count|(?:labels|payload)\.[A-Za-z0-9_.\-]+)\}")


def render(template: str, values: dict[str, Any]) -> str:
    """Fill ``{subject}``, ``{labels.node}``, ``{payload.latency_ms}``... Nothing else is evaluated, so an
    annotation can never reach into Python objects; unknown fields stay as written."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if "." in name:
            head, _, rest = name.partition(".")
            value = values.get(head, {})
            for part in rest.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return match.group(0) if value is None else str(value)
        value = values.get(name)
        return match.group(0) if value is None else str(value)

    return _FIELD.sub(one, template)


@dataclass
class Alert:
    """One alert; ``firing`` counts how many times this fingerprint has fired."""

    fingerprint: str
    rule: str
    key: str
    subject: str
    severity: str
    state: str = PENDING
    id: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: float = 0.0
    ends_at: float | None = None
    updated_at: float = 0.0
    firing: int = 0
    count: int = 0
    acknowledged_by: str | None = None
    acknowledged_comment: str | None = None
    acknowledged_at: float | None = None
    escalated: list[int] = field(default_factory=list)
    flapping: bool = False
    #: receivers a notification about this firing was written to the outbox for (survives a restart)
    notified: list[str] = field(default_factory=list)
    conditions: list[list[str]] = field(default_factory=list)
    last_event: dict[str, Any] = field(default_factory=dict)

    @property
    def is_firing(self) -> bool:
        return self.state == FIRING

    def view(self) -> AlertView:
        return AlertView(
            id=self.id, fingerprint=self.fingerprint, rule=self.rule, subject=self.subject,
            severity=self.severity, state=self.state, labels=dict(self.labels), annotations=dict(self.annotations),
            starts_at=self.starts_at, ends_at=self.ends_at, updated_at=self.updated_at, firing=self.firing,
            count=self.count, acknowledged_by=self.acknowledged_by, acknowledged_comment=self.acknowledged_comment,
            last_event=dict(self.last_event))

    def to_record(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items()}
        return data

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Alert:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class AlertStore:
    """Alerts by fingerprint, loaded from and saved to the journal."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.by_fp: dict[str, Alert] = {}
        #: bumped on every save: lets the router cache what depends on the set of firing alerts
        self.version = 0
        #: firing counts of resolved alerts seen by this process (saves a journal look-up when they fire again)
        self._firings: dict[str, int] = {}
        #: resolved alerts whose resolution some receiver was still owed when the daemon stopped
        self.owed: list[Alert] = []
        for record in journal.alerts(states=(FIRING, RESOLVED)):
            alert = Alert.from_record(record)
            alert.id = record["id"]
            if alert.is_firing:
                self.by_fp[alert.fingerprint] = alert
            elif alert.notified:
                self.owed.append(alert)

    def get(self, fp: str) -> Alert | None:
        return self.by_fp.get(fp)

    def by_id(self, alert_id: int) -> Alert | None:
        found = next((a for a in self.by_fp.values() if a.id == alert_id), None)
        if found is None:
            record = self.journal.alert(alert_id=alert_id)
            if record is not None:
                found = Alert.from_record(record)
                found.id = record["id"]
        return found

    def by_fingerprint(self, fp: str) -> Alert | None:
        """A live alert, or the journal's last record of a resolved one."""
        found = self.by_fp.get(fp)
        if found is None:
            record = self.journal.alert(fingerprint=fp)
            if record is not None:
                found = Alert.from_record(record)
                found.id = record["id"]
        return found

    def firing(self) -> list[Alert]:
        return [a for a in self.by_fp.values() if a.is_firing]

    def save(self, alert: Alert) -> None:
        self.version += 1
        alert.id = self.journal.save_alert(alert.to_record())
        if alert.state == RESOLVED:
            self.by_fp.pop(alert.fingerprint, None)
            if len(self._firings) >= 100_000:
                self._firings.clear()
            self._firings[alert.fingerprint] = alert.firing
        else:
            self.by_fp[alert.fingerprint] = alert

    def open(self, fp: str, rule: str, key: str, subject: str, severity: str, event: Event | None,
             labels: dict[str, str], annotations: dict[str, str], now: float) -> Alert:
        """A pending or firing alert for ``fp`` (reusing a live one: repeats are deduplicated)."""
        alert = self.by_fp.get(fp)
        if alert is None:
            firing = self._firings.get(fp)
            if firing is None:
                previous = self.journal.alert(fingerprint=fp)
                firing = previous["firing"] if previous else 0
            alert = Alert(fp, rule, key, subject, severity, firing=firing)
            alert.starts_at = now
        alert.subject, alert.severity = subject, severity
        alert.labels, alert.annotations = labels, annotations
        alert.updated_at = now
        if event is not None:
            alert.last_event = event.to_dict()
        return alert
