"""Soft and hard states of one check, as ldirectord and keepalived users know them.

A failed check makes the target *soft* down; ``failurecount`` consecutive failures make it *hard* down
(``probe.failed``). A hard-down target needs ``rise`` consecutive successes to be up again (``probe.ok``).
A success while soft down clears the failures without an event: the server never left the pool.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from faultmgr_probes.result import CheckResult, Status


class Health(enum.Enum):
    """The hard state of a target."""

    UNKNOWN = "unknown"  # not checked yet
    UP = "up"
    DOWN = "down"


class Transition(enum.Enum):
    """What one result changed."""

    NONE = "none"
    FIRST_UP = "first_up"  # first verdict, and a good one: nothing to announce
    SOFT_FAILED = "soft_failed"
    FAILED = "failed"
    RECOVERED = "recovered"


@dataclass(slots=True)
class CheckState:
    """Counters and the hard state of one check (shared by every target name that points at it)."""

    failurecount: int
    rise: int
    health: Health = Health.UNKNOWN
    failures: int = 0
    successes: int = 0
    runs: int = 0
    # The last result is kept as plain values, not the CheckResult: an object kept for a whole interval
    # per target would be promoted to the oldest GC generation and, at 10,000 checks a second, make the
    # collector run full collections over and over. The payload is kept for failures only.
    last_status: Status | None = None
    last_reason: str = ""
    last_latency_ms: float = 0.0
    last_payload: dict[str, Any] | None = None
    last_time: float = 0.0
    last_attempt: int = 0

    @property
    def last(self) -> CheckResult | None:
        """The last result (rebuilt; a passing one without its payload), ``None`` before any."""
        if self.last_status is None:
            return None
        return CheckResult(self.last_status, self.last_reason, self.last_latency_ms, dict(self.last_payload or {}))

    def record(self, result: CheckResult, when: float, attempt: int = 1) -> Transition:
        """Count one result (after its retries) and say what changed."""
        self.runs += 1
        self.last_status, self.last_reason, self.last_latency_ms = result.status, result.reason, result.latency_ms
        self.last_payload = None if result.passed else result.payload
        self.last_time, self.last_attempt = when, attempt
        if result.passed:
            self.failures = 0
            if self.health is Health.UNKNOWN:
                self.health = Health.UP
                return Transition.FIRST_UP
            if self.health is Health.DOWN:
                self.successes += 1
                if self.successes >= self.rise:
                    self.health, self.successes = Health.UP, 0
                    return Transition.RECOVERED
            return Transition.NONE
        self.successes = 0
        if self.health is Health.DOWN:
            return Transition.NONE
        self.failures += 1
        if self.failures >= self.failurecount:
            self.health, self.failures = Health.DOWN, 0
            return Transition.FAILED
        return Transition.SOFT_FAILED

    def restart_counts(self) -> None:
        """Forget the streaks (after maintenance: old results say nothing about the server now)."""
        self.failures = self.successes = 0

    @property
    def label(self) -> str:
        """``up``, ``down``, ``soft-down`` or ``unknown`` for status views."""
        if self.health is not Health.DOWN and self.failures:
            return "soft-down"
        return self.health.value
