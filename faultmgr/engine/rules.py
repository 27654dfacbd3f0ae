"""Compiled rules and their condition state: which events open, hold and resolve a rule's alerts."""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field

from faultmgr.config.model import RuleSection
from faultmgr.event import Event, Severity
from faultmgr.matchers import EventMatcher


def family(kind: str) -> str:
    """``probe.failed`` -> ``probe``; ``heartbeat.peer.dead`` -> ``heartbeat.peer``."""
    return kind.rsplit(".", 1)[0] if "." in kind else kind


def fingerprint(rule: str, key: str) -> str:
    return hashlib.sha1(f"{rule}\0{key}".encode()).hexdigest()[:16]


@dataclass
class ConditionState:
    """One condition of one rule for one subject."""

    active: bool = False
    hits: deque[float] = field(default_factory=deque)
    last_match: float = 0.0
    source: str = ""
    kind: str = ""
    event: Event | None = None


@dataclass
class RuleState:
    """A rule's state for one alert key (a subject, or the whole rule for ``all``/``any``)."""

    conditions: dict[tuple[int, str], ConditionState] = field(default_factory=dict)
    holding: bool = False
    pending_since: float | None = None
    last_event: Event | None = None


class CompiledRule:
    """A :class:`RuleSection` ready to evaluate."""

    def __init__(self, name: str, spec: RuleSection) -> None:
        self.name = name
        self.spec = spec
        self.mode = "match" if spec.match is not None else ("all" if spec.all is not None else "any")
        self.conditions: list[EventMatcher] = [c.compile() for c in spec.conditions()]
        self.accepts_ok = [c.severity == "ok" for c in spec.conditions()]
        self.resolve: EventMatcher | None = spec.resolve.compile() if spec.resolve else None
        self.count, self.window = spec.count_window()
        self.for_ = spec.for_
        self.severity = Severity.parse(spec.severity) if spec.severity else None
        self.states: dict[str, RuleState] = {}

    def key(self, subject: str) -> str:
        """The alert key for an event subject: the subject itself, or one key for the whole rule."""
        return subject if self.mode == "match" and self.spec.per == "subject" else ""

    def fingerprint(self, key: str) -> str:
        return fingerprint(self.name, key)

    def activate(self, idx: int, event: Event) -> tuple[str, bool]:
        """A matching event for condition ``idx``: count it; returns (key, whether anything changed)."""
        key = self.key(event.subject)
        state = self.states.setdefault(key, RuleState())
        cond = state.conditions.setdefault((idx, event.subject), ConditionState())
        cond.last_match = event.time
        cond.event = event
        state.last_event = event
        if cond.active:
            return key, False
        cond.hits.append(event.time)
        if self.window is not None:
            while cond.hits and cond.hits[0] < event.time - self.window:
                cond.hits.popleft()
        if len(cond.hits) < self.count:
            return key, False
        cond.active, cond.source, cond.kind = True, event.source, event.kind
        cond.hits.clear()
        return key, True

    def resolves(self, cond: ConditionState, event: Event) -> bool:
        """Does ``event`` resolve this active condition of the same subject?"""
        if self.resolve is not None:
            return self.resolve.matches(event)
        return event.is_recovery and event.source == cond.source and family(event.kind) == family(cond.kind)

    def deactivate(self, event: Event) -> list[str]:
        """Resolve what ``event`` resolves; returns the keys whose state changed."""
        changed = []
        for key, state in self.states.items():
            for (_idx, subject), cond in state.conditions.items():
                if subject != event.subject:
                    continue
                if cond.active and self.resolves(cond, event):
                    cond.active = False
                    cond.hits.clear()
                    changed.append(key)
                elif not cond.active and cond.hits and self.resolves_pending(cond, event):
                    cond.hits.clear()
        return changed

    def resolves_pending(self, cond: ConditionState, event: Event) -> bool:
        if self.resolve is not None:
            return self.resolve.matches(event)
        return event.is_recovery and family(event.kind) == family(cond.kind or (cond.event.kind if cond.event else ""))

    def holds(self, key: str) -> bool:
        """Whether the rule's condition holds for ``key`` right now."""
        state = self.states.get(key)
        if state is None:
            return False
        active = {idx for (idx, _), c in state.conditions.items() if c.active}
        if self.mode == "all":
            return len(active) == len(self.conditions)
        return bool(active)

    def active_subjects(self, key: str) -> list[str]:
        state = self.states.get(key)
        if state is None:
            return []
        return sorted({subject for (_, subject), c in state.conditions.items() if c.active})

    def expire(self, now: float) -> list[str]:
        """``resolve_after``: deactivate conditions with no matching event for that long."""
        after = self.spec.resolve_after
        if after is None:
            return []
        changed = []
        for key, state in self.states.items():
            for cond in state.conditions.values():
                if cond.active and now - cond.last_match >= after:
                    cond.active = False
                    changed.append(key)
        return changed
