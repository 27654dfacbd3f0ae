"""Replaying events through the rules with a virtual clock: ``faultmgr simulate`` and ``faultmgr.testing``.

Nothing is sent and no action runs: what *would* happen is recorded, in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from faultmgr.alert import AlertView
from faultmgr.clock import VirtualClock
from faultmgr.config.build import Config
from faultmgr.engine.effects import RecordedActions, Recorder
from faultmgr.engine.engine import Engine
from faultmgr.engine.journal import Journal
from faultmgr.event import Event


class EventFileError(ValueError):
    """A line of an events file is not a valid event; the message names the line."""


def read_events(path: Path, start: float) -> list[Event]:
    """Events from a JSON-lines file. ``at`` (seconds from the start) may replace ``time``."""
    events = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                data = json.loads(line)
                if isinstance(data, dict) and "at" in data:
                    at = data.pop("at")
                    if not isinstance(at, (int, float)):
                        raise ValueError("'at' must be a number of seconds")
                    data["time"] = start + float(at)
                events.append(Event.from_dict(data))
            except (ValueError, TypeError) as exc:
                raise EventFileError(f"{path}:{number}: {exc}") from None
    return sorted(events, key=lambda e: e.time)


@dataclass
class Simulation:
    """An engine on a virtual clock with recorded effects."""

    config: Config
    clock: VirtualClock
    recorder: Recorder
    engine: Engine

    @classmethod
    def build(cls, config: Config, start: float = 1_700_000_000.0, hook: Any = None) -> Simulation:
        clock = VirtualClock(start)
        recorder = Recorder(now=clock.now)
        engine = Engine(config, Journal(None), recorder, clock, hook)
        return cls(config, clock, recorder, engine)

    def advance_to(self, when: float) -> None:
        """Move the clock forward in tick-sized steps, running timers on the way."""
        step = self.config.daemon.tick
        while self.clock.now() + step <= when:
            self.clock.advance(step)
            self.engine.tick()
        if when > self.clock.now():
            self.clock.set(when)
            self.engine.tick()

    def advance(self, seconds: float) -> None:
        self.advance_to(self.clock.now() + seconds)

    def feed(self, event: Event) -> None:
        if event.time > self.clock.now():
            self.advance_to(event.time)
        self.recorder.timeline.append(("event", event, event.time))
        self.engine.ingest(event)

    def run(self, events: Iterable[Event], settle: float = 0.0) -> Recorder:
        for event in events:
            self.feed(event)
        if settle:
            self.advance(settle)
        return self.recorder


def timeline_lines(sim: Simulation) -> list[str]:
    """The recorded timeline as readable lines (``T+seconds  what``)."""
    start = sim.clock._start
    lines = []
    for what, item, when in sim.recorder.timeline:
        at = f"T+{when - start:9.3f}"
        if what == "event":
            assert isinstance(item, Event)
            lines.append(f"{at}  event     {item.kind} {item.subject} ({item.severity}) from {item.source}")
        elif what == "alert":
            view, change = cast(tuple[AlertView, str], item)
            lines.append(f"{at}  alert     #{view.id} {view.rule} on {view.subject}: {change}")
        elif what == "notify":
            lines.append(f"{at}  notify    {item.receiver}: {item.title}")  # type: ignore[attr-defined]
        elif what == "actions":
            assert isinstance(item, RecordedActions)
            phase = "resolve" if item.resolved else "fire"
            lines.append(f"{at}  actions   {', '.join(item.actions)} ({phase}) for #{item.alert.id} "
                         f"{item.alert.rule} on {item.alert.subject}")
    return lines


def timeline_json(sim: Simulation) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for what, item, when in sim.recorder.timeline:
        if what == "event":
            out.append({"type": "event", "at": when, **item.to_dict()})  # type: ignore[attr-defined]
        elif what == "alert":
            view, change = cast(tuple[AlertView, str], item)
            out.append({"type": "alert", "at": when, "change": change, "alert": view.to_dict()})
        elif what == "notify":
            out.append({"type": "notification", "at": when, **item.to_dict()})  # type: ignore[attr-defined]
        elif what == "actions":
            assert isinstance(item, RecordedActions)
            out.append({"type": "actions", "at": when, "actions": item.actions, "resolved": item.resolved,
                        "alert": item.alert.to_dict()})
    return out
