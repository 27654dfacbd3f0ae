"""Alerts and notifications as plugins see them: plain snapshots, safe to serialise into the outbox."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class AlertState(enum.StrEnum):
    """Life of an alert: ``pending`` while a ``for:`` condition waits, then ``firing``, then ``resolved``."""

    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"

    def __str__(self) -> str:
        return self.value


#: The states as plain strings for the engine's hot paths: looking up ``AlertState.FIRING.value`` costs several
#: times a global's, and alert states are compared on every event.
PENDING, FIRING, RESOLVED = AlertState.PENDING.value, AlertState.FIRING.value, AlertState.RESOLVED.value


@dataclass(slots=True)
class AlertView:
    """A snapshot of one alert, handed to actions and notifiers.

    :param fingerprint: stable identity of the alert (rule + subject + key labels).
    :param firing: number of the current firing of this fingerprint (1, 2, ... across its life).
    """

    id: int
    fingerprint: str
    rule: str
    subject: str
    severity: str
    state: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: float = 0.0
    ends_at: float | None = None
    updated_at: float = 0.0
    firing: int = 1
    count: int = 1
    acknowledged_by: str | None = None
    acknowledged_comment: str | None = None
    last_event: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """The rule's ``summary`` annotation, or a generic line."""
        return self.annotations.get("summary") or f"{self.rule} on {self.subject}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (one level of copies: cheap enough for a thousand alerts per request)."""
        return {name: (dict(value) if isinstance(value, dict) else value)
                for name in self.__dataclass_fields__ for value in (getattr(self, name),)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertView:
        return cls(**data)


@dataclass(slots=True)
class Notification:
    """What a notifier is asked to deliver: one message about a group of alerts (or a notice).

    :param dedup_key: the same for every attempt to deliver this message, including re-sends after a
        crash; channels that can (webhook, PagerDuty) pass it on so a receiver can drop duplicates.
    :param kind: ``alert`` (a group's state), ``notice`` (flapping started/stopped, rate-limit summary),
        ``escalation`` (paged because nobody acknowledged), ``acknowledgement`` (someone acknowledged the
        alerts, which still fire with ``acknowledged_by`` set) or ``test`` (``faultmgr notify-test``).
    :param status: ``firing`` when any alert in the group still fires, else ``resolved``.
    """

    id: int
    dedup_key: str
    receiver: str
    kind: str
    status: str
    title: str
    alerts: list[AlertView] = field(default_factory=list)
    group_labels: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    text: str = ""

    @property
    def firing(self) -> list[AlertView]:
        return [a for a in self.alerts if a.state == FIRING]

    @property
    def resolved(self) -> list[AlertView]:
        return [a for a in self.alerts if a.state == RESOLVED]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dedup_key": self.dedup_key,
            "receiver": self.receiver,
            "kind": self.kind,
            "status": self.status,
            "title": self.title,
            "alerts": [a.to_dict() for a in self.alerts],
            "group_labels": dict(self.group_labels),
            "created_at": self.created_at,
            "text": self.text,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        data = dict(data)
        data["alerts"] = [AlertView.from_dict(a) for a in data.get("alerts", [])]
        return cls(**data)
