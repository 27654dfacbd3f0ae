"""PagerDuty Events API v2 events built from a notification.

One event per alert group by default, as Alertmanager does: the deduplication key is derived from the
receiver and the group's labels, so the trigger, acknowledge and resolve of one group reach one incident.
With ``dedup_by: alert`` each alert is its own incident, keyed by its fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from faultmgr.alert import AlertState, AlertView, Notification

#: The severities the Events API accepts.
SEVERITIES = ("critical", "error", "warning", "info")
#: faultmgr severity -> PagerDuty severity.
SEVERITY_MAP = {"critical": "critical", "warning": "warning", "info": "info", "ok": "info"}
_RANK = {name: rank for rank, name in enumerate(reversed(SEVERITIES))}
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255


def iso8601(seconds: float) -> str:
    """Seconds since the epoch -> ``2026-11-25T07:30:06Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def group_dedup_key(notification: Notification) -> str:
    """Stable for one alert group across its firing, acknowledgement and resolution."""
    identity = notification.group_labels or {"fingerprints": ",".join(sorted(a.fingerprint for a in
                                                                            notification.alerts))}
    text = json.dumps({"receiver": notification.receiver, "group": identity}, sort_keys=True)
    return "faultmgr-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def action_for(alerts: list[AlertView]) -> str:
    """resolve when none fires, acknowledge when every firing one is acknowledged, else trigger."""
    firing = [a for a in alerts if a.state != AlertState.RESOLVED.value]
    if not firing:
        return "resolve"
    if all(a.acknowledged_by for a in firing):
        return "acknowledge"
    return "trigger"


def severity_of(alerts: list[AlertView]) -> str:
    """The worst severity among ``alerts``, in PagerDuty's terms."""
    mapped = [SEVERITY_MAP.get(a.severity.lower(), "info") for a in alerts] or ["info"]
    return max(mapped, key=_RANK.__getitem__)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _links(alerts: list[AlertView]) -> list[dict[str, str]]:
    links = []
    for alert in alerts:
        url = alert.annotations.get("runbook") or alert.annotations.get("runbook_url")
        if url and url.startswith(("http://", "https://")):
            links.append({"href": url, "text": f"runbook: {alert.rule}"})
    return links


def build_event(routing_key: str, notification: Notification, alerts: list[AlertView], dedup_key: str,
                source: str | None) -> dict[str, Any]:
    """One Events API v2 event about ``alerts`` (all of the group, or one alert)."""
    action = action_for(alerts)
    event: dict[str, Any] = {"routing_key": routing_key, "event_action": action,
                             "dedup_key": dedup_key[:DEDUP_KEY_MAX], "client": "faultmgr"}
    if action != "trigger":
        return event
    first = alerts[0] if alerts else None
    subjects = sorted({a.subject for a in alerts})
    summary = first.summary if len(alerts) == 1 and first else f"{notification.title} ({len(alerts)} alerts)"
    starts = [a.starts_at for a in alerts if a.starts_at]
    event["payload"] = {
        "summary": _cut(summary or notification.title or "faultmgr alert", SUMMARY_MAX),
        "source": source or (", ".join(subjects) if subjects else notification.receiver),
        "severity": severity_of([a for a in alerts if a.state != AlertState.RESOLVED.value]),
        "timestamp": iso8601(min(starts) if starts else notification.created_at or time.time()),
        "component": _cut(", ".join(subjects), 255) if subjects else None,
        "group": first.rule if first else notification.kind,
        "class": notification.kind,
        "custom_details": {
            "firing": len([a for a in alerts if a.state == AlertState.FIRING.value]),
            "group_labels": notification.group_labels,
            "alerts": [{"id": a.id, "rule": a.rule, "subject": a.subject, "severity": a.severity,
                        "state": a.state, "count": a.count, "since": iso8601(a.starts_at) if a.starts_at else None,
                        "labels": a.labels, "annotations": a.annotations} for a in alerts],
        },
    }
    event["payload"] = {k: v for k, v in event["payload"].items() if v is not None}
    links = _links(alerts)
    if links:
        event["links"] = links
    return event


def build_events(routing_key: str, notification: Notification, dedup_by: str,
                 source: str | None) -> list[dict[str, Any]]:
    """The events to send for ``notification``: one for the group, or one per alert."""
    if dedup_by == "alert" and notification.alerts:
        return [build_event(routing_key, notification, [a], a.fingerprint, source) for a in notification.alerts]
    return [build_event(routing_key, notification, notification.alerts, group_dedup_key(notification), source)]
