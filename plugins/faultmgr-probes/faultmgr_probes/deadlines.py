"""Timeouts for thousands of short check attempts at a small, constant cost.

``asyncio.timeout`` pushes a timer onto the loop's heap for each attempt and cancels it when the attempt
ends early, which is nearly always; at 10,000 attempts a second that cost ~15 us per check, as much as a
fifth of the whole check (measured with ``bench/probes.py``'s harness). Every attempt of one detector
shares the same timeout, so deadlines expire in the order attempts started: a FIFO queue swept by one
ticking timer does the same job in O(1) per attempt. The price is resolution: an attempt is cancelled up
to one tick (``resolution``) after its deadline.

The queue holds no object per attempt: three deques of floats, long-lived :class:`Attempt` holders (one per
target) and serial numbers. An object made per attempt would outlive many young-generation collections
(it waits in the queue for the whole timeout) and, at 10,000 attempts a second, keep the garbage
collector running full collections twice a second (seen as 100 ms stalls in ``bench/probes.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class Attempt:
    """The timeout state of one target's attempts (one at a time), reused for every attempt."""

    __slots__ = ("serial", "task", "expired")

    def __init__(self) -> None:
        self.serial = 0
        self.task: asyncio.Task[object] | None = None
        self.expired = False


class Deadlines:
    """Cancels tasks whose attempt outlives ``timeout`` (within ``resolution`` seconds)."""

    def __init__(self, timeout: float, resolution: float | None = None) -> None:
        self.timeout = timeout
        self.resolution = resolution if resolution is not None else max(0.005, min(0.05, timeout / 10))
        self._when: deque[float] = deque()
        self._holder: deque[Attempt] = deque()
        self._serial: deque[int] = deque()
        self._ticking: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._when)

    def arm(self, attempt: Attempt) -> None:
        """Start the clock for the current task's attempt."""
        attempt.serial += 1
        attempt.task = asyncio.current_task()
        attempt.expired = False
        self._when.append(time.monotonic() + self.timeout)
        self._holder.append(attempt)
        self._serial.append(attempt.serial)
        if self._ticking is None:
            self._ticking = asyncio.get_running_loop().call_later(self.resolution, self._tick)

    @staticmethod
    def disarm(attempt: Attempt) -> None:
        """The attempt ended; its queue entry goes stale and is dropped when the sweep reaches it."""
        attempt.serial += 1
        attempt.task = None

    def _tick(self) -> None:
        now = time.monotonic()
        when, holder, serial = self._when, self._holder, self._serial
        while when and when[0] <= now:
            when.popleft()
            attempt = holder.popleft()
            if serial.popleft() == attempt.serial and attempt.task is not None:
                attempt.expired = True
                attempt.task.cancel()
        self._ticking = (asyncio.get_running_loop().call_later(self.resolution, self._tick)
                         if when else None)

    def close(self) -> None:
        """Stop ticking (at the detector's stop)."""
        if self._ticking is not None:
            self._ticking.cancel()
            self._ticking = None
        self._when.clear()
        self._holder.clear()
        self._serial.clear()
