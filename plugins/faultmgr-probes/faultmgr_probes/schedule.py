"""Spreading checks over the interval: one APScheduler job per time slot, each fanning out to its targets.

APScheduler costs too much per job to give each of 10,000 targets its own job at a 1 s interval (see
shared LIBRARY-NOTES: 20,000 jobs/s saturate a core), and its interval ``jitter`` accumulates. So the
interval is cut into slots (``slot`` wide, 20 ms by default); target *i* belongs to slot *i mod S*, and
each slot is one interval job on a fixed grid (``start + slot offset + k * interval``), never drifting. A
slot's job only starts tasks and returns: it never waits for a check, so a slow target delays nobody.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Generic, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

T = TypeVar("T")


class LatenessHistogram:
    """How late checks started against their slot, in 1 ms buckets up to 10 s (cheap to add to)."""

    def __init__(self, buckets: int = 10001) -> None:
        self.counts = [0] * buckets
        self.total = 0

    def add(self, seconds: float) -> None:
        index = int(seconds * 1000.0) if seconds > 0 else 0
        self.counts[index if index < len(self.counts) else -1] += 1
        self.total += 1

    def percentile(self, q: float) -> float | None:
        """Milliseconds below which a share ``q`` (0-1) of starts fell; ``None`` before any."""
        if not self.total:
            return None
        wanted, seen = q * self.total, 0
        for ms, count in enumerate(self.counts):
            seen += count
            if seen >= wanted:
                return float(ms)
        return float(len(self.counts) - 1)


class ConcurrencyLimit:
    """At most ``limit`` holders at once, first come first served (``async with limit:``).

    Like :class:`asyncio.Semaphore`, but a release hands the slot to the next waiter in O(1): Python 3.11's
    semaphore scans its whole waiter queue on each release, and with thousands of checks queued (a loop
    starved of CPU) that scan cost more than the checks (seen in ``bench/probes.py`` profiles).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.waiters: deque[asyncio.Future[None]] = deque()

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody waits; never blocks."""
        if self.active < self.limit and not self.waiters:
            self.active += 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait for a slot (first come, first served)."""
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed to us just before the cancel: pass it on
            raise

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.release()

    def release(self) -> None:
        """Give a slot back: to the next waiter, or to the pool."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():  # cancelled waiters are left in the queue and skipped here
                waiter.set_result(None)  # the slot passes over: ``active`` does not change
                return
        self.active -= 1


class SlotSchedule(Generic[T]):
    """Fires ``launch(item, due)`` for every item once per ``interval``, items spread over slots.

    :param launch: starts the work for one item (must not block; create a task).
    :param job_prefix: APScheduler job ids are ``<prefix>:<slot>``.
    """

    def __init__(self, items: Sequence[T], interval: float, slot: float,
                 launch: Callable[[T, float], None], job_prefix: str) -> None:
        self.interval = interval
        count = max(1, min(len(items), max(1, round(interval / slot)), 10000))
        self.slots: list[list[T]] = [list(items[i::count]) for i in range(count)]
        self.launch = launch
        self.job_prefix = job_prefix
        self.start_time = 0.0
        self.fired = 0

    @property
    def slot_width(self) -> float:
        """Seconds between two slots."""
        return self.interval / len(self.slots)

    def install(self, scheduler: AsyncIOScheduler, first_delay: float = 0.05) -> None:
        """Add one job per slot; the first slot fires ``first_delay`` from now.

        A starved loop runs a late slot once, however late (``coalesce``, no misfire limit): skipping it
        would leave its targets unchecked for a whole interval.
        """
        self.start_time = time.time() + first_delay
        for index in range(len(self.slots)):
            start = datetime.fromtimestamp(self.start_time + index * self.slot_width, tz=UTC)
            scheduler.add_job(self._fire_job(index), IntervalTrigger(seconds=self.interval, start_date=start,
                                                                     timezone=UTC),
                              id=f"{self.job_prefix}:{index}", name=f"{self.job_prefix} slot {index}",
                              coalesce=True, max_instances=1, misfire_grace_time=None)

    def remove(self, scheduler: AsyncIOScheduler) -> None:
        """Remove the jobs :meth:`install` added."""
        for index in range(len(self.slots)):
            job = scheduler.get_job(f"{self.job_prefix}:{index}")
            if job is not None:
                job.remove()

    def due_time(self, index: int, now: float) -> float:
        """The grid time this run of slot ``index`` belongs to (its job may run a little late)."""
        origin = self.start_time + index * self.slot_width
        return origin + math.floor((now - origin) / self.interval + 1e-9) * self.interval

    def _fire_job(self, index: int) -> Callable[[], Coroutine[Any, Any, None]]:
        # A coroutine function: AsyncIOScheduler runs it on the loop (a plain function would go to a thread).
        async def fire() -> None:
            self.fire(index)

        return fire

    def fire(self, index: int) -> None:
        """Launch every item of slot ``index`` (also called directly by tests and benchmarks)."""
        due = self.due_time(index, time.time())
        self.fired += 1
        launch = self.launch
        for item in self.slots[index]:
            launch(item, due)
