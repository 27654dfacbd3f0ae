"""Fixtures for the heartbeat tests: key files, free ports, detector factories, a UDP relay that can be cut."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from faultmgr_heartbeat import HeartbeatDetector
from faultmgr_heartbeat.detector import NodeDetector

from faultmgr.event import Event
from faultmgr.runtime import Runtime
from faultmgr.store import KeyValueStore

KEY1 = "k1 " + "11" * 32
KEY2 = "k2 " + "22" * 32
#: Fast timers: every test is ordered by events, never by absolute times.
FAST = {"keepalive": "50ms", "warntime": "150ms", "deadtime": "300ms", "initdead": "1s"}


def write_keys(path: Path, *lines: str, mode: int = 0o600) -> Path:
    """A key file with ``lines`` and ``mode``."""
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, mode)
    return path


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return write_keys(tmp_path / "heartbeat.keys", KEY1)


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A UDP port free on loopback right now."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true; the timeout is a safety net, not a measured bound."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def kinds(events: list[Event], subject: str | None = None) -> list[str]:
    """Event kinds in order (for one subject)."""
    return [e.kind for e in events if subject is None or e.subject == subject]


class Harness:
    """Builds detectors that share a temp dir; records each one's events; stops them all at the end.

    Test modules cannot import this conftest (importlib mode), so the helpers ride along as attributes.
    """

    KEY1, KEY2, FAST = KEY1, KEY2, FAST
    wait_for = staticmethod(wait_for)
    free_port = staticmethod(free_port)
    write_keys = staticmethod(write_keys)
    udp_path = staticmethod(lambda bind, *targets, name=None: udp_path(bind, *targets, name=name))

    def __init__(self, tmp_path: Path, key_file: Path) -> None:
        self.tmp_path = tmp_path
        self.key_file = key_file
        self.events: dict[str, list[Event]] = {}
        self.stores: dict[str, KeyValueStore] = {}
        self.running: list[NodeDetector] = []

    def build(self, name: str, cls: type[NodeDetector] = HeartbeatDetector, **settings: Any) -> NodeDetector:
        settings = {"node": name, "key_file": self.key_file, **FAST, **settings}
        events = self.events.setdefault(name, [])
        # One store per node name, kept across restarts like the daemon's journal.
        store = self.stores.setdefault(name, KeyValueStore.memory())
        runtime = Runtime(emit=events.append, state_dir=self.tmp_path, store=store)
        return cls(name, cls.Settings(**settings), runtime)

    async def start(self, name: str, cls: type[NodeDetector] = HeartbeatDetector,
                    **settings: Any) -> NodeDetector:
        detector = self.build(name, cls, **settings)
        await detector.start()
        self.running.append(detector)
        return detector

    async def stop(self, detector: NodeDetector) -> None:
        if detector in self.running:
            self.running.remove(detector)
            await detector.stop()

    def kinds(self, name: str, subject: str | None = None) -> list[str]:
        return kinds(self.events.get(name, []), subject)


@pytest.fixture
async def harness(tmp_path: Path, key_file: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path, key_file)
    yield h
    for detector in list(h.running):
        await h.stop(detector)


def udp_path(bind: int, *targets: int, name: str | None = None) -> dict[str, Any]:
    path: dict[str, Any] = {"type": "udp", "bind": f"127.0.0.1:{bind}",
                            "targets": [f"127.0.0.1:{t}" for t in targets]}
    if name:
        path["name"] = name
    return path


class UdpRelay(threading.Thread):
    """Forwards datagrams from its own port to ``target``; :attr:`cut` drops them (a broken link)."""

    def __init__(self, target: int) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.target = ("127.0.0.1", target)
        self.cut = False
        self.stopping = False

    def run(self) -> None:
        while not self.stopping:
            try:
                data, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            if not self.cut:
                self.sock.sendto(data, self.target)

    def close(self) -> None:
        self.stopping = True
        self.join(2)
        self.sock.close()


@pytest.fixture
def relays() -> Any:
    made: list[UdpRelay] = []

    def make(target: int) -> UdpRelay:
        relay = UdpRelay(target)
        relay.start()
        made.append(relay)
        return relay

    yield make
    for relay in made:
        relay.close()

