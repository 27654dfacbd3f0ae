"""Routing alerts to receivers: grouping (``group_by``, ``group_wait``, ``group_interval``,
``repeat_interval``, as Alertmanager does), inhibition, silences, flapping and per-receiver rate limits.

One outage with 200 failing probes becomes one page per receiver with a summary, not 200.
"""

from __future__ import annotations

import hashlib
import time as _time
from dataclasses import dataclass, field
from typing import Any

from faultmgr.alert import FIRING, RESOLVED, Notification
from faultmgr.config.model import InhibitSection
from faultmgr.engine.alerts import Alert, AlertStore
from faultmgr.engine.effects import Effects
from faultmgr.engine.flapping import FlapDetector
from faultmgr.engine.silences import SilenceStore
from faultmgr.matchers import LabelMatcher, parse_label_matchers

EACH_ALERT = "..."


@dataclass
class Group:
    receiver: str
    key: tuple[str, ...]
    labels: dict[str, str]
    alerts: dict[str, Alert] = field(default_factory=dict)
    sent: dict[str, str] = field(default_factory=dict)
    next_flush: float | None = None
    last_flush: float = 0.0
    last_sent: float | None = None
    seq: int = 0


@dataclass
class Limiter:
    count: int
    per: float
    window_start: float = 0.0
    used: int = 0
    suppressed: list[str] = field(default_factory=list)


@dataclass
class CompiledInhibit:
    source: tuple[LabelMatcher, ...]
    target: tuple[LabelMatcher, ...]
    equal: list[str]


