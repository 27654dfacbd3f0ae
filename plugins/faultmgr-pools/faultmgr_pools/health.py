"""The health check ``faultmgr pool add`` waits on before a server joins its pool.

When a ``probe`` detector of the daemon (faultmgr-probes) watches a target named like the server, its check
is the one that counts, with its ``rise``, ``checkinterval`` and ``checktimeout``: the server must pass the
same HTTP, DNS, SIP ... check that would take it out again. Otherwise a TCP connection to the server's
address and port has to open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faultmgr_pools.backend import Target
from faultmgr_pools.nodes import tcp_check

#: Seconds between two checks, and allowed to one, when no probe watches the server.
TCP_INTERVAL_S = 0.5
TCP_TIMEOUT_S = 1.0


@dataclass
class HealthCheck:
    """A check for :func:`faultmgr_pools.nodes.add_server` that remembers why it last failed."""

    what: str
    rise: int
    interval: float
    probe: Any = None  # faultmgr-probes' prepared check: ``await probe(timeout) -> CheckResult``
    timeout: float = TCP_TIMEOUT_S
    last_reason: str = field(default="not checked yet")

    async def __call__(self, target: Target) -> bool:
        if self.probe is None:
            healthy = await tcp_check(target, self.timeout)
            self.last_reason = "accepts connections" if healthy else "connection failed"
            return healthy
        try:
            result = await self.probe(self.timeout)
        except Exception as exc:  # a check that raises is a failed check (the probes plugin does the same)
            self.last_reason = f"{type(exc).__name__}: {exc}"
            return False
        self.last_reason = result.reason
        return bool(result.passed)


def health_check(daemon: Any, server: str, rise: int | None) -> HealthCheck:
    """The daemon's probe of ``server`` when one watches it, else a TCP check; ``rise`` (when given)
    overrides the probe's."""
    found = _probe_of(daemon, server)
    if found is None:
        return HealthCheck("TCP check", rise or 1, TCP_INTERVAL_S)
    detector_name, detector, target = found
    from faultmgr_probes.checks import build_check

    settings = detector.settings
    return HealthCheck(f"probe {detector_name}/{server} ({target.type})", rise or settings.rise,
                       settings.checkinterval, build_check(target), settings.checktimeout)


def _probe_of(daemon: Any, server: str) -> tuple[str, Any, Any] | None:
    try:
        from faultmgr_probes import ProbeDetector
    except ImportError:  # faultmgr-probes is not installed: TCP checks only
        return None
    detectors = getattr(daemon, "instances", {}).get("detector", {})
    for name, detector in sorted(detectors.items()):
        if isinstance(detector, ProbeDetector) and server in detector.aliases:
            return name, detector, detector.aliases[server].target
    return None
