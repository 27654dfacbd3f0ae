"""Scheduling delay: how late a thread or the event loop woke compared with when it asked to.

A loop that wakes far later than asked was stalled (slow plugin work, a paused process, CPU starvation).
The heartbeat reports the figures in ``status()`` and, after a stall, gives peers a grace period so that
beats that queued up unread during the stall are not mistaken for silence.
"""

from __future__ import annotations

import threading
from typing import Any


class LagMeter:
    """Last, maximum and count of observed delays, and how many exceeded the stall threshold."""

    def __init__(self, stall_threshold: float) -> None:
        self.stall_threshold = stall_threshold
        self._lock = threading.Lock()
        self.last = 0.0
        self.max = 0.0
        self.samples = 0
        self.stalls = 0

    def record(self, delay: float) -> bool:
        """Record one delay in seconds; true when it counts as a stall."""
        delay = max(0.0, delay)
        with self._lock:
            self.last = delay
            self.max = max(self.max, delay)
            self.samples += 1
            stalled = delay > self.stall_threshold
            if stalled:
                self.stalls += 1
            return stalled

    def as_dict(self) -> dict[str, Any]:
        """Milliseconds, for ``status()``."""
        with self._lock:
            return {"last": round(self.last * 1000, 2), "max": round(self.max * 1000, 2),
                    "samples": self.samples, "stalls": self.stalls}
