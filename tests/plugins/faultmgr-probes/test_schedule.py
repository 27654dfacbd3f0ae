"""The slot schedule's parts: the concurrency limit, the fixed grid, the lateness histogram."""

from __future__ import annotations

import asyncio

from faultmgr_probes.schedule import ConcurrencyLimit, LatenessHistogram, SlotSchedule


async def test_limit_bounds_and_hands_over() -> None:
    limit = ConcurrencyLimit(2)
    running, peak, order = 0, 0, []

    async def work(i: int) -> None:
        nonlocal running, peak
        async with limit:
            running += 1
            peak = max(peak, running)
            order.append(i)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*(work(i) for i in range(8)))
    assert peak == 2 and order == list(range(8)) and limit.active == 0


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    limit = ConcurrencyLimit(1)
    release = asyncio.Event()

    async def hold() -> None:
        async with limit:
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter.cancel()
    release.set()
    await holder
    assert waiter.cancelled() and limit.active == 0
    async with limit:
        assert limit.active == 1


def test_items_spread_over_slots_on_a_fixed_grid() -> None:
    fired: list[tuple[int, float]] = []
    schedule = SlotSchedule(list(range(10)), interval=1.0, slot=0.25, launch=lambda i, due: fired.append((i, due)),
                            job_prefix="t")
    assert [len(s) for s in schedule.slots] == [3, 3, 2, 2] and schedule.slot_width == 0.25
    schedule.start_time = 1000.0
    # However late the job runs (here 0.9 s), the due time stays on the grid: no drift.
    assert schedule.due_time(1, 1000.25 + 5 + 0.9) == 1005.25
    assert schedule.due_time(3, 1000.75 + 2) == 1002.75


def test_lateness_histogram() -> None:
    histogram = LatenessHistogram()
    assert histogram.percentile(0.5) is None
    for ms in range(100):
        histogram.add(ms / 1000)
    histogram.add(-0.5)  # early counts as on time
    histogram.add(99.0)  # beyond the last bucket lands in it
    assert histogram.percentile(0.5) == 49.0 and histogram.percentile(1.0) == 10000.0


async def test_deadlines_cancel_late_attempts_only() -> None:
    from faultmgr_probes.deadlines import Attempt, Deadlines

    deadlines = Deadlines(0.05, resolution=0.01)
    outcomes: list[str] = []

    async def attempt(seconds: float, holder: Attempt) -> None:
        deadlines.arm(holder)
        try:
            await asyncio.sleep(seconds)
            outcomes.append("done")
        except asyncio.CancelledError:
            outcomes.append("expired" if holder.expired else "cancelled")
        finally:
            deadlines.disarm(holder)

    reused = Attempt()
    await attempt(0, reused)  # leaves a stale entry for ``reused`` in the queue ...
    await asyncio.gather(attempt(5, reused), attempt(0.001, Attempt()))  # ... which must not cancel this
    assert sorted(outcomes) == ["done", "done", "expired"]
    await asyncio.sleep(0.03)
    assert deadlines._ticking is None and len(deadlines) == 0  # nothing left: the timer stopped too


async def test_stop_is_not_taken_for_a_timeout(make_detector, tmp_path) -> None:  # type: ignore[no-untyped-def]
    hang = tmp_path / "hang"
    hang.write_text("#!/bin/sh\nsleep 30\n")
    hang.chmod(0o755)
    detector = make_detector(targets=[{"name": "h", "type": "external", "command": [str(hang)]}],
                             checktimeout="30s")
    task = asyncio.create_task(detector.run_check(detector.checks[0]))
    detector._tasks.add(task)
    await asyncio.sleep(0.2)
    await detector.stop()
    assert task.cancelled() and detector.checks[0].state.runs == 0
