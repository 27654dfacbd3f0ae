"""The probe detector: soft/hard states, rise, retries, dedupe, maintenance, scheduling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faultmgr_probes import ProbeDetector

from faultmgr.event import Event, Severity
from faultmgr.runtime import Runtime
from faultmgr.store import KeyValueStore


def kinds(events: list[Event]) -> list[tuple[str, str]]:
    """(kind, subject) of each event, in order."""
    return [(e.kind, e.subject) for e in events]


class Backend:
    """A tiny HTTP server whose answer the test sets; ``/slow`` never answers."""

    def __init__(self) -> None:
        self.status = 200
        self.hits: dict[str, int] = {}
        self.server: asyncio.Server | None = None
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        path = line.split()[1].decode() if len(line.split()) > 1 else "/"
        self.hits[path] = self.hits.get(path, 0) + 1
        if path == "/slow":
            await asyncio.sleep(30)
        writer.write(f"HTTP/1.1 {self.status} X\r\nContent-Length: 2\r\n\r\nok".encode())
        await writer.drain()
        writer.close()


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    b = Backend()
    b.server = await asyncio.start_server(b.handle, "127.0.0.1", 0)
    b.port = b.server.sockets[0].getsockname()[1]
    yield b
    b.server.close()


def web(name: str, port: int, path: str = "/") -> dict[str, object]:
    return {"name": name, "type": "http", "host": "127.0.0.1", "port": port, "path": path}


async def run(detector: ProbeDetector, times: int = 1) -> None:
    for _ in range(times):
        for check in detector.checks:
            await detector.run_check(check)


async def test_soft_then_hard_then_rise(backend: Backend, make_detector, events: list[Event]) -> None:  # type: ignore[no-untyped-def]
    detector = make_detector(targets=[web("www1", backend.port)], failurecount=3, rise=2, emit_soft=True)
    await run(detector)
    assert events == [] and detector.status()["targets"]["www1"]["state"] == "up"
    backend.status = 503
    await run(detector, 2)
    assert kinds(events) == [("probe.soft_failed", "www1")] * 2
    assert detector.status()["targets"]["www1"]["state"] == "soft-down"
    await run(detector)
    failed = events[-1]
    assert (failed.kind, failed.severity) == ("probe.failed", Severity.CRITICAL)
    assert failed.labels == {"target": "www1", "check": "http", "host": "127.0.0.1", "port": str(backend.port)}
    assert failed.payload["reason"] == "HTTP 503" and failed.payload["check"] == "http"
    assert failed.payload["attempt"] == 1 and failed.payload["latency_ms"] >= 0
    await run(detector, 3)  # still down: nothing more
    assert len(events) == 3
    backend.status = 200
    await run(detector)
    assert len(events) == 3 and detector.status()["targets"]["www1"]["state"] == "down"
    await run(detector)
    ok = events[-1]
    assert (ok.kind, ok.severity, ok.subject) == ("probe.ok", Severity.OK, "www1")


async def test_soft_failure_recovers_silently(backend: Backend, make_detector, events: list[Event]) -> None:  # type: ignore[no-untyped-def]
    detector = make_detector(targets=[web("www1", backend.port)], failurecount=2)
    await run(detector)
    backend.status = 500
    await run(detector)
    backend.status = 200
    await run(detector)
    backend.status = 500
    await run(detector)  # the streak restarted: one failure only
    assert events == []


async def test_retries_count_as_one_check(backend: Backend, make_detector, events: list[Event]) -> None:  # type: ignore[no-untyped-def]
    detector = make_detector(targets=[web("www1", backend.port)], failurecount=1, retries=2,
                             delay_before_retry="10ms")
    backend.status = 502
    await run(detector)
    assert backend.hits["/"] == 3
    assert kinds(events) == [("probe.failed", "www1")] and events[0].payload["attempt"] == 3


async def test_duplicates_are_checked_once(backend: Backend, make_detector, events: list[Event]) -> None:  # type: ignore[no-untyped-def]
    targets = [web("pool-a/www1", backend.port), web("pool-b/www1", backend.port), web("www2", backend.port),
               web("www2", backend.port), web("other", backend.port, "/other")]
    detector = make_detector(targets=targets, failurecount=1)
    status = detector.status()
    assert status["checks"] == 2 and status["deduplicated"]["declared"] == 5
    assert status["deduplicated"]["saved_per_interval"] == 3
    assert status["deduplicated"]["shared"] == [["pool-a/www1", "pool-b/www1", "www2"]]
    assert status["targets"]["pool-a/www1"]["shared_with"] == ["pool-b/www1", "www2"]
    backend.status = 500
    await run(detector)
    assert backend.hits == {"/": 1, "/other": 1}
    assert sorted(kinds(events)) == [("probe.failed", n) for n in ("other", "pool-a/www1", "pool-b/www1", "www2")]


def test_same_name_for_different_targets_is_refused() -> None:
    with pytest.raises(ValueError, match="two different targets are named 'x'"):
        ProbeDetector.Settings(targets=[web("x", 1), web("x", 2)])


async def test_maintenance_dir_and_switch_survive_restart(backend: Backend, tmp_path: Path) -> None:
    store = KeyValueStore.memory()
    events: list[Event] = []
    drop = tmp_path / "maintenance"
    drop.mkdir()
    (drop / f"127.0.0.1:{backend.port}").touch()  # ldirectord style: host:port puts www1 and www2 down
    settings = ProbeDetector.Settings(targets=[web("www1", backend.port), web("db", backend.port, "/db")],
                                      maintenancedir=drop, failurecount=1, checkinterval="50ms")

    def make() -> ProbeDetector:
        return ProbeDetector("probes", settings, Runtime(emit=events.append, state_dir=tmp_path, store=store))

    detector = make()
    await detector.refresh_maintenance()
    assert kinds(events) == [("probe.maintenance", "www1"), ("probe.maintenance", "db")]
    assert events[0].payload == {"maintenance": True, "by": "file"}
    (drop / f"127.0.0.1:{backend.port}").unlink()
    (drop / "db").touch()
    await detector.refresh_maintenance()
    assert kinds(events)[2:] == [("probe.active", "www1")]
    detector.set_maintenance("www1", True)
    await detector.refresh_maintenance()  # no second event: maintenance is announced once
    assert kinds(events)[3:] == [("probe.maintenance", "www1")]
    backend.status = 500
    assert not any(check.active for check in detector.checks)  # the schedule skips inactive checks
    assert detector.status()["targets"]["www1"]["state"] == "maintenance"

    events.clear()
    restarted = make()  # a new process: the switch comes back from the store, the file from the directory
    await restarted.start()
    try:
        assert sorted(kinds(events)) == [("probe.maintenance", "db"), ("probe.maintenance", "www1")]
        assert restarted.status()["maintenance"]["switches"] == ["www1"]
        await asyncio.sleep(0.3)
        assert backend.hits == {}
        restarted.set_maintenance("www1", False)
        assert kinds(events)[-1] == ("probe.active", "www1")
        for _ in range(100):
            if any(e.kind == "probe.failed" for e in events):
                break
            await asyncio.sleep(0.02)
        assert kinds(events)[-1] == ("probe.failed", "www1")
    finally:
        await restarted.stop()
    with pytest.raises(KeyError):
        restarted.set_maintenance("nope", True)


async def test_slow_target_does_not_delay_others(backend: Backend, make_detector) -> None:  # type: ignore[no-untyped-def]
    targets = [web("slow", backend.port, "/slow")] + [web(f"fast{i}", backend.port, f"/f{i}") for i in range(20)]
    detector = make_detector(targets=targets, checkinterval="100ms", checktimeout="5s", slot="10ms")
    await detector.start()
    try:
        await asyncio.sleep(1.2)
    finally:
        await detector.stop()
    status = detector.status()
    slow = status["targets"]["slow"]
    fast_runs = [status["targets"][f"fast{i}"]["runs"] for i in range(20)]
    # The slow check is still on its first attempt; every fast one kept its own pace meanwhile.
    assert slow["runs"] == 0 and backend.hits["/slow"] == 1
    assert min(fast_runs) >= 5
    assert detector.checks[0].overruns >= 5  # its later slots were skipped, not stacked
    assert status["schedule"]["slots"] == 10


async def test_uses_the_daemons_scheduler(backend: Backend, events: list[Event], tmp_path: Path) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    try:
        runtime = Runtime(emit=events.append, state_dir=tmp_path, scheduler=scheduler)
        detector = ProbeDetector("p", ProbeDetector.Settings(targets=[web("a", backend.port),
                                                                      web("b", backend.port, "/b")],
                                                             checkinterval="100ms"), runtime)
        await detector.start()
        assert len(scheduler.get_jobs()) == 2  # one job per slot, here one per target
        await asyncio.sleep(0.5)
        await detector.stop()
        assert scheduler.get_jobs() == [] and scheduler.running
        assert backend.hits["/"] >= 3 and backend.hits["/b"] >= 3
    finally:
        scheduler.shutdown(wait=False)


async def test_leaving_maintenance_catches_up_on_a_shared_check(backend: Backend, make_detector,  # type: ignore[no-untyped-def]
                                                                events: list[Event]) -> None:
    detector = make_detector(targets=[web("pool-a/www1", backend.port), web("pool-b/www1", backend.port)],
                             failurecount=1)
    await run(detector)
    detector.set_maintenance("pool-a/www1", True)
    backend.status = 500
    await run(detector)  # still checked for pool-b
    assert kinds(events) == [("probe.maintenance", "pool-a/www1"), ("probe.failed", "pool-b/www1")]
    detector.set_maintenance("pool-a/www1", False)
    assert kinds(events)[2:] == [("probe.active", "pool-a/www1"), ("probe.failed", "pool-a/www1")]
    backend.status = 200
    await run(detector)
    assert sorted(kinds(events)[4:]) == [("probe.ok", "pool-a/www1"), ("probe.ok", "pool-b/www1")]


async def test_every_attempt_reaches_the_latency_histogram_without_events(backend: Backend, make_detector,  # type: ignore[no-untyped-def]
                                                                         events: list[Event]) -> None:
    # Two names, one check: counted once per attempt, by check type; retries are attempts too.
    detector = make_detector(targets=[web("www1", backend.port), web("www1-alias", backend.port)], retries=1,
                             delay_before_retry=0.01)
    assert detector.latency_histograms()["http"].count == 0
    await run(detector, 5)
    assert events == []  # healthy all along: nothing announced, yet all five are counted
    snap = detector.latency_histograms()["http"]
    assert snap.count == 5 and snap.buckets[-1] == (float("inf"), 5) and snap.sum_s > 0
    assert [n for _, n in snap.buckets] == sorted(n for _, n in snap.buckets)  # cumulative
    backend.status = 503
    await run(detector)  # fails, retried once: two attempts
    assert detector.latency_histograms()["http"].count == 7
