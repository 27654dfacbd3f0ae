"""Flap detection: an alert that changes state too often within a window stops paging, with one notice
when flapping starts and one when it stops (instead of a storm of firing/resolved pages)."""

from __future__ import annotations

from collections import deque


class FlapDetector:
    """State changes per alert fingerprint within ``interval`` seconds."""

    def __init__(self, changes: int, interval: float) -> None:
        self.threshold = changes
        self.interval = interval
        self.history: dict[str, deque[float]] = {}
        self.flapping: set[str] = set()
        self._swept_at = float("-inf")

    def record(self, fp: str, now: float) -> bool:
        """Count a state change; true when this change makes the alert start flapping."""
        times = self.history.setdefault(fp, deque())
        times.append(now)
        self._trim(times, now)
        if fp not in self.flapping and len(times) >= self.threshold:
            self.flapping.add(fp)
            return True
        return False

    def stopped(self, now: float) -> list[str]:
        """Fingerprints whose flapping ended: changes in the window fell to half the threshold or less."""
        ended = []
        for fp in list(self.flapping):
            times = self.history.get(fp, deque())
            self._trim(times, now)
            if len(times) <= self.threshold // 2:
                self.flapping.discard(fp)
                ended.append(fp)
        # Forgetting quiet alerts walks the whole history: once per window is enough (it ran on every tick,
        # 4 times a second, and with thousands of alerts that was visible in bench/engine.py --profile).
        if now - self._swept_at >= self.interval:
            self._swept_at = now
            for fp in [fp for fp, times in self.history.items() if fp not in self.flapping
                       and (not times or times[-1] < now - self.interval)]:
                del self.history[fp]
        return ended

    def _trim(self, times: deque[float], now: float) -> None:
        while times and times[0] < now - self.interval:
            times.popleft()

    def is_flapping(self, fp: str) -> bool:
        return fp in self.flapping
