"""Events: what detectors say, and what rules match.

An event is a plain, cheap value (a slotted dataclass, not a pydantic model): the engine handles tens of
thousands of them a second.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    """How bad an event is. ``OK`` is a recovery: it resolves what a failure of the same subject opened."""

    OK = 0
    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @classmethod
    def parse(cls, value: str | int | Severity) -> Severity:
        """Accept ``"critical"``, ``"CRITICAL"``, ``3`` or a :class:`Severity`."""
        if isinstance(value, Severity):
            return value
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[value.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {value!r} (one of: {names})") from None

    def __str__(self) -> str:
        # A table, not self.name.lower(): severities are turned into text several times per event, and the
        # enum's name property was visible in bench/engine.py --profile.
        return _SEVERITY_NAMES[self]


_SEVERITY_NAMES = {s: s._name_.lower() for s in Severity}


@dataclass(slots=True)
class Event:
    """Something a detector observed.

    :param kind: dotted name such as ``heartbeat.peer.dead`` or ``probe.failed``; rules match it by glob.
    :param source: the detector instance that produced it (its name in the rule file).
    :param subject: what it is about: a node, a service, a target.
    :param severity: see :class:`Severity`; ``OK`` marks a recovery.
    :param labels: string labels that rules match with ``=``, ``!=``, ``=~``, ``!~``.
    :param payload: free-form data (latency, reason, ...); rules can test its fields.
    :param time: seconds since the epoch (the daemon's clock, virtual under ``simulate``).
    :param message: one human line.
    """

    kind: str
    source: str
    subject: str
    severity: Severity = Severity.INFO
    labels: dict[str, str] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)
    message: str = ""
    id: int | None = None

    @property
    def is_recovery(self) -> bool:
        """True for an event that resolves what a failure of the same subject opened."""
        return self.severity is Severity.OK

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the journal and ``simulate`` use this form)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "source": self.source,
            "subject": self.subject,
            "severity": str(self.severity),
            "labels": dict(self.labels),
            "payload": dict(self.payload),
            "time": self.time,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """Build an event from :meth:`to_dict` output (or a hand-written JSON line).

        Raises ``ValueError`` naming the field when the input is malformed.
        """
        if not isinstance(data, dict):
            raise ValueError("an event must be a JSON object")
        unknown = set(data) - {"id", "kind", "source", "subject", "severity", "labels", "payload", "time",
                               "message"}
        if unknown:
            raise ValueError(f"unknown event field(s): {', '.join(sorted(unknown))}")
        for key in ("kind", "subject"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise ValueError(f"event field {key!r} must be a non-empty string")
        labels = data.get("labels", {})
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise ValueError("event field 'labels' must map strings to strings")
        payload = data.get("payload", {})
        if not isinstance(payload, dict):
            raise ValueError("event field 'payload' must be an object")
        when = data.get("time", time.time())
        if not isinstance(when, (int, float)) or isinstance(when, bool):
            raise ValueError("event field 'time' must be a number (seconds since the epoch)")
        return cls(
            kind=data["kind"],
            source=str(data.get("source", "external")),
            subject=data["subject"],
            severity=Severity.parse(data.get("severity", "info")),
            labels=dict(labels),
            payload=dict(payload),
            time=float(when),
            message=str(data.get("message", "")),
            id=data.get("id") if isinstance(data.get("id"), int) else None,
        )
