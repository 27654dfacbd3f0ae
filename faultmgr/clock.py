"""Clocks: the real one, and a virtual one that ``simulate`` and tests advance by hand."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Where the engine gets its time. ``now`` is wall-clock seconds; ``monotonic`` never goes back."""

    def now(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class VirtualClock:
    """A clock that only moves when told to (``simulate``, ``faultmgr.testing``)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._start = start

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now - self._start

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a virtual clock cannot go back")
        self._now += seconds

    def set(self, when: float) -> None:
        if when > self._now:
            self._now = when