class Router:
    """Groups alerts per receiver and decides when a notification goes out."""

    def __init__(self, alerts: AlertStore, silences: SilenceStore, flaps: FlapDetector, sink: Effects) -> None:
        self.alerts = alerts
        self.silences = silences
        self.flaps = flaps
        self.sink = sink
        self.receivers: dict[str, Any] = {}
        self.inhibit: list[CompiledInhibit] = []
        self.groups: dict[tuple[str, tuple[str, ...]], Group] = {}
        self.limiters: dict[str, Limiter] = {}
        self.suppressed_total = 0
        self._sources: tuple[int, list[list[Alert]]] = (-1, [])

    def configure(self, receivers: dict[str, Any], inhibit: list[InhibitSection]) -> None:
        """``receivers``: name -> receiver settings (group_by, waits, rate_limit, send_resolved)."""
        self.receivers = receivers
        self.inhibit = [CompiledInhibit(parse_label_matchers(i.source), parse_label_matchers(i.target), i.equal)
                        for i in inhibit]
        self._sources = (-1, [])
        self.limiters = {name: self.limiters.get(name) or Limiter(s.rate_limit.count, s.rate_limit.per)
                         for name, s in receivers.items() if s.rate_limit is not None}
        for key in [k for k in self.groups if k[0] not in receivers]:
            del self.groups[key]

    # -- muting ---------------------------------------------------------------------------------------
    def muted(self, alert: Alert, now: float) -> str | None:
        """Why ``alert`` must not be notified now (flapping, silenced, inhibited), or ``None``."""
        if self.flaps.is_flapping(alert.fingerprint):
            return "flapping"
        silence = self.silences.matching(alert.labels, now)
        if silence is not None:
            return f"silenced by #{silence.id}"
        source = self.inhibited_by(alert)
        return f"inhibited by {source.rule} on {source.subject}" if source else None

    def _inhibitors(self) -> list[list[Alert]]:
        """Per inhibit rule, the firing alerts matching its source; recomputed only when alerts changed, so a
        storm of N alerts costs N + N x sources, not N x N."""
        version, sources = self._sources
        if version != self.alerts.version:
            firing = self.alerts.firing()
            sources = [[a for a in firing if all(m.matches(a.labels) for m in rule.source)]
                       for rule in self.inhibit]
            self._sources = (self.alerts.version, sources)
        return sources

    def inhibited_by(self, alert: Alert) -> Alert | None:
        if not self.inhibit:
            return None
        for rule, sources in zip(self.inhibit, self._inhibitors(), strict=True):
            if not all(m.matches(alert.labels) for m in rule.target):
                continue
            for other in sources:
                if other.fingerprint != alert.fingerprint and all(
                        other.labels.get(k, "") == alert.labels.get(k, "") for k in rule.equal):
                    return other
        return None

    # -- grouping -------------------------------------------------------------------------------------
    def route(self, alert: Alert, receivers: list[str], now: float) -> None:
        """An alert fired or resolved: put it in each receiver's group and flush what is due."""
        for name in receivers:
            settings = self.receivers.get(name)
            if settings is None:
                continue
            key, labels = self._key(alert, settings)
            group = self.groups.get((name, key))
            if group is None:
                group = self.groups[(name, key)] = Group(name, key, labels)
                group.next_flush = now + settings.group_wait
            elif group.next_flush is None:
                group.next_flush = max(now, group.last_flush + settings.group_interval)
            group.alerts[alert.fingerprint] = alert
            if group.next_flush <= now:
                self.flush(group, now)

    def adopt(self, alert: Alert, receiver: str, now: float) -> None:
        """After a restart: put a firing alert back in its group as already paged (no new page; repeats
        and resolution go on from here)."""
        settings = self.receivers.get(receiver)
        if settings is None:
            return
        key, labels = self._key(alert, settings)
        group = self.groups.setdefault((receiver, key), Group(receiver, key, labels))
        group.alerts[alert.fingerprint] = alert
        group.sent[alert.fingerprint] = FIRING
        group.last_sent = alert.updated_at
        group.last_flush = now
        group.next_flush = now + settings.group_interval

    def _key(self, alert: Alert, settings: Any) -> tuple[tuple[str, ...], dict[str, str]]:
        if settings.group_by == [EACH_ALERT]:
            return (alert.fingerprint,), dict(alert.labels)
        return (tuple(alert.labels.get(label, "") for label in settings.group_by),
                {label: alert.labels.get(label, "") for label in settings.group_by})

    def due(self, now: float) -> None:
        for group in list(self.groups.values()):
            if group.next_flush is not None and group.next_flush <= now:
                self.flush(group, now)
        self._rate_limit_summaries(now)

    def flush(self, group: Group, now: float) -> None:
        settings = self.receivers[group.receiver]
        group.last_flush = now
        firing = [a for a in group.alerts.values() if a.is_firing and self.muted(a, now) is None]
        resolved = [a for a in group.alerts.values() if a.state == RESOLVED
                    and group.sent.get(a.fingerprint) == FIRING]
        changed = any(group.sent.get(a.fingerprint) != FIRING for a in firing) or (
            bool(resolved) and settings.send_resolved)
        repeat = (group.last_sent is not None and now - group.last_sent >= settings.repeat_interval
                  and any(a.acknowledged_by is None for a in firing))
        if changed or repeat:
            shown = firing + (resolved if settings.send_resolved else [])
            self._send(group, shown, now, "alert")
            group.last_sent = now
            for alert in firing:
                if group.receiver not in alert.notified:
                    alert.notified.append(group.receiver)
                    self.alerts.journal.set_alert_notified(alert.fingerprint, alert.notified)
        for alert in firing:
            group.sent[alert.fingerprint] = FIRING
        for fp, alert in list(group.alerts.items()):
            if not alert.is_firing:
                del group.alerts[fp]
                group.sent.pop(fp, None)
                if group.receiver in alert.notified:  # its resolution is told (or not wanted): nothing owed
                    alert.notified.remove(group.receiver)
                    self.alerts.journal.set_alert_notified(alert.fingerprint, alert.notified)
        if group.alerts:
            group.next_flush = now + settings.group_interval
        else:
            del self.groups[(group.receiver, group.key)]

    # -- sending --------------------------------------------------------------------------------------
    def _send(self, group: Group, alerts: list[Alert], now: float, kind: str) -> None:
        group.seq += 1
        digest = hashlib.sha1(repr((group.receiver, group.key)).encode()).hexdigest()[:10]
        dedup = f"{group.receiver}:{digest}:{int(now * 1000)}:{group.seq}"
        self.send(group.receiver, kind, alerts, now, dedup, group.labels)

    def send(self, receiver: str, kind: str, alerts: list[Alert], now: float, dedup_key: str | None = None,
             group_labels: dict[str, str] | None = None, title: str | None = None, text: str | None = None,
             limited: bool = True) -> None:
        """Hand one notification to the sink, unless the receiver's rate limit is spent."""
        firing = [a for a in alerts if a.is_firing]
        status = FIRING if firing or kind != "alert" else RESOLVED
        title = title or notification_title(status, alerts)
        if limited and not self._allow(receiver, now, title):
            return
        notification = Notification(
            id=0, dedup_key=dedup_key or f"{receiver}:{kind}:{int(now * 1000)}:{_time.monotonic_ns() % 10**9}",
            receiver=receiver, kind=kind, status=status, title=title, alerts=[a.view() for a in alerts],
            group_labels=dict(group_labels or {}), created_at=now, text=text or notification_text(alerts))
        subject_key = ",".join(sorted({a.subject for a in alerts}))
        self.sink.notify(notification, subject_key)

    def _allow(self, receiver: str, now: float, title: str) -> bool:
        limiter = self.limiters.get(receiver)
        if limiter is None:
            return True
        if now - limiter.window_start >= limiter.per and not limiter.suppressed:
            limiter.window_start, limiter.used = now, 0
        if limiter.used < limiter.count:
            limiter.used += 1
            return True
        limiter.suppressed.append(title)
        self.suppressed_total += 1
        return False

    def _rate_limit_summaries(self, now: float) -> None:
        for name, limiter in self.limiters.items():
            if limiter.suppressed and now - limiter.window_start >= limiter.per:
                count, titles = len(limiter.suppressed), limiter.suppressed[:10]
                limiter.suppressed = []
                limiter.window_start, limiter.used = now, 0
                text = "\n".join(f"- {t}" for t in titles) + ("\n- ..." if count > len(titles) else "")
                self.send(name, "notice", [], now, title=f"rate limit: {count} notification(s) suppressed",
                          text=f"{count} notification(s) to {name} were held back by its rate limit "
                               f"({limiter.count} per {limiter.per:g}s):\n{text}", limited=False)


def notification_title(status: str, alerts: list[Alert]) -> str:
    firing = [a for a in alerts if a.is_firing]
    shown = firing or alerts
    if not shown:
        return f"[{status.upper()}]"
    head = shown[0].annotations.get("summary") or f"{shown[0].rule} on {shown[0].subject}"
    more = f" (+{len(shown) - 1} more)" if len(shown) > 1 else ""
    resolved = len(alerts) - len(firing)
    if firing and resolved:
        more += f"; {resolved} resolved"
    return f"[{status.upper()}{':' + str(len(firing)) if len(firing) > 1 else ''}] {head}{more}"


def notification_text(alerts: list[Alert]) -> str:
    lines = []
    for alert in alerts:
        since = _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(alert.starts_at))
        summary = alert.annotations.get("summary") or alert.rule
        line = f"- {alert.state.upper()} {alert.severity} {alert.subject}: {summary} (since {since} UTC"
        line += f", {alert.count} event(s))" if alert.count > 1 else ")"
        if alert.annotations.get("runbook"):
            line += f" runbook: {alert.annotations['runbook']}"
        lines.append(line)
    return "\n".join(lines)
