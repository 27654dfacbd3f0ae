"""The core's part of the rule-file language: every key declared with a type, a default and a description.

Plugin settings join these at load time: an instance's model is its type's ``Settings`` plus the core keys of
its section (see :mod:`faultmgr.config.build`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, field_validator, model_validator

from faultmgr.config.types import Duration, parse_duration
from faultmgr.event import Severity
from faultmgr.matchers import Condition, EventMatcher, parse_label_matchers


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PluginsSection(Strict):
    disable: list[str] = Field(default_factory=list, description="plugin names not to load (also "
                                                                 "FAULTMGR_DISABLE_PLUGINS)")


class DaemonSection(Strict):
    state_dir: Path = Field(Path("/var/lib/faultmgr"), description="journal database, plugin state and the "
                                                                    "control socket live here (created 0750)")
    node: str | None = Field(None, description="this node's name in events and labels (default: host name)")
    log_format: Literal["text", "json"] = Field("text", description="log lines as text or JSON objects")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="least severe level logged")
    shutdown_timeout: Duration = Field(10.0, description="on SIGTERM, how long in-flight notifications may take")
    retention_age: Duration = Field(30 * 86400.0, description="journal entries older than this are deleted")
    retention_events: int = Field(1_000_000, ge=1000, description="at most this many events are kept")
    retention_bytes: ByteSize = Field(ByteSize(1 << 30), description="the journal's data is kept under this "
                                      "size (bytes, or 512MB, 2GiB): the oldest events go first, checked every "
                                      "30s; 0 for no bound")
    flap_changes: int = Field(6, ge=2, description="an alert that changes state this often within "
                              "flap_interval is flapping: its notifications stop, one notice says so")
    flap_interval: Duration = Field(600.0, description="window for flap detection; flapping stops once the "
                                    "changes within it fall to half of flap_changes")
    tick: Duration = Field(0.25, description="how often timers (for:, group waits, escalations) are checked")
    control_group: str | None = Field(None, description="group owning the control socket (mode 0660): its "
                                      "members may use the faultmgr commands that talk to the daemon")


class DetectorCore(Strict):
    """Keys every detector instance has, whatever its type."""

    type: str = Field(description="detector type (see `faultmgr plugins`)")
    labels: dict[str, str] = Field(default_factory=dict, description="labels added to every event it emits")
    description: str = Field("", description="free text for people")


class ActionCore(Strict):
    """Keys every action instance has."""

    type: str = Field(description="action type (see `faultmgr plugins`)")
    timeout: Duration = Field(30.0, description="the action is cancelled and counted failed after this")
    fallback: str | None = Field(None, description="action to run when this one fails")
    description: str = Field("", description="free text for people")


class RateLimit(Strict):
    count: int = Field(ge=1, description="at most this many notifications ...")
    per: Duration = Field(description="... per this period; the rest are summarised in one notice")


class RetryPolicy(Strict):
    initial: Duration = Field(1.0, description="first retry delay")
    factor: float = Field(2.0, ge=1, description="delay multiplier per attempt")
    max_delay: Duration = Field(300.0, description="longest delay between attempts")
    jitter: float = Field(0.2, ge=0, le=1, description="random share added to each delay")
    fallback_after: int = Field(5, ge=1, description="attempts before the fallback receiver is also tried")
    give_up_after: Duration = Field(86400.0, description="stop retrying a notification after this")


class ReceiverCore(Strict):
    """Keys every receiver (notifier instance) has: grouping as in Alertmanager, retries, fallback."""

    type: str = Field(description="notifier type (see `faultmgr plugins`)")
    group_by: list[str] = Field(default_factory=lambda: ["rule"], description="labels that split alerts into "
                                "groups ('rule', 'subject', 'severity' or any label); ['...'] = every alert apart")
    group_wait: Duration = Field(0.0, description="wait this long after a group's first alert before paging")
    group_interval: Duration = Field(60.0, description="wait this long before paging about changes in a group")
    repeat_interval: Duration = Field(4 * 3600.0, description="re-page a group that still fires after this")
    send_resolved: bool = Field(True, description="also notify when alerts resolve")
    fallback: str | None = Field(None, description="receiver tried when this one keeps failing")
    rate_limit: RateLimit | None = Field(None, description="cap on notifications (storm control)")
    retry: RetryPolicy = Field(default_factory=lambda: RetryPolicy.model_validate({}),
                              description="retries from the outbox")
    description: str = Field("", description="free text for people")


_SEVERITY = Literal["ok", "info", "warning", "critical"]
_COUNT = re.compile(r"^\s*(\d+)\s+within\s+(\S+)\s*$")


class MatchSpec(Strict):
    """Which events a rule condition accepts."""

    kind: str = Field("*", description="event kind glob, e.g. heartbeat.peer.dead or probe.*")
    source: str = Field("*", description="detector instance name glob")
    subject: str = Field("*", description="subject glob (node, service, target)")
    labels: list[str] | dict[str, str] = Field(default_factory=list, description="label matchers: "
                                               "['node=~head-.*', 'role!=test'] or {node: head-a}")
    where: list[str] = Field(default_factory=list, description="payload conditions: ['latency_ms > 500']")
    severity: _SEVERITY | None = Field(None, description="least severity accepted")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: Any) -> Any:
        parse_label_matchers(value)
        return value

    @field_validator("where")
    @classmethod
    def _where(cls, value: list[str]) -> list[str]:
        for item in value:
            Condition.parse(item)
        return value

    def compile(self) -> EventMatcher:
        return EventMatcher(self.kind, self.source, self.subject, parse_label_matchers(self.labels),
                            tuple(Condition.parse(w) for w in self.where),
                            int(Severity.parse(self.severity)) if self.severity else 0)


class Escalation(Strict):
    after: Duration = Field(description="unacknowledged for this long ...")
    notify: list[str] = Field(min_length=1, description="... page these receivers too")


class RuleSection(Strict):
    """A rule: which events open an alert, when, and who is paged and what is done."""

    match: MatchSpec | None = Field(None, description="one condition (use all/any for several)")
    all: list[MatchSpec] | None = Field(None, description="fires while every condition holds (e.g. both heads dead)")
    any: list[MatchSpec] | None = Field(None, description="fires while at least one condition holds")
    resolve: MatchSpec | None = Field(None, description="events that resolve the alert (default: an 'ok' event "
                                      "of the same subject and kind family, e.g. probe.ok for probe.failed)")
    resolve_after: Duration | None = Field(None, description="resolve by itself after this long without a "
                                           "new matching event (for one-shot events such as audit matches)")
    for_: Duration = Field(0.0, alias="for", description="the condition must hold this long before firing")
    count: int | str = Field(1, description="matching events needed within 'within' (Monit-style); also '3 within 1m'")
    within: Duration | None = Field(None, description="window for 'count'")
    per: Literal["subject", "rule"] = Field("subject", description="one alert per subject, or one for the rule")
    severity: _SEVERITY | None = Field(None, description="alert severity (default: the event's)")
    labels: dict[str, str] = Field(default_factory=dict, description="labels added to the alert")
    annotations: dict[str, str] = Field(default_factory=dict, description="summary, description, runbook, ...")
    notify: list[str] = Field(default_factory=list, description="receivers to page")
    actions: list[str] = Field(default_factory=list, description="actions to run, in order, once per firing")
    escalate: list[Escalation] = Field(default_factory=list, description="tiers paged while unacknowledged")
    flap_detection: bool = Field(True, description="suppress notifications while the subject flaps")
    enabled: bool = Field(True, description="false keeps the rule but never fires it")

    @field_validator("count")
    @classmethod
    def _count(cls, value: int | str) -> int | str:
        if isinstance(value, str):
            match = _COUNT.match(value)
            if not match:
                raise ValueError("count must be a number or 'N within DURATION', e.g. '3 within 1m'")
            parse_duration(match.group(2))
        elif value < 1:
            raise ValueError("count must be at least 1")
        return value

    @model_validator(mode="after")
    def _one_condition(self) -> RuleSection:
        given = [k for k in ("match", "all", "any") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a rule needs exactly one of 'match', 'all' or 'any'"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self

    def count_window(self) -> tuple[int, float | None]:
        """(count, window seconds) from either spelling."""
        if isinstance(self.count, str):
            match = _COUNT.match(self.count)
            assert match is not None
            return int(match.group(1)), parse_duration(match.group(2))
        return self.count, self.within

    def conditions(self) -> list[MatchSpec]:
        return [self.match] if self.match is not None else list(self.all or self.any or [])


class InhibitSection(Strict):
    """While an alert matching ``source`` fires, alerts matching ``target`` are not notified."""

    source: list[str] | dict[str, str] = Field(description="label matchers of the inhibiting alert "
                                               "(alerts carry labels rule, subject, severity and their own)")
    target: list[str] | dict[str, str] = Field(description="label matchers of the inhibited alerts")
    equal: list[str] = Field(default_factory=list, description="labels that must be equal in both")

    @field_validator("source", "target")
    @classmethod
    def _matchers(cls, value: Any) -> Any:
        parse_label_matchers(value)
        return value
