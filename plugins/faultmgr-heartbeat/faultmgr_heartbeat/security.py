"""Counting dropped packets, and telling a burst of forgeries from the odd corrupted one."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from faultmgr_heartbeat.protocol import DROP_REASONS


class DropCounter:
    """Dropped packets by reason (see :data:`~faultmgr_heartbeat.protocol.DROP_REASONS`) and by path."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = dict.fromkeys(DROP_REASONS, 0)
        self._by_path: dict[str, dict[str, int]] = {}

    def count(self, reason: str, path: str) -> None:
        """Record one packet dropped on ``path`` for ``reason``."""
        with self._lock:
            self._total[reason] = self._total.get(reason, 0) + 1
            per_path = self._by_path.setdefault(path, dict.fromkeys(DROP_REASONS, 0))
            per_path[reason] = per_path.get(reason, 0) + 1

    def totals(self) -> dict[str, int]:
        """``{reason: count}`` over every path."""
        with self._lock:
            return dict(self._total)

    def by_path(self) -> dict[str, dict[str, int]]:
        """``{path: {reason: count}}``."""
        with self._lock:
            return {path: dict(counts) for path, counts in self._by_path.items()}


class ForgedBurst:
    """Detects ``threshold`` forged packets within ``window`` seconds, once per burst.

    A burst starts when the threshold is reached and ends after ``window`` seconds without a forged
    packet; :meth:`poll` reports each start and end once. :meth:`record` runs in the receiver thread and
    :meth:`poll` on the event loop.
    """

    def __init__(self, threshold: int, window: float) -> None:
        self.threshold = threshold
        self.window = window
        self._lock = threading.Lock()
        self._times: deque[float] = deque(maxlen=threshold)
        self._sources: dict[str, int] = {}
        self._in_burst = False
        self._started: dict[str, Any] | None = None
        self._last = 0.0
        self.bursts = 0

    def record(self, now: float, source: str, path: str) -> None:
        """One forged packet from ``source`` (address or device) on ``path``."""
        with self._lock:
            self._times.append(now)
            self._last = now
            if len(self._sources) < 32 or source in self._sources:
                self._sources[source] = self._sources.get(source, 0) + 1
            if not self._in_burst and len(self._times) == self.threshold and now - self._times[0] <= self.window:
                self._in_burst = True
                self.bursts += 1
                self._started = {"path": path, "count": self.threshold,
                                 "window_s": self.window, "sources": dict(self._sources)}

    def poll(self, now: float) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """``(started, ended)``: details of a burst that began or ended since the last poll, else ``None``."""
        with self._lock:
            started, self._started = self._started, None
            ended = None
            if self._in_burst and started is None and now - self._last > self.window:
                self._in_burst = False
                ended = {"sources": dict(self._sources)}
                self._sources.clear()
                self._times.clear()
            elif not self._in_burst and now - self._last > self.window:
                self._sources.clear()
            return started, ended
