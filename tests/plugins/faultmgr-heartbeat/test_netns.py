"""Multicast and broadcast between two network namespaces joined by a veth pair, one node in each."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prereq import need_program, need_root

pytestmark = pytest.mark.netns

RUNNER = Path(__file__).with_name("hbnode.py")


class Namespaces:
    """``ns-a`` and ``ns-b`` with a veth between them: 10.94.0.1/24 and 10.94.0.2/24."""

    def __init__(self, ip: str) -> None:
        tag = f"{os.getpid() % 100000}"
        self.ip = ip
        self.names = {"a": f"fmhb{tag}a", "b": f"fmhb{tag}b"}
        self.links = {"a": f"hb{tag}a", "b": f"hb{tag}b"}
        self.addresses = {"a": "10.94.0.1", "b": "10.94.0.2"}

    def run(self, *args: str) -> None:
        subprocess.run([self.ip, *args], check=True, capture_output=True, timeout=20)

    def up(self) -> None:
        for ns in self.names.values():
            self.run("netns", "add", ns)
        self.run("link", "add", self.links["a"], "netns", self.names["a"], "type", "veth",
                 "peer", "name", self.links["b"], "netns", self.names["b"])
        for side, ns in self.names.items():
            self.run("-n", ns, "addr", "add", f"{self.addresses[side]}/24", "dev", self.links[side])
            self.run("-n", ns, "link", "set", self.links[side], "up")
            self.run("-n", ns, "link", "set", "lo", "up")

    def down(self) -> None:
        for ns in self.names.values():
            subprocess.run([self.ip, "netns", "del", ns], capture_output=True, timeout=20)


@pytest.fixture
def namespaces() -> Iterator[Namespaces]:
    need_root()
    lab = Namespaces(need_program("ip", "iproute2"))
    lab.down()
    try:
        lab.up()
    except subprocess.CalledProcessError as exc:
        lab.down()
        pytest.fail(f"cannot build the namespaces: {exc.stderr!r}")
    yield lab
    lab.down()


class Node:
    """A heartbeat node running in a namespace; its events are read from its stdout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []

    async def until(self, kind: str, timeout: float = 15.0) -> dict[str, Any]:
        """Read events until one of ``kind`` arrives; return it."""
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = await self.process.stdout.readline()
                if not line:
                    raise AssertionError(f"node exited before {kind}; saw {self.kinds()}")
                event = json.loads(line)
                self.events.append(event)
                if event["kind"] == kind:
                    return event

    def kinds(self) -> list[str]:
        return [e["kind"] for e in self.events if e["kind"] != "started"]


@pytest.fixture
async def nodes(namespaces: Namespaces, key_file: Path, tmp_path: Path) -> AsyncIterator[Any]:
    running: list[Node] = []

    async def start(side: str) -> Node:
        other = "b" if side == "a" else "a"
        link = namespaces.links[side]
        settings = {
            "node": f"head-{side}", "peers": [f"head-{other}"], "key_file": str(key_file),
            "keepalive": "50ms", "warntime": "150ms", "deadtime": "300ms", "initdead": "5s",
            "paths": [{"type": "mcast", "group": "239.0.0.94", "port": 6940, "interface": link, "loop": False},
                      {"type": "bcast", "address": "10.94.0.255", "port": 6941, "interface": link}],
        }
        spec = tmp_path / f"{side}.json"
        spec.write_text(json.dumps({"name": f"hb-{side}", "settings": settings}))
        process = await asyncio.create_subprocess_exec(
            namespaces.ip, "netns", "exec", namespaces.names[side], sys.executable, str(RUNNER), str(spec),
            stdout=asyncio.subprocess.PIPE)
        node = Node(process)
        running.append(node)
        await node.until("started")
        return node

    yield start
    for node in running:
        if node.process.returncode is None:
            node.process.kill()
            await node.process.wait()


async def test_multicast_and_broadcast_across_namespaces(nodes: Any) -> None:
    a = await nodes("a")
    b = await nodes("b")
    up = await a.until("heartbeat.peer.up")
    await b.until("heartbeat.peer.up")
    assert up["subject"] == "head-b" and set(up["labels"]["path"].split(",")) <= {"mcast0", "bcast1"}

    b.process.kill()  # SIGKILL: no goodbye
    await b.process.wait()
    await a.until("heartbeat.peer.dead")
    assert a.kinds() == ["heartbeat.peer.up", "heartbeat.peer.warn", "heartbeat.peer.dead"]

    await nodes("b")
    await a.until("heartbeat.peer.restored")
    assert a.kinds()[-2:] == ["heartbeat.peer.rebooted", "heartbeat.peer.restored"]
