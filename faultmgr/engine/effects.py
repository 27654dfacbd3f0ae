"""What the engine asks the outside world to do. The daemon delivers through the outbox and runs actions;
``simulate`` and ``faultmgr.testing`` record instead."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from faultmgr.alert import AlertView, Notification
from faultmgr.event import Event


class Effects(Protocol):
    def notify(self, notification: Notification, subject_key: str) -> None:
        """Deliver ``notification`` (durably: written to the outbox first)."""

    def run_actions(self, alert: AlertView, actions: list[str], event: Event | None, resolved: bool) -> None:
        """Run ``actions`` in order for ``alert`` (at most once per firing and phase)."""

    def alert_changed(self, alert: AlertView, change: str) -> None:
        """Observe an alert change (hooks, metrics, the dashboard's live feed)."""


@dataclass
class RecordedActions:
    alert: AlertView
    actions: list[str]
    event: Event | None
    resolved: bool


@dataclass
class Recorder:
    """Effects that only remember what was asked, in order (``simulate``, tests)."""

    notifications: list[Notification] = field(default_factory=list)
    actions: list[RecordedActions] = field(default_factory=list)
    changes: list[tuple[AlertView, str]] = field(default_factory=list)
    timeline: list[tuple[str, object, float]] = field(default_factory=list)
    now: Callable[[], float] = field(default=lambda: 0.0)

    def notify(self, notification: Notification, subject_key: str) -> None:
        notification.id = len(self.notifications) + 1
        self.notifications.append(notification)
        self.timeline.append(("notify", notification, self.now()))

    def run_actions(self, alert: AlertView, actions: list[str], event: Event | None, resolved: bool) -> None:
        if actions:
            record = RecordedActions(alert, list(actions), event, resolved)
            self.actions.append(record)
            self.timeline.append(("actions", record, self.now()))

    def alert_changed(self, alert: AlertView, change: str) -> None:
        self.changes.append((alert, change))
        self.timeline.append(("alert", (alert, change), self.now()))
