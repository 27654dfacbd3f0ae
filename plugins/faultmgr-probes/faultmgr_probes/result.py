"""What one check attempt says about a target: a Nagios-style status, a reason and measurements."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


class Status(enum.Enum):
    """Nagios plugin states. ``OK`` and ``WARNING`` count as a passing check (the server still answers);
    ``CRITICAL`` and ``UNKNOWN`` count as a failure."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"

    @property
    def passed(self) -> bool:
        """True when the target answered well enough to keep serving."""
        return self is Status.OK or self is Status.WARNING


@dataclass(slots=True)
class CheckResult:
    """Outcome of one check attempt.

    :param status: see :class:`Status`.
    :param reason: one human line (``"HTTP 503"``, ``"connection refused"``, a plugin's first line).
    :param latency_ms: time from the start of the attempt to its verdict.
    :param payload: check-specific data for the event (status code, perfdata, free bytes, ...).
    """

    status: Status
    reason: str
    latency_ms: float = 0.0
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True for OK and WARNING."""
        return self.status.passed

    @classmethod
    def ok(cls, reason: str = "ok", **payload: Any) -> CheckResult:
        """A passing result; the caller fills in the latency."""
        return cls(Status.OK, reason, payload=payload)

    @classmethod
    def critical(cls, reason: str, **payload: Any) -> CheckResult:
        """A failed result; the caller fills in the latency."""
        return cls(Status.CRITICAL, reason, payload=payload)


def describe_error(exc: BaseException) -> str:
    """A short reason for a network error: ``"connection refused"`` rather than a repr."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


#: A prepared check: called with the time it may take, it runs one attempt. Check modules build one per target
#: (``build(target)``) so that per-target work (request bytes, TLS contexts) is done once, not per attempt.
ProbeFn = Callable[[float], Awaitable[CheckResult]]
