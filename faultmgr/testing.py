"""A pytest plugin for plugin authors (registered under ``pytest11``; nothing to import).

The ``faultmgr_harness`` fixture builds a rule set from YAML text, with every installed plugin (yours
included), on a virtual clock; you feed events, advance time, and look at what would have been sent or run::

    def test_my_rule(faultmgr_harness):
        h = faultmgr_harness('''
            detectors: {ext: {type: external}}
            receivers: {ops: {type: log}}
            rules:
              down: {match: {kind: mycheck.failed}, notify: [ops], for: 30s}
        ''')
        h.feed("mycheck.failed", "web1", "critical", source="ext")
        h.advance(31)
        assert [n.receiver for n in h.notifications] == ["ops"]
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from faultmgr.alert import AlertView, Notification
from faultmgr.config.build import Config, build
from faultmgr.config.errors import ConfigError
from faultmgr.config.yamlfile import parse_text
from faultmgr.engine.effects import RecordedActions
from faultmgr.event import Event, Severity
from faultmgr.plugin.manager import Plugins, load_plugins
from faultmgr.simulate import Simulation, timeline_lines


class Harness:
    """Rules on a virtual clock, with recorded notifications, action runs and alert changes."""

    def __init__(self, config: Config, plugins: Plugins) -> None:
        self.config = config
        self.plugins = plugins
        self.sim = Simulation.build(config, hook=plugins.hook)
        self.engine = self.sim.engine

    @property
    def now(self) -> float:
        return self.sim.clock.now()

    def feed(self, kind: str, subject: str, severity: str | Severity = "critical", *, source: str = "external",
             labels: dict[str, str] | None = None, payload: dict[str, Any] | None = None,
             message: str = "") -> Event:
        """An event now (at the virtual clock's time)."""
        event = Event(kind, source, subject, Severity.parse(severity), dict(labels or {}), dict(payload or {}),
                      self.now, message)
        self.sim.feed(event)
        return event

    def feed_events(self, events: Iterable[Event]) -> None:
        for event in events:
            self.sim.feed(event)

    def advance(self, seconds: float) -> None:
        """Move the virtual clock, running every timer on the way."""
        self.sim.advance(seconds)

    @property
    def notifications(self) -> list[Notification]:
        return self.sim.recorder.notifications

    @property
    def actions(self) -> list[RecordedActions]:
        return self.sim.recorder.actions

    @property
    def alerts(self) -> list[AlertView]:
        """Active (pending or firing) alerts."""
        return self.engine.alert_views()

    def sent_to(self, receiver: str) -> list[Notification]:
        return [n for n in self.notifications if n.receiver == receiver]

    def timeline(self) -> list[str]:
        return timeline_lines(self.sim)


def make_harness(text: str, plugins: Plugins | None = None, file: str = "<test>") -> Harness:
    """Build a :class:`Harness` from rule-file text; raises :class:`ConfigError` for a bad rule set."""
    plugins = plugins or load_plugins()
    doc = parse_text(textwrap.dedent(text), file)
    return Harness(build([doc], plugins, [file]), plugins)


@pytest.fixture
def faultmgr_harness() -> Callable[..., Harness]:
    """A factory: ``faultmgr_harness(yaml_text)`` -> :class:`Harness` (every installed plugin loaded)."""
    plugins = load_plugins()

    def factory(text: str) -> Harness:
        return make_harness(text, plugins)

    return factory


__all__ = ["ConfigError", "Harness", "faultmgr_harness", "make_harness"]
