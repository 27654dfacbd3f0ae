"""Timeouts for thousands of short check attempts at a small, constant cost.

``asyncio.timeout`` pushes a timer onto the loop's heap for each attempt and cancels it when the attempt
ends early, which is nearly always; at 10,000 attempts a second that cost ~15 us per check, as much as a
fifth of the whole check (measured with ``bench/probes.py``'s harness). Every attempt of one detector
shares the same timeout, so deadlines expire in the order attempts started: a FIFO queue swept by one
ticking timer does the same job in O(1) per attempt. The price is resolution: an attempt is cancelled up
to one tick (``resolution``) after its deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class Deadline:
    """One armed attempt: the task to cancel and whether the cancel was ours."""

    __slots__ = ("when", "task", "expired")

    def __init__(self, when: float, task: asyncio.Task[object] | None) -> None:
        self.when = when
        self.task = task
        self.expired = False


class Deadlines:
    """Cancels tasks whose attempt outlives ``timeout`` (within ``resolution`` seconds)."""

    def __init__(self, timeout: float, resolution: float | None = None) -> None:
        self.timeout = timeout
        self.resolution = resolution if resolution is not None else max(0.005, min(0.05, timeout / 10))
        self.queue: deque[Deadline] = deque()
        self._ticking: asyncio.TimerHandle | None = None

    def arm(self) -> Deadline:
        """Start the clock for the current task's attempt."""
        deadline = Deadline(time.monotonic() + self.timeout, asyncio.current_task())
        self.queue.append(deadline)
        if self._ticking is None:
            self._ticking = asyncio.get_running_loop().call_later(self.resolution, self._tick)
        return deadline

    @staticmethod
    def disarm(deadline: Deadline) -> None:
        """The attempt ended in time; its entry leaves the queue when the sweep reaches it."""
        deadline.task = None

    def _tick(self) -> None:
        now = time.monotonic()
        queue = self.queue
        while queue and queue[0].when <= now:
            deadline = queue.popleft()
            if deadline.task is not None:
                deadline.expired = True
                deadline.task.cancel()
        self._ticking = (asyncio.get_running_loop().call_later(self.resolution, self._tick)
                         if queue else None)

    def close(self) -> None:
        """Stop ticking (at the detector's stop)."""
        if self._ticking is not None:
            self._ticking.cancel()
            self._ticking = None
        self.queue.clear()
